"""Gunicorn settings, read by default from the directory gunicorn starts in (the Dockerfile,
docker-compose.yml and bench/ingest.py all start it here)."""

# Import the application (Django, the URL configuration and everything the views import:
# the ingest parsers, the EQL engine) once in the master, before forking the workers: each
# worker is then ready for its first request instead of spending it on imports.
preload_app = True
