"""Checkpoints: one file per training run, rewritten atomically after every epoch.

A checkpoint holds everything needed to continue exactly (model weights, optimiser moments,
sampler and shuffling RNG states, the epoch, early-stopping state) plus the caller's metadata
(id maps, run id, ...). Writes go to a temporary file that replaces the old one in one rename, so
an interrupted run (Ctrl-C, a crash, a full disk) always leaves the previous checkpoint readable; a full
disk is a `DiskFull` line naming the file.
Frozen modality features are not saved (they are inputs, re-read from the store): `load_model`
takes them again. Everything in a checkpoint is tensors or plain types (dict, list, str, numbers), so it
loads with `weights_only=True`: a file someone swapped for a pickle of arbitrary objects is refused,
never executed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from kgtag import errors
from kgtag.atomic import write_atomic
from kgtag.errors import KgtagError

from .config import decode
from .model import KGModel, build_model

FILENAME = "last.pt"
BEST = "best.pt"
VERSION = 1


class CheckpointError(KgtagError):
    """A checkpoint is missing, unreadable, or does not fit the model it is loaded into."""


def save(path: str | os.PathLike, state: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a full disk: DiskFull naming the file, the previous checkpoint intact (write_atomic)
    return write_atomic(path, lambda fh: torch.save({"version": VERSION, **state}, fh))


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch warns (several lines) about a foreign pickle protocol
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated, foreign or hostile file: say which, in one line
        raise CheckpointError(f"cannot read checkpoint {path} ({first_line(exc)})") from exc
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise CheckpointError(f"{path} is not a kgtag checkpoint (version {VERSION})")
    return state


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's can run to dozens of lines). torch's
    weights-only refusal advises loading with `weights_only=False`, which would run the file's code:
    that advice is never passed on; the refusal is said in our words, with torch's reason."""
    text = str(exc).strip()
    if "Weights only load failed" in text or "weights_only" in text:
        reason = next((line.strip() for line in text.splitlines()
                       if line.strip().startswith(("Unsupported", "Trying to", "Can only build"))), "")
        return ("it holds pickled objects other than tensors and plain data, refused unread; "
                "it is not a file kgtag wrote" + (f" ({reason[:120]})" if reason else ""))
    return errors.first_line(exc)


def model_state(model: KGModel) -> dict:
    return {
        "model": model.state_dict(),
        "model_config": model.config.to_dict(),
        "num_entities": model.num_entities,
        "num_relations": model.num_relations,
    }


def load_weights(model: KGModel, state: dict) -> None:
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint does not fit this model ({first_line(exc)})") from exc


def load_model(path: str | os.PathLike, features=None, map_location="cpu") -> tuple[KGModel, dict]:
    """Rebuild the model a checkpoint was trained as, in eval mode (training-only randomness such as
    the knowledge-segment dropout off); returns (model, checkpoint dict)."""
    state = load(path, map_location)
    config, _ = decode(state["model_config"], None, str(path))
    model = build_model(config, state["num_entities"], state["num_relations"], features)
    load_weights(model, state)
    return model.eval(), state
