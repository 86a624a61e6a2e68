from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_unsafe_production() -> None:
    """A server or worker with DEBUG off must not run on the generated development key."""
    if not settings.DEBUG and settings.SECRET_KEY_IS_GENERATED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off Kezek refuses to start on the generated "
            "development key: set SECRET_KEY in the environment (or DEBUG=1 for development)."
        )
