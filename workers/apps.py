from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        # Registers the system checks, the memory limit and the scoring warm-up.
        from workers import checks, limits, warmup  # noqa: F401
