"""The two generators of issue 20: one modality per relation (`onemodal`), sparse videos (`sparse`)."""

from __future__ import annotations

import pytest
import torch

from kgtag.embed.history import history_group, training_degree
from kgtag.synthetic.generators import GENERATORS


@pytest.mark.parametrize("name", ["onemodal", "sparse"])
def test_seeded_split_and_cold_videos(name):
    kg = GENERATORS[name](seed=0, n_videos=300)
    again = GENERATORS[name](seed=0, n_videos=300)
    assert torch.equal(kg.train, again.train) and torch.equal(kg.test, again.test)
    n_videos = int(kg.is_video.sum())
    # cold videos: no training triple, vision present, all their edges in test_cold
    degree = training_degree(kg.train, kg.num_entities)
    assert bool((degree[kg.cold_videos] == 0).all())
    assert bool(kg.features["vision"][1][kg.cold_videos].all())
    assert set(kg.test_cold[:, 0].tolist()) <= set(kg.cold_videos.tolist())
    # every video has at least one modality
    present = torch.stack([mask[:n_videos] for _, mask in kg.features.values()], 1)
    assert bool(present.any(1).all())
    assert set(kg.relation_kind) == set(kg.relations)


def test_sparse_graph_is_mostly_few_tag_videos():
    kg = GENERATORS["sparse"](seed=0, n_videos=600)
    n_videos = int(kg.is_video.sum())
    groups = torch.bincount(history_group(training_degree(kg.train, kg.num_entities)[:n_videos]), minlength=3)
    assert groups[1] > groups[0]  # more few-tag videos (1-2 training triples) than warm ones
    audio = kg.features["audio"][1][:n_videos].float().mean()
    assert 0.4 < float(audio) < 0.6


def test_onemodal_relations_read_one_modality():
    # audio carries bgm_style only: its features separate bgm_style values, not scene values
    kg = GENERATORS["onemodal"](seed=0, n_videos=800)
    feats, mask = kg.features["audio"]
    rel = {r: kg.relation_id(r) for r in ("bgm_style", "scene")}
    all_t = kg.all_triples()

    def separation(r):
        t = all_t[(all_t[:, 1] == rel[r]) & mask[all_t[:, 0]]]
        x, y = feats[t[:, 0]], t[:, 2]
        means = torch.stack([x[y == v].mean(0) for v in y.unique()])
        return float(means.var(0).sum() / x.var(0).sum())

    assert separation("bgm_style") > 5 * separation("scene")
