import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Imported once the apps are loaded (get_wsgi_application sets Django up).
from config.production_guard import refuse_unsafe_production  # noqa: E402

refuse_unsafe_production()
