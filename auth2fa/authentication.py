from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from auth2fa.services import api_token_for_secret


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` (A4): a sign-in token (12 h) or a personal token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _sep, secret = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        secret = secret.strip()
        if not secret or " " in secret:
            raise exceptions.AuthenticationFailed(_("The Authorization header is malformed."))
        token = api_token_for_secret(secret)
        if token is None:
            raise exceptions.AuthenticationFailed(_("The token is not valid or has expired."))
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """A browser session counts for the API only once its second factor was verified (A2)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, auth = result
        is_verified = getattr(request._request.user, "is_verified", None)
        if not (is_verified and is_verified()):
            return None
        return user, auth
