"""What a run is asked for (`RunPlan`), its names, its device, and the configs built from it.

`configs` turns a plan into `embed`'s `ModelConfig` and `TrainConfig` (the preset, then the plan's
changes); `configs_from` reads them back from a run's `run.json`.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kgtag.embed import trainer
from kgtag.embed.model import ModelConfig
from kgtag.embed.trainer import TrainConfig, model_preset, preset

from .errors import BadInput

LETTERS = {"vision": "V", "audio": "A", "text": "T"}


def display_name(variant: str, base: str, modalities) -> str:
    """The paper's names: TransE, TransFusion-VAT, TransFusion-0, B1-VA, ... (base appended unless TransE)."""
    mods = "".join(LETTERS.get(m, m[:1].upper()) for m in modalities)
    name = {
        "transe": {"transe": "TransE", "transh": "TransH", "transr": "TransR", "transd": "TransD"}[base],
        "transfusion": f"TransFusion-{mods}",
        "transfusion0": "TransFusion-0",
        "b1": f"B1-{mods}",
        "b2": f"B2-{mods}",
        "b3": f"B3-{mods}",
    }[variant]
    if variant != "transe" and base != "transe":
        name += f" ({base})"
    return name


@dataclass
class RunPlan:
    """What a training run is asked for."""

    variant: str = "transfusion"
    base: str = "transe"
    modalities: tuple[str, ...] = ()
    preset: str = "fast"
    device: str = "auto"
    epochs: int | None = None
    seed: int = 0
    split: str = "0.1,0.1"
    overrides: dict = field(default_factory=dict)  # extra TrainConfig fields (e.g. batch_size)
    model_overrides: dict = field(default_factory=dict)  # extra ModelConfig fields (e.g. dim)

    def __post_init__(self):
        if self.variant == "transe":
            self.modalities = ()  # plain TransE/H/R/D: no modality
        elif self.variant != "transfusion0" and not self.modalities:
            raise BadInput(f"--model {self.variant} needs --modalities (e.g. vision,audio,text)")


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when PyTorch sees one, else 'cpu' (the rule is embed.train.resolve_device's)."""
    try:
        return str(trainer.resolve_device(device))
    except ValueError:
        raise BadInput(f"--device {device}: no CUDA device is visible to PyTorch (use --device cpu or auto)") from None


def new_run_id(plan: RunPlan) -> str:
    name = display_name(plan.variant, plan.base, plan.modalities).split(" ")[0].lower()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{plan.base}-{stamp}-{secrets.token_hex(2)}" if plan.variant != "transe" else f"{name}-{stamp}-{secrets.token_hex(2)}"


def configs(plan: RunPlan, device: str) -> tuple[ModelConfig, TrainConfig]:
    """The preset's configs with the plan's seed, device, epochs and overrides."""
    tconf = preset(plan.preset)
    changes = {"seed": plan.seed, "device": device, **plan.overrides}
    if plan.epochs is not None:
        changes["epochs"] = plan.epochs
    tconf = dataclasses.replace(tconf, **{k: v for k, v in changes.items() if hasattr(tconf, k)})
    mfields = {f.name for f in dataclasses.fields(ModelConfig)}
    from_preset = {k: v for k, v in model_preset(plan.preset).items() if k in mfields}
    mconf = ModelConfig(variant=plan.variant, base=plan.base, modalities=tuple(plan.modalities),
                        **{**from_preset, **plan.model_overrides})
    return mconf, tconf


def configs_from(meta: dict) -> tuple[ModelConfig, TrainConfig]:
    """The configs a run was trained with, from its run.json."""
    mc = dict(meta["model_config"])
    mc["modalities"] = tuple(mc.get("modalities") or ())
    tc = dict(meta["train_config"])
    tfields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for k, v in list(tc.items()):  # JSON turned tuples into lists
        if k in tfields and isinstance(v, list):
            tc[k] = tuple(v)
    return ModelConfig(**mc), TrainConfig(**{k: v for k, v in tc.items() if k in tfields})


def plain(d: dict) -> dict:
    """JSON types only (paths and tuples as JSON writes them)."""
    return json.loads(json.dumps(d, default=str))
