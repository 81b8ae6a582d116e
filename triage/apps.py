from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = "Triage"

    def ready(self) -> None:
        # The Celery app (configured from settings) exists before any task is sent: the
        # tasks of rules are shared tasks that send through it.
        from triage import celery  # noqa: F401
