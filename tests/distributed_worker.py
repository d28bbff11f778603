"""Workers of tests/embed/test_distributed.py (spawned processes import them by module name)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from kgtag.embed.distributed import Layout, Ranks, rank_of_heads
from kgtag.embed.config import ModelConfig, TrainConfig
from kgtag.embed.model import build_model
from kgtag.embed.trainer import train

N_VIDEOS, N_CONTENT, N_MUSIC, N_PARENT, R = 240, 6, 4, 2, 3
E = N_VIDEOS + N_CONTENT + N_MUSIC + N_PARENT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def spawn(folder, worker, *args, world=2) -> list[dict]:
    """Run `worker(rank, world, port, folder, *args)` on `world` gloo ranks; each rank's saved result."""
    mp.spawn(worker, args=(world, free_port(), str(folder), *args), nprocs=world, join=True)
    return [torch.load(os.path.join(folder, f"rank{k}.pt"), weights_only=True) for k in range(world)]


def graph(seed=0):
    """Videos with a content tag (r0) and a music tag (r1), content tags with a parent (r2); vision
    sees content, audio music (80 % of videos). Returns (train, valid, test, features, is_video)."""
    g = torch.Generator().manual_seed(seed)
    content = torch.randint(0, N_CONTENT, (N_VIDEOS,), generator=g)
    music = torch.randint(0, N_MUSIC, (N_VIDEOS,), generator=g)
    v = torch.arange(N_VIDEOS)
    c0, m0, p0 = N_VIDEOS, N_VIDEOS + N_CONTENT, N_VIDEOS + N_CONTENT + N_MUSIC
    tr = torch.cat([torch.stack([v, torch.zeros_like(v), c0 + content], 1),
                    torch.stack([v, torch.ones_like(v), m0 + music], 1),
                    torch.tensor([[c0 + c, 2, p0 + c % N_PARENT] for c in range(N_CONTENT)])])
    vision = torch.zeros(E, N_CONTENT)
    vision[v, content] = 1.0
    vision += 0.3 * torch.randn(E, N_CONTENT, generator=g)
    audio = torch.zeros(E, N_MUSIC)
    audio[v, music] = 1.0
    audio += 0.3 * torch.randn(E, N_MUSIC, generator=g)
    is_video = torch.arange(E) < N_VIDEOS
    feats = {"vision": (vision, is_video.clone()), "audio": (audio, is_video & (torch.rand(E, generator=g) < 0.8))}
    held = torch.randperm(N_VIDEOS, generator=g)[:60]  # one r0 triple of 60 videos: 30 valid, 30 test
    mask = torch.zeros(len(tr), dtype=torch.bool)
    mask[held] = True
    return tr[~mask], tr[held[:30]], tr[held[30:]], feats, is_video


def model_for(variant, seed=0):
    _, _, _, feats, _ = graph()
    mods = () if variant == "transe" else ("vision", "audio")
    torch.manual_seed(seed)
    cfg = ModelConfig(variant=variant, modalities=mods, dim=8, hidden=16, p_norm=2, margin=0.5)
    return build_model(cfg, E, R, feats)


def config(**kw):
    return TrainConfig(**{**dict(epochs=8, batch_size=32, lr=0.02, num_negatives=4, side_constrained=True,
                                 device="cpu", num_threads=1, seed=0), **kw})


def eval_args(train_, valid, test, is_video):
    return dict(filter_triples=torch.cat([train_, valid, test]), candidates="relation", constraint_triples=train_,
                range_fallback=(~is_video).nonzero().squeeze(1))


def train_rank(rank, world, port, out, variant, collective, seed, shard=False, full_tables=False):
    """One rank; `shard`: it is given only its own triples and rank 0's Layout of the whole set (as
    a rank that read its own shard from Neo4j), instead of the whole training set. `full_tables`:
    the rank keeps every entity's rows (no rank-local row ids: the trainer's `localize` hook off)."""
    if full_tables:
        Ranks.localize = lambda self, model: None
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=120))
    torch.set_num_threads(1)
    try:
        train_, valid, test, _, is_video = graph()
        model = model_for(variant, seed)
        init = {k: v.clone() for k, v in model.state_dict().items()}
        if shard:
            layout = [Layout.of(train_, E, world, is_video, R) if rank == 0 else None]
            dist.broadcast_object_list(layout, src=0)
            mine = train_[rank_of_heads(train_[:, 0], layout[0].bounds) == rank]
            ranks = Ranks(mine, E, collective=collective, layout=layout[0])
        else:
            ranks = Ranks(train_, E, is_video, collective=collective)
        args = eval_args(train_, valid, test, is_video)
        scores = []

        def valid_fn(m):
            scores.append(ranks.evaluate(m, valid, **args)["filtered"]["mrr"])
            return scores[-1]

        result = train(model, ranks.part(train_), config(seed=seed), dist=ranks, progress=False, valid=valid_fn)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        metrics = ranks.evaluate(model, test, **args)
        after = None if full_tables else ranks.consolidate(model)
        torch.save({"init": init, "before": before, "after": after, "metrics": metrics, "held": ranks.held(),
                    "losses": result.losses, "valid": result.valid, "owner": ranks.owner,
                    "traffic": vars(ranks.traffic), "n": len(ranks.part(train_))}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def train_rank_small_caps(rank, world, port, out, variant):
    """`train_rank` (sparse exchange) with caps below every step's count: each step's first gather
    is too small and the rest goes in the second gather (Exchange._overflow)."""
    from kgtag.embed.distributed import Exchange

    Exchange.HEADROOM = 0.5
    train_rank(rank, world, port, out, variant, "sparse", 0)
