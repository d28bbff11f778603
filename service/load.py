"""A finished run, loaded: its trained model with the id maps and the split it was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
import torch

from kgtag.embed import checkpoint as ckpt
from kgtag.embed.config import decode
from kgtag.errors import InvalidConfig
from kgtag.embed.model import build_model

from .errors import BadInput
from .files import check_same_config, load_tensors, read_file, run_files, run_node
from .graph import id_map, run_features
from .plan import configs_from, display_name, resolve_device


@dataclass
class LoadedRun:
    run_id: str
    run_dir: Path
    meta: dict
    model: torch.nn.Module
    entities: list[str]
    relations: list[str]
    is_video: torch.Tensor
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    @property
    def known(self) -> torch.Tensor:
        return torch.cat([self.train, self.valid, self.test])

    @cached_property
    def entity_names(self) -> pd.Index:
        """The entities' id map (`graph.id_map`): `.get_indexer(names)` -> ids and `[ids]` -> names."""
        return id_map(self.entities)

    @cached_property
    def relation_names(self) -> pd.Index:
        """The relations' id map (`graph.id_map`)."""
        return id_map(self.relations)

    @property
    def name(self) -> str:
        return display_name(self.meta["variant"], self.meta["base"], self.meta["modalities"])


def load_run(store, run_id: str, runs_dir: Path, device: str = "auto") -> LoadedRun:
    """The trained model of a finished run, with its id maps and split."""
    run_dir, meta, saved = run_files(store, run_id, runs_dir)
    # a model.pt whose run never reached 'done' (Neo4j failed while storing it) is not a result yet
    if not (run_dir / "model.pt").is_file() or run_node(store, run_id).get("status") != "done":
        raise BadInput(f"run {run_id} has not finished training; continue it with `kgtag train --resume {run_id}`")
    features = run_features(store, run_dir, meta["modalities"], saved["entities"], meta.get("cache_digest"))
    mconf, _ = configs_from(meta, str(run_dir / "run.json"))
    model = build_model(mconf, len(saved["entities"]), len(saved["relations"]), features)
    fix = f"rebuild it from the last checkpoint with `kgtag train --resume {run_id}`"
    weights = read_file(run_dir / "model.pt", load_tensors, fix)
    try:
        model.load_state_dict(weights)
    except Exception as exc:  # it reads, but does not fit: model.pt or run.json's model_config was changed
        _blame_run_json(run_dir, meta)
        detail = " ".join(str(exc).split())[:200]
        raise BadInput(f"{run_dir / 'model.pt'} does not fit the model of run.json's model_config ({detail}); {fix}") from None
    model = model.to(resolve_device(device)).eval()
    return LoadedRun(run_id, run_dir, meta, model, saved["entities"], saved["relations"], saved["is_video"],
                     saved["train"], saved["valid"], saved["test"])


def _blame_run_json(run_dir: Path, meta: dict) -> None:
    """When the run's checkpoint says it was trained with another model_config than run.json's: name
    run.json's field (BadInput). A checkpoint that cannot be read tells nothing: model.pt is blamed."""
    last = run_dir / "checkpoints" / ckpt.FILENAME
    try:
        trained_as, _ = decode(ckpt.load(last).get("model_config"), None, str(last))
    except (ckpt.CheckpointError, InvalidConfig):
        return
    check_same_config(run_dir, meta, trained_as, last)
