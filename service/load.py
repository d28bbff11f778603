"""A finished run, loaded: its trained model with the id maps and the split it was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
import torch

from kgtag.embed.checkpoint import first_line
from kgtag.embed.model import build_model

from .errors import BadInput
from .files import load_tensors, read_file, run_files, run_node
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
        raise BadInput(f"{run_dir / 'model.pt'} does not fit the model that run.json's model_config describes "
                       f"({first_line(exc)}); if run.json was edited, restore it, else {fix}") from None
    model = model.to(resolve_device(device)).eval()
    return LoadedRun(run_id, run_dir, meta, model, saved["entities"], saved["relations"], saved["is_video"],
                     saved["train"], saved["valid"], saved["test"])
