"""Outgoing mail: SMTP when a host is configured, else one .eml file per message (embedded)."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path

from infra.settings import MailSettings


class Mailer:
    def __init__(self, settings: MailSettings, outbox: Path) -> None:
        self.settings = settings
        self.outbox = outbox

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = f"<{uuid.uuid4()}@mcps.one>"
        message.set_content(body)
        if self.settings.smtp_host:
            with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=10) as smtp:
                smtp.send_message(message)
            return
        self.outbox.mkdir(parents=True, exist_ok=True)
        path = self.outbox / f"{message['Message-ID'].strip('<>')}.eml"
        path.write_bytes(bytes(message))
