"""Short-lived session JWTs: HS256 only, with issuer, audience, expiry and the session id."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from infra.settings import AuthSettings


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID


class InvalidAccessToken(Exception):
    pass


class JwtCodec:
    algorithm = "HS256"

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._key = settings.jwt_secret.get_secret_value()

    @property
    def ttl_seconds(self) -> int:
        return self.settings.access_token_ttl_seconds

    def issue(self, user_id: UUID, session_id: UUID) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm)

    def decode(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "sid", "aud", "iss"]},
            )
            return AccessClaims(UUID(claims["sub"]), UUID(claims["sid"]))
        except (jwt.PyJWTError, ValueError, KeyError) as error:
            raise InvalidAccessToken(str(error)) from None
