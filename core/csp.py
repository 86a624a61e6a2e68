"""django-csp's middleware with the settings' policy built once per process.

django-csp builds the Content-Security-Policy header from the settings on every response (a
copy of the directives, then sorting and joining them): about a tenth of the work of a cached
public read. A response that carries no policy of its own (`@csp_update`, `@csp_replace`, as the
API docs do) and used no nonce gets the settings' policy, which changes only with the settings;
that header is built once and kept until a CONTENT_SECURITY_POLICY setting changes. Every
header is the one django-csp's CSPMiddleware writes (tests/core/test_csp.py compares them).
"""

from dataclasses import asdict

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# report_only -> the header built from the settings alone
_SETTINGS_POLICY: dict[bool, str] = {}

# (report_only, header, the response attribute that exempts it, its setting)
_HEADERS = (
    (False, HEADER, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
    (True, HEADER_REPORT_ONLY, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
)


@receiver(setting_changed)
def _forget_policy(*, setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _SETTINGS_POLICY.clear()


def policy_header(parts: PolicyParts, *, report_only: bool) -> str:
    """What csp.utils.build_policy makes of `parts`, from memory when they are the settings'."""
    if parts.config is None and parts.update is None and parts.replace is None and not parts.nonce:
        policy = _SETTINGS_POLICY.get(report_only)
        if policy is None:
            policy = _SETTINGS_POLICY[report_only] = build_policy(report_only=report_only)
        return policy
    return build_policy(**asdict(parts), report_only=report_only)


class CachedPolicyCSPMiddleware(CSPMiddleware):
    """CSPMiddleware.process_response (django-csp 4.0) with its build_policy calls going through
    policy_header; nonces, exemptions, excluded prefixes and the late-nonce guard unchanged."""

    def process_response(self, request, response):
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # Django's debug pages, as django-csp leaves them
        for report_only, header, exempt, setting in _HEADERS:
            parts = self.get_policy_parts(
                request=request, response=response, report_only=report_only
            )
            policy = policy_header(parts, report_only=report_only)
            if not policy or header in response or getattr(response, exempt, False):
                continue
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = policy
        # After the header is written a nonce can no longer reach it: asking for one is an error.
        if getattr(request, "_csp_nonce", None) is None:
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
