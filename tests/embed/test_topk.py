"""Top-k inference and the temperature calibrator, on models with known score tables."""

from __future__ import annotations

import torch

from helpers import TableModel
from kgtag.embed.calibration import Calibrator, ece_noise_floor, expected_calibration_error
from kgtag.embed.topk import log_partition, predict, top_k


def test_top_k_matches_sort_with_exclusions_and_candidates():
    g = torch.Generator().manual_seed(1)
    E, R = 40, 3
    table = torch.randn(E, R, E, generator=g)
    model = TableModel(table)
    heads = torch.randint(0, E, (17,), generator=g)
    rels = torch.randint(0, R, (17,), generator=g)
    exclude = torch.stack([heads[:10], rels[:10], torch.randint(0, E, (10,), generator=g)], 1)
    cands = torch.randperm(E, generator=g)[:25]
    tails, scores = top_k(model, heads, rels, 5, exclude=exclude, candidates=cands, batch_size=4, chunk=7)
    ex = {tuple(x) for x in exclude.tolist()}
    for i, (h, r) in enumerate(zip(heads.tolist(), rels.tolist())):
        allowed = [c for c in cands.tolist() if (h, r, c) not in ex and c != h]  # never the head itself
        want = sorted(allowed, key=lambda c: -table[h, r, c].item())[:5]
        assert tails[i].tolist() == want
        assert torch.allclose(scores[i], table[h, r, want])
        assert not set(tails[i].tolist()) & {x[2] for x in ex if x[:2] == (h, r)}


def test_top_k_pads_when_too_few_candidates():
    model = TableModel(torch.randn(4, 1, 4))
    exclude = torch.tensor([[0, 0, 1], [0, 0, 2]])
    tails, scores = top_k(model, [0], [0], 3, exclude=exclude)
    assert tails[0, 0].item() == 3  # 1 and 2 are excluded, 0 is the head itself
    assert (tails[0, 1:] == -1).all() and (scores[0, 1:] == float("-inf")).all()


def test_calibrator_recovers_the_true_temperature():
    g = torch.Generator().manual_seed(0)
    E, N, T0 = 30, 3000, 3.0
    logits = torch.randn(N, 1, E, generator=g) * 2.0
    # the answer of query i is drawn from softmax(logits_i); the model reports scores = logits * T0
    tails = torch.multinomial(torch.softmax(logits[:, 0], -1), 1, generator=g)[:, 0]
    table = torch.zeros(N + E, 1, N + E)
    table[:N, 0, N:] = logits[:, 0] * T0
    table[:N, 0, :N] = -1e9  # videos are never tails
    model = TableModel(table)
    valid = torch.stack([torch.arange(N), torch.zeros(N, dtype=torch.long), tails + N], 1)
    cal = Calibrator().fit(model, valid, candidates=torch.arange(N, N + E), max_queries=N)
    assert abs(cal.temperature - T0) / T0 < 0.1, cal.report()
    assert cal.ece < 0.05, cal.report()
    # a badly scaled temperature is visibly miscalibrated
    wrong = Calibrator(temperature=T0 / 5)
    conf = wrong.confidence(table[:N, 0, N:])
    ece_wrong, _ = expected_calibration_error(conf.max(1).values, conf.argmax(1) == tails)
    assert ece_wrong > 3 * cal.ece

    pred = predict(model, torch.arange(5), torch.zeros(5, dtype=torch.long), 4, cal, candidates=torch.arange(N, N + E))
    assert abs(cal.relation_temperature[0] - T0) / T0 < 0.1, cal.report()
    full = cal.confidence(table[:5, 0, N:], relations=torch.zeros(5, dtype=torch.long))
    assert torch.allclose(pred.confidence, full.sort(1, descending=True).values[:, :4], atol=1e-5)
    assert ((pred.confidence >= 0) & (pred.confidence <= 1)).all()
    assert pred.rank[0].tolist() == [1, 2, 3, 4]


def test_ece_of_a_perfectly_calibrated_toy():
    conf = torch.tensor([0.25] * 4 + [0.75] * 4)
    correct = torch.tensor([1, 0, 0, 0, 1, 1, 1, 0])
    ece, table = expected_calibration_error(conf, correct)
    assert ece == 0.0 and len(table) == 2


def test_each_relation_gets_its_own_temperature():
    g = torch.Generator().manual_seed(2)
    E, N = 20, 1500
    temps = torch.tensor([1.0, 6.0])
    logits = torch.randn(N, 2, E, generator=g) * 2.0
    table = torch.full((N + E, 2, N + E), -1e9)
    table[:N, :, N:] = logits * temps[None, :, None]
    tails = torch.stack([torch.multinomial(torch.softmax(logits[:, r], -1), 1, generator=g)[:, 0] for r in (0, 1)], 1)
    valid = torch.cat([torch.stack([torch.arange(N), torch.full((N,), r), tails[:, r] + N], 1) for r in (0, 1)])
    cal = Calibrator().fit(TableModel(table), valid, candidates=torch.arange(N, N + E), max_queries=2 * N)
    for r in (0, 1):
        assert abs(cal.relation_temperature[r] - temps[r].item()) / temps[r].item() < 0.15, cal.report()


def test_ece_noise_floor_is_what_a_calibrated_predictor_reads():
    g = torch.Generator().manual_seed(3)
    conf = torch.rand(400, generator=g)
    floor = ece_noise_floor(conf, draws=400)
    # simulated calibrated outcomes land around the floor; outcomes from a skewed predictor do not
    fresh = [expected_calibration_error(conf, torch.rand(400, generator=g) < conf)[0] for _ in range(50)]
    assert abs(sum(fresh) / len(fresh) - floor) < 0.01
    skewed = expected_calibration_error(conf, torch.rand(400, generator=g) < conf**3)[0]
    assert skewed > 3 * floor
    assert ece_noise_floor(torch.full((10_000,), 0.5)) < 0.01  # more queries, less noise


def test_log_partition_equals_the_direct_sum():
    """Over several query batches and candidate chunks, with exclusions and per-row temperature grids."""
    g = torch.Generator().manual_seed(3)
    E, R = 30, 2
    table = torch.randn(E, R, E, generator=g)
    heads, rels = torch.arange(11), torch.randint(0, R, (11,), generator=g)
    temps = torch.rand(11, 4, generator=g, dtype=torch.float64) * 3 + 0.1
    exclude = torch.stack([heads[:5], rels[:5], (heads[:5] + 1) % E], 1)
    got = log_partition(TableModel(table), heads, rels, temps, exclude=exclude, batch_size=5, chunk=13)
    for i, (h, r) in enumerate(zip(heads.tolist(), rels.tolist())):
        keep = [c for c in range(E) if c != h and (i >= 5 or c != (h + 1) % E)]
        want = torch.logsumexp(table[h, r, keep].double()[:, None] / temps[i], dim=0)
        assert torch.allclose(got[i], want)
