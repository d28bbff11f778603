"""What a run is asked for (`RunPlan`), its names, its device, and the configs built from it.

`configs` turns a plan into `embed`'s `ModelConfig` and `TrainConfig` (the preset, then the plan's
changes); `configs_from` reads them back from a run's `run.json`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kgtag.embed import trainer
from kgtag.embed.config import DEFAULT_PRESET, PRESETS, ModelConfig, TrainConfig, decode, get_preset
from kgtag.embed.variants import BASES, VARIANTS, check_modalities
from kgtag.errors import InvalidConfig

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
    preset: str = DEFAULT_PRESET
    device: str = "auto"
    epochs: int | None = None
    seed: int = 0
    split: str = "0.1,0.1"
    overrides: dict = field(default_factory=dict)  # extra TrainConfig fields (e.g. batch_size)
    model_overrides: dict = field(default_factory=dict)  # extra ModelConfig fields (e.g. dim)

    def __post_init__(self):
        """Every field checked now, before anything is read or written: one line naming the field."""
        if self.variant not in VARIANTS:
            raise BadInput(f"--model {self.variant!r}: choose one of {', '.join(VARIANTS)}")
        if self.base not in BASES:
            raise BadInput(f"--base {self.base!r}: choose one of {', '.join(BASES)}")
        if self.preset not in PRESETS:
            raise BadInput(f"--preset {self.preset!r}: choose one of {', '.join(PRESETS)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise BadInput(f"--seed must be a whole number >= 0, got {self.seed!r}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise BadInput(f"--epochs must be a whole number >= 1, got {self.epochs!r}")
        for name in ("overrides", "model_overrides"):
            if not isinstance(getattr(self, name), dict):
                raise BadInput(f"{name} must be a dict of settings, got {type(getattr(self, name)).__name__}")
        if isinstance(self.modalities, str):
            self.modalities = tuple(m for m in self.modalities.split(",") if m)
        self.modalities = tuple(self.modalities)
        try:
            check_modalities(self.modalities)
        except InvalidConfig as exc:
            raise BadInput(f"--modalities: {exc}") from None
        if self.variant == "transe":
            self.modalities = ()  # plain TransE/H/R/D: no modality
        elif self.variant != "transfusion0" and not self.modalities:
            raise BadInput(f"--model {self.variant} needs --modalities (e.g. vision,audio,text)")
        configs(self, "cpu")  # unknown or invalid overrides: refused here, never dropped


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when PyTorch sees one, else 'cpu' (the rule is embed.trainer.resolve_device's)."""
    try:
        return str(trainer.resolve_device(device))
    except (InvalidConfig, RuntimeError):
        raise BadInput(f"--device {device}: no CUDA device is visible to PyTorch (use --device cpu or auto)") from None


def new_run_id(plan: RunPlan) -> str:
    name = display_name(plan.variant, plan.base, plan.modalities).split(" ")[0].lower()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{plan.base}-{stamp}-{secrets.token_hex(2)}" if plan.variant != "transe" else f"{name}-{stamp}-{secrets.token_hex(2)}"


def configs(plan: RunPlan, device: str) -> tuple[ModelConfig, TrainConfig]:
    """The preset's configs with the plan's seed, device, epochs and overrides (each checked)."""
    train = {"seed": plan.seed, "device": device, **plan.overrides}
    if plan.epochs is not None:
        train["epochs"] = plan.epochs
    try:
        return get_preset(plan.preset).configs(plan.variant, plan.base, plan.modalities, plan.model_overrides, **train)
    except InvalidConfig as exc:
        raise BadInput(str(exc)) from None


def configs_from(meta: dict, source: str = "run.json") -> tuple[ModelConfig, TrainConfig]:
    """The configs a run was trained with, from its run.json (or the Run node's params), as they were
    when it was written (embed.config.decode)."""
    try:
        return decode(meta["model_config"], meta["train_config"], source)
    except InvalidConfig as exc:
        raise BadInput(f"{exc}; the run cannot be used: train a new one with `kgtag train`") from None


def plain(d: dict) -> dict:
    """JSON types only (paths and tuples as JSON writes them)."""
    return json.loads(json.dumps(d, default=str))
