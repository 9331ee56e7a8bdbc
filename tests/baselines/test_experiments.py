"""The comparison script runs every row and formats mean (std) over seeds."""

from __future__ import annotations

import pytest

from baselines.experiments import LABELS, ROWS, format_table, run_experiments
from baselines.store import store_path

from .conftest import TINY_OVERRIDES


def test_experiments_train_every_row_and_print_a_table(tiny_store_dir):
    overrides = {**TINY_OVERRIDES, "train": {"epochs": 1, "batch_size": 16}}
    results = run_experiments(store_file=store_path(tiny_store_dir, "MSRVTT"), seeds=[0], split="val", profile=None,
                              overrides=overrides)
    assert list(results) == list(ROWS) and all(len(runs) == 1 for runs in results.values())
    table = format_table(results, title="t")
    for row in ROWS:
        assert LABELS[row] in table
    assert "Geom" in table and "MdR" in table


def test_table_reports_sample_std_over_seeds():
    runs = [{"R1": r, "R5": 0.0, "R10": 0.0, "MedR": 1.0, "MeanR": 1.0, "geometric_mean_R1-R5-R10": 0.0}
            for r in (1.0, 2.0, 3.0)]
    line = format_table({"ce": runs}, title="t").splitlines()[-1]
    assert line.startswith(LABELS["ce"])
    assert "2.0 ( 1.0)" in line, "mean 2, sample std 1 (ddof=1)"
    with pytest.raises(KeyError):
        format_table({"ce": [{"R1": 1.0}]}, title="t")
