"""A fifth synthetic video KG: many videos miss modalities and carry only one or two tags.

The regime the paper's Figure 1 describes, made the common case: most videos have one or two tag
edges (``category``, ``contains`` objects, ``mood``), the rest a few more; vision is missing for 35%
of the videos, audio for 50%, the title text for 40% (every video keeps at least one modality).

* ``category`` (one of 30, Zipf): seen by vision and, for half of the titles, the text;
* ``contains`` (1-3 of 80 objects, typical of the category): vision;
* ``mood`` (one of 10): audio;
* ``uploaded_by`` (always a training edge) and ``channel_label`` (a property of the uploader): the graph.

``generate(seed, n_videos)`` returns a :class:`SyntheticKG`.
"""

from __future__ import annotations

import numpy as np
import torch

from .channel import SyntheticKG
from .parts import observed, split_held_out, unit_rows, zipf

RELATIONS = ["category", "contains", "mood", "channel_label", "uploaded_by"]
RELATION_KIND = {"category": "content", "contains": "content", "mood": "music", "channel_label": "meta",
                 "uploaded_by": "graph"}
HELD_OUT = ("category", "contains", "mood", "channel_label")
N_CAT, N_OBJ, N_MOOD, N_LABEL = 30, 80, 10, 15
DIMS = {"vision": 64, "audio": 24, "text": 48}
MISSING = {"vision": 0.35, "audio": 0.5, "text": 0.4}


def generate(seed: int = 0, n_videos: int = 2000, cold_fraction: float = 0.04, valid_fraction: float = 0.1,
             test_fraction: float = 0.2) -> SyntheticKG:
    """Generate the sparse graph; the same arguments always give the same graph."""
    if n_videos < 20:
        raise ValueError(f"n_videos must be at least 20, got {n_videos}")
    rng = np.random.default_rng(seed)
    n_up = max(10, n_videos // 15)
    up_of = rng.integers(0, n_up, n_videos)
    label_of = rng.integers(0, N_LABEL, n_up)[up_of]
    cat = rng.choice(N_CAT, n_videos, p=zipf(N_CAT, 0.7))
    mood = rng.integers(0, N_MOOD, n_videos)
    cat_objects = np.stack([rng.choice(N_OBJ, 4, replace=False) for _ in range(N_CAT)])
    n_obj = rng.integers(1, 4, n_videos)
    objs = [np.unique(cat_objects[cat[v], rng.choice(4, n_obj[v], replace=False)]) for v in range(n_videos)]

    videos = [f"sv{v:06d}" for v in range(n_videos)]
    tags = ([f"category:{i}" for i in range(N_CAT)] + [f"object:{i}" for i in range(N_OBJ)]
            + [f"mood:{i}" for i in range(N_MOOD)] + [f"label:{i}" for i in range(N_LABEL)]
            + [f"up{i:04d}" for i in range(n_up)])
    c0, o0 = n_videos, n_videos + N_CAT
    m0, l0 = o0 + N_OBJ, o0 + N_OBJ + N_MOOD
    u0 = l0 + N_LABEL
    entities = videos + tags
    rid = {r: i for i, r in enumerate(RELATIONS)}
    # each video carries one or two (70%), else three or four of its possible tag edges
    cand = []
    for v in range(n_videos):
        edges = [(v, rid["category"], c0 + cat[v]), (v, rid["mood"], m0 + mood[v]), (v, rid["channel_label"], l0 + label_of[v])]
        edges += [(v, rid["contains"], o0 + o) for o in objs[v]]
        k = rng.integers(1, 3) if rng.random() < 0.7 else rng.integers(3, 5)
        pick = rng.choice(len(edges), min(k, len(edges)), replace=False)
        cand += [edges[i] for i in pick]
        cand.append((v, rid["uploaded_by"], u0 + up_of[v]))
    vt = torch.tensor(cand, dtype=torch.long)
    tt = torch.zeros(0, 3, dtype=torch.long)
    cold = np.zeros(n_videos, dtype=bool)
    cold[rng.choice(n_videos, max(1, round(cold_fraction * n_videos)), replace=False)] = True
    train, valid, test, test_cold = split_held_out(rng, vt, tt, cold, [rid[r] for r in HELD_OUT],
                                                   valid_fraction, test_fraction)
    E = len(entities)
    # presence per (video, modality); where all three would be missing, vision stays (and cold videos have it)
    present = rng.random((n_videos, len(DIMS))) >= np.array([MISSING[m] for m in DIMS])
    present[:, 0] |= ~present.any(1) | cold
    informative = rng.random(n_videos) < 0.5
    features = {}
    for j, (name, d) in enumerate(DIMS.items()):
        if name == "vision":
            ov = unit_rows(rng, N_OBJ, d)
            signal = unit_rows(rng, N_CAT, d)[cat] + 0.8 * np.stack([ov[o].mean(0) for o in objs])
        elif name == "audio":
            signal = unit_rows(rng, N_MOOD, d)[mood]
        else:
            signal = np.where(informative[:, None], unit_rows(rng, N_CAT, d)[cat], rng.standard_normal((n_videos, d)) / np.sqrt(d))
        matrix, mask = observed(rng, signal, 1.2, E, 0.0)
        mask[:n_videos] = torch.from_numpy(present[:, j])
        matrix[~mask] = 0.0
        features[name] = (matrix, mask)
    is_video = torch.zeros(E, dtype=torch.bool)
    is_video[:n_videos] = True
    return SyntheticKG(entities=entities, relations=list(RELATIONS), is_video=is_video, train=train, valid=valid,
                       test=test, test_cold=test_cold, features=features,
                       cold_videos=torch.from_numpy(np.nonzero(cold)[0]).long(), titles={}, seed=seed,
                       relation_kind=dict(RELATION_KIND))
