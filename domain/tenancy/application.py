"""Identity and tenancy: the commands people and tokens use, load-decide-save, small results."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from domain.shared.aggregate import utcnow
from domain.shared.application import BaseApplication, CommandResult, not_found
from domain.shared.context import bound
from domain.shared.errors import ConflictError, InvalidInputError, NotFoundError
from domain.shared.ports import Committer, PasswordHasher
from domain.shared.sealed import Sealer
from domain.tenancy.errors import (
    ApiTokenNotFoundError,
    EmailTakenError,
    InvalidCredentialsError,
    LinkInvalidError,
    RoleRequiredError,
    ScopeRequiredError,
    SlugTakenError,
    TenantNotFoundError,
    TokenInvalidError,
    UserNotFoundError,
)
from domain.tenancy.tenants import Tenant
from domain.tenancy.tokens import ApiToken
from domain.tenancy.users import Session, User
from domain.tenancy.values import (
    Plan,
    Role,
    Scope,
    TenantKind,
    check_password,
    check_slug,
    normalize_email,
)

API_TOKEN_PREFIX = "mcps_"  # noqa: S105 - a public prefix, not a secret
REFRESH_TTL = timedelta(days=30)


def digest(secret: str) -> str:
    """Tokens carry 256 random bits, so a fast hash is the right one (no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _link(aggregate_id: UUID, secret: str) -> str:
    return f"{aggregate_id.hex}.{secret}"


def _split_link(token: str, parts: int = 2) -> list[str]:
    pieces = token.split(".")
    if len(pieces) != parts or not all(pieces):
        raise LinkInvalidError("the link is malformed")
    return pieces


def _uuid(hex_id: str) -> UUID:
    try:
        return UUID(hex=hex_id)
    except ValueError:
        raise LinkInvalidError("the link is malformed") from None


@dataclass(frozen=True)
class Registration:
    user_id: UUID
    tenant_id: UUID
    verification_token: str
    position: int


@dataclass(frozen=True)
class Login:
    user_id: UUID
    session_id: UUID
    refresh_token: str
    position: int


@dataclass(frozen=True)
class IssuedToken:
    token_id: UUID
    token: str
    prefix: str
    position: int


@dataclass(frozen=True)
class Invitation:
    invitation_id: UUID
    token: str
    position: int


@dataclass(frozen=True)
class TokenPrincipal:
    token_id: UUID
    tenant_id: UUID
    tenant_slug: str
    scopes: frozenset[str]
    created_by: UUID


class Tenancy(BaseApplication):
    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        hasher: PasswordHasher,
        sealer: Sealer,
        committer: Committer | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(env, committer=committer, **kwargs)  # type: ignore[arg-type]
        self.hasher = hasher
        self.sealer = sealer

    # --- loading ----------------------------------------------------------------------------

    def user(self, user_id: UUID) -> User:
        return self.get(user_id, User, lambda: UserNotFoundError("user not found"))

    def tenant(self, tenant_id: UUID) -> Tenant:
        return self.get(tenant_id, Tenant, lambda: TenantNotFoundError("tenant not found"))

    def tenant_by_slug(self, slug: str) -> Tenant:
        return self.tenant(Tenant.create_id(slug))

    def _the_tenant(self, tenant: Tenant | str) -> Tenant:
        """The tenant a caller loaded a moment ago (an API request loads it to check access;
        loading it again cost a command ~0.3 ms of CPU), or the one of this slug."""
        return tenant if isinstance(tenant, Tenant) else self.tenant_by_slug(tenant)

    def user_by_email(self, email: str) -> User | None:
        try:
            return self.user(User.create_id(normalize_email(email)))
        except UserNotFoundError:
            return None

    # --- users ------------------------------------------------------------------------------

    def register_user(self, email: str, username: str, password: str) -> Registration:
        """Create the user and their personal tenant in one atomic save."""
        email = normalize_email(email)
        check_slug(username, field="username")
        check_password(password)
        user_id = User.create_id(email)
        tenant_id = Tenant.create_id(username)
        # A friendly answer for the common case; the store's uniqueness check settles races.
        if user_id in self.repository:
            raise EmailTakenError("that email address is already registered", field="email")
        if tenant_id in self.repository:
            raise SlugTakenError("that username is taken", field="username")
        secret = secrets.token_urlsafe(32)
        with bound(tenant_id=str(tenant_id)):
            user = User(
                email=email,
                username=username,
                password_hash=self.sealer.seal(self.hasher.hash(password)),
                personal_tenant_id=tenant_id,
            )
            user.request_verification(digest(secret))
            tenant = Tenant(
                slug=username,
                name=username,
                kind=TenantKind.PERSONAL.value,
                owner_id=user.id,
                owner_username=username,
                owner_email=email,
            )
            try:
                result = self.commit(user, tenant)
            except ConflictError:
                raise EmailTakenError(
                    "that email address or username is already registered", field="email"
                ) from None
        return Registration(user.id, tenant.id, _link(user.id, secret), result.position)

    def request_email_verification(self, user_id: UUID) -> tuple[str, CommandResult]:
        user = self.user(user_id)
        secret = secrets.token_urlsafe(32)
        with bound(tenant_id=str(user.personal_tenant_id)):
            user.request_verification(digest(secret))
            return _link(user.id, secret), self.commit(user)

    def verify_email(self, token: str) -> CommandResult:
        user_hex, secret = _split_link(token)
        user = self._user_for_link(user_hex)
        with bound(tenant_id=str(user.personal_tenant_id)):
            user.verify_email(digest(secret))
            return self.commit(user)

    def request_password_reset(self, email: str) -> tuple[User, str] | None:
        """A link for a known address; None for an unknown one (the caller must not say which)."""
        user = self.user_by_email(email)
        if user is None:
            return None
        secret = secrets.token_urlsafe(32)
        with bound(tenant_id=str(user.personal_tenant_id)):
            user.request_password_reset(digest(secret))
            self.commit(user)
        return user, _link(user.id, secret)

    def reset_password(self, token: str, new_password: str) -> CommandResult:
        check_password(new_password)
        user_hex, secret = _split_link(token)
        user = self._user_for_link(user_hex)
        with bound(tenant_id=str(user.personal_tenant_id)):
            user.reset_password(digest(secret), self.sealer.seal(self.hasher.hash(new_password)))
            return self.commit(user)

    def change_password(self, user_id: UUID, old_password: str, new_password: str) -> CommandResult:
        user = self.user(user_id)
        if not self._password_matches(user, old_password):
            raise InvalidCredentialsError("the current password is wrong", field="old_password")
        check_password(new_password, field="new_password")
        with bound(tenant_id=str(user.personal_tenant_id)):
            user.change_password(self.sealer.seal(self.hasher.hash(new_password)))
            return self.commit(user)

    def update_profile(self, user_id: UUID, display_name: str) -> CommandResult:
        user = self.user(user_id)
        with bound(tenant_id=str(user.personal_tenant_id)):
            user.update_profile(display_name)
            return self.commit(user)

    def _user_for_link(self, user_hex: str) -> User:
        try:
            return self.user(_uuid(user_hex))
        except UserNotFoundError:
            raise LinkInvalidError("the link is invalid") from None

    def _password_matches(self, user: User, password: str) -> bool:
        return self.hasher.verify(self.sealer.open(user.password_hash), password)

    # --- sessions ---------------------------------------------------------------------------

    def login(self, email: str, password: str, user_agent: str | None = None) -> Login:
        user = self.user_by_email(email)
        if user is None:
            # Spend the same time as a real check, so timing does not reveal who is registered.
            self.hasher.verify(self._decoy_hash, password)
            raise InvalidCredentialsError("wrong email or password")
        if not self._password_matches(user, password):
            raise InvalidCredentialsError("wrong email or password")
        secret = secrets.token_urlsafe(32)
        with bound(tenant_id=str(user.personal_tenant_id), actor=f"user:{user.id}"):
            session = Session(
                user_id=user.id,
                refresh_hash=digest(secret),
                expires_at=utcnow() + REFRESH_TTL,
                user_agent=(user_agent or "")[:200] or None,
            )
            result = self.commit(session)
        return Login(user.id, session.id, _link(session.id, secret), result.position)

    def refresh(self, refresh_token: str) -> Login:
        invalid = TokenInvalidError("the refresh token is not valid")
        try:
            session_hex, secret = _split_link(refresh_token)
            session = self.get(_uuid(session_hex), Session, lambda: invalid)
        except LinkInvalidError:
            raise invalid from None
        user = self.user(session.user_id)
        with bound(tenant_id=str(user.personal_tenant_id), actor=f"user:{user.id}"):
            if not session.check_refresh(digest(secret)):
                self.commit(session)
                raise TokenInvalidError("the refresh token was already used; the session is ended")
            new_secret = secrets.token_urlsafe(32)
            session.refresh(digest(new_secret), REFRESH_TTL)
            result = self.commit(session)
        return Login(user.id, session.id, _link(session.id, new_secret), result.position)

    def session_is_active(self, session_id: UUID) -> bool:
        try:
            return self.get(session_id, Session, not_found("session")).is_active
        except NotFoundError:
            return False

    def logout(self, session_id: UUID) -> CommandResult | None:
        session = self.get(session_id, Session, not_found("session"))
        if session.ended:
            return None
        user = self.user(session.user_id)
        with bound(tenant_id=str(user.personal_tenant_id)):
            session.end("logout")
            return self.commit(session)

    @property
    def _decoy_hash(self) -> str:
        if not hasattr(self, "_decoy"):
            self._decoy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._decoy

    # --- tenants ----------------------------------------------------------------------------

    def create_team(self, by: UUID, slug: str, name: str) -> CommandResult:
        check_slug(slug)
        user = self.user(by)
        tenant_id = Tenant.create_id(slug)
        if tenant_id in self.repository:
            raise SlugTakenError("that slug is taken", field="slug")
        with bound(tenant_id=str(tenant_id)):
            tenant = Tenant(
                slug=slug,
                name=name,
                kind=TenantKind.TEAM.value,
                owner_id=user.id,
                owner_username=user.username,
                owner_email=user.email,
            )
            try:
                return self.commit(tenant)
            except ConflictError:
                raise SlugTakenError("that slug is taken", field="slug") from None

    def rename_tenant(self, tenant: Tenant | str, by: UUID, name: str) -> CommandResult:
        tenant = self._the_tenant(tenant)
        tenant.require_role(by, Role.ADMIN)
        with bound(tenant_id=str(tenant.id)):
            tenant.rename(name)
            return self.commit(tenant)

    def suspend_tenant(self, slug: str, reason: str) -> CommandResult:
        """Platform operators only: the caller checks that."""
        tenant = self.tenant_by_slug(slug)
        with bound(tenant_id=str(tenant.id)):
            tenant.suspend(reason)
            return self.commit(tenant)

    def reactivate_tenant(self, slug: str) -> CommandResult:
        tenant = self.tenant_by_slug(slug)
        with bound(tenant_id=str(tenant.id)):
            tenant.reactivate()
            return self.commit(tenant)

    def change_plan(self, slug: str, plan: Plan) -> CommandResult:
        tenant = self.tenant_by_slug(slug)
        with bound(tenant_id=str(tenant.id)):
            tenant.change_plan(plan)
            return self.commit(tenant)

    def invite_member(self, tenant: Tenant | str, by: UUID, email: str, role: Role) -> Invitation:
        tenant = self._the_tenant(tenant)
        secret = secrets.token_urlsafe(32)
        invitation_id = uuid4()
        with bound(tenant_id=str(tenant.id)):
            tenant.invite(by, normalize_email(email), role, digest(secret), invitation_id)
            result = self.commit(tenant)
        token = f"{tenant.id.hex}.{invitation_id.hex}.{secret}"
        return Invitation(invitation_id, token, result.position)

    def accept_invitation(self, token: str, user_id: UUID) -> CommandResult:
        tenant_hex, invitation_hex, secret = _split_link(token, parts=3)
        try:
            tenant = self.tenant(_uuid(tenant_hex))
        except TenantNotFoundError:
            raise LinkInvalidError("the invitation is invalid") from None
        user = self.user(user_id)
        with bound(tenant_id=str(tenant.id)):
            tenant.accept_invitation(
                _uuid(invitation_hex), digest(secret), user.id, user.username, user.email
            )
            return self.commit(tenant)

    def revoke_invitation(
        self, tenant: Tenant | str, by: UUID, invitation_id: UUID
    ) -> CommandResult:
        tenant = self._the_tenant(tenant)
        with bound(tenant_id=str(tenant.id)):
            tenant.revoke_invitation(by, invitation_id)
            return self.commit(tenant)

    def change_member_role(
        self, tenant: Tenant | str, by: UUID, user_id: UUID, role: Role
    ) -> CommandResult:
        tenant = self._the_tenant(tenant)
        with bound(tenant_id=str(tenant.id)):
            tenant.change_member_role(by, user_id, role)
            return self.commit(tenant)

    def remove_member(self, tenant: Tenant | str, by: UUID, user_id: UUID) -> CommandResult:
        tenant = self._the_tenant(tenant)
        tenant.require_role(by, Role.VIEWER)
        with bound(tenant_id=str(tenant.id)):
            tenant.remove_member(by, user_id)
            return self.commit(tenant)

    # --- API tokens -------------------------------------------------------------------------

    def issue_token(
        self,
        tenant: Tenant | str,
        by: UUID,
        name: str,
        scopes: list[Scope],
        expires_at: datetime | None,
    ) -> IssuedToken:
        tenant = self._the_tenant(tenant)
        tenant.require_active()
        role = tenant.require_role(by, Role.MEMBER)
        if Scope.ADMIN in scopes and not role.at_least(Role.ADMIN):
            raise RoleRequiredError("only admins can issue tokens with the admin scope")
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidInputError("give the expiry with a time zone", field="expires_at")
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInputError("the expiry must be in the future", field="expires_at")
        body = secrets.token_urlsafe(30)
        token = API_TOKEN_PREFIX + body
        with bound(tenant_id=str(tenant.id)):
            api_token = ApiToken(
                token_hash=digest(token),
                tenant=tenant.id,
                name=name,
                scopes=sorted({s.value for s in scopes}),
                prefix=token[: len(API_TOKEN_PREFIX) + 6],
                expires_at=expires_at,
                created_by=by,
            )
            result = self.commit(api_token)
        return IssuedToken(api_token.id, token, api_token.prefix, result.position)

    def revoke_token(self, tenant: Tenant | str, by: UUID, token_id: UUID) -> CommandResult:
        tenant = self._the_tenant(tenant)
        role = tenant.require_role(by, Role.MEMBER)
        api_token = self.get(token_id, ApiToken, lambda: ApiTokenNotFoundError("token not found"))
        if api_token.tenant != tenant.id:
            raise ApiTokenNotFoundError("token not found")
        if api_token.created_by != by and not role.at_least(Role.ADMIN):
            raise RoleRequiredError("only admins can revoke other people's tokens")
        with bound(tenant_id=str(tenant.id)):
            api_token.revoke(by=f"user:{by}")
            return self.commit(api_token)

    def authenticate_token(self, token: str) -> TokenPrincipal:
        """Who a presented API token speaks for; revoked, expired or suspended is refused."""
        if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
            raise TokenInvalidError("the API token is not valid")
        api_token = self.get(
            ApiToken.create_id(digest(token)),
            ApiToken,
            lambda: TokenInvalidError("the API token is not valid"),
        )
        if not api_token.is_usable:
            raise TokenInvalidError("the API token is revoked or expired")
        tenant = self.tenant(api_token.tenant)
        tenant.require_active()
        return TokenPrincipal(
            token_id=api_token.id,
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            scopes=frozenset(api_token.scopes),
            created_by=api_token.created_by,
        )


def require_scope(principal: TokenPrincipal, scope: Scope) -> None:
    if scope.value not in principal.scopes and Scope.ADMIN.value not in principal.scopes:
        raise ScopeRequiredError(f"the token lacks the '{scope.value}' scope")
