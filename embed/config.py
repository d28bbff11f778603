"""The one configuration model: `ModelConfig`, `TrainConfig`, the preset registry and the run-file decoder.

- The presets are data (`presets.toml`, package data): each a complete (model, train) pair; the
  dataclass defaults below equal the default preset, `fast`.
- `decode` turns stored settings (run.json, a checkpoint, the Run node's params) back into configs:
  every key must be a field of today's dataclasses with a value of its type, and a field a file does
  not hold takes the value it had before it existed (`BEFORE_FIELD`), never today's default, so a
  run written before a default changed still loads as it was trained.

Every expected mistake is an `InvalidConfig` (kgtag.errors, kind "input") naming the field.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field
from importlib import resources

from kgtag.errors import InvalidConfig

from .variants import BASES, VARIANT_SPECS, VARIANTS, check_modalities, fusion_mode

DEFAULT_PRESET = "fast"
# Version of the settings as files store them (run.json "config_version", checkpoints). 1: before the
# field was written (runs up to 2026-12-03); 2: this module.
CONFIG_VERSION = 2
# Fields a run chooses itself, never a preset's.
RUN_MODEL_FIELDS = ("variant", "base", "modalities")
RUN_TRAIN_FIELDS = ("seed", "device", "num_threads")


@dataclass
class ModelConfig:
    """Model hyper-parameters (paper section 5.1 names d_K = `dim`, d_hidden = `hidden`); defaults =
    the `fast` preset. `relation_attention=None` takes the variant's default (embed/model.py)."""

    variant: str = "transfusion"
    base: str = "transe"
    modalities: tuple[str, ...] = field(default_factory=tuple)
    dim: int = 32
    hidden: int = 64
    p_norm: int = 2  # distance of eq. 6: 1 = L1, 2 = L2
    margin: float = 0.5  # gamma of eq. 6
    relation_attention: bool | None = None
    feature_dims: int | None = None  # PCA-reduce each frozen feature matrix to at most this many dims
    # Temperature of an entropy bonus on eq. 5's softmax (0 = eq. 6 as printed, whose minimum puts all
    # the weight on the relation with the smallest loss; see docs/method.md "Relation attention").
    relation_entropy: float = 0.5
    # Self-adversarial weighting of each positive's k negatives (Sun et al., RotatE, ICLR 2019):
    # softmax(alpha * -d_neg) instead of 1/k, not differentiated. 0 = eq. 6 as printed.
    adversarial_temperature: float = 1.0
    # Each projected segment z_M takes the base's entity constraint (TransE: unit norm), in the
    # forward pass, so that eq. 4 weighs segments of one scale (docs/method.md "Segment scale").
    segment_norm: bool = True
    # Eq. 3's weights times the number of segments present: uniform attention leaves each segment
    # at its own scale instead of shrinking all of them, the knowledge segment included.
    segment_scale: bool = True
    # The whole fused vector h_vid takes the base's entity constraint (TransE: unit norm, as every
    # tag row), so videos and tags live on one sphere and relations can separate their ranges.
    fused_norm: bool = True
    # "margin": eq. 6's hinge; "softplus": log(1 + exp(d_pos - gamma)) + log(1 + exp(gamma - d_neg)),
    # the logistic form of Sun et al. (RotatE, ICLR 2019) with gamma = margin (beyond the paper).
    loss: str = "margin"
    # Knowledge-segment dropout (DropoutNet): while training, each fused video a batch uses has its
    # z_K zeroed with this probability, as a cold video's is, so that the modalities alone learn to
    # place it (docs/method.md "Cold start as a protocol"). 0 = off (eq. 1-4 as printed).
    knowledge_dropout: float = 0.1
    # With knowledge_dropout, what a dropped video's triples do not move (their gradient stops
    # there): "none"; "relations" (the relation rows); "tails" (the tail rows); "all" (both: such a
    # triple trains the video side, projections and attention, only). docs/method.md measures each.
    knowledge_dropout_detach: str = "none"
    # z_K of a video without its own (no training triple, or dropped by knowledge_dropout): "zero"
    # (eq. 1-4 with z_K = 0) or "learned" (one trainable vector shared by all such videos, so the
    # knowledge segment of a cold video says "an average video" instead of nothing).
    cold_knowledge: str = "zero"
    # Relation-conditioned modality attention (beyond eq. 3-4): a learned logit per (relation,
    # segment) added to eq. 4's energies, so a relation can lean on the modality it needs. The
    # query video's vector becomes h_{vid, r} in tail prediction and in training; everything that
    # needs one vector per video (fold-in, carry, the vector index, head-side scoring) keeps eq. 4's.
    relation_modality: bool = False

    def __post_init__(self):
        if isinstance(self.modalities, str):
            self.modalities = tuple(m for m in self.modalities.split(",") if m)
        self.modalities = tuple(self.modalities)
        _check_types(self, "model")
        _choice("variant", self.variant, VARIANTS)
        _choice("base", self.base, BASES)
        _choice("loss", self.loss, ("margin", "softplus"))
        _choice("knowledge_dropout_detach", self.knowledge_dropout_detach, ("none", "relations", "tails", "all"))
        _choice("cold_knowledge", self.cold_knowledge, ("zero", "learned"))
        _choice("p_norm", self.p_norm, (1, 2))
        check_modalities(self.modalities)
        spec = VARIANT_SPECS[self.variant]
        if spec.modalities == "none" and self.modalities:
            raise InvalidConfig(f"--model {self.variant} uses no modality, got {','.join(self.modalities)}")
        if spec.modalities == "required" and not self.modalities:
            raise InvalidConfig(f"--model {self.variant} needs at least one modality (--modalities vision,...)")
        _at_least("dim", self.dim, 1)
        _at_least("hidden", self.hidden, 1)
        _at_least("margin", self.margin, 0)
        _at_least("adversarial_temperature", self.adversarial_temperature, 0)
        _at_least("relation_entropy", self.relation_entropy, 0)
        if not 0.0 <= self.knowledge_dropout < 1.0:
            raise InvalidConfig(f"knowledge_dropout must be in [0, 1), got {self.knowledge_dropout}")
        if self.knowledge_dropout_detach != "none" and self.knowledge_dropout == 0:
            raise InvalidConfig("knowledge_dropout_detach acts on the videos knowledge_dropout drops: set knowledge_dropout > 0")
        if self.feature_dims is not None:
            _at_least("feature_dims", self.feature_dims, 1)
        if self.relation_modality and fusion_mode(self.variant, self.modalities) != "attention":
            raise InvalidConfig(f"relation-conditioned modality attention (preset 'relational') needs the attention "
                                f"fusion: --model transfusion or b3 with --modalities, got --model {self.variant}"
                                + (f" --modalities {','.join(self.modalities)}" if self.modalities else " without modalities"))
        if self.relation_attention is None:
            self.relation_attention = spec.relation_attention

    @property
    def width(self) -> int:
        """Width of entity and relation vectors (embed/model.py's module docstring)."""
        if fusion_mode(self.variant, self.modalities) in ("plain", "sum"):
            return self.dim
        return self.dim * (len(self.modalities) + VARIANT_SPECS[self.variant].knowledge)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    """Training settings of `trainer.train` (Algorithm 1 lines 6-14); defaults = the `fast` preset."""

    epochs: int = 20
    batch_size: int = 512
    lr: float = 5e-3
    dense_lr: float | None = None  # lr of W, b, V, a (default: lr)
    num_negatives: int = 16
    sampler: str = "uniform"  # "uniform" | "bernoulli"
    type_constrained: float = 0.0  # share of negatives drawn from the relation's range (sampling.py)
    filter_known: bool = False
    side_constrained: bool = True
    known_negative_rate: float = 0.5
    seed: int = 0
    device: str = "auto"  # "auto" (cuda when available) | "cpu" | "cuda" | "cuda:1" ...
    amp: bool = False  # bfloat16 autocast of the forward pass
    num_threads: int | None = None  # CPU threads (default: all cores)
    patience: int | None = None  # early stopping: epochs without validation improvement
    valid_every: int = 1
    restore_best: bool = True  # after early stopping / the last epoch, load the best validated weights

    def __post_init__(self):
        _check_types(self, "train")
        _choice("sampler", self.sampler, ("uniform", "bernoulli"))
        _at_least("epochs", self.epochs, 0)  # 0: no update, only what training sets up (the rows it knows)
        for name in ("batch_size", "num_negatives", "valid_every"):
            _at_least(name, getattr(self, name), 1)
        for name in ("num_threads", "patience"):
            if getattr(self, name) is not None:
                _at_least(name, getattr(self, name), 1)
        if not self.lr > 0 or (self.dense_lr is not None and not self.dense_lr > 0):
            raise InvalidConfig(f"lr and dense_lr must be > 0, got {self.lr} and {self.dense_lr}")
        for name in ("type_constrained", "known_negative_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidConfig(f"{name} must be within [0, 1], got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: dict  # ModelConfig fields
    train: dict  # TrainConfig fields

    def configs(self, variant: str = "transfusion", base: str = "transe", modalities=(),
                model_overrides: dict | None = None, **train_overrides) -> tuple[ModelConfig, TrainConfig]:
        """The preset's (ModelConfig, TrainConfig) with the run's own fields and overrides; an unknown
        field is refused, never dropped."""
        model_overrides = model_overrides or {}
        _known("model", model_overrides, ModelConfig, RUN_MODEL_FIELDS)
        _known("train", train_overrides, TrainConfig, ())
        mconf = ModelConfig(variant=variant, base=base, modalities=tuple(modalities), **{**self.model, **model_overrides})
        return mconf, TrainConfig(**{**self.train, **train_overrides})


def _load_presets() -> dict[str, Preset]:
    text = resources.files("kgtag.embed").joinpath("presets.toml").read_text(encoding="utf-8")
    out = {}
    for name, entry in tomllib.loads(text).items():
        model, train = dict(entry["model"]), dict(entry["train"])
        for part, values, cls, own in (("model", model, ModelConfig, RUN_MODEL_FIELDS),
                                       ("train", train, TrainConfig, RUN_TRAIN_FIELDS)):
            _known(f"preset {name} {part}", values, cls, own)
            hints = typing.get_type_hints(cls)
            missing = [f.name for f in dataclasses.fields(cls)
                       if f.name not in values and f.name not in own and type(None) not in typing.get_args(hints[f.name])]
            if missing:  # a preset must not lean on a dataclass default
                raise InvalidConfig(f"presets.toml: preset {name} names no {part} field {', '.join(missing)}")
        out[name] = Preset(name, entry.get("description", ""), model, train)
    return out


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InvalidConfig(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset(name: str, **overrides) -> TrainConfig:
    """TrainConfig of a named preset, with field overrides."""
    return TrainConfig(**{**get_preset(name).train, **overrides})


def model_preset(name: str) -> dict:
    """The ModelConfig fields of a named preset (pass as `ModelConfig(variant=..., **model_preset(name))`)."""
    return dict(get_preset(name).model)


# The value each field had before it was introduced (what a run written before it trained with):
# the behaviour of the code at that time, which is the paper's, or "off".
BEFORE_FIELD = {
    "model": dict(feature_dims=None, relation_entropy=0.0, adversarial_temperature=0.0, segment_norm=False,
                  segment_scale=False, fused_norm=False, loss="margin", relation_attention=None,
                  knowledge_dropout=0.0, relation_modality=False, knowledge_dropout_detach="none",
                  cold_knowledge="zero"),
    "train": dict(dense_lr=None, sampler="uniform", type_constrained=0.0, filter_known=False, side_constrained=False,
                  known_negative_rate=0.5, amp=False, num_threads=None, patience=None, valid_every=1,
                  restore_best=True, device="auto", seed=0),
}


def decode(model: dict, train: dict | None, source: str) -> tuple[ModelConfig, TrainConfig | None]:
    """Stored settings -> configs. `source` names the file or node in messages. Unknown keys and wrong
    types are refused; a missing field takes its BEFORE_FIELD value (or is refused if it has none)."""
    out = []
    for part, values, cls in (("model", model, ModelConfig), ("train", train, TrainConfig)):
        if values is None and part == "train":
            out.append(None)
            continue
        if not isinstance(values, dict):
            raise InvalidConfig(f"{source}: {part}_config is {type(values).__name__}, expected an object")
        names = [f.name for f in dataclasses.fields(cls)]  # in order: the first missing field is named
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise InvalidConfig(f"{source}: unknown {part}_config field {unknown[0]!r}")
        filled = {}
        for name in names:
            if name in values:
                filled[name] = tuple(values[name]) if isinstance(values[name], list) else values[name]
            elif name in BEFORE_FIELD[part]:
                filled[name] = BEFORE_FIELD[part][name]
            else:
                raise InvalidConfig(f"{source}: {part}_config has no field {name!r}")
        try:
            out.append(cls(**filled))
        except InvalidConfig as exc:
            raise InvalidConfig(f"{source}: {exc}") from None
    return out[0], out[1]


# -- checks ---------------------------------------------------------------------------------------

def _check_types(config, part: str) -> None:
    """Each field holds a value of its declared type (an int is a float; a bool is not an int)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, hint = getattr(config, f.name), hints[f.name]
        allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        ok = False
        for t in allowed:
            origin = typing.get_origin(t) or t
            if t is type(None):
                ok |= value is None
            elif origin is tuple:
                ok |= isinstance(value, tuple) and all(isinstance(v, str) for v in value)
            elif t is float:
                ok |= isinstance(value, (int, float)) and not isinstance(value, bool)
            elif t is int:
                ok |= isinstance(value, int) and not isinstance(value, bool)
            else:
                ok |= isinstance(value, origin)
        if not ok:
            raise InvalidConfig(f"{part} setting {f.name} = {value!r} is not {_type_name(hint)}")


def _type_name(hint) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _known(part: str, values: dict, cls, own) -> None:
    names = {f.name for f in dataclasses.fields(cls)} - set(own)
    unknown = sorted(set(values) - names)
    if unknown:
        raise InvalidConfig(f"unknown {part} setting {unknown[0]!r}; known: {', '.join(sorted(names))}")


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise InvalidConfig(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def _at_least(name: str, value, low) -> None:
    if not value >= low:
        raise InvalidConfig(f"{name} must be >= {low}, got {value}")


PRESETS: dict[str, Preset] = _load_presets()  # loaded once, checked complete (after the checks above exist)
