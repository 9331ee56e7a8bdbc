"""The comparison script runs every row and formats mean (std) over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.experiments import LABELS, ROWS, format_condition_table, format_table, run_experiments
from baselines.store import ExpertStore, store_path
from baselines.synthetic import CONDITIONS

from .conftest import TINY_OVERRIDES


def _one_epoch_runs(store_dir, **options) -> dict:
    """Every (or the given) row trained one epoch on the tiny store, seed 0, evaluated on val."""
    return run_experiments(
        store_file=store_path(store_dir, "MSRVTT"),
        seeds=[0],
        split="val",
        profile=None,
        overrides={**TINY_OVERRIDES, "train": {"epochs": 1, "batch_size": 16}},
        **options,
    )


@pytest.mark.slow
def test_experiments_train_every_row_and_print_a_table(tiny_store_dir):
    results = _one_epoch_runs(tiny_store_dir)
    assert list(results) == list(ROWS) and all(len(runs) == 1 for runs in results.values())
    table = format_table(results, title="t")
    for row in ROWS:
        assert LABELS[row] in table
    assert "Geom" in table and "MdR" in table


def test_synthetic_stores_also_report_metrics_by_recording_condition(tiny_store_dir):
    path = store_path(tiny_store_dir, "MSRVTT")
    overrides = {**TINY_OVERRIDES, "train": {"epochs": 1, "batch_size": 16}}
    results = run_experiments(
        store_file=path, seeds=[0], split="test", profile=None, overrides=overrides, rows=("moee", "ce_cg")
    )
    with ExpertStore(path) as store:
        condition = store.hidden("condition", store.split_videos("test"))
        _, owner = store.split_captions("test")
    queries = {name: int((condition[owner] == code).sum()) for code, name in enumerate(CONDITIONS)}
    for row in ("moee", "ce_cg"):
        metrics = results[row][0]
        assert set(metrics["by_condition"]) == {name for name, n in queries.items() if n}
        # Each query is ranked against the whole gallery, so the per-condition recalls average back to the overall one.
        pooled = sum(metrics["by_condition"][name]["R5"] * queries[name] for name in metrics["by_condition"])
        assert pooled / len(owner) == pytest.approx(metrics["R5"])
    table = format_condition_table(results, title="t")
    assert LABELS["ce_cg"] in table and all(name in table.splitlines()[1] for name in metrics["by_condition"])


def test_condition_table_skips_rows_without_a_breakdown():
    geom = "geometric_mean_R1-R5-R10"
    runs = [{geom: 1.0, "by_condition": {"clean": {geom: g}, "dark": {geom: g / 2}}} for g in (10.0, 20.0)]
    lines = format_condition_table({"ce": runs, "moee": [{geom: 1.0}]}, title="t").splitlines()
    assert lines[1].split()[-2:] == ["clean", "dark"]
    assert len(lines) == 4 and lines[-1].startswith(LABELS["ce"])
    assert np.allclose(
        [float(x) for x in lines[-1].replace("(", " ").replace(")", " ").split()[-4:]],
        [15.0, np.std([10, 20], ddof=1), 7.5, np.std([5, 10], ddof=1)],
        atol=0.05,
    )


def test_table_reports_sample_std_over_seeds():
    runs = [
        {"R1": r, "R5": 0.0, "R10": 0.0, "MedR": 1.0, "MeanR": 1.0, "geometric_mean_R1-R5-R10": 0.0}
        for r in (1.0, 2.0, 3.0)
    ]
    line = format_table({"ce": runs}, title="t").splitlines()[-1]
    assert line.startswith(LABELS["ce"])
    assert "2.0 ( 1.0)" in line, "mean 2, sample std 1 (ddof=1)"
    with pytest.raises(KeyError):
        format_table({"ce": [{"R1": 1.0}]}, title="t")


@pytest.mark.slow
def test_the_optional_teachtext_rows_run_beside_each_other(tiny_store_dir):
    rows = (
        "teachtext",
        "teachtext_sum",
        "teachtext_available",
        "teachtext_weighted",
        "teachtext_mean",
        "teachtext_ce_optim",
    )
    results = _one_epoch_runs(tiny_store_dir, rows=rows)
    assert list(results) == list(rows) and all(len(runs) == 1 for runs in results.values())
    assert len({LABELS[row] for row in rows}) == len(rows)
    geoms = [results[row][0]["geometric_mean_R1-R5-R10"] for row in rows]
    assert all(0 <= g <= 100 for g in geoms)


@pytest.mark.slow
def test_a_later_run_reuses_the_teachers_kept_in_the_checkpoint_dir(tiny_store_dir, tmp_path, monkeypatch):
    from baselines import train

    trained = []
    real_train_model = train.train_model

    def counting_train_model(**kwargs):
        trained.append(kwargs["config"]["model"])
        return real_train_model(**kwargs)

    monkeypatch.setattr(train, "train_model", counting_train_model)
    first = _one_epoch_runs(tiny_store_dir, rows=("ce", "ce_w2v"), checkpoint_dir=tmp_path)
    assert trained == ["ce", "ce"]
    later = _one_epoch_runs(tiny_store_dir, rows=("ce", "teachtext_crosskd"), checkpoint_dir=tmp_path)
    assert trained[2:] == ["teachtext_crosskd"], "the teachers were loaded"
    assert later["ce"] == first["ce"]
