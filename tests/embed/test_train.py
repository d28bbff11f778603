"""The trainer: every variant learns, seeded runs repeat, checkpoints resume exactly, early stopping."""

from __future__ import annotations

import pytest
import torch

from kgtag.embed import checkpoint as ckpt
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import TrainConfig, model_preset, preset
from kgtag.embed.trainer import train

N_VIDEOS, N_TAGS, R = 48, 12, 3
E = N_VIDEOS + N_TAGS


def video_kg(seed=0):
    """Videos 0..47 with a content class (tags 48..51) and a music class (tags 52..55); tag-tag
    edges (r2) from content tags to a parent (56..57). Vision sees content, audio sees music."""
    g = torch.Generator().manual_seed(seed)
    content = torch.randint(0, 4, (N_VIDEOS,), generator=g)
    music = torch.randint(0, 4, (N_VIDEOS,), generator=g)
    v = torch.arange(N_VIDEOS)
    tr = torch.cat([
        torch.stack([v, torch.zeros_like(v), N_VIDEOS + content], 1),
        torch.stack([v, torch.ones_like(v), N_VIDEOS + 4 + music], 1),
        torch.tensor([[N_VIDEOS + c, 2, N_VIDEOS + 8 + c % 2] for c in range(4)]),
    ])
    vision = torch.zeros(E, 10)
    vision[v, content] = 1.0
    vision += 0.1 * torch.randn(E, 10, generator=g)
    audio = torch.zeros(E, 6)
    audio[v, music] = 1.0
    audio += 0.1 * torch.randn(E, 6, generator=g)
    is_video = torch.arange(E) < N_VIDEOS
    audio_present = is_video & (torch.rand(E, generator=g) < 0.8)
    feats = {"vision": (vision, is_video.clone()), "audio": (audio, audio_present)}
    return tr, feats


def model_for(variant="transfusion", base="transe", modalities=("vision", "audio"), seed=0, **kw):
    if variant in ("transe", "transfusion0"):
        modalities = ()
    _, feats = video_kg()
    torch.manual_seed(seed)
    cfg = ModelConfig(variant=variant, base=base, modalities=modalities, dim=8, hidden=16, **kw)
    return build_model(cfg, E, R, feats)


def quick(**kw) -> TrainConfig:
    base = dict(epochs=6, batch_size=32, lr=0.02, num_negatives=2, device="cpu", num_threads=1)
    return TrainConfig(**{**base, **kw})


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "variant,base",
    [("transe", "transe"), ("transfusion", "transe"), ("transfusion0", "transe"), ("b1", "transe"),
     ("b2", "transe"), ("b3", "transe"), ("transfusion", "transh"), ("transfusion", "transr"),
     ("transfusion", "transd"), ("transe", "transd")],
)
def test_each_variant_trains_with_decreasing_loss(variant, base):
    tr, _ = video_kg()
    model = model_for(variant, base)
    result = train(model, tr, quick(epochs=8), progress=False)
    assert result.epochs == 8 and len(result.losses) == 8
    assert result.losses[-1] < 0.8 * result.losses[0], result.losses
    assert not model.training


def test_seeded_runs_repeat_and_seeds_matter():
    tr, _ = video_kg()
    runs = []
    for seed in (0, 0, 1):
        model = model_for()
        train(model, tr, quick(epochs=2, seed=seed, sampler="bernoulli"), progress=False)
        runs.append(weights(model))
    assert same(runs[0], runs[1])
    assert not same(runs[0], runs[2])


def test_resume_continues_exactly(tmp_path):
    tr, _ = video_kg()
    rejected = torch.tensor([[0, 0, N_VIDEOS + 3], [1, 1, N_VIDEOS + 7]])
    cfg = quick(epochs=4, sampler="bernoulli", type_constrained=1.0, filter_known=True)
    straight = model_for()
    r_straight = train(straight, tr, cfg, known_negatives=rejected, progress=False)

    first = model_for()
    train(first, tr, quick(**{**cfg.to_dict(), "epochs": 2}), checkpoint_dir=tmp_path, known_negatives=rejected,
          progress=False, metadata={"entities": [f"e{i}" for i in range(E)]})
    resumed = model_for(seed=123)  # different init: everything must come from the checkpoint
    r_resumed = train(resumed, tr, cfg, checkpoint_dir=tmp_path, resume=True, known_negatives=rejected, progress=False)
    assert same(weights(straight), weights(resumed))
    assert r_resumed.epochs == 4 and r_resumed.losses == r_straight.losses
    state = ckpt.load(tmp_path)
    assert state["metadata"]["entities"][3] == "e3"
    assert state["result"]["epochs"] == 4


def test_interrupt_leaves_the_last_epoch_resumable(tmp_path):
    tr, _ = video_kg()
    cfg = quick(epochs=4)
    straight = model_for()
    train(straight, tr, cfg, progress=False)

    def interrupt_at_three(model):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return 0.0

    calls: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        train(model_for(), tr, quick(epochs=4, restore_best=False), checkpoint_dir=tmp_path,
              valid=interrupt_at_three, progress=False)
    assert ckpt.load(tmp_path)["result"]["epochs"] == 2
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left (pathlib's glob matches dot files)
    resumed = model_for()
    train(resumed, tr, cfg, checkpoint_dir=tmp_path, resume=True, progress=False)
    assert same(weights(straight), weights(resumed))


def test_early_stopping_restores_the_best_epoch(tmp_path):
    tr, _ = video_kg()
    scores = iter([0.1, 0.3, 0.2, 0.25, 0.9])
    model = model_for()
    result = train(model, tr, quick(epochs=10, patience=2), checkpoint_dir=tmp_path,
                   valid=lambda m: next(scores), progress=False)
    assert result.stopped_early and result.epochs == 4
    assert result.best_epoch == 2 and result.best_valid == 0.3
    assert result.valid == [(1, 0.1), (2, 0.3), (3, 0.2), (4, 0.25)]
    two = model_for()
    train(two, tr, quick(epochs=2), progress=False)
    assert same(weights(model), weights(two))


def test_early_stopping_without_checkpoint_dir_keeps_best_in_memory():
    tr, _ = video_kg()
    scores = iter([0.5, 0.1, 0.1])
    model = model_for("transe")
    result = train(model, tr, quick(epochs=3, patience=5), valid=lambda m: next(scores), progress=False)
    assert result.best_epoch == 1 and not result.stopped_early
    one = model_for("transe")
    train(one, tr, quick(epochs=1), progress=False)
    assert same(weights(model), weights(one))


def test_load_model_rebuilds_the_trained_model(tmp_path):
    tr, feats = video_kg()
    model = model_for("transfusion", "transh")
    train(model, tr, quick(epochs=2), checkpoint_dir=tmp_path, progress=False)
    loaded, state = ckpt.load_model(tmp_path / "last.pt", feats)
    h, r = tr[:5, 0], tr[:5, 1]
    with torch.no_grad():
        assert torch.equal(loaded.score_tails(h, r), model.score_tails(h, r))
    assert state["train_config"]["epochs"] == 2


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        ckpt.load(tmp_path)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError, match="cannot read"):
        ckpt.load(tmp_path)


def test_presets():
    paper = preset("paper")
    assert (paper.epochs, paper.batch_size, paper.lr, paper.num_negatives) == (100, 100, 1e-4, 1)
    assert model_preset("paper")["dim"] == 64 and model_preset("paper")["hidden"] == 256
    fast = preset("fast", epochs=3)
    assert fast.epochs == 3 and fast.batch_size > paper.batch_size and fast.lr > paper.lr
    with pytest.raises(ValueError, match="unknown preset"):
        preset("slow")


def test_bad_input_is_refused_clearly():
    tr, _ = video_kg()
    bad = tr.clone()
    bad[0, 2] = E + 5
    with pytest.raises(ValueError, match="out of range"):
        train(model_for(), bad, quick(epochs=1), progress=False)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        train(model_for(), tr, quick(epochs=1), resume=True, progress=False)


def test_progress_display_runs(capsys):
    tr, _ = video_kg()
    train(model_for("transe"), tr, quick(epochs=2), progress=True)
    captured = capsys.readouterr()
    assert "epoch 2: loss" in captured.err and captured.out == ""  # on stderr: stdout stays for --json


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)")
def test_cuda_training_scores_and_resume(tmp_path):
    tr, feats = video_kg()
    cfg = quick(epochs=4, device="cuda", sampler="bernoulli", filter_known=True, type_constrained=1.0)
    straight = model_for()
    result = train(straight, tr, cfg, progress=False)
    assert result.losses[-1] < result.losses[0]
    assert straight.entities.plain.weight.device.type == "cuda"
    h, r, t = tr[:6].cuda().T
    with torch.no_grad():
        s = straight.score_triples(h, r, t)
        tails = straight.score_tails(h, r)
    assert torch.allclose(tails[torch.arange(6, device="cuda"), t], s, atol=1e-4)
    train(model_for(), tr, quick(**{**cfg.to_dict(), "epochs": 2}), checkpoint_dir=tmp_path, progress=False)
    resumed = model_for(seed=5)
    train(resumed, tr, cfg, checkpoint_dir=tmp_path, resume=True, progress=False)
    a, b = weights(straight), weights(resumed)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    amp = model_for()
    assert train(amp, tr, quick(epochs=3, device="cuda", amp=True), progress=False).losses[-1] < 1.5
