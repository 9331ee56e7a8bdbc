"""Training throughput of the baselines (samples per second), on CPU and, when present, CUDA.

    python benchmarks/bench_baselines_training.py [--steps 20] [--threads N] [--paper]

Times full optimisation steps (forward, backward, Ranger) on MSRVTT batches from a tiny synthetic store
(batches are padded to the configs' max_tokens, so a step costs what it costs on a real store).
Rows: CE (the reference gating order, and the `parallel` order for comparison), MoEE and TeachText (two
teachers) with the reduced `cpu` profile, and the CE of the CVPR 2020 challenge baseline (`--profile
challenge`: i3d + SENet-154 at full size, 40.2M parameters). `--paper` adds the paper-size
nine-expert CE (183M parameters; needs ~4 GB of memory).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.config import load_config, teacher_config
from baselines.data import expert_specs, load_split
from baselines.models import build_model
from baselines.optim import build_optimizer
from baselines.store import ExpertStore, store_path
from baselines.synthetic import generate_dataset
from baselines.train import TrainResult, sample_captions, teacher_targets, training_step


def _cases(paper: bool) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    cases = [
        ("CE", "ce", "cpu", {}),
        ("CE, parallel gating order", "ce", "cpu", {"arch": {"cg_order": "parallel"}}),
        ("MoEE", "moee", "cpu", {}),
        ("TeachText (2 teachers)", "teachtext", "cpu", {}),
        ("CE challenge baseline", "ce", "challenge", {}),
    ]
    if paper:
        cases.append(("CE nine experts, paper size", "ce", None, {}))
    return cases


def bench_case(
    store_file: Path,
    model_name: str,
    profile: str | None,
    overrides: dict[str, Any],
    device: torch.device,
    steps: int,
    warmup: int,
) -> dict[str, float]:
    config = load_config("MSRVTT", model_name, profile=profile, overrides=overrides)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    with ExpertStore(store_file) as store:
        specs = expert_specs(store, config)
        data = load_split(store, "train", specs, encoder=config["data"]["text_encoder"])
        teachers = None
        if config.get("distil"):  # untrained teachers cost the same as trained ones
            teachers = []
            for encoder in config["distil"]["teachers"]:
                t_config = teacher_config(config, encoder)
                t_model = build_model(t_config["arch"], specs, store.text_dims[encoder]).to(device)
                teachers.append(
                    teacher_targets(
                        TrainResult(t_model, t_config, specs, store.text_dims[encoder], 0, 0.0),
                        store,
                        device=device,
                    )
                )
        text_dim = store.text_dims[config["data"]["text_encoder"]]
    model = build_model(config["arch"], specs, text_dim).to(device).train()
    optimizer, _ = build_optimizer(config["optim"], model.parameters())
    batch_size = int(config["train"]["batch_size"])
    times = []
    for step in range(warmup + steps):
        batch = rng.choice(len(data.videos), size=batch_size, replace=len(data.videos) < batch_size)
        captions = sample_captions(data, batch, rng)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        training_step(
            model,
            optimizer,
            data,
            batch,
            captions,
            margin=float(config["train"]["margin"]),
            max_tokens=int(config["data"]["max_tokens"]["text"]),
            device=device,
            teachers=teachers,
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - started)
    step_s = statistics.median(times)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "batch": batch_size,
        "step_ms": 1000 * step_s,
        "samples_per_s": batch_size / step_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--paper", action="store_true", help="also the paper-size nine-expert CE")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(tmp, "MSRVTT", scale="tiny")
        store_file = store_path(tmp, "MSRVTT")
        print(
            f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, "
            f"CUDA {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available'}"
        )
        print(
            f"{'device':<7}{'model':<36}{'profile':<10}{'params':>13}{'batch':>7}{'step ms':>10}{'samples/s':>11}"
        )
        for device in devices:
            for label, model_name, profile, overrides in _cases(args.paper or device.type == "cuda"):
                r = bench_case(store_file, model_name, profile, overrides, device, args.steps, args.warmup)
                print(
                    f"{device.type:<7}{label:<36}{profile or 'paper':<10}{r['params']:>13,}{r['batch']:>7}"
                    f"{r['step_ms']:>10.1f}{r['samples_per_s']:>11.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
