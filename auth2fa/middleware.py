import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.utils.translation import gettext as _

from auth2fa.models import UserSession
from core import clock

SIGNED_IN_AT = "kezek_signed_in_at"
TOUCH_EVERY = dt.timedelta(minutes=1)


class SessionGuardMiddleware:
    """Browser sessions end 12 hours after sign-in whatever happens, and at once when the person
    ends them from the security page. (Idle sessions expire after 30 minutes by the cookie age.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.session.session_key:
            self._guard(request)
        return self.get_response(request)

    def _guard(self, request) -> None:
        now = clock.now()
        signed_in_at = request.session.get(SIGNED_IN_AT)
        record = UserSession.objects.filter(session_key=request.session.session_key).first()
        too_old = signed_in_at is None or now - dt.datetime.fromisoformat(
            signed_in_at
        ) > dt.timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS)
        if too_old or record is None or record.ended_at is not None:
            logout(request)
            messages.info(request, _("Your session has ended. Please sign in again."))
            return
        if now - record.last_seen_at > TOUCH_EVERY:
            UserSession.objects.filter(pk=record.pk).update(last_seen_at=now)
