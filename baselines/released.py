"""The authors' released checkpoints (`trained_model.pth` of github albanie/collaborative-experts).

The reference `CENet` names its parameters after its own modules (`ce.video_GU.0.cg.batch_norm2.weight`,
`text_pooling.clusters2`, ...). `reference_state_dict` writes this project's model under those names
and `load_reference_state_dict` reads them back; the two are inverse, and a state dict whose key set
or shapes do not match the model exactly is refused. The reference's one first layer of g,
`ce.g_reason_1` (a Linear on the concatenation [s_i; s_j]), is this project's `g_first_self` (its first
half and the bias) plus `g_first_other` (its second half).

Released checkpoints are read with `torch.load(weights_only=True)`: tensors and plain containers only.
The reference also pickles its `parse_config.ConfigParser` (with `argparse.Namespace` and `pathlib`
paths inside) under the `config` key; those few names are read into inert stand-ins that hold the
pickled data and run nothing, and any other object is refused.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .models import RetrievalModel
from .models.ce import CEVideoEncoder, CollaborativeGating
from .models.moee import MoEEVideoEncoder

RELEASED_CHECKPOINT_NOT_WEIGHTS = (
    "The checkpoint {path} holds a pickled object that is not a tensor, a plain container or the "
    "reference's config, so it was not loaded; expected a reference trained_model.pth or a state "
    "dict of tensors ({detail})."
)
RELEASED_CHECKPOINT_NO_STATE_DICT = (
    "The checkpoint {path} holds no state dict; expected a dict of tensors, or a dict with a "
    "'state_dict' entry as the reference's trained_model.pth has."
)
REFERENCE_KEYS_MISMATCH = (
    "The state dict does not match the model: {missing} expected key(s) missing (e.g. {missing_examples}) "
    "and {unexpected} unexpected key(s) (e.g. {unexpected_examples}); expected exactly the reference "
    "CENet names of a model with these experts and sizes."
)
REFERENCE_SHAPE_MISMATCH = (
    "The state dict entry {key} has shape {got}, but the model expects {expected}; expected a "
    "checkpoint trained with the same experts, shared dimension and cluster counts."
)
REFERENCE_MODEL_UNSUPPORTED = (
    "Only CE with collaborative gating and MoEE have reference names; expected a model built with "
    "arch.type 'ce' and gating 'pairwise', or arch.type 'moee'."
)
REFERENCE_CONFIG_UNSUPPORTED = (
    "The reference config sets {key} = {value!r}; expected {expected}, the only setting this project "
    "reproduces."
)

_GATING = "video.collaborative."
_G_SELF, _G_OTHER = _GATING + "g_first_self.", _GATING + "g_first_other."
_G_FIRST = "ce.g_reason_1."


def _rename(key: str, expert_keys: list[str]) -> str:
    """The reference name of a project state-dict key (all but the split first layer of g)."""
    rules: list[tuple[str, Any]] = [
        (r"^pooling\.(\d+)\.centres$", lambda m: f"pooling.{expert_keys[int(m[1])]}.clusters2"),
        (r"^pooling\.(\d+)\.(.*)$", lambda m: f"pooling.{expert_keys[int(m[1])]}.{m[2]}"),
        (r"^text\.vlad\.centres$", "text_pooling.clusters2"),
        (r"^text\.vlad\.(.*)$", r"text_pooling.\1"),
        (r"^text\.moe\.(.*)$", r"ce.moe_fc.\1"),
        (r"^text\.units\.(\d+)\.fc\.(.*)$", r"ce.text_GU.\1.fc.\2"),
        (r"^text\.units\.(\d+)\.gating\.(.*)$", r"ce.text_GU.\1.cg.\2"),
        (r"^video\.projections\.(\d+)\.(.*)$", r"ce.video_dim_reduce.\1.fc.\2"),
        (r"^video\.collaborative\.g_rest\.(.*)$", r"ce.g_reason_shared.\1"),
        (r"^video\.collaborative\.h\.(.*)$", r"ce.h_reason.\1"),
        (r"^video\.collaborative\.units\.(\d+)\.fc\.(.*)$", r"ce.video_GU.\1.cg.fc.\2"),
        (r"^video\.collaborative\.units\.(\d+)\.bn_context\.(.*)$", r"ce.video_GU.\1.cg.batch_norm.\2"),
        (r"^video\.collaborative\.units\.(\d+)\.bn_self\.(.*)$", r"ce.video_GU.\1.cg.batch_norm2.\2"),
        (r"^video\.units\.(\d+)\.fc\.(.*)$", r"ce.video_GU.\1.fc.\2"),
        (r"^video\.units\.(\d+)\.gating\.(.*)$", r"ce.video_GU.\1.cg.\2"),
    ]
    for pattern, replacement in rules:
        renamed, count = re.subn(pattern, replacement, key)
        if count:
            return renamed
    raise ValueError(f"no reference name for {key!r}")


def _check_supported(model: RetrievalModel) -> None:
    video = model.video
    if isinstance(video, CEVideoEncoder) and video.gating == "pairwise":
        return
    if isinstance(video, MoEEVideoEncoder):
        return
    raise ValueError(REFERENCE_MODEL_UNSUPPORTED)


def reference_state_dict(model: RetrievalModel) -> dict[str, torch.Tensor]:
    """The model's weights and BatchNorm statistics under the reference CENet's state-dict names.

    Experts are indexed in sorted key order, which is the reference's modality order too
    (`utils.util.compute_dims` sorts `experts.modalities`).
    """
    _check_supported(model)
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in own.items():
        if key.startswith(_G_OTHER):
            continue
        if key == _G_SELF + "weight":
            out[_G_FIRST + "weight"] = torch.cat([value, own[_G_OTHER + "weight"]], dim=1)
        elif key == _G_SELF + "bias":
            out[_G_FIRST + "bias"] = value
        else:
            out[_rename(key, model.expert_keys)] = value
    return {k: v.detach().clone() for k, v in out.items()}


def _examples(keys: set[str]) -> str:
    return ", ".join(sorted(keys)[:3]) or "none"


def load_reference_state_dict(model: RetrievalModel, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load a state dict with the reference's names into `model` (in place).

    Raises:
        ValueError: the key set differs from the model's in any way, a shape differs, or the model
            has no reference counterpart (CE - CG).
    """
    expected = reference_state_dict(model)
    missing, unexpected = set(expected) - set(state_dict), set(state_dict) - set(expected)
    if missing or unexpected:
        raise ValueError(
            REFERENCE_KEYS_MISMATCH.format(
                missing=len(missing),
                missing_examples=_examples(missing),
                unexpected=len(unexpected),
                unexpected_examples=_examples(unexpected),
            )
        )
    for key, want in expected.items():
        got = state_dict[key]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ValueError(REFERENCE_SHAPE_MISMATCH.format(key=key, got=shape, expected=tuple(want.shape)))
    own: dict[str, torch.Tensor] = {}
    for key in model.state_dict():
        if key == _G_SELF + "weight":
            own[key] = state_dict[_G_FIRST + "weight"][:, : _first_self_width(model)]
        elif key == _G_OTHER + "weight":
            own[key] = state_dict[_G_FIRST + "weight"][:, _first_self_width(model) :]
        elif key == _G_SELF + "bias":
            own[key] = state_dict[_G_FIRST + "bias"]
        else:
            own[key] = state_dict[_rename(key, model.expert_keys)]
    model.load_state_dict(own, strict=True)


class _InertPickled:
    """A stand-in for one of the reference's pickled helper objects: keeps the data, runs nothing."""

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _first_self_width(model: RetrievalModel) -> int:
    """Inputs of the pairwise gating's self half: the reference's one first layer splits there."""
    gating = model.video.collaborative
    if not isinstance(gating, CollaborativeGating):
        raise ValueError("the model has no pairwise collaborative gating to load the reference's into")
    width: int = gating.g_first_self.in_features
    return width


def _stand_in(qualified: str) -> type:
    module, _, name = qualified.rpartition(".")
    return type(name, (_InertPickled,), {"__module__": module, "__qualname__": name})


# The pickled objects of the reference trainer's checkpoint (`base/base_trainer.py`), besides tensors.
_REFERENCE_PICKLED = (
    "parse_config.ConfigParser",
    "argparse.Namespace",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib._local.PosixPath",
    "pathlib._local.WindowsPath",
)


def read_released_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict of a released `trained_model.pth` (or of a plain state-dict file).

    Read with `torch.load(weights_only=True)` on the CPU; the reference's config object and its paths
    become inert stand-ins (see the module docstring) and are dropped.

    Raises:
        ValueError: the file holds any other pickled object, or no state dict.
    """
    stand_ins: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
        (_stand_in(name), name) for name in _REFERENCE_PICKLED
    ]
    try:
        with torch.serialization.safe_globals(stand_ins):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message also suggests weights_only=False; keep only the line that names the object
        lines = [line for line in str(exc).splitlines() if "GLOBAL" in line or "Unsupported" in line]
        detail = lines[0].strip() if lines else type(exc).__name__
        raise ValueError(RELEASED_CHECKPOINT_NOT_WEIGHTS.format(path=path, detail=detail)) from None
    state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else None
    if (
        not isinstance(state, Mapping)
        or not state
        or not all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        raise ValueError(RELEASED_CHECKPOINT_NO_STATE_DICT.format(path=path))
    return dict(state)


def overrides_from_reference_config(reference: Mapping[str, Any]) -> dict[str, Any]:
    """Config overrides (for `baselines.config.load_config`) from a resolved reference `config.json`.

    Takes the experts (sorted, `drop_feats` removed), the text features, the model sizes and the token
    limits; refuses settings this project does not reproduce (see REFERENCE_CONFIG_UNSUPPORTED).
    """
    experts = reference["experts"]
    args = reference["arch"]["args"]
    dropped = {x for x in str(experts.get("drop_feats") or "").split(",") if x}
    fixed = {
        "keep_missing_modalities": (False, "false"),
        "l2renorm": (False, "false"),
        "use_bn_reason": (True, "1 (BatchNorm in g and h)"),
        "mimic_ce_dims": (False, "0"),
    }
    for key, (value, wording) in fixed.items():
        if key in args and bool(args[key]) != value:
            raise ValueError(REFERENCE_CONFIG_UNSUPPORTED.format(key=key, value=args[key], expected=wording))
    use_ce = args.get("use_ce", "")
    if use_ce not in ("pairwise", ""):
        raise ValueError(
            REFERENCE_CONFIG_UNSUPPORTED.format(key="use_ce", value=use_ce, expected="'pairwise' or ''")
        )
    if use_ce and not args.get("include_self", 1):
        raise ValueError(REFERENCE_CONFIG_UNSUPPORTED.format(key="include_self", value=0, expected="1"))
    vlad = dict(args.get("vlad_clusters", {}))
    ghosts = dict(args.get("ghost_clusters", {}))
    max_tokens = dict(reference.get("data_loader", {}).get("args", {}).get("max_tokens", {}))
    names = sorted(x for x in experts["modalities"] if x not in dropped)
    overrides: dict[str, Any] = {
        "arch": {
            "type": "ce" if use_ce else "moee",
            "gating": "pairwise",
            "cg_order": "reference",
            "ce_shared_dim": int(experts.get("ce_shared_dim", 768)),
            "num_g_layers": int(args.get("num_g_layers", 3)),
            "num_h_layers": int(args.get("num_h_layers", 0)),
            "use_mish": bool(args.get("use_mish", 1)),
            "text_clusters": int(vlad.get("text", 28)),
            "text_ghosts": int(ghosts.get("text", 0)),
            "freeze_weights": bool(args.get("freeze_weights", False)),
        },
        "data": {
            "experts": names,
            "text_encoder": experts.get("text_feat", "openai"),
            "vlad_clusters": {k: int(v) for k, v in vlad.items() if k in names},
            "max_tokens": {k: int(v) for k, v in max_tokens.items() if k == "text" or k in names},
        },
    }
    return overrides


def evaluate_released(
    *,
    store_file: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    reference_config: Mapping[str, Any],
    split: str = "test",
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Score a released checkpoint on a store split, as the reference's `test.py` would.

    The model is rebuilt from the released `config.json` (`overrides_from_reference_config`) and the
    store's expert dimensions, the weights are loaded with `load_reference_state_dict`, and the split is
    scored with `evaluation.metrics` (t2v and v2t).
    """
    from .config import load_config
    from .data import expert_specs
    from .models import build_model
    from .predict import evaluate_split
    from .store import ExpertStore

    overrides = overrides_from_reference_config(reference_config)
    with ExpertStore(store_file) as store:
        config = load_config(store.dataset, overrides["arch"]["type"], overrides=overrides)
        encoder = config["data"]["text_encoder"]
        if encoder not in store.text_dims:
            raise ValueError(
                f"The store has no {encoder!r} text features (it has {', '.join(sorted(store.text_dims))}); "
                "expected the text encoder the checkpoint was trained on."
            )
        model = build_model(config["arch"], expert_specs(store, config), store.text_dims[encoder])
        load_reference_state_dict(model, read_released_checkpoint(checkpoint))
        model.to(device).eval()
        return evaluate_split(model, store, config, split, device=device)
