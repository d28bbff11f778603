"""The chance level of a ranking protocol: the MRR a model scoring at random gets under it.

A figure such as "filtered MRR 0.4 among the relation's range" means little without the level that
random ranking reaches under the same candidates and filter (a relation whose range holds 3 tags
gives a random MRR near 0.6). `chance_mrr` runs `evaluate.evaluate` itself with random scores.
"""

from __future__ import annotations

import torch
from torch import nn

from .ranking import evaluate


class RandomScores(nn.Module):
    """Uniform random scores for any (h, r, t): every candidate order is equally likely."""

    def __init__(self, num_entities: int, num_relations: int, seed: int = 0):
        super().__init__()
        self.num_entities, self.num_relations = num_entities, num_relations
        self.generator = torch.Generator().manual_seed(seed)

    def score_triples(self, h, r, t):
        return torch.rand(h.shape[0], generator=self.generator)

    def score_tails(self, h, r, candidates=None):
        n = self.num_entities if candidates is None else len(candidates)
        return torch.rand(h.shape[0], n, generator=self.generator)

    def score_heads(self, r, t, candidates=None):
        return self.score_tails(t, r, candidates)


def chance_mrr(test: torch.Tensor, num_entities: int, num_relations: int, draws: int = 5, **protocol) -> float:
    """Mean filtered MRR of random scores on `test` under `protocol` (`evaluate`'s keyword arguments:
    filter_triples, candidates, constraint_triples, range_fallback), averaged over `draws` seeds."""
    mrr = [evaluate(RandomScores(num_entities, num_relations, seed), test, num_entities=num_entities,
                    num_relations=num_relations, **protocol)["filtered"]["mrr"] for seed in range(draws)]
    return sum(mrr) / len(mrr)
