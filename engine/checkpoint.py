"""The checkpoint format, in one place: what a checkpoint holds, how it is written, read and turned into a model.

A run directory holds ``last.pt`` (written every epoch: everything needed to continue) and ``best.pt`` (the
weights of the best validation epoch, no optimizer state).  Both are ``torch.save`` dicts of tensors and plain
types only (read with ``weights_only=True``)::

    format    "grounding-engine/1"
    model     the state_dict (the frozen word-vector table included)
    config    Config.to_dict() of the run
    vocab     {"itos": [...], "vectors": (V, word_dim) float32}  -- inference needs no GloVe file
    epoch     epochs completed;  best {"epoch", "metrics"} or None;  history [per-epoch records]
    last.pt only: optimizer, scheduler, scaler, rng (one RNG state per process)

Files are written atomically (:func:`engine.atomic.atomic_output`): a crash mid-write keeps the previous file.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.atomic import atomic_output
from engine.config import Config
from engine.models import build_model
from engine.vocab import Vocabulary

CHECKPOINT_FORMAT = "grounding-engine/1"
LAST, BEST = "last.pt", "best.pt"
REQUIRED_KEYS = ("model", "config", "vocab")
TRAINING_KEYS = ("optimizer", "scheduler", "rng")  # what resuming needs beyond the weights (last.pt)
MAX_LISTED_KEYS = 12  # mismatched keys named in an error message, per kind


class CheckpointMismatch(ValueError):
    """A checkpoint's weights do not fit the model they are loaded into (the message lists the keys)."""


def checkpoint_payload(
    model: nn.Module, config: Config, vocab: Vocabulary, epoch: int = 0, best: dict | None = None,
    history: list | None = None,
) -> dict[str, Any]:
    """The dict ``best.pt`` holds (``last.pt`` adds the :data:`TRAINING_KEYS` and the scaler)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "config": config.to_dict(),
        "vocab": {"itos": list(vocab.itos), "vectors": vocab.vectors},
        "epoch": epoch,
        "best": best,
        "history": list(history or []),
    }


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` atomically: a failure mid-way leaves any previous ``path`` intact and no partial file."""
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def resolve_checkpoint(path: str | Path, in_run_dir: str = LAST) -> Path:
    """A checkpoint file, or a run directory meaning its ``in_run_dir`` file (last.pt to resume, best.pt to use)."""
    path = Path(path)
    if path.is_dir():
        path = path / in_run_dir
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file (tensors and plain types only) and check it has weights, config and vocabulary."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:  # torch's message is a page long: say it in one line
        raise ValueError(f"{path} is not a grounding-engine checkpoint: torch.load(weights_only=True) refuses it "
                         "(another project's checkpoint or another format?)") from err
    except Exception as err:  # truncated file, not a torch file
        raise ValueError(f"cannot read checkpoint {path}: {err}") from err
    missing = [k for k in REQUIRED_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not a grounding-engine checkpoint (missing {missing})")
    ckpt["path"] = str(path)
    return ckpt


def read_training_state(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint that can be resumed (``last.pt``), with a clear error for a weights-only one."""
    ckpt = read_checkpoint(path)
    missing = [k for k in TRAINING_KEYS if k not in ckpt]
    if missing:
        raise ValueError(
            f"{path} holds weights only (no {', '.join(missing)}); resume from the run's {LAST}, not {BEST}"
        )
    return ckpt


def config_of(ckpt: dict[str, Any]) -> Config:
    source = ckpt.get("path", "checkpoint")
    try:
        return Config.from_dict(ckpt["config"], source)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source}: unreadable config in the checkpoint: {err}") from err


def vocabulary_of(ckpt: dict[str, Any]) -> Vocabulary:
    try:
        return Vocabulary(ckpt["vocab"]["itos"], ckpt["vocab"]["vectors"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{ckpt.get('path', 'checkpoint')}: unreadable vocabulary in the checkpoint: {err}") from err


def _listed(keys: list[str]) -> str:
    more = f" ... (+{len(keys) - MAX_LISTED_KEYS} more)" if len(keys) > MAX_LISTED_KEYS else ""
    return ", ".join(keys[:MAX_LISTED_KEYS]) + more


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict ``load_state_dict``: any missing, unexpected or differently shaped key is an error naming them.

    Never a partial load: the model is untouched when anything does not match.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    reshaped = sorted(
        f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or reshaped:
        problems = [
            f"{label} ({len(keys)}): {_listed(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", reshaped))
            if keys
        ]
        raise CheckpointMismatch(
            f"{source} does not fit this {type(model).__name__} (another model or config?); " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)


def model_from_checkpoint(ckpt: dict[str, Any], config: Config | None = None) -> nn.Module:
    """Rebuild the model of ``config`` (default: the checkpoint's own) and load the weights strictly."""
    config = config or config_of(ckpt)
    saved = ckpt["config"]["model"]["name"]
    if config.model.name != saved:
        raise CheckpointMismatch(
            f"{ckpt.get('path', 'checkpoint')} holds a {saved!r} model, the config asks for {config.model.name!r}"
        )
    model = build_model(config)
    load_model_state(model, ckpt["model"], ckpt.get("path", "checkpoint"))
    return model


def load_trained(path: str | Path) -> tuple[nn.Module, Config, Vocabulary]:
    """(eval-mode model on the CPU, its config, its vocabulary) from a checkpoint file or a run directory
    (= its best.pt).  Raises FileNotFoundError / ValueError / :class:`CheckpointMismatch` naming the file."""
    ckpt = read_checkpoint(resolve_checkpoint(path, BEST))
    config = config_of(ckpt)
    return model_from_checkpoint(ckpt, config).eval(), config, vocabulary_of(ckpt)
