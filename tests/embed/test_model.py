"""KGModel: scorers, fused representation (eq. 1-4), relation attention (eq. 5), loss (eq. 6)."""

from __future__ import annotations

import pytest
import torch

from kgtag.embed.config import ModelConfig, model_preset
from kgtag.embed.model import build_model
from kgtag.embed.rows import Optimizer

E, R = 40, 3
MODS = {"vision": 12, "audio": 6, "text": 9}
BASES = ["transe", "transh", "transr", "transd"]


def features(seed=0, p_present=0.7):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for m, d in MODS.items():
        present = torch.rand(E, generator=g) < p_present
        present[20:] = False
        out[m] = (torch.randn(E, d, generator=g), present)
    # entity 0 has every modality, entity 1 lacks audio, entity 2 only vision
    for m in MODS:
        out[m][1][0] = True
    out["audio"][1][1] = False
    out["vision"][1][1] = True
    out["vision"][1][2], out["audio"][1][2], out["text"][1][2] = True, False, False
    return out


def triples(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack(
        [torch.randint(0, E, (n,), generator=g), torch.randint(0, R, (n,), generator=g), torch.randint(0, E, (n,), generator=g)], 1
    )


def make(variant="transfusion", base="transe", modalities=("vision", "audio", "text"), **kw):
    if variant in ("transe", "transfusion0"):
        modalities = ()
    torch.manual_seed(0)
    # the paper-scaled settings (segment options, no fused norm) that these tests were written against
    kw = {**model_preset("paper-scaled"), "dim": 8, "hidden": 16, **kw}
    return build_model(ModelConfig(variant=variant, base=base, modalities=modalities, **kw), E, R, features())


def train_steps(model, steps=3, lr=0.05):
    opt = Optimizer(model, lr=lr)
    tr = triples()
    for _ in range(steps):
        neg = tr.clone().unsqueeze(1)
        neg[:, 0, 2] = (tr[:, 2] + 1) % E
        loss = model.loss(tr, neg)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("p_norm", [1, 2])
@pytest.mark.parametrize("variant", ["transe", "transfusion"])
def test_scores_agree_across_entry_points(base, p_norm, variant):
    model = make(variant, base, p_norm=p_norm)
    train_steps(model)  # move parameters away from their special initial values
    model.eval()
    tr = triples(10, seed=1)
    h, r, t = tr.T
    with torch.no_grad():
        s = model.score_triples(h, r, t)
        tails = model.score_tails(h, r)
        heads = model.score_heads(r, t)
        cand = torch.tensor([5, t[0].item(), 30])
        some = model.score_tails(h, r, cand)
        with model.cached_entities():
            cached = model.score_tails(h, r)
    assert s.shape == (10,) and tails.shape == (10, E) and heads.shape == (10, E) and some.shape == (10, 3)
    assert (s <= 0).all()
    idx = torch.arange(10)
    assert torch.allclose(tails[idx, t], s, atol=1e-4)
    assert torch.allclose(heads[idx, h], s, atol=1e-4)
    assert torch.allclose(some, tails[:, cand], atol=1e-4)
    assert torch.allclose(cached, tails, atol=1e-5)


def test_transe_score_is_minus_translation_distance():
    model = make("transe", p_norm=1)
    e = model.entities.plain.weight
    r = model.relations.r.weight
    h, rel, t = torch.tensor([3]), torch.tensor([1]), torch.tensor([7])
    expected = -(e[3] + r[1] - e[7]).abs().sum()
    assert torch.allclose(model.score_triples(h, rel, t), expected.unsqueeze(0))
    # Algorithm 1 keeps TransE entities at unit norm, from initialisation on
    assert torch.allclose(e.norm(dim=1), torch.ones(E), atol=1e-5)


def test_transh_projects_onto_the_hyperplane():
    model = make("transe", "transh")
    rel = {k: v[:1] for k, v in model.relations.all().items()}
    x = torch.randn(5, model.config.width)
    proj = model.interaction.project(x, None, {k: v.expand(5, -1) for k, v in rel.items()})
    w = torch.nn.functional.normalize(rel["w"], dim=-1)
    assert torch.allclose(proj @ w.T, torch.zeros(5, 1), atol=1e-5)


def test_transr_and_transd_start_as_transe():
    """TransR's matrices start at I; TransD with zero projection vectors is TransE."""
    tr = triples(8)
    models = {b: make("transe", b, p_norm=2) for b in ["transe", "transr", "transd"]}
    for b in ("transr", "transd"):
        models[b].entities.plain.weight.data.copy_(models["transe"].entities.plain.weight)
        models[b].relations.r.weight.data.copy_(models["transe"].relations.r.weight)
    models["transd"].relations.rp.weight.data.zero_()
    ref = models["transe"].score_triples(*tr.T)
    for b in ("transr", "transd"):
        assert torch.allclose(models[b].score_triples(*tr.T), ref, atol=1e-5)


@pytest.mark.parametrize(
    "variant,mods,width,segments",
    [
        ("transe", (), 8, ["knowledge"]),
        ("transfusion0", (), 8, ["knowledge"]),
        ("transfusion", ("vision", "audio", "text"), 32, ["knowledge", "vision", "audio", "text"]),
        ("transfusion", ("audio",), 16, ["knowledge", "audio"]),
        ("b1", ("vision", "audio"), 24, ["knowledge", "vision", "audio"]),
        ("b2", ("vision", "audio", "text"), 8, ["knowledge", "vision", "audio", "text"]),
        ("b3", ("vision", "text"), 16, ["vision", "text"]),
    ],
)
def test_widths_and_segments(variant, mods, width, segments):
    model = make(variant, modalities=mods)
    assert model.config.width == width
    assert model.segment_names == segments
    e, _ = model.represent(torch.arange(E))
    assert e.shape == (E, width)
    att = model.modality_attention(torch.arange(E))
    assert att.shape == (E, len(segments))


def test_relation_attention_defaults_follow_the_paper():
    assert ModelConfig(variant="transfusion", modalities=("vision",)).relation_attention
    assert ModelConfig(variant="transfusion0").relation_attention
    assert not ModelConfig(variant="transe").relation_attention
    assert not ModelConfig(variant="b1", modalities=("vision",)).relation_attention
    assert ModelConfig(variant="b1", modalities=("vision",), relation_attention=True).relation_attention


def test_missing_modality_is_masked_not_zero_filled():
    model = make("transfusion")
    att = model.modality_attention(torch.tensor([0, 1, 2]))
    # entity 1 lacks audio, entity 2 has only vision: exactly zero weight, rows sum to one
    assert att[1, 2] == 0.0
    assert (att[2, 2:] == 0.0).all() and att[2, :2].gt(0).all()
    assert att[0].gt(0).all()
    assert torch.allclose(att.sum(1), torch.ones(3))
    h1, _ = model.represent(torch.tensor([1]))
    assert (h1[0, 16:24] == 0).all()  # the audio segment of entity 1 is exactly zero
    # changing the missing modality's feature row (even to NaN) changes nothing
    before = model.score_tails(torch.tensor([1]), torch.tensor([0]))
    model.entities.feature_rows["audio"].matrix[1] = float("nan")
    after = model.score_tails(torch.tensor([1]), torch.tensor([0]))
    assert torch.equal(before, after)
    # whereas a present modality's row does change the representation
    model.entities.feature_rows["vision"].matrix[1] += 1.0
    assert not torch.equal(after, model.score_tails(torch.tensor([1]), torch.tensor([0])))


def test_fused_segments_are_weighted_projections():
    """h_vid = [p0 z_K, p1 ELU(e_V W_V + b_V), ...] (eq. 1, 3) for a video with every modality."""
    model = make("transfusion", segment_norm=False, segment_scale=False)
    feats = features()
    v = model.entities.local[0]
    p = model.modality_attention(torch.tensor([0]))[0]
    h, _ = model.represent(torch.tensor([0]))
    z_k = model.entities.z_k.weight[v]
    assert torch.allclose(h[0, :8], p[0] * z_k, atol=1e-6)
    z_v = torch.nn.functional.elu(model.entities.proj["vision"](feats["vision"][0][0]))
    assert torch.allclose(h[0, 8:16], p[1] * z_v, atol=1e-6)


@pytest.mark.parametrize("base,norm_of", [("transe", lambda n: torch.ones_like(n)), ("transh", lambda n: n.clamp_max(1.0))])
def test_segment_norm_and_scale(base, norm_of):
    """segment_norm: each z_M takes the base's entity constraint (TransE: unit norm; TransH: <= 1);
    segment_scale: eq. 3's weights times the number of segments present (entity 1 lacks audio)."""
    plain = make("transfusion", base=base, segment_norm=False, segment_scale=False)
    model = make("transfusion", base=base, segment_norm=True, segment_scale=True)
    feats, ids = features(), torch.tensor([0, 1])
    p = model.modality_attention(ids)
    h, _ = model.represent(ids)
    for row, (e, present) in enumerate([(0, 4), (1, 3)]):
        z_v = torch.nn.functional.elu(model.entities.proj["vision"](feats["vision"][0][e]))
        z_v_normed = z_v / z_v.norm() * norm_of(z_v.norm())
        assert torch.allclose(h[row, 8:16], present * p[row, 1] * z_v_normed, atol=1e-5)
        assert torch.allclose(h[row, :8], present * p[row, 0] * model.entities.z_k.weight[model.entities.local[e]], atol=1e-6)
    # the unnormalised projection of these random features is far from norm 1
    z_plain = plain.represent(ids[:1])[0][0, 8:16] / plain.modality_attention(ids[:1])[0, 1]
    assert abs(float(z_plain.detach().norm()) - 1.0) > 0.1
    assert torch.allclose(p.sum(1), torch.ones(2), atol=1e-6)  # the reported attention is eq. 4's


def test_videos_without_training_triples_have_no_knowledge():
    """Cold start (Figure 1, "video 4"): after train(), z_K of a video in no training triple is held
    at zero, so its fused vector is its weighted modalities; videos with triples keep theirs."""
    from kgtag.embed.config import TrainConfig
    from kgtag.embed.trainer import train

    model = make("transfusion")
    tr = triples(64)
    tr = tr[(tr[:, 0] != 0) & (tr[:, 2] != 0)]  # entity 0, a video with every modality, is cold
    warm = int(tr[0, 0]) if model.is_fused[tr[0, 0]] else int(tr[0, 2])
    assert model.is_fused[warm]
    train(model, tr, TrainConfig(epochs=2, batch_size=16, lr=0.05, num_negatives=2, device="cpu"), progress=False)
    h, _ = model.represent(torch.tensor([0, warm]))
    assert (h[0, :8] == 0).all() and h[0, 8:].abs().sum() > 0
    assert h[1, :8].abs().sum() > 0
    # the mask is part of the weights: a model loaded from them agrees
    clone = make("transfusion")
    clone.load_state_dict(model.state_dict())
    clone.eval()
    assert torch.allclose(clone.represent(torch.tensor([0]))[0], h[:1], atol=1e-6)


def test_self_adversarial_weights_favour_hard_negatives():
    """adversarial_temperature = 0 is eq. 6's plain mean; > 0 weights each positive's negatives by
    k * softmax(-alpha d_neg) (RotatE): the loss moves towards the hardest negative's hinge."""
    tr = triples(5)
    neg = tr.clone().unsqueeze(1).repeat(1, 3, 1)
    for j in range(3):
        neg[:, j, 2] = (tr[:, 2] + 1 + j) % E
    losses = {}
    for alpha in (0.0, 1.0, 50.0):
        model = make("transe", margin=2.0, adversarial_temperature=alpha)
        model.eval()
        losses[alpha] = model.loss(tr, neg)
    d_pos = -model.score_triples(*tr.T)
    d_neg = -model.score_triples(*neg.reshape(-1, 3).T).view(5, 3)
    hinge = torch.relu(2.0 + d_pos.unsqueeze(1) - d_neg)
    assert torch.allclose(losses[0.0], hinge.mean(), atol=1e-5)
    w = 3 * torch.softmax(-1.0 * d_neg, dim=1)
    assert torch.allclose(losses[1.0], (w * hinge).mean(), atol=1e-5)
    hardest = hinge.gather(1, d_neg.argmin(1, keepdim=True))
    assert torch.allclose(losses[50.0], hardest.mean(), atol=1e-3)


def test_baselines_combine_without_attention():
    feats = features()
    b2 = make("b2", modalities=("vision", "audio"))
    v = b2.entities.local[1]  # entity 1: vision yes, audio no
    h, _ = b2.represent(torch.tensor([1]))
    z_v = torch.nn.functional.elu(b2.entities.proj["vision"](feats["vision"][0][1]))
    z_v = z_v / z_v.norm()  # segment_norm (default): TransE's unit norm
    assert torch.allclose(h[0], b2.entities.z_k.weight[v] + z_v, atol=1e-6)
    b1 = make("b1", modalities=("vision", "audio"))
    h, _ = b1.represent(torch.tensor([1]))
    assert torch.allclose(h[0, :8], b1.entities.z_k.weight[b1.entities.local[1]])
    assert (h[0, 16:] == 0).all()


def test_tags_have_trainable_rows_of_full_width():
    model = make("transfusion")
    assert not model.is_fused[25]
    assert model.entities.plain.weight.shape[1] == model.config.width


def test_frozen_features_stay_and_trainable_parts_move():
    model = make("transfusion")
    frozen = {m: model.entities.feature_rows[m].matrix.clone() for m in MODS}
    names = ["entities.proj.vision.weight", "entities.proj.vision.bias", "entities.energy.V.weight",
             "entities.energy.a.weight", "rel_attention.energy.V.weight", "rel_attention.energy.a.weight"]
    params = dict(model.named_parameters())
    before = {n: params[n].detach().clone() for n in names}
    assert all(not n.startswith("entities.feat") for n in params)
    train_steps(model)
    for m in MODS:
        assert torch.equal(model.entities.feature_rows[m].matrix, frozen[m])
    for n in names:
        assert not torch.equal(params[n], before[n]), n


def test_only_rows_the_batch_used_change():
    model = make("transfusion")
    tr = triples(6)
    neg = tr.clone().unsqueeze(1)
    neg[:, 0, 2] = (tr[:, 2] + 1) % E
    used = torch.unique(torch.cat([tr[:, 0], tr[:, 2], neg[:, 0, 2]]))
    plain0 = model.entities.plain.weight.clone()
    zk0 = model.entities.z_k.weight.clone()
    rel0 = model.relations.r.weight.clone()
    opt = Optimizer(model, lr=0.1)
    loss = model.loss(tr, neg)
    loss.backward()
    opt.step()
    ent = model.entities
    untouched = torch.ones(E, dtype=torch.bool)
    untouched[used] = False
    plain_rows = ent.local[untouched & ~ent.fused]
    fused_rows = ent.local[untouched & ent.fused]
    assert torch.equal(ent.plain.weight[plain_rows], plain0[plain_rows])
    assert torch.equal(ent.z_k.weight[fused_rows], zk0[fused_rows])
    unused_rel = torch.tensor([r for r in range(R) if r not in tr[:, 1].tolist()], dtype=torch.long)
    assert torch.equal(model.relations.r.weight[unused_rel], rel0[unused_rel])
    assert not torch.equal(ent.plain.weight, plain0)


def test_relation_attention_lies_in_one_to_two():
    model = make("transfusion")
    train_steps(model)
    q = model.relation_attention()
    assert q.shape == (R,)
    assert ((q >= 1) & (q <= 2)).all()
    assert torch.allclose(q.sum(), torch.tensor(R + 1.0))
    assert torch.equal(make("transe").relation_attention(), torch.ones(R))


def test_loss_is_eq6_with_relation_weights():
    model = make("transfusion", margin=2.0, relation_entropy=0.0)
    model.eval()  # no renormalisation side effect
    tr = triples(5)
    neg = tr.clone().unsqueeze(1).repeat(1, 2, 1)
    neg[:, 0, 2] = (tr[:, 2] + 1) % E
    neg[:, 1, 0] = (tr[:, 0] + 3) % E
    d_pos = -model.score_triples(*tr.T)
    d_neg = -model.score_triples(*neg.reshape(-1, 3).T).view(5, 2)
    q = model.relation_attention()[tr[:, 1]]
    expected = (q.unsqueeze(1) * torch.relu(2.0 + d_pos.unsqueeze(1) - d_neg)).mean()
    assert torch.allclose(model.loss(tr, neg), expected, atol=1e-5)


def _attention_after_fitting(relation_entropy):
    """Fit only eq. 5's parameters on a fixed batch; returns (softmax part of q, loss per relation)."""
    model = make("transfusion0", margin=2.0, relation_entropy=relation_entropy)
    model.eval()
    tr = triples(60)
    tr[:, 1] = torch.arange(60) % R
    neg = tr.clone().unsqueeze(1)
    neg[:, 0, 2] = (tr[:, 2] + 1) % E
    opt = torch.optim.Adam(model.rel_attention.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        model.loss(tr, neg).backward()
        opt.step()
    with torch.no_grad():
        hinge = torch.relu(2.0 - model.score_triples(*tr.T) + model.score_triples(*neg[:, 0].T))
        per_relation = torch.stack([hinge[tr[:, 1] == r].mean() for r in range(R)])
    return model.relation_attention() - 1.0, per_relation


def test_relation_entropy_keeps_attention_from_collapsing():
    literal, per_relation = _attention_after_fitting(0.0)
    regularised, _ = _attention_after_fitting(0.5)
    # eq. 6 as printed drives all weight to the relation with the smallest loss; the entropy bonus
    # keeps a spread ordered the same way
    assert literal.max() > 0.95 and literal.argmax() == per_relation.argmin()
    assert regularised.max() < 0.9
    assert torch.equal(regularised.argsort(), per_relation.argsort(descending=True))
    assert torch.allclose(regularised.sum(), torch.tensor(1.0), atol=1e-5)


def test_training_renormalises_touched_rows():
    model = make("transe")
    model.entities.plain.weight.data.mul_(3.0)
    tr = triples(4)
    neg = tr.clone().unsqueeze(1)
    model.train()
    model.loss(tr, neg)
    used = torch.unique(torch.cat([tr[:, 0], tr[:, 2]]))
    norms = model.entities.plain.weight.norm(dim=1)
    assert torch.allclose(norms[used], torch.ones(len(used)), atol=1e-5)
    others = torch.ones(E, dtype=torch.bool)
    others[used] = False
    assert torch.allclose(norms[others], torch.full((int(others.sum()),), 3.0), atol=1e-4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(variant="nope"), "variant must be one of"),
        (dict(base="distmult"), "base must be one of"),
        (dict(variant="transe", modalities=("vision",)), "uses no modality"),
        (dict(variant="b3"), "at least one modality"),
        (dict(p_norm=3), "p_norm"),
        (dict(adversarial_temperature=-1.0), "adversarial_temperature"),
    ],
)
def test_config_errors_are_clear(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_feature_errors_name_the_modality():
    feats = features()
    with pytest.raises(ValueError, match="'sound'"):
        build_model(ModelConfig(modalities=("sound",)), E, R, feats)
    bad = dict(feats)
    bad["vision"] = (feats["vision"][0].clone(), feats["vision"][1])
    bad["vision"][0][0, 0] = float("nan")
    with pytest.raises(ValueError, match="vision.*NaN"):
        build_model(ModelConfig(modalities=("vision",)), E, R, bad)
