"""Every conformance case of the reference implementation, both directions, to 1e-9."""

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.metrics import METRIC_KEYS, t2v_metrics, v2t_metrics

#: The cases and the reference's outputs, kept in the repository (see conformance/README.md).
CONFORMANCE = Path(__file__).resolve().parent / "conformance"
EXPECTED = json.loads((CONFORMANCE / "expected.json").read_text())


def test_conformance_cases_are_present():
    assert len(EXPECTED) >= 11
    assert all((CONFORMANCE / f"{name}.npz").exists() for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("direction", ["t2v", "v2t"])
def test_matches_reference_output(name, direction):
    case = np.load(CONFORMANCE / f"{name}.npz")
    masks = case["query_masks"] if "query_masks" in case.files else None
    metrics = (t2v_metrics if direction == "t2v" else v2t_metrics)(case["sims"], masks)
    assert set(metrics) == set(METRIC_KEYS)
    for key, expected in EXPECTED[name][direction].items():
        assert isinstance(metrics[key], float)
        assert metrics[key] == pytest.approx(expected, abs=1e-9), key


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_torch_cpu_tensor_matches_reference(name):
    torch = pytest.importorskip("torch")
    case = np.load(CONFORMANCE / f"{name}.npz")
    masks = torch.from_numpy(case["query_masks"]) if "query_masks" in case.files else None
    sims = torch.from_numpy(case["sims"])
    for direction, fn in (("t2v", t2v_metrics), ("v2t", v2t_metrics)):
        metrics = fn(sims, masks)
        for key, expected in EXPECTED[name][direction].items():
            assert metrics[key] == pytest.approx(expected, abs=1e-9)
