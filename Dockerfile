# The production image: gunicorn serves the portal; the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    KEZEK_VAR_DIR=/var/lib/kezek

# Pango and HarfBuzz for WeasyPrint (PDF receipts and booking confirmations).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b \
    fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app kezek \
 && mkdir -p /var/lib/kezek/manifest_keys && chown kezek /var/lib/kezek /var/lib/kezek/manifest_keys \
 && chmod 700 /var/lib/kezek/manifest_keys

WORKDIR /app
COPY pyproject.toml ./
RUN pip install --upgrade pip && pip install .
COPY . .
# collectstatic needs a key to import the settings; the real one comes from the environment.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput

USER kezek
EXPOSE 8000
# Request lines come from the portal itself (JSON, with request ids), not gunicorn's access log.
# gthread keeps nginx's connections alive between requests (--keep-alive above nginx's 20 s).
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", \
     "--worker-class", "gthread", "--threads", "4", "--keep-alive", "30", \
     "--forwarded-allow-ips", "*"]
