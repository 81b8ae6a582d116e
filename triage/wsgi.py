import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
# Only manage.py's offline commands may run without SECRET_KEY; a server never does.
os.environ.pop("SOC_OFFLINE_COMMAND", None)
application = get_wsgi_application()
# The URL configuration (and the views' modules) now rather than on the first request.
_url_patterns = get_resolver().url_patterns
# Likewise what queuing a detection task imports (gunicorn preloads this module, then forks).
from triage.celery import load_producer  # noqa: E402

load_producer()
