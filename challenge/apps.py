from django.apps import AppConfig


class ChallengeConfig(AppConfig):
    name = "challenge"
    verbose_name = "Challenges"

    def ready(self) -> None:
        from challenge import signals

        signals.connect_board_invalidation()
