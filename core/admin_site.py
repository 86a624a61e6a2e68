"""The admin site of the registrar's side: a verified second factor is required (A2, A5).

Staff, operators and auditors sign in on the portal's own sign-in page, like everyone else; the
admin has no login form of its own and sends people there, then back.
"""

from functools import update_wrapper

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from core import notices


def sign_in_url() -> str:
    """The portal's sign-in page (auth2fa). Its fixed path stands in while the page's URL is not
    installed, so the admin still refuses with a redirect rather than failing."""
    try:
        return reverse("signin")
    except NoReverseMatch:
        return "/signin/"


class KezekAdminSite(admin.AdminSite):
    site_header = "Kezek"
    site_title = "Kezek"

    def has_permission(self, request):
        """Active staff who passed a second factor in this session (django-otp's OTPMiddleware
        marks the session's device). No middleware, no `is_verified`: refused."""
        user = request.user
        is_verified = getattr(user, "is_verified", None)
        return bool(user.is_active and user.is_staff and callable(is_verified) and is_verified())

    def _to_sign_in(self, next_url: str) -> HttpResponseRedirect:
        response = redirect_to_login(next_url, sign_in_url(), REDIRECT_FIELD_NAME)
        add_never_cache_headers(response)
        return response

    def admin_view(self, view, cacheable=False):
        """Straight to the sign-in page (not via the admin's login URL) when refused."""
        admitted = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            logout_path = reverse("admin:logout", current_app=self.name)
            if not self.has_permission(request) and request.path != logout_path:
                return self._to_sign_in(request.get_full_path())
            return admitted(request, *args, **kwargs)

        return update_wrapper(inner, admitted)

    def index(self, request, extra_context=None):
        """The admin's front page, with what this person must act on (core.notices) on top."""
        for notice in notices.notices_for(request.user):
            messages.warning(request, notice.message)
        return super().index(request, extra_context)

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        """No password form here: to the portal's sign-in page and back to `next`."""
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index", current_app=self.name)
        if self.has_permission(request):
            return HttpResponseRedirect(next_url)
        return self._to_sign_in(next_url)
