"""Every scorer that ranking, inference and calibration accept implements `ranking.Scorer`: the same
methods with the same parameters, and scores of the shapes the protocol promises."""

import inspect

import pytest
import torch

from helpers import TableModel
from kgtag.embed.chance import RandomScores
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.ranking import Scorer

E, R = 12, 3
METHODS = ("score_triples", "score_tails", "score_heads")


def scorers():
    torch.manual_seed(0)
    features = {"vision": (torch.randn(E, 5), torch.ones(E, dtype=torch.bool))}
    yield "KGModel transe", build_model(ModelConfig(variant="transe"), E, R).eval()
    # eval(): the fast preset's knowledge-segment dropout draws afresh on every training-mode call
    yield "KGModel transfusion/transh", build_model(
        ModelConfig(variant="transfusion", base="transh", modalities=("vision",)), E, R, features).eval()
    yield "RandomScores", RandomScores(E, R, seed=0)
    yield "TableModel", TableModel(torch.randn(E, R, E))


@pytest.mark.parametrize("name,scorer", list(scorers()), ids=lambda x: x if isinstance(x, str) else "")
def test_implements_the_scorer_protocol(name, scorer):
    assert isinstance(scorer, Scorer), name
    for method in METHODS:
        expected = list(inspect.signature(getattr(Scorer, method)).parameters)[1:]
        assert list(inspect.signature(getattr(scorer, method)).parameters) == expected, (name, method)
    assert (scorer.num_entities, scorer.num_relations) == (E, R)
    h, r, t = torch.tensor([0, 3, 5]), torch.tensor([0, 1, 2]), torch.tensor([7, 8, 9])
    cand = torch.tensor([1, 4, 6, 11])
    with torch.no_grad():
        assert scorer.score_triples(h, r, t).shape == (3,)
        assert scorer.score_tails(h, r).shape == (3, E)
        assert scorer.score_tails(h, r, cand).shape == (3, len(cand))
        assert scorer.score_heads(r, t).shape == (3, E)
        assert scorer.score_heads(r, t, cand).shape == (3, len(cand))


@pytest.mark.parametrize("name,scorer", [s for s in scorers() if s[0] != "RandomScores"], ids=lambda x: x if isinstance(x, str) else "")
def test_one_score_per_triple_whichever_method_asks(name, scorer):
    h, r, t = torch.tensor([0, 3, 5]), torch.tensor([0, 1, 2]), torch.tensor([7, 8, 9])
    with torch.no_grad():
        direct = scorer.score_triples(h, r, t)
        assert torch.allclose(scorer.score_tails(h, r)[torch.arange(3), t], direct, atol=1e-5), name
        assert torch.allclose(scorer.score_heads(r, t)[torch.arange(3), h], direct, atol=1e-5), name


def test_a_scorer_without_a_method_is_not_one():
    class TailsOnly(torch.nn.Module):
        num_entities, num_relations = E, R

        def score_tails(self, h, r, candidates=None):
            return torch.zeros(len(h), E)

    assert not isinstance(TailsOnly(), Scorer)
