"""NegativeSampler: corruption sides, Bernoulli probabilities, type constraints, filtering, known negatives."""

from __future__ import annotations

import pytest
import torch

from kgtag.embed.sampling import NegativeSampler, triple_keys

E, R = 30, 3


def graph():
    """r0: one head -> many tails (1-N); r1: many heads -> one tail (N-1); r2: random."""
    g = torch.Generator().manual_seed(0)
    r0 = torch.stack([torch.zeros(10, dtype=torch.long), torch.zeros(10, dtype=torch.long), torch.arange(10, 20)], 1)
    r1 = torch.stack([torch.arange(10, 20), torch.ones(10, dtype=torch.long), torch.full((10,), 5)], 1)
    r2 = torch.stack([torch.randint(0, E, (40,), generator=g), torch.full((40,), 2), torch.randint(0, E, (40,), generator=g)], 1)
    return torch.unique(torch.cat([r0, r1, r2]), dim=0)


def test_each_negative_changes_exactly_one_side_to_another_entity():
    tr = graph()
    s = NegativeSampler(tr, E, R, num_negatives=4, seed=1)
    neg = s.sample(tr)
    assert neg.shape == (tr.shape[0], 4, 3)
    pos = tr.unsqueeze(1).expand_as(neg)
    assert torch.equal(neg[..., 1], pos[..., 1])
    head_changed = neg[..., 0] != pos[..., 0]
    tail_changed = neg[..., 2] != pos[..., 2]
    assert torch.equal(head_changed ^ tail_changed, torch.ones_like(head_changed))
    assert ((neg >= 0) & (neg[..., [0, 2]] < E).all(-1, keepdim=True)).all()
    # both sides get corrupted under the uniform strategy
    assert 0.3 < head_changed.float().mean() < 0.7


def test_bernoulli_probabilities_follow_tph_and_hpt():
    tr = graph()
    prob = NegativeSampler.bernoulli_head_prob(tr, R)
    # r0: tph = 10, hpt = 1 -> replace the head with probability 10/11; r1: the reverse
    assert prob[0].item() == pytest.approx(10 / 11)
    assert prob[1].item() == pytest.approx(1 / 11)
    s = NegativeSampler(tr, E, R, num_negatives=200, strategy="bernoulli", seed=2)
    pos = tr[tr[:, 1] == 0]
    neg = s.sample(pos)
    frac_head = (neg[..., 0] != pos[:, None, 0]).float().mean().item()
    assert frac_head == pytest.approx(10 / 11, abs=0.03)


def test_type_constrained_replacements_come_from_the_relation():
    tr = graph()
    s = NegativeSampler(tr, E, R, num_negatives=20, type_constrained=True, seed=3)
    neg = s.sample(tr)
    for r in range(R):
        sel = tr[:, 1] == r
        n = neg[sel].reshape(-1, 3)
        p = tr[sel].repeat_interleave(20, 0)
        tail_side = n[:, 2] != p[:, 2]
        head_side = n[:, 0] != p[:, 0]
        assert torch.equal(tail_side ^ head_side, torch.ones_like(tail_side))
        for col, changed in ((2, tail_side), (0, head_side)):
            pool = set(tr[sel, col].tolist())  # the entities seen on that side of r
            drawn = set(n[changed, col].tolist())
            if len(pool) > 1:
                assert drawn and drawn <= pool, (r, col)
            else:  # r0's one head, r1's one tail: nothing to choose from, so any other entity
                assert len(drawn - pool) >= E // 2, (r, col, drawn)


def test_type_constrained_draws_cover_the_pool():
    tr = graph()
    s = NegativeSampler(tr, E, R, num_negatives=400, type_constrained=True, seed=4)
    pos = tr[tr[:, 1] == 0][:1]  # (0, r0, 10): tails 11..19 are the alternatives
    neg = s.sample(pos)[0]
    tails = neg[neg[:, 2] != 10, 2]
    assert set(tails.tolist()) == set(range(11, 20))


def test_known_positives_are_skipped():
    # a dense relation: most random tails are true, so unfiltered negatives are often positives
    heads = torch.arange(5).repeat_interleave(15)
    tails = torch.arange(15).repeat(5)
    tr = torch.stack([heads, torch.zeros_like(heads), tails], 1)
    known = set(map(tuple, tr.tolist()))
    plain = NegativeSampler(tr, E, 1, num_negatives=8, seed=5).sample(tr)
    assert sum(tuple(x) in known for x in plain.reshape(-1, 3).tolist()) > 50
    filt = NegativeSampler(tr, E, 1, num_negatives=8, filter_known=True, filter_rounds=20, seed=5).sample(tr)
    assert sum(tuple(x) in known for x in filt.reshape(-1, 3).tolist()) == 0


def test_known_negatives_are_mixed_in():
    tr = graph()
    rejected = torch.tensor([[0, 0, 25], [0, 0, 26]])
    s = NegativeSampler(tr, E, R, num_negatives=3, known_negatives=rejected, known_negative_rate=1.0, seed=6)
    pos = tr[tr[:, 1] == 0]  # all have (h, r) = (0, r0)
    neg = s.sample(pos)
    assert set(map(tuple, neg[:, 0].tolist())) <= {(0, 0, 25), (0, 0, 26)}
    assert len(set(map(tuple, neg[:, 0].tolist()))) == 2
    others = tr[tr[:, 1] == 1]  # no rejected edges for these: plain corruptions
    assert not set(map(tuple, s.sample(others)[:, 0].tolist())) & {(0, 0, 25), (0, 0, 26)}


def test_state_round_trip_repeats_the_draws():
    tr = graph()
    s = NegativeSampler(tr, E, R, num_negatives=2, seed=7)
    s.sample(tr)
    state = s.state_dict()
    a = s.sample(tr)
    t = NegativeSampler(tr, E, R, num_negatives=2, seed=99)
    t.load_state_dict(state)
    assert torch.equal(a, t.sample(tr))


def test_keys_refuse_to_overflow():
    with pytest.raises(ValueError, match="overflow"):
        triple_keys(torch.zeros(1, 3, dtype=torch.long), 10**9, 10**2)


def test_tail_strategy_only_replaces_tails():
    tr = graph()
    neg = NegativeSampler(tr, E, R, num_negatives=5, strategy="tail", seed=8).sample(tr)
    pos = tr.unsqueeze(1).expand_as(neg)
    assert torch.equal(neg[..., 0], pos[..., 0])
    assert (neg[..., 2] != pos[..., 2]).all()


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown negative sampling strategy"):
        NegativeSampler(graph(), E, R, strategy="sometimes")


def test_side_constrained_replacements_are_entities_of_that_side():
    # heads 0-9 (videos), tails 10-14 (tags): a corrupted tail must be another tag, a head another video
    g = torch.Generator().manual_seed(0)
    tr = torch.stack([torch.randint(0, 10, (200,), generator=g), torch.zeros(200, dtype=torch.long),
                      torch.randint(10, 15, (200,), generator=g)], 1)
    s = NegativeSampler(tr, 40, 1, num_negatives=30, side_constrained=True, seed=1)
    pos = tr[:50]
    neg = s.sample(pos)
    head_changed = neg[:, :, 0] != pos[:, None, 0]
    tail_changed = neg[:, :, 2] != pos[:, None, 2]
    assert (head_changed ^ tail_changed).all()  # exactly one side replaced, never by itself
    assert ((neg[:, :, 0] < 10) | ~head_changed).all() and ((neg[:, :, 2] >= 10) & (neg[:, :, 2] < 15)).all()
    assert torch.unique(neg[:, :, 2][tail_changed]).numel() == 5  # every tag gets drawn
