"""Stateless interactions (TransE/H/R/D) against their papers' formulas; parameters in the representations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kgtag.embed.interactions import INTERACTIONS, Entities, Relations, make_interaction
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.rows import Optimizer
from kgtag.embed.variants import BASES

N, D, C = 6, 5, 7


def _rel(base: str, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Random parameters of 2 relations in the layout of relations.RelationRepresentation."""
    rel = {"r": torch.randn(2, D, generator=g)}
    if base == "transh":
        rel["w"] = torch.randn(2, D, generator=g)
    if base == "transr":
        rel["m"] = torch.randn(2, D, D, generator=g)
    if base == "transd":
        rel["rp"] = torch.randn(2, D, generator=g)
    return rel


def _naive(base, h, hp, rel, t, tp, p):
    """d(h, r, t) written straight from each paper's definition, one row at a time."""
    out = []
    for i in range(h.shape[0]):
        r = {k: v[i] for k, v in rel.items()}
        if base == "transe":
            ph, pt = h[i], t[i]
        elif base == "transh":  # Wang et al. 2014: e - (w.e) w, ||w|| = 1
            w = r["w"] / r["w"].norm()
            ph, pt = h[i] - (w @ h[i]) * w, t[i] - (w @ t[i]) * w
        elif base == "transr":  # Lin et al. 2015: e M_r
            ph, pt = h[i] @ r["m"], t[i] @ r["m"]
        else:  # Ji et al. 2015: (r_p e_p^T + I) e
            eye = torch.eye(D)
            ph = (torch.outer(r["rp"], hp[i]) + eye) @ h[i]
            pt = (torch.outer(r["rp"], tp[i]) + eye) @ t[i]
        out.append((ph + r["r"] - pt).norm(p=p))
    return torch.stack(out)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("base", BASES)
def test_distance_and_candidate_scores_match_the_papers_formulas(base, p):
    g = torch.Generator().manual_seed(0)
    rel_u = _rel(base, g)
    inv = torch.randint(0, 2, (N,), generator=g)
    h, hp, t, tp = (torch.randn(N, D, generator=g) for _ in range(4))
    if base != "transd":
        hp = tp = None
    f = make_interaction(base, p)
    rows = {k: v[inv] for k, v in rel_u.items()}
    expected = _naive(base, h, hp, rows, t, tp, p)
    assert torch.allclose(f.distance(Entities(h, hp), Relations(rel_u, inv), Entities(t, tp)), expected, atol=1e-4)
    stacked = Entities(torch.stack([h, t]), None if hp is None else torch.stack([hp, tp]))
    assert torch.allclose(f.pair_distance(stacked, Relations(rel_u, inv)), expected, atol=1e-4)

    # Candidates: every c against every query, on both sides, equals the naive distance.
    c, cp = torch.randn(C, D, generator=g), (torch.randn(C, D, generator=g) if base == "transd" else None)
    tails = f.score_candidates(Entities(h, hp), Relations(rel_u, inv), Entities(c, cp), "tail")
    heads = f.score_candidates(Entities(t, tp), Relations(rel_u, inv), Entities(c, cp), "head")
    for j in range(C):
        cj = c[j].expand(N, D)
        cpj = None if cp is None else cp[j].expand(N, D)
        assert torch.allclose(tails[:, j], -_naive(base, h, hp, rows, cj, cpj, p), atol=1e-4)
        assert torch.allclose(heads[:, j], -_naive(base, cj, cpj, rows, t, tp, p), atol=1e-4)


def test_interactions_hold_no_parameters():
    for base in BASES:
        f = make_interaction(base, 2)
        assert vars(f) == {"p_norm": 2}, base
        assert not isinstance(f, torch.nn.Module)
    assert tuple(INTERACTIONS) == BASES
    with pytest.raises(ValueError, match="transq"):
        make_interaction("transq", 1)


def _model(base="transd"):
    torch.manual_seed(0)
    feats = {"vision": (torch.randn(10, 4), torch.arange(10) < 5)}
    cfg = ModelConfig(variant="transfusion", base=base, modalities=("vision",), dim=4, hidden=8)
    return build_model(cfg, 10, 3, feats)


def test_parameters_live_in_the_representations_in_checkpoint_order():
    model = _model("transd")
    keys = set(model.state_dict())
    assert not any(k.startswith("interaction.") for k in keys)
    assert {"relations.r.weight", "relations.rp.weight", "entity_proj.weight"} <= keys
    # RowAdam's moments are saved as a list in this order: it must not change between versions.
    tables = Optimizer(model, lr=0.1).rows.tables
    expected = [model.entities.plain, model.entities.z_k, model.relations.r, model.relations.rp, model.entity_proj]
    assert [id(t) for t in tables] == [id(t) for t in expected]


@pytest.mark.parametrize("base", ["transd", "transh"])
def test_weights_saved_with_the_old_interaction_keys_still_load(base):
    model = _model(base)
    with torch.no_grad():
        model.relations.r.weight.add_(1.0)
    old = {}
    for k, v in model.state_dict().items():  # the layout before relations moved out of the interaction
        k = k.replace("relations.", "interaction.").replace("entity_proj.", "interaction.entity_extra.")
        old[k] = v
    assert any(k.startswith("interaction.") for k in old)
    fresh = _model(base)
    fresh.load_state_dict(old)
    model.eval(), fresh.eval()  # scoring, not a training forward (no z_K dropout draws)
    tr = torch.tensor([[0, 1, 7], [6, 2, 8]])
    assert torch.equal(fresh.score_triples(*tr.T), model.score_triples(*tr.T))


def test_transh_normalises_its_hyperplane_normal():
    """A scaled w_r gives the same distance: TransH's w_r is a direction (||w_r|| = 1)."""
    g = torch.Generator().manual_seed(1)
    rel = _rel("transh", g)
    h, t = torch.randn(N, D, generator=g), torch.randn(N, D, generator=g)
    inv = torch.zeros(N, dtype=torch.long)
    f = make_interaction("transh", 2)
    d1 = f.distance(Entities(h), Relations(rel, inv), Entities(t))
    d2 = f.distance(Entities(h), Relations({**rel, "w": 3 * rel["w"]}, inv), Entities(t))
    assert torch.allclose(d1, d2, atol=1e-5)
    w = F.normalize(rel["w"][:1], dim=-1)
    assert torch.allclose(f.project(h, None, {"w": w.expand(N, D)}) @ w.T, torch.zeros(N, 1), atol=1e-5)
