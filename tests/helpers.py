"""Shared test helpers that are not fixtures: models with known scores."""

from __future__ import annotations

import contextlib

import torch

from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset, preset
from kgtag.embed.trainer import train


class TableModel(torch.nn.Module):
    """Scores come from a fixed table ``S[h, r, t]`` (the unit a ranking function works on)."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table)
        self.num_entities, self.num_relations = table.shape[0], table.shape[1]
        self.cached_calls = 0

    def score_triples(self, h, r, t):
        return self.table[h, r, t]

    def score_tails(self, h, r, candidates=None):
        rows = self.table[h, r]
        return rows if candidates is None else rows[:, candidates]

    def score_heads(self, r, t, candidates=None):
        cols = self.table[:, r, t].T
        return cols if candidates is None else cols[:, candidates]

    def cached_entities(self):
        self.cached_calls += 1
        return contextlib.nullcontext()


def fit_fast(kg, variant: str, modalities=()):
    """A model of ``variant`` trained on a synthetic KG's train split with the default `fast` preset, seed 0."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant=variant, modalities=modalities, **model_preset("fast")),
                        kg.num_entities, kg.num_relations, kg.features)
    train(model, kg.train, preset("fast", device="cpu", num_threads=1), progress=False)
    return model


def random_video_graph(n_videos=200, n_tags=30, n=2000, seed=0):
    """Random (video, r, tag) triples over 3 relations, deduplicated, and the is_video mask."""
    g = torch.Generator().manual_seed(seed)
    is_video = torch.zeros(n_videos + n_tags, dtype=torch.bool)
    is_video[:n_videos] = True
    heads = torch.randint(0, n_videos, (n,), generator=g)
    tails = torch.randint(n_videos, n_videos + n_tags, (n,), generator=g)
    rels = torch.randint(0, 3, (n,), generator=g)
    return torch.unique(torch.stack([heads, rels, tails], 1), dim=0), is_video
