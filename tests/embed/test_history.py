"""Cold start as a protocol: whole-video holdout, warm / few / cold groups, knowledge-segment dropout."""

from __future__ import annotations

import pytest
import torch
from helpers import TableModel, random_video_graph

from kgtag.embed.chance import chance_mrr
from kgtag.embed.history import by_history, cold_holdout, history_group, training_degree
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model


def test_cold_holdout_moves_whole_videos_half_to_valid_half_to_test():
    triples, is_video = random_video_graph()
    triples = triples[torch.randperm(len(triples), generator=torch.Generator().manual_seed(1))]
    third = len(triples) // 3
    train, valid, test = triples[:third], triples[third : 2 * third], triples[2 * third :]
    new_train, new_valid, new_test, cold = cold_holdout(train, valid, test, is_video, 0.2, seed=3)
    pool = int((is_video & (training_degree(train, len(is_video)) > 0)).sum())
    assert len(cold) == round(0.2 * pool)
    # nothing lost or duplicated
    assert len(new_train) + len(new_valid) + len(new_test) == len(triples)
    is_cold = torch.zeros(len(is_video), dtype=torch.bool)
    is_cold[cold] = True
    # a cold video has no training triple, and all its triples sit in one held-out split
    assert not bool(is_cold[new_train[:, 0]].any())
    in_valid = torch.zeros(len(is_video), dtype=torch.bool)
    in_valid[new_valid[:, 0]] = True
    in_test = torch.zeros(len(is_video), dtype=torch.bool)
    in_test[new_test[:, 0]] = True
    assert not bool((is_cold & in_valid & in_test).any())
    assert int((is_cold & in_valid).sum()) == (len(cold) + 1) // 2
    assert int((is_cold & in_test).sum()) == len(cold) // 2
    # every triple of a cold video left train, wherever it was
    assert int(is_cold[triples[:, 0]].sum()) == int(is_cold[new_valid[:, 0]].sum() + is_cold[new_test[:, 0]].sum())
    # the other videos keep their triples where they were
    assert torch.equal(new_train, train[~is_cold[train[:, 0]]])
    assert torch.equal(new_test[: int((~is_cold[test[:, 0]]).sum())], test[~is_cold[test[:, 0]]])
    again = cold_holdout(train, valid, test, is_video, 0.2, seed=3)
    assert torch.equal(again[3], cold)
    assert not torch.equal(cold_holdout(train, valid, test, is_video, 0.2, seed=4)[3], cold)


def test_history_groups_by_training_degree():
    train = torch.tensor([[0, 0, 5], [0, 1, 6], [0, 2, 7], [1, 0, 5], [2, 0, 5], [2, 1, 6]])
    degree = training_degree(train, 9)
    assert degree[:5].tolist() == [3, 1, 2, 0, 0]
    assert history_group(degree[:4]).tolist() == [0, 1, 1, 2]  # warm, few, few, cold


def test_by_history_reports_each_group_from_a_table_model():
    # videos 0 (warm: 3 training triples), 1 (few: 1), 3 (cold: 0); tags 5..8; one relation
    E, R = 9, 1
    train = torch.tensor([[0, 0, 5], [0, 0, 6], [0, 0, 7], [1, 0, 5]])
    test = torch.tensor([[0, 0, 8], [1, 0, 6], [3, 0, 7], [3, 0, 8]])
    table = torch.zeros(E, R, E)
    # among tags 5..8 (no filter beyond the test answers): video 0 ranks 8 first; video 1 ranks 6 second
    table[0, 0, 5:9] = torch.tensor([0.0, 0.1, 0.2, 0.9])
    table[1, 0, 5:9] = torch.tensor([0.9, 0.5, 0.1, 0.0])
    # video 3: 7 and 8 both answers; each is filtered from the other's rank: 7 ranks 3rd of {5,6,7}, 8 1st
    table[3, 0, 5:9] = torch.tensor([0.8, 0.7, 0.1, 0.9])
    model = TableModel(table)
    tags = torch.arange(5, 9)
    protocol = dict(filter_triples=test, candidates=tags)
    out = by_history(model, test, train, relation_names=["rel"], **protocol)
    assert out["warm"]["count"] == 1 and out["warm"]["mrr"] == pytest.approx(1.0)
    assert out["few"]["count"] == 1 and out["few"]["mrr"] == pytest.approx(0.5)
    assert out["cold"]["count"] == 2 and out["cold"]["mrr"] == pytest.approx((1 / 3 + 1) / 2)
    assert out["cold"]["per_relation"]["rel"]["count"] == 2
    assert out["cold"]["chance_mrr"] == pytest.approx(chance_mrr(test[2:], E, R, **protocol))
    assert 0 < out["cold"]["chance_mrr"] < 1


def _fused_model(rate, **kw):
    E, R = 40, 3
    g = torch.Generator().manual_seed(0)
    present = torch.ones(E, dtype=torch.bool)
    present[30:] = False
    feats = {"vision": (torch.randn(E, 6, generator=g) * present.unsqueeze(1), present)}
    torch.manual_seed(0)
    cfg = ModelConfig(variant="transfusion", modalities=("vision",), dim=4, hidden=8, knowledge_dropout=rate, **kw)
    return build_model(cfg, E, R, feats)


def test_knowledge_dropout_zeroes_exactly_the_sampled_rows():
    model = _fused_model(0.5)
    rep = model.entities
    v = torch.tensor([0, 3, 4, 7, 9, 11, 12, 20, 25, 29])
    model.train()
    torch.manual_seed(11)
    keep = rep.knowledge_keep(len(v))
    assert 0 < int(keep.sum()) < len(v)  # the draw drops some rows and keeps others
    torch.manual_seed(11)
    z, mask = rep.segments(v)
    assert bool((z[~keep, 0] == 0).all())
    assert torch.equal(z[keep, 0], rep.z_k.weight[v[keep]])
    assert bool(mask.all())  # a dropped row is a cold video's: same mask, z_K = 0
    model.eval()  # never at scoring time
    z_eval, _ = rep.segments(v)
    assert torch.equal(z_eval[:, 0], rep.z_k.weight[v])
    # on in the fast preset only; runs written before the field existed decode with it off
    from kgtag.embed.config import BEFORE_FIELD, model_preset
    assert [model_preset(p)["knowledge_dropout"] for p in ("fast", "paper", "paper-scaled")] == [0.1, 0.0, 0.0]
    assert BEFORE_FIELD["model"]["knowledge_dropout"] == 0.0
    with pytest.raises(ValueError, match="knowledge_dropout"):
        ModelConfig(knowledge_dropout=1.0)


def test_relation_conditioned_attention_weights_sum_to_one_per_video_and_relation():
    E, R = 40, 3
    g = torch.Generator().manual_seed(0)
    feats = {}
    for m, d in (("vision", 6), ("audio", 3)):
        present = torch.rand(E, generator=g) < 0.7
        present[30:] = False
        feats[m] = (torch.randn(E, d, generator=g) * present.unsqueeze(1), present)
    torch.manual_seed(0)
    cfg = ModelConfig(variant="transfusion", modalities=("vision", "audio"), dim=4, hidden=8, relation_modality=True)
    model = build_model(cfg, E, R, feats)
    with torch.no_grad():
        model.entities.relation_logits.copy_(torch.randn(R, 3, generator=g) * 3)
    videos = torch.nonzero(model.is_fused).squeeze(1)
    ids, rel = videos.repeat_interleave(R), torch.arange(R).repeat(len(videos))
    w = model.entities.modality_attention(ids, rel)
    assert torch.allclose(w.sum(1), torch.ones(len(ids)))
    absent = ~torch.stack([feats["vision"][1][ids], feats["audio"][1][ids]], 1)
    assert bool((w[:, 1:][absent] == 0).all())  # a missing modality gets no weight for any relation
    # the weights differ by relation (the point of the option), and eq. 4's are the relation-free ones
    assert not torch.allclose(w.view(len(videos), R, 3)[:, 0], w.view(len(videos), R, 3)[:, 1])
    # tail scores use h_{vid, r}: scoring a triple equals ranking it among candidates
    tags = torch.arange(30, 40)
    h, r = videos[:5], torch.tensor([0, 1, 2, 0, 1])
    model.eval()
    rows = model.score_tails(h, r, tags)
    direct = model.score_triples(h.repeat_interleave(10), r.repeat_interleave(10), tags.repeat(5)).view(5, 10)
    assert torch.allclose(rows, direct, atol=1e-5)
    # training runs through the conditioned heads and moves the relation logits
    from kgtag.embed.config import TrainConfig
    from kgtag.embed.trainer import train

    triples = torch.stack([videos.repeat(2)[:40], torch.randint(0, R, (40,), generator=g),
                           torch.randint(30, 40, (40,), generator=g)], 1)
    before = model.entities.relation_logits.detach().clone()
    train(model, triples, TrainConfig(epochs=2, batch_size=16, lr=1e-2, num_negatives=2, device="cpu",
                                      num_threads=1), progress=False)
    assert not torch.equal(before, model.entities.relation_logits.detach())


@pytest.mark.parametrize("detach", ["none", "relations", "tails", "all"])
def test_knowledge_dropout_detach_stops_only_the_dropped_heads_gradient_to_tails(detach):
    model = _fused_model(0.5, knowledge_dropout_detach=detach)
    model.train()
    videos = torch.arange(30)
    torch.manual_seed(5)
    dropped = ~model.entities.knowledge_keep(30)  # the draw the loss below makes (videos in id order)
    assert 0 < int(dropped.sum()) < 30
    # heads that keep z_K point to tags 30-34, dropped heads to tags 35-39 (positives and negatives)
    tail = 30 + 5 * dropped.long() + videos % 5
    pos = torch.stack([videos, videos % 3, tail], 1)
    neg = pos.clone().unsqueeze(1)
    neg[:, 0, 2] = 30 + 5 * dropped.long() + (videos + 1) % 5
    torch.manual_seed(5)
    model.loss(pos, neg).backward()
    assert torch.equal(model.entities.dropped_of(videos), dropped)
    rows, g = model.entities.plain.taken()  # the tags are the plain rows, in entity order (30-39)
    grad = torch.zeros(10).index_add_(0, rows, g.abs().sum(1))
    assert bool((grad[:5] > 0).all())
    assert bool((grad[5:] == 0).all()) if detach in ("tails", "all") else bool((grad[5:] > 0).all())
    # the dropped heads' modality path is trained either way
    assert model.entities.proj["vision"].weight.grad.abs().sum() > 0


def test_learned_cold_knowledge_stands_in_for_a_missing_z_k_and_is_trained():
    model = _fused_model(0.5, cold_knowledge="learned")
    rep = model.entities
    assert torch.equal(rep.z_cold, torch.zeros(4))  # starts as the "zero" rule
    seen = torch.ones(40, dtype=torch.bool)
    seen[[3, 7]] = False  # two cold videos
    rep.set_known_(seen)
    with torch.no_grad():
        rep.z_cold.copy_(torch.tensor([3.0, 0.0, 4.0, 0.0]))  # norm 5: used at norm 1
    model.eval()
    v = torch.tensor([3, 5, 7])
    z, _ = rep.segments(rep.local[v])
    assert torch.allclose(z[[0, 2], 0], torch.tensor([0.6, 0.0, 0.8, 0.0]).expand(2, 4))
    assert torch.equal(z[1, 0], rep.z_k.weight[rep.local[5]])
    model.train()  # a dropped video in training gets it too, and its gradient reaches z_cold
    pos = torch.tensor([[v, v % 3, 30 + v % 10] for v in range(30)])
    torch.manual_seed(5)
    model.loss(pos, pos.unsqueeze(1).flip(0)).backward()
    assert bool(rep.dropped_of(torch.arange(30)).any())
    assert rep.z_cold.grad is not None and rep.z_cold.grad.abs().sum() > 0
    assert _fused_model(0.5).entities.z_cold is None  # "zero": no parameter (older runs load as before)
