"""A third synthetic video KG: sparse, long-tailed, relations that read combinations of factors.

A different shape from the other two generators (``synthetic``: channels and topics;
``synthetic_topic``: one topic behind many relations), so that a default tuned to one of them shows:

* six latent factors per video (genre, style, region, audience, format, creator), with Zipf-skewed
  values, so a few tag values are very common and most are rare;
* ten video relations, each reading one factor or a *pair* of factors (a tag for "genre x audience"
  needs both), each with its own vocabulary of tags, several tags per video for some relations;
* a video carries each relation only with some probability (sparse: about 6 edges per video), so
  many (video, relation) pairs have no answer to learn from;
* each modality sees a different subset of the factors at a different noise level (vision: genre,
  style, format; audio: style, region; text: genre, region, audience); the creator factor is seen
  by no modality and reaches the graph through ``made_by`` edges (always in training) only;
* tag-tag ``related_to`` edges link tags that the same factor value produces.

``generate(seed, n_videos)`` returns a :class:`kgtag.synthetic.channel.SyntheticKG`.
"""

from __future__ import annotations

import numpy as np
import torch

from .channel import SyntheticKG
from .parts import observed, split_held_out, unit_rows, zipf

#: factor -> number of values
FACTORS = {"genre": 24, "style": 12, "region": 16, "audience": 6, "format": 10, "creator": 40}
#: relation -> (factors it reads, vocabulary size, max tags per video, probability a video has it)
RELATIONS_SPEC = {
    "genre_tag": (("genre",), 60, 2, 0.95),
    "style_tag": (("style",), 30, 1, 0.8),
    "genre_style": (("genre", "style"), 120, 1, 0.6),
    "region_tag": (("region",), 40, 1, 0.7),
    "audience_tag": (("audience",), 12, 1, 0.6),
    "genre_audience": (("genre", "audience"), 80, 2, 0.5),
    "format_tag": (("format",), 20, 1, 0.8),
    "creator_tag": (("creator",), 50, 2, 0.7),
    "creator_region": (("creator", "region"), 60, 1, 0.4),
    "trend_tag": ((), 30, 1, 0.5),  # no factor: popularity only
}
RELATIONS = list(RELATIONS_SPEC) + ["made_by", "related_to"]
RELATION_KIND = {r: ("graph" if "creator" in spec[0] else "content" if spec[0] else "noise")
                 for r, spec in RELATIONS_SPEC.items()}
RELATION_KIND.update({"made_by": "graph", "related_to": "tag-tag"})
SEES = {"vision": ("genre", "style", "format"), "audio": ("style", "region"), "text": ("genre", "region", "audience")}
NOISE = {"vision": 1.2, "audio": 1.5, "text": 2.0}
DEFAULT_DIMS = {"vision": 384, "audio": 96, "text": 192}
DEFAULT_MISSING = {"vision": 0.05, "audio": 0.3, "text": 0.15}


def generate(
    seed: int = 0,
    n_videos: int = 5000,
    dims: dict[str, int] | None = None,
    missing: dict[str, float] | None = None,
    cold_fraction: float = 0.04,
    valid_fraction: float = 0.06,
    test_fraction: float = 0.15,
    noise_scale: float = 1.0,
) -> SyntheticKG:
    """Generate the factor video KG; the same arguments always give the same graph and features."""
    if n_videos < 20:
        raise ValueError(f"n_videos must be at least 20, got {n_videos}")
    dims = dict(DEFAULT_DIMS if dims is None else dims)
    missing = {**DEFAULT_MISSING, **(missing or {})}
    rng = np.random.default_rng(seed)
    value = {f: rng.choice(n, size=n_videos, p=zipf(n, 0.8)) for f, n in FACTORS.items()}
    n_makers = max(10, n_videos // 20)
    maker_of = rng.integers(0, n_makers, size=n_videos)
    value["creator"] = rng.integers(0, FACTORS["creator"], size=n_makers)[maker_of]  # creators run channels

    video_names = [f"clip{v:06d}" for v in range(n_videos)]
    tags, tag_rows = [], {}
    for rel, (_, vocab, _, _) in RELATIONS_SPEC.items():
        tag_rows[rel] = len(video_names) + len(tags) + np.arange(vocab)
        tags += [f"{rel}:{i}" for i in range(vocab)]
    makers = [f"maker_{i:04d}" for i in range(n_makers)]
    entities = video_names + tags + makers
    rid = {r: i for i, r in enumerate(RELATIONS)}

    rows, related = [], set()
    all_v = np.arange(n_videos)
    for rel, (factors, vocab, most, p_has) in RELATIONS_SPEC.items():
        # each combination of factor values has 3 typical tags, drawn with Zipf popularity
        combos = int(np.prod([FACTORS[f] for f in factors])) if factors else 1
        typical = np.stack([rng.choice(vocab, 3, replace=False, p=zipf(vocab, 1.0)) for _ in range(combos)])
        combo = np.zeros(n_videos, dtype=int)
        for f in factors:
            combo = combo * FACTORS[f] + value[f]
        has = rng.random(n_videos) < p_has
        for j in range(most):
            take = has & ((j == 0) | (rng.random(n_videos) < 0.5))
            pick = typical[combo, rng.integers(0, 3, n_videos)]
            off = rng.random(n_videos) < 0.1  # now and then any tag of the relation
            pick = np.where(off, rng.integers(0, vocab, n_videos), pick)
            rows.append(np.stack([all_v[take], np.full(int(take.sum()), rid[rel]), tag_rows[rel][pick[take]]], 1))
        if len(factors) == 1:
            for tri in typical:
                related.update((int(tag_rows[rel][a]), int(tag_rows[rel][b])) for a in tri for b in tri if a < b)
    rows.append(np.stack([all_v, np.full(n_videos, rid["made_by"]), len(video_names) + len(tags) + maker_of], 1))
    vt = torch.unique(torch.from_numpy(np.concatenate(rows)).long(), dim=0)
    tt = torch.tensor([(a, rid["related_to"], b) for a, b in sorted(related)], dtype=torch.long).reshape(-1, 3)

    cold = np.zeros(n_videos, dtype=bool)
    cold[rng.choice(n_videos, size=max(1, int(round(cold_fraction * n_videos))), replace=False)] = True
    held = [rid[r] for r in RELATIONS_SPEC]
    train, valid, test, test_cold = split_held_out(rng, vt, tt, cold, held, valid_fraction, test_fraction)

    E = len(entities)
    features = {}
    for name, d in dims.items():
        seen = SEES.get(name, ("genre", "region"))
        signal = sum(unit_rows(rng, FACTORS[f], d)[value[f]] for f in seen)
        features[name] = observed(rng, signal, NOISE.get(name, 1.5) * noise_scale, E, missing.get(name, 0.0),
                                  cold if name == "vision" else None)

    is_video = torch.zeros(E, dtype=torch.bool)
    is_video[:n_videos] = True
    return SyntheticKG(
        entities=entities, relations=list(RELATIONS), is_video=is_video, train=train, valid=valid, test=test,
        test_cold=test_cold, features=features, cold_videos=torch.from_numpy(np.nonzero(cold)[0]).long(),
        titles={}, seed=seed, relation_kind=dict(RELATION_KIND),
    )
