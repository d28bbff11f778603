"""Speed-related parts of the fusion: the hand-written attention energy, PCA-reduced features."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kgtag.embed.attention import Energy
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model

E, R = 60, 4
DIMS = {"vision": 20, "audio": 5, "text": 12}


def features(seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for m, d in DIMS.items():
        present = torch.rand(E, generator=g) < 0.8
        present[50:] = False  # entities 50.. are tags
        out[m] = (torch.randn(E, d, generator=g) @ torch.randn(d, d, generator=g), present)
    return out


def make(feats, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(variant="transfusion", modalities=tuple(DIMS), dim=8, hidden=16, **kw)
    return build_model(cfg, E, R, feats).eval()  # eval: scores without the training-time z_K dropout


def test_energy_matches_autograd_reference():
    torch.manual_seed(0)
    energy = Energy(8, 16).double()
    x = torch.randn(5, 3, 8, dtype=torch.double, requires_grad=True)
    g = torch.randn(5, 3, dtype=torch.double)
    ref = energy.a(torch.tanh(energy.V(x))).squeeze(-1)
    grads_ref = torch.autograd.grad(ref, [x, energy.V.weight, energy.a.weight], g)
    out = energy(x)
    grads = torch.autograd.grad(out, [x, energy.V.weight, energy.a.weight], g)
    assert torch.allclose(out, ref)
    for a, b in zip(grads, grads_ref):
        assert torch.allclose(a, b)
    assert torch.autograd.gradcheck(energy, (x,))


def test_feature_dims_reduces_wide_modalities_only():
    feats = features()
    model = make(feats, feature_dims=8)
    ent = model.entities
    assert ent.proj["vision"].in_features == 8 and ent.proj["text"].in_features == 8
    assert ent.proj["audio"].in_features == 5  # already narrower: left as it is
    assert set(ent.variance_kept) == {"vision", "text"}
    assert all(0 < v < 1 for v in ent.variance_kept.values())
    # eq. 1 on the reduced features: z = ELU(((e - mean) U) W + b), zero rows where missing
    x, present = feats["vision"]
    rows = x[ent.fused]
    keep = present[ent.fused]
    mean = rows[keep].mean(0)
    reduced = (rows - mean) @ ent.basis_vision
    assert torch.allclose(ent.feat_vision[keep], reduced[keep], atol=1e-4)
    assert (ent.feat_vision[~keep] == 0).all()
    # the basis is orthonormal and the leading direction carries the most variance
    assert torch.allclose(ent.basis_vision.T @ ent.basis_vision, torch.eye(8), atol=1e-5)
    var = reduced[keep].var(0)
    assert var[0] >= var[-1]


def test_feature_dims_default_off():
    model = make(features())
    assert model.entities.variance_kept == {}
    assert model.entities.proj["vision"].in_features == DIMS["vision"]


def test_reduced_model_round_trips_even_with_a_flipped_basis():
    feats = features()
    model = make(feats, feature_dims=8)
    with torch.no_grad():
        for p in model.entities.proj.parameters():
            p.add_(torch.randn_like(p))
    state = model.state_dict()
    h, r = torch.arange(0, 50, 5), torch.zeros(10, dtype=torch.long)
    with torch.no_grad():
        ref = model.score_tails(h, r)
    again = make(feats, feature_dims=8)
    # Another machine could pick other eigenvector signs: the saved basis wins, scores stay.
    flip = torch.tensor([1.0, -1.0] * 4)
    again.entities.basis_vision.mul_(flip)
    again.entities.feat_vision.mul_(flip)
    again.load_state_dict(state)
    assert torch.equal(again.entities.basis_vision, model.entities.basis_vision)
    with torch.no_grad():
        assert torch.allclose(again.score_tails(h, r), ref, atol=1e-4)


def test_reduced_model_refuses_other_features():
    model = make(features(0), feature_dims=8)
    other = make(features(1), feature_dims=8)
    with pytest.raises(RuntimeError, match="PCA subspace"):
        other.load_state_dict(model.state_dict())


def test_feature_dims_must_be_positive():
    with pytest.raises(ValueError, match="feature_dims"):
        ModelConfig(variant="transfusion", modalities=("vision",), feature_dims=0)


def test_reduced_model_trains():
    from kgtag.embed.config import TrainConfig
    from kgtag.embed.trainer import train

    feats = features()
    model = make(feats, feature_dims=8)
    g = torch.Generator().manual_seed(0)
    trip = torch.stack([torch.randint(0, E, (200,), generator=g), torch.randint(0, R, (200,), generator=g),
                        torch.randint(0, E, (200,), generator=g)], 1)
    before = model.entities.proj["vision"].weight.detach().clone()
    frozen = model.entities.feat_vision.clone()
    res = train(model, trip, TrainConfig(epochs=3, batch_size=50, lr=1e-2, num_threads=1), progress=False)
    assert res.losses[-1] < res.losses[0]
    assert not torch.equal(model.entities.proj["vision"].weight, before)
    assert torch.equal(model.entities.feat_vision, frozen)
    assert F.mse_loss(model.entities.feat_vision, frozen) == 0


def test_feature_rows_gather_float32_rows_and_zero_absent_ones():
    from kgtag.embed.feature_rows import FeatureRows

    matrix = torch.arange(12, dtype=torch.float16).reshape(4, 3)
    matrix[2] = float("nan")  # an absent row may hold anything
    rows = FeatureRows(matrix, torch.tensor([True, True, False, True]))
    out = rows.gather(torch.tensor([3, 2, 0]))
    assert out.dtype == torch.float32 and out.shape == (3, 3)
    assert out[0].tolist() == [9.0, 10.0, 11.0] and out[1].tolist() == [0.0, 0.0, 0.0] and out[2].tolist() == [0.0, 1.0, 2.0]
    rows.check_finite("x")  # the NaN is in an absent row
    matrix[1, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        rows.check_finite("x")
    assert rows.to("cpu") is rows and rows.device.type == "cpu"
