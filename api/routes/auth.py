"""Sign-up, sign-in, sessions, email verification and password reset."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import ContainerDep, PrincipalDep, UserDep, forget_credentials
from api.errors import PROBLEMS
from api.schemas import (
    CommandAccepted,
    LinkToken,
    LoginRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    Registered,
    TokenPair,
    UserCreate,
)
from domain.shared.errors import DomainError
from domain.tenancy.application import Login
from infra.container import Container

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=PROBLEMS)


def _pair(container: Container, login: Login) -> TokenPair:
    return TokenPair(
        access_token=container.jwt.issue(login.user_id, login.session_id),
        refresh_token=login.refresh_token,
        expires_in=container.jwt.ttl_seconds,
    )


def _send_verification(container: Container, email: str, token: str) -> None:
    link = f"{container.settings.public_url}/verify-email?token={token}"
    container.mailer.send(
        email,
        "Verify your email address for MCPS.ONE",
        f"Welcome to MCPS.ONE.\n\nConfirm your address by opening this link:\n{link}\n\n"
        f"Or paste this code: {token}\n\nThe link expires in 48 hours.",
    )


@router.post(
    "/register",
    summary="Register a user",
    status_code=status.HTTP_201_CREATED,
    response_model=Registered,
)
def register(body: UserCreate, container: ContainerDep, response: Response) -> Registered:
    """Create a user and their personal tenant, and email a verification link."""
    result = container.tenancy.register_user(body.email, body.username, body.password)
    _send_verification(container, str(body.email).lower(), result.verification_token)
    response.headers["X-Consistent-After"] = str(result.position)
    return Registered(
        user_id=result.user_id,
        tenant_id=result.tenant_id,
        username=body.username,
        position=result.position,
    )


@router.post("/login", summary="Sign in", response_model=TokenPair)
def login(body: LoginRequest, container: ContainerDep, request: Request) -> TokenPair:
    """Exchange email and password for a short-lived access token and a refresh token."""
    result = container.tenancy.login(body.email, body.password, request.headers.get("user-agent"))
    return _pair(container, result)


@router.post("/refresh", summary="Rotate a refresh token", response_model=TokenPair)
def refresh(body: RefreshRequest, container: ContainerDep, request: Request) -> TokenPair:
    """A new token pair; the old refresh token stops working (reusing it ends the session)."""
    try:
        return _pair(container, container.tenancy.refresh(body.refresh_token))
    except DomainError:
        forget_credentials(request)  # a reuse may have ended the session as it is refused
        raise


@router.post("/logout", summary="Sign out", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: UserDep, container: ContainerDep, request: Request) -> Response:
    """End the session: its access and refresh tokens stop working (at once on this API
    process, within `auth.cache_seconds` on the others)."""
    assert principal.session_id is not None
    container.tenancy.logout(principal.session_id)
    forget_credentials(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/verify-email", summary="Verify an email address", response_model=CommandAccepted)
def verify_email(body: LinkToken, container: ContainerDep) -> CommandAccepted:
    """Use the single-use token from the verification email."""
    result = container.tenancy.verify_email(body.token)
    return CommandAccepted.of(result)


@router.post(
    "/verify-email/resend",
    summary="Send a new verification email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CommandAccepted,
)
def resend_verification(principal: PrincipalDep, container: ContainerDep) -> CommandAccepted:
    """Issue a fresh link; earlier ones stop working."""
    user = container.tenancy.user(principal.user_id)
    token, result = container.tenancy.request_email_verification(user.id)
    _send_verification(container, user.email, token)
    return CommandAccepted.of(result)


@router.post(
    "/password-reset", summary="Request a password reset", status_code=status.HTTP_202_ACCEPTED
)
def request_password_reset(body: PasswordResetRequest, container: ContainerDep) -> dict[str, str]:
    """Always 202, so the answer does not tell whether the address is registered."""
    found = container.tenancy.request_password_reset(str(body.email))
    if found is not None:
        user, token = found
        link = f"{container.settings.public_url}/reset-password?token={token}"
        container.mailer.send(
            user.email,
            "Reset your MCPS.ONE password",
            f"Someone asked to reset your password. If it was you, open:\n{link}\n\n"
            f"Or paste this code: {token}\n\nThe link expires in one hour and works once.",
        )
    return {"status": "accepted"}


@router.post(
    "/password-reset/confirm", summary="Set a new password", response_model=CommandAccepted
)
def confirm_password_reset(
    body: PasswordResetConfirm, container: ContainerDep, request: Request
) -> CommandAccepted:
    """Use the single-use token from the reset email to set a new password."""
    result = container.tenancy.reset_password(body.token, body.password)
    forget_credentials(request)  # the user's sessions have ended
    return CommandAccepted.of(result)
