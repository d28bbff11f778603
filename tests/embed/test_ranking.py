"""The evaluator against a brute-force reference on random scores with ties."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import TableModel
from kgtag.embed.ranking import evaluate, metrics_from_ranks


def reference_rank(table, h, r, t, side, known, candidates, allowed):
    """Rank by the definition, one candidate at a time."""
    true = table[h, r, t].item()
    better = equal = 0
    answer, anchor = (t, h) if side == "tail" else (h, t)
    for e in candidates:
        if e in (answer, anchor):  # the anchor is never a candidate
            continue
        if allowed is not None and (r, e) not in allowed:
            continue
        if known is not None and ((h, r, e) if side == "tail" else (e, r, t)) in known:
            continue
        s = (table[h, r, e] if side == "tail" else table[e, r, t]).item()
        better += s > true
        equal += s == true
    return 1 + better + equal / 2


def reference(table, test, side, known=None, candidates=None, allowed_triples=None):
    E = table.shape[0]
    candidates = list(range(E)) if candidates is None else candidates
    allowed = None
    if allowed_triples is not None:
        col = 2 if side == "tail" else 0
        allowed = {(r, x[col]) for x in allowed_triples for r in [x[1]]}
    return torch.tensor(
        [reference_rank(table, h, r, t, side, known, candidates, allowed) for h, r, t in test.tolist()],
        dtype=torch.float64,
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    E=st.integers(2, 30),
    R=st.integers(1, 4),
    levels=st.integers(1, 5),
    batch=st.integers(1, 7),
    chunk=st.integers(1, 11),
    use_candidates=st.booleans(),
    constrained=st.booleans(),
)
def test_matches_brute_force(seed, E, R, levels, batch, chunk, use_candidates, constrained):
    g = torch.Generator().manual_seed(seed)
    # few distinct score levels -> many ties
    table = torch.randint(0, levels, (E, R, E), generator=g).float()
    known = torch.stack(
        [torch.randint(0, E, (40,), generator=g), torch.randint(0, R, (40,), generator=g), torch.randint(0, E, (40,), generator=g)], 1
    )
    test = known[:12]
    model = TableModel(table)
    known_set = {tuple(x) for x in known.tolist()}
    cands = None
    if use_candidates and not constrained:
        cands = torch.randperm(E, generator=g)[: max(1, E // 2)]
    res = evaluate(
        model,
        test,
        filter_triples=known,
        sides=("tail", "head"),
        candidates="relation" if constrained else cands,
        batch_size=batch,
        chunk=chunk,
        return_ranks=True,
    )
    for side in ("tail", "head"):
        kwargs = dict(candidates=None if cands is None else cands.tolist(), allowed_triples=known.tolist() if constrained else None)
        raw = reference(table, test, side, **kwargs)
        flt = reference(table, test, side, known=known_set, **kwargs)
        assert torch.allclose(res["ranks"][side]["raw"].double(), raw), (side, res["ranks"][side]["raw"], raw)
        assert torch.allclose(res["ranks"][side]["filtered"].double(), flt), (side, res["ranks"][side]["filtered"], flt)
    both = torch.cat([reference(table, test, s, known=known_set, candidates=None if cands is None else cands.tolist(),
                                allowed_triples=known.tolist() if constrained else None) for s in ("tail", "head")])
    assert math.isclose(res["filtered"]["mrr"], (1 / both).mean().item(), rel_tol=1e-9)
    assert math.isclose(res["filtered"]["mr"], both.mean().item(), rel_tol=1e-9)


def test_all_equal_scores_give_the_middle_rank():
    E = 11
    model = TableModel(torch.zeros(E, 1, E))
    test = torch.tensor([[0, 0, 3], [5, 0, 7]])
    res = evaluate(model, test)
    # 10 other candidates (not the answer, not the head) all tied: realistic rank = 1 + 10 / 2
    assert res["raw"]["mr"] == 5.5
    assert res["raw"]["hits1"] == 0.0
    assert "filtered" not in res


def test_metrics_and_per_relation():
    ranks = torch.tensor([1.0, 2.0, 10.5, 4.0])
    m = metrics_from_ranks(ranks)
    assert m["mr"] == 4.375 and m["hits1"] == 0.25 and m["hits3"] == 0.5 and m["hits10"] == 0.75
    assert math.isclose(m["mrr"], (1 + 0.5 + 1 / 10.5 + 0.25) / 4)

    # relation 0: answer is the best tail; relation 1: answer is the worst
    E = 6
    table = torch.arange(E, dtype=torch.float).repeat(E, 2, 1)
    table[:, 1] = -table[:, 1]
    model = TableModel(table)
    test = torch.tensor([[0, 0, E - 1], [1, 1, E - 1]])
    res = evaluate(model, test, filter_triples=test, per_relation=True, relation_names=["best", "worst"])
    assert res["per_relation"]["best"]["filtered"]["mr"] == 1.0
    assert res["per_relation"]["worst"]["filtered"]["mr"] == E - 1  # every candidate but the head itself
    assert model.cached_calls == 1


def test_filtering_removes_other_known_answers_only():
    E = 5
    table = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0]).repeat(E, 1, 1)  # tail 0 best ... tail 4 worst
    model = TableModel(table)
    test = torch.tensor([[4, 0, 2]])  # head 4 scores worst, so leaving it out moves nothing
    known = torch.tensor([[4, 0, 0], [4, 0, 2], [1, 0, 1]])  # (1, 0, 1) is another query's answer
    res = evaluate(model, test, filter_triples=known)
    assert res["raw"]["mr"] == 3.0
    assert res["filtered"]["mr"] == 2.0


def test_bad_input_is_a_clear_error():
    model = TableModel(torch.zeros(3, 1, 3))

    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        evaluate(model, torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="side"):
        evaluate(model, torch.zeros(1, 3, dtype=torch.long), sides=("left",))


@given(st.integers(0, 10_000), st.lists(st.integers(0, 4), min_size=1, max_size=200), st.integers(1, 30))
@settings(max_examples=50, deadline=None)
def test_sample_per_relation_caps_each_relation_and_keeps_rows(seed, relations, at_most):
    from kgtag.runs.evaluate import sample_per_relation

    n = len(relations)
    triples = torch.stack([torch.arange(n), torch.tensor(relations), torch.arange(n) + 1000], 1)
    sample = sample_per_relation(triples, at_most, seed)
    counts = torch.bincount(triples[:, 1], minlength=5)
    assert torch.bincount(sample[:, 1], minlength=5).tolist() == torch.clamp(counts, max=at_most).tolist()
    assert (sample[1:, 0] > sample[:-1, 0]).all()  # distinct rows of the input, in its order
    assert torch.equal(triples[sample[:, 0]], sample)


def test_progress_counts_every_ranked_query():
    table = torch.rand(6, 2, 6)
    seen = []
    evaluate(TableModel(table), torch.tensor([[0, 0, 1], [1, 1, 2], [2, 0, 3]]), batch_size=1, progress=seen.append)
    assert sum(seen) == 3 and len(seen) == 3
