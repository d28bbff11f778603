"""The paper's model variants, translation bases and segment names, as data: the one table the rest reads.

A variant (paper Table 5 and section 5.2) is an entity representation plus a default for relation
attention (eq. 5); a base is a translation scorer (section 5.3). `ModelConfig` validates against
these tables, `KGModel` builds from them, and the CLI's choices should come from `VARIANTS` and
`BASES`. Which scorer a base name means lives in `interactions.INTERACTIONS` (checked against
`BASES` there).
"""

from __future__ import annotations

from dataclasses import dataclass

from kgtag.conventions import MODALITY_NAME
from kgtag.errors import InvalidConfig


@dataclass(frozen=True)
class Variant:
    """How a variant represents a fused entity (a video) and what it needs.

    mode: "plain" (a trainable row), "attention" (eq. 3-4), "concat" (B1) or "sum" (B2), see fusion.py.
    knowledge: whether a fused entity has the trainable knowledge segment z_K (all but B3).
    relation_attention: eq. 5 on by default.
    modalities: "none" (must have none), "optional" or "required" (at least one).
    """

    mode: str
    knowledge: bool
    relation_attention: bool
    modalities: str


# Order: what `--model` lists; the paper's name for each is in docs/method.md ("Variants").
VARIANT_SPECS: dict[str, Variant] = {
    "transe": Variant("plain", True, False, "none"),  # the base method alone
    "transfusion": Variant("attention", True, True, "optional"),  # TransFusion-V/A/T/...; none = TransFusion-0
    "transfusion0": Variant("plain", True, True, "none"),  # TransFusion-0
    "b1": Variant("concat", True, False, "required"),  # Baseline1: concatenation, no attention
    "b2": Variant("sum", True, False, "required"),  # Baseline2: summation
    "b3": Variant("attention", False, True, "required"),  # Baseline3: eq. 3 without z_K
}
VARIANTS = tuple(VARIANT_SPECS)
BASES = ("transe", "transh", "transr", "transd")

# Segment names: the knowledge segment, then one per modality (the order of h_vid in eq. 3).
KNOWLEDGE = "knowledge"


def segment_names(variant: str, modalities: tuple[str, ...]) -> list[str]:
    """The segments of a variant's fused vector h_vid (eq. 3), in order: the knowledge segment z_K
    (all but B3), then the modalities; a plain variant has the knowledge row alone."""
    mods = list(modalities) if fusion_mode(variant, modalities) != "plain" else []
    return ([KNOWLEDGE] if VARIANT_SPECS[variant].knowledge else []) + mods


def check_modalities(modalities: tuple[str, ...]) -> None:
    """Raise InvalidConfig for a repeated, malformed or reserved modality name."""
    if len(set(modalities)) != len(modalities):
        raise InvalidConfig(f"modalities repeat: {','.join(modalities)}")
    for m in modalities:
        if not MODALITY_NAME.fullmatch(m) or m == KNOWLEDGE:
            raise InvalidConfig(f"modality name {m!r} must match [a-z][a-z0-9_]* and not be {KNOWLEDGE!r}")


def fusion_mode(variant: str, modalities: tuple[str, ...]) -> str:
    """The fusion mode of a variant with these modalities (no modalities: plain rows, TransFusion-0)."""
    return VARIANT_SPECS[variant].mode if modalities else "plain"
