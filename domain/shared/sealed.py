"""Field-level encryption for sensitive event fields, with the library's AES-GCM cipher.

A sealed value is stored as `sealed:v1:<base64>`; the store, Kafka and the audit log never see
the clear text. The key comes from settings through the application's environment.
"""

from __future__ import annotations

import base64

from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

_PREFIX = "sealed:v1:"


class Sealer:
    def __init__(self, key: str) -> None:
        self._cipher = AESCipher(Environment("sealer", {AESCipher.CIPHER_KEY: key}))

    def seal(self, plaintext: str) -> str:
        token = self._cipher.encrypt(plaintext.encode())
        return _PREFIX + base64.urlsafe_b64encode(token).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise ValueError("not a sealed value")
        return self._cipher.decrypt(base64.urlsafe_b64decode(sealed[len(_PREFIX) :])).decode()

    @staticmethod
    def is_sealed(value: object) -> bool:
        return isinstance(value, str) and value.startswith(_PREFIX)
