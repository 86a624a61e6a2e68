"""API tokens (A4) and the browser sessions a person sees on the security page."""

import dataclasses
import datetime as dt
import secrets
from importlib import import_module

from django.conf import settings
from django.db import transaction

from auth2fa.models import (
    ApiToken,
    User,
    UserSession,
)
from auth2fa.selectors import api_token_with_person
from auth2fa.services._common import (
    _hash_secret,
)
from carriers.models import Member
from core import audit, clock
from notify.models import Message
from notify.services import carrier_owners_notify

# --- API tokens (A4) ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def api_token_issue(
    *, user: User, kind: str, name: str = "", valid_for: dt.timedelta | None = None
) -> IssuedToken:
    """A new bearer token, shown once: only its SHA-256 is kept (A4). Every token expires: a
    sign-in token after API_SIGN_IN_TOKEN_HOURS, a personal one `valid_for` after it is made as
    its owner chose, at most API_PERSONAL_TOKEN_DAYS. A personal token of a carrier's member is
    told to every owner of the carrier (A8), the maker too: a stolen session must not make one
    unnoticed. Sign-in tokens (made by signing in to the API) and people of no carrier are not
    told of."""
    now = clock.now()
    if kind == ApiToken.Kind.SIGN_IN:
        longest = dt.timedelta(hours=settings.API_SIGN_IN_TOKEN_HOURS)
    else:
        longest = dt.timedelta(days=settings.API_PERSONAL_TOKEN_DAYS)
    expires_at = now + min(valid_for or longest, longest)
    secret = "kzk_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            kind=kind,
            name=name.strip()[:100],
            token_hash=_hash_secret(secret),
            prefix=secret[:12],
            created_at=now,
            expires_at=expires_at,
        )
        audit.record(
            "auth.token_created",
            actor=user,
            target=token,
            after={"kind": kind, "name": token.name, "expires_at": expires_at},
        )
        if kind == ApiToken.Kind.PERSONAL:
            member = Member.objects.filter(user_id=user.pk).values("carrier_id", "role").first()
            if member is not None:
                carrier_owners_notify(
                    carrier_id=member["carrier_id"],
                    event=Message.Kind.API_TOKEN_CREATED,
                    role=member["role"],
                )
    return IssuedToken(token=token, secret=secret)


def api_token_for_secret(secret: str) -> ApiToken | None:
    """The live token with this secret, or None (unknown, revoked or expired). The person's
    membership and carrier come in the same read, for carriers.selectors.membership_of, which
    every carrier endpoint asks next."""
    now = clock.now()
    token = api_token_with_person(_hash_secret(secret))
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if not token.user.is_active:
        return None
    # A write at most every 5 minutes per token, not one per request.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def api_token_revoke(*, token: ApiToken, actor: User) -> None:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=clock.now()
        )
        if updated:
            audit.record("auth.token_revoked", actor=actor, target=token)


# --- Browser sessions -----------------------------------------------------------------------------


def web_session_start(
    *, user: User, session_key: str, ip: str | None, user_agent: str
) -> UserSession:
    """Remember a signed-in browser session so the person can see and end it."""
    now = clock.now()
    with transaction.atomic():
        session = UserSession.objects.create(
            user=user,
            session_key=session_key,
            created_at=now,
            last_seen_at=now,
            ip=ip,
            # The client writes this header: control characters are dropped (PostgreSQL refuses
            # a NUL byte, which would fail the sign-in) and it is kept short.
            user_agent="".join(char for char in user_agent[:1000] if char.isprintable())[:300],
        )
        audit.record("auth.session_started", actor=user, target=session, after={"ip": ip})
    return session


def web_session_end(*, session: UserSession, actor: User) -> None:
    """End a browser session: it is signed out on its next request (and its data deleted)."""
    with transaction.atomic():
        updated = UserSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
            ended_at=clock.now()
        )
        if updated:
            audit.record("auth.session_ended", actor=actor, target=session)
    if updated:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        store(session_key=session.session_key).delete()
