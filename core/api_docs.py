"""The API's browsable docs.

The docs page loads its start-up script from a URL of its own (drf-spectacular's split view)
rather than inline, so it runs under the portal's Content-Security-Policy without
'unsafe-inline' for scripts.
"""

from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularSwaggerSplitView


# drf-spectacular's Swagger page has a <style> block of three layout rules in its <head> and
# Swagger UI sets inline styles as it renders: this one page may use inline styles. Scripts stay
# 'self' only.
@method_decorator(csp_update({"style-src": ["'unsafe-inline'"]}), name="dispatch")
class ApiDocsView(SpectacularSwaggerSplitView):
    pass
