import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# Imported once the apps are loaded (get_wsgi_application sets Django up).
from checkpoints.front import PublicReadFront  # noqa: E402
from config.production_guard import refuse_unsafe_production  # noqa: E402

# Repeats of the busiest anonymous public reads are answered in front of Django (checkpoints.front).
application = PublicReadFront(django_application)

refuse_unsafe_production()
