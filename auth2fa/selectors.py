from django.db.models import QuerySet

from auth2fa.models import ApiToken, UserSession


def sessions_of(user) -> QuerySet[UserSession]:
    """The person's browser sessions that have not been ended, newest first."""
    return UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_seen_at")


def tokens_of(user) -> QuerySet[ApiToken]:
    """The person's long-lived API tokens that still work."""
    return ApiToken.objects.filter(
        user=user, kind=ApiToken.Kind.PERSONAL, revoked_at__isnull=True
    ).order_by("-created_at")
