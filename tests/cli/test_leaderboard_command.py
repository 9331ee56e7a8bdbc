"""`pentathlon leaderboard`: --dataset and --sort reach the API, times carry their zone, baselines are
marked once."""

from __future__ import annotations

from cli import main as cli_main


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def get_json(self, path: str, **kwargs) -> dict:
        self.calls.append((path, kwargs.get("params")))
        return {
            "challenge": "video-pentathlon",
            "phase_slug": "val",
            "datasets": ["MSVD"],
            "decimals": 2,
            "entries": [
                {
                    "rank": None,
                    "team": "Organisers",
                    "method_name": "CE (baseline)",
                    "is_baseline": True,
                    "primary_score": 12.3456,
                    "scores": {"MSVD": 12.3456},
                    "submitted_at": "2026-12-01T12:32:55.120000+01:00",
                }
            ],
        }


def test_dataset_and_sort_reach_the_api_and_the_table_reads_well(monkeypatch, capsys):
    fake = FakeClient()
    monkeypatch.setattr(cli_main, "_client", lambda args, **kwargs: fake)
    args = cli_main.build_parser().parse_args(
        ["leaderboard", "7", "--dataset", "MSVD", "--sort", "MSVD:MedR"]
    )
    assert cli_main.cmd_leaderboard(args, cli_main._Ui()) == 0
    assert fake.calls == [("phases/7/leaderboard/", {"dataset": "MSVD", "sort": "MSVD:MedR"})]
    out = capsys.readouterr().out
    assert "CE (baseline)" in out and "(baseline) (baseline)" not in out
    assert "2026-12-01 11:32 UTC" in out


def test_without_options_no_parameters_are_sent(monkeypatch):
    fake = FakeClient()
    monkeypatch.setattr(cli_main, "_client", lambda args, **kwargs: fake)
    cli_main.cmd_leaderboard(cli_main.build_parser().parse_args(["leaderboard", "7"]), cli_main._Ui())
    assert fake.calls == [("phases/7/leaderboard/", {})]
