"""A person who signs in: email, password, verification and reset links, login sessions."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import BaseAggregate, deterministic_id, utcnow
from domain.tenancy.errors import LinkInvalidError, TokenInvalidError

VERIFICATION_TTL = timedelta(days=2)
RESET_TTL = timedelta(hours=1)


def _matches(expected: dict[str, str] | None, token_hash: str, now: datetime) -> bool:
    if expected is None or datetime.fromisoformat(expected["expires_at"]) < now:
        return False
    return hmac.compare_digest(expected["token_hash"], token_hash)


class User(BaseAggregate):
    class Registered(BaseAggregate.Created):
        email: str
        username: str
        password_hash: str  # sealed
        personal_tenant_id: UUID

    class VerificationRequested(BaseAggregate.Event):
        token_hash: str
        expires_at: datetime

    class EmailVerified(BaseAggregate.Event):
        pass

    class PasswordResetRequested(BaseAggregate.Event):
        token_hash: str
        expires_at: datetime

    class PasswordChanged(BaseAggregate.Event):
        password_hash: str  # sealed
        via: str

    class ProfileUpdated(BaseAggregate.Event):
        display_name: str

    @staticmethod
    def create_id(email: str, *_: object, **__: object) -> UUID:
        return deterministic_id("user", email)

    @event(Registered)
    def __init__(
        self, email: str, username: str, password_hash: str, personal_tenant_id: UUID
    ) -> None:
        self.email = email
        self.username = username
        self.password_hash = password_hash
        self.personal_tenant_id = personal_tenant_id
        self.display_name = username
        self.email_verified = False
        self.verification: dict[str, str] | None = None
        self.reset: dict[str, str] | None = None

    def request_verification(self, token_hash: str) -> None:
        if self.email_verified:
            raise LinkInvalidError("the email address is already verified", field="email")
        self._request_verification(token_hash=token_hash, expires_at=utcnow() + VERIFICATION_TTL)

    @event(VerificationRequested)
    def _request_verification(self, token_hash: str, expires_at: datetime) -> None:
        self.verification = {"token_hash": token_hash, "expires_at": expires_at.isoformat()}

    def verify_email(self, token_hash: str) -> None:
        if self.email_verified or not _matches(self.verification, token_hash, utcnow()):
            raise LinkInvalidError("the verification link is invalid, used or expired")
        self._verify_email()

    @event(EmailVerified)
    def _verify_email(self) -> None:
        self.email_verified = True
        self.verification = None

    def request_password_reset(self, token_hash: str) -> None:
        self._request_password_reset(token_hash=token_hash, expires_at=utcnow() + RESET_TTL)

    @event(PasswordResetRequested)
    def _request_password_reset(self, token_hash: str, expires_at: datetime) -> None:
        self.reset = {"token_hash": token_hash, "expires_at": expires_at.isoformat()}

    def reset_password(self, token_hash: str, password_hash: str) -> None:
        if not _matches(self.reset, token_hash, utcnow()):
            raise LinkInvalidError("the reset link is invalid, used or expired")
        self._change_password(password_hash=password_hash, via="reset")

    def change_password(self, password_hash: str) -> None:
        self._change_password(password_hash=password_hash, via="change")

    @event(PasswordChanged)
    def _change_password(self, password_hash: str, via: str) -> None:
        self.password_hash = password_hash
        self.reset = None
        # A reset link proves control of the mailbox.
        if via == "reset":
            self.email_verified = True

    def update_profile(self, display_name: str) -> None:
        if display_name != self.display_name:
            self._update_profile(display_name=display_name)

    @event(ProfileUpdated)
    def _update_profile(self, display_name: str) -> None:
        self.display_name = display_name


class Session(BaseAggregate):
    """A login: its refresh token rotates on every use; a reused old one ends the session."""

    class Started(BaseAggregate.Created):
        user_id: UUID
        refresh_hash: str
        expires_at: datetime
        user_agent: str | None

    class Refreshed(BaseAggregate.Event):
        refresh_hash: str
        expires_at: datetime

    class Ended(BaseAggregate.Event):
        reason: str

    @event(Started)
    def __init__(
        self, user_id: UUID, refresh_hash: str, expires_at: datetime, user_agent: str | None
    ) -> None:
        self.user_id = user_id
        self.refresh_hash = refresh_hash
        self.previous_hashes: list[str] = []
        self.expires_at = expires_at
        self.user_agent = user_agent
        self.ended = False

    @property
    def is_active(self) -> bool:
        return not self.ended and self.expires_at > utcnow()

    def check_refresh(self, refresh_hash: str) -> bool:
        """True for the current token; a replayed old token is theft, so it ends the session."""
        if self.ended or self.expires_at <= utcnow():
            raise TokenInvalidError("the session has ended; sign in again")
        if hmac.compare_digest(self.refresh_hash, refresh_hash):
            return True
        if refresh_hash in self.previous_hashes:
            self.end("refresh_token_reused")
            return False
        raise TokenInvalidError("the refresh token is not valid")

    def refresh(self, refresh_hash: str, ttl: timedelta) -> None:
        self._refresh(refresh_hash=refresh_hash, expires_at=utcnow() + ttl)

    @event(Refreshed)
    def _refresh(self, refresh_hash: str, expires_at: datetime) -> None:
        self.previous_hashes = [*self.previous_hashes[-19:], self.refresh_hash]
        self.refresh_hash = refresh_hash
        self.expires_at = expires_at

    def end(self, reason: str) -> None:
        if not self.ended:
            self._end(reason=reason)

    @event(Ended)
    def _end(self, reason: str) -> None:
        self.ended = True
