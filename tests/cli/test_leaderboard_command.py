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


def test_a_dataset_board_prints_that_dataset_metrics(monkeypatch, capsys):
    fake = FakeClient()
    board = fake.get_json("phases/7/leaderboard/")
    board["dataset"] = "MSVD"
    board["metrics"] = [
        {"key": "R1", "label": "R@1"},
        {"key": "MedR", "label": "MedR"},
        {"key": "geometric_mean_R1-R5-R10", "label": "Geom"},
    ]
    board["entries"][0]["metrics"] = {"MSVD": {"score": 12.3456, "R1": 7.5, "MedR": 41.0}}
    monkeypatch.setattr(fake, "get_json", lambda path, **kwargs: board)
    monkeypatch.setattr(cli_main, "_client", lambda args, **kwargs: fake)
    cli_main.cmd_leaderboard(
        cli_main.build_parser().parse_args(["leaderboard", "7", "--dataset", "MSVD"]), cli_main._Ui()
    )
    out = capsys.readouterr().out
    assert "R@1" in out and "MedR" in out and "7.50" in out and "41.00" in out and "12.35" in out
    assert "overall" not in out and "Geom" not in out
