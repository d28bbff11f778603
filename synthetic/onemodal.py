"""A fourth synthetic video KG: each content relation is predictable from ONE modality only.

Built for relation-aware fusion (issue 20): which modality a relation needs differs by relation.

* ``scene`` (one of 16) and ``objects`` (2-4 of 60, the scene's typical ones mostly): **vision** only;
* ``bgm_style`` (one of 12): **audio** only (audio missing for 25% of the videos);
* ``language`` (one of 10) and ``topic_tag`` (one of 24): the title **text** only;
* ``channel_tag``: a property of the uploader (``uploaded_by`` stays a training edge), no modality;
* ``hashtag``: a long tail (Zipf over 150 tags), tied to nothing: noise.

Each modality sees only its own factors, so a fused vector that mixes modalities evenly carries
noise for every relation. ``generate(seed, n_videos)`` returns a :class:`SyntheticKG`.
"""

from __future__ import annotations

import numpy as np
import torch

from .channel import SyntheticKG
from .parts import observed, split_held_out, unit_rows, zipf

RELATIONS = ["scene", "objects", "bgm_style", "language", "topic_tag", "channel_tag", "hashtag", "uploaded_by"]
RELATION_KIND = {"scene": "vision", "objects": "vision", "bgm_style": "audio", "language": "text",
                 "topic_tag": "text", "channel_tag": "meta", "hashtag": "noise", "uploaded_by": "graph"}
HELD_OUT = ("scene", "objects", "bgm_style", "language", "topic_tag", "channel_tag", "hashtag")
SIZES = {"scene": 16, "objects": 60, "bgm_style": 12, "language": 10, "topic_tag": 24, "channel_tag": 20,
         "hashtag": 150}
DIMS = {"vision": 96, "audio": 32, "text": 64}
MISSING = {"vision": 0.03, "audio": 0.25, "text": 0.05}
NOISE = {"vision": 1.2, "audio": 1.0, "text": 1.2}


def generate(seed: int = 0, n_videos: int = 2000, cold_fraction: float = 0.04, valid_fraction: float = 0.06,
             test_fraction: float = 0.15) -> SyntheticKG:
    """Generate the one-modality-per-relation graph; the same arguments always give the same graph."""
    if n_videos < 20:
        raise ValueError(f"n_videos must be at least 20, got {n_videos}")
    rng = np.random.default_rng(seed)
    n_up = max(10, n_videos // 20)
    up_of = rng.integers(0, n_up, n_videos)
    value = {
        "scene": rng.choice(SIZES["scene"], n_videos, p=zipf(SIZES["scene"], 0.5)),
        "bgm_style": rng.choice(SIZES["bgm_style"], n_videos, p=zipf(SIZES["bgm_style"], 0.5)),
        "language": rng.choice(SIZES["language"], n_videos, p=zipf(SIZES["language"], 1.0)),
        "topic_tag": rng.choice(SIZES["topic_tag"], n_videos, p=zipf(SIZES["topic_tag"], 0.6)),
        "channel_tag": rng.integers(0, SIZES["channel_tag"], n_up)[up_of],
        "hashtag": rng.choice(SIZES["hashtag"], n_videos, p=zipf(SIZES["hashtag"], 1.1)),
    }
    scene_objects = np.stack([rng.choice(SIZES["objects"], 5, replace=False) for _ in range(SIZES["scene"])])
    n_obj = rng.integers(2, 5, n_videos)
    objs = [np.unique(np.where(rng.random(n_obj[v]) < 0.9, scene_objects[value["scene"][v], rng.integers(0, 5, n_obj[v])],
                               rng.integers(0, SIZES["objects"], n_obj[v]))) for v in range(n_videos)]

    videos = [f"vid{v:06d}" for v in range(n_videos)]
    tags, first = [], {}
    for rel in HELD_OUT:
        first[rel] = n_videos + len(tags)
        tags += [f"{rel}:{i}" for i in range(SIZES[rel])]
    first["uploaded_by"] = n_videos + len(tags)
    tags += [f"uploader_{i:04d}" for i in range(n_up)]
    entities = videos + tags
    rid = {r: i for i, r in enumerate(RELATIONS)}
    all_v = np.arange(n_videos)
    rows = [np.stack([all_v, np.full(n_videos, rid[r]), first[r] + value[r]], 1) for r in value]
    obj_v = np.repeat(all_v, [len(o) for o in objs])
    rows.append(np.stack([obj_v, np.full(len(obj_v), rid["objects"]), first["objects"] + np.concatenate(objs)], 1))
    rows.append(np.stack([all_v, np.full(n_videos, rid["uploaded_by"]), first["uploaded_by"] + up_of], 1))
    vt = torch.from_numpy(np.concatenate(rows)).long()
    tt = torch.zeros(0, 3, dtype=torch.long)
    cold = np.zeros(n_videos, dtype=bool)
    cold[rng.choice(n_videos, max(1, round(cold_fraction * n_videos)), replace=False)] = True
    train, valid, test, test_cold = split_held_out(rng, vt, tt, cold, [rid[r] for r in HELD_OUT],
                                                   valid_fraction, test_fraction)

    E = len(entities)
    sees = {"vision": ("scene", "objects"), "audio": ("bgm_style",), "text": ("language", "topic_tag")}
    features = {}
    for name, d in DIMS.items():
        signal = np.zeros((n_videos, d))
        for factor in sees[name]:
            if factor == "objects":
                ov = unit_rows(rng, SIZES["objects"], d)
                signal += np.stack([ov[o].mean(0) for o in objs])
            else:
                signal += unit_rows(rng, SIZES[factor], d)[value[factor]]
        features[name] = observed(rng, signal, NOISE[name], E, MISSING[name], cold if name == "vision" else None)
    is_video = torch.zeros(E, dtype=torch.bool)
    is_video[:n_videos] = True
    return SyntheticKG(entities=entities, relations=list(RELATIONS), is_video=is_video, train=train, valid=valid,
                       test=test, test_cold=test_cold, features=features,
                       cold_videos=torch.from_numpy(np.nonzero(cold)[0]).long(), titles={}, seed=seed,
                       relation_kind=dict(RELATION_KIND))
