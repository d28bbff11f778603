"""The training loop: shuffled mini-batches, vectorised negatives, eq. 6 loss, row-wise Adam.

`train(model, triples, config)` runs `config.epochs` epochs (Algorithm 1 lines 6-14): each batch is
renormalised where the base asks for it (inside `KGModel.loss`), corrupted by the
`NegativeSampler`, scored, and the rows it used are updated (`rows.Optimizer`). After every epoch
it writes a checkpoint (when given a directory), optionally validates (`valid(model) -> float`,
higher is better, e.g. filtered MRR) and stops early after `patience` epochs without improvement.
`resume=True` continues from the directory's checkpoint exactly where it stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch

from kgtag.errors import InvalidConfig
from kgtag.progress import progress_bar

from . import checkpoint as ckpt
from .config import TrainConfig
from .model import KGModel
from .rows import Optimizer
from .sampling import NegativeSampler


@dataclass
class TrainResult:
    epochs: int  # epochs completed in total (including those before a resume)
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    valid: list[tuple[int, float]] = field(default_factory=list)  # (epoch, score)
    best_epoch: int | None = None
    best_valid: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0  # wall-clock of this call
    triples_per_s: float = 0.0  # positives per second in this call
    checkpoint: Path | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidConfig("device 'cuda' asked for, but PyTorch sees no CUDA device")
    return dev


def train(
    model: KGModel,
    triples: torch.Tensor,
    config: TrainConfig,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    valid: Callable[[KGModel], float] | None = None,
    known_negatives: torch.Tensor | None = None,
    progress: bool = True,
    metadata: dict | None = None,
    dist=None,
) -> TrainResult:
    """Train `model` on `triples` (LongTensor[N, 3] of h, r, t ids); returns a TrainResult.

    checkpoint_dir: where `last.pt` (every epoch) and `best.pt` (best validation) go.
    resume: continue from `checkpoint_dir/last.pt` (the config's epochs is the total to reach).
    valid: `valid(model) -> float`, higher is better; enables early stopping with `patience`.
    known_negatives: LongTensor[K, 3] of rejected edges mixed into the negatives.
    metadata: stored in every checkpoint (id maps, run id, ...); a resume without it keeps the old.
    Ctrl-C stops at once; the last completed epoch's checkpoint stays valid for `resume`.
    dist: None (one process), or an `embed.distributed.Ranks` when this is one rank of a process
    group: `triples` is then the rank's partition, and the hooks below (all skipped when None) cut
    the model to the rank's rows (`localize`: its tables and moments sized to its partition),
    exchange gradients, restrict negatives, split batches and name checkpoints per rank.
    """
    if triples.dim() != 2 or triples.shape[1] != 3 or triples.shape[0] == 0:
        raise ValueError(f"triples must be a non-empty [N, 3] tensor, got {tuple(triples.shape)}")
    device = resolve_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.num_threads or os.cpu_count() or 1)
    if dist is not None:
        dist.localize(model)  # one rank of several: only its own rows and the shared ones from here on
    model.to(device)
    triples = triples.long().to(device)
    n = triples.shape[0]
    _check_ids(triples, model)
    # Videos in no training triple (cold start) have no knowledge: their z_K is held at zero, so
    # their fused vector comes from their modalities (they still serve as random negatives).
    every = triples if dist is None else dist.known_triples().to(device)  # known rows (sampler)
    if dist is None:
        seen = torch.zeros(model.num_entities, dtype=torch.bool, device=device)
        seen[every[:, 0]] = True
        seen[every[:, 2]] = True
    else:  # the whole graph's, also where this rank holds only its shard
        seen = dist.layout.seen.to(device)
    model.entities.set_known_(seen)

    sampler = NegativeSampler(
        every, model.num_entities, model.num_relations,
        num_negatives=config.num_negatives, strategy=config.sampler,
        type_constrained=config.type_constrained, filter_known=config.filter_known,
        side_constrained=config.side_constrained,
        known_negatives=known_negatives, known_negative_rate=config.known_negative_rate,
        seed=config.seed + 1 + (0 if dist is None else dist.seed_offset), device=device,
        **({} if dist is None else dist.sampler_args(device)),
    )
    shuffle = torch.Generator(device=device)
    shuffle.manual_seed(config.seed + (0 if dist is None else dist.seed_offset))
    opt = Optimizer(model, lr=config.lr, dense_lr=config.dense_lr, exchange=None if dist is None else dist.exchange(model))
    last_name, best_name = (ckpt.FILENAME, ckpt.BEST) if dist is None else (dist.file(ckpt.FILENAME), dist.file(ckpt.BEST))
    result = TrainResult(epochs=0)
    bad_epochs = 0
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None

    if resume:
        if ckdir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        # RNG states must stay CPU byte tensors; weights and moments are copied onto the device.
        state = ckpt.load(ckdir / last_name, map_location="cpu")
        ckpt.load_weights(model, state)
        opt.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        shuffle.set_state(state["shuffle"])
        torch.set_rng_state(state["torch_rng"])
        result = TrainResult(**{**state["result"], "checkpoint": ckdir / last_name})
        bad_epochs = state["bad_epochs"]
        if metadata is None:
            metadata = state.get("metadata")

    def save(path: Path) -> None:
        ckpt.save(path, {
            **ckpt.model_state(model),
            "optimizer": opt.state_dict(), "sampler": sampler.state_dict(), "shuffle": shuffle.get_state(),
            "torch_rng": torch.get_rng_state(), "train_config": config.to_dict(),
            "result": {f.name: getattr(result, f.name) for f in fields(result) if f.name != "checkpoint"},
            "bad_epochs": bad_epochs, "metadata": metadata or {},
        })

    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp)
    started, seen, shown = time.perf_counter(), 0, 0.0
    best_state = None
    model.train()
    with progress_bar("epoch {task.fields[epoch]}/" + str(config.epochs), (config.epochs - result.epochs) * n,
                      show=progress and (dist is None or dist.rank == 0), unit="triples", transient=False,
                      columns=("loss {task.fields[loss]}", "{task.fields[rate]} triples/s"),
                      epoch=result.epochs + 1, loss="-", rate="-") as bar:
        for epoch in range(result.epochs, config.epochs):
            perm = torch.randperm(n, generator=shuffle, device=device)
            total = torch.zeros((), device=device)
            batches = 0
            for i, j in (_batches(n, config.batch_size) if dist is None else dist.batches(n, config.batch_size)):
                pos = triples.index_select(0, perm[i:j])
                neg = sampler.sample(pos)
                opt.zero_grad()  # before the forward: it also forgets rows handed out earlier
                with amp:
                    loss = model.loss(pos, neg)
                loss.backward()
                opt.step()
                total += loss.detach()
                batches += 1
                seen += pos.shape[0]
                elapsed = time.perf_counter() - started
                if elapsed - shown < 0.25:  # the loss read syncs with the device: a few times a second only
                    bar.advance(pos.shape[0])
                else:
                    shown = elapsed
                    bar.advance(pos.shape[0], loss=f"{float(total) / batches:.4f}", rate=f"{seen / elapsed:,.0f}")
            result.losses.append(float(total) / max(batches, 1) if dist is None else dist.mean(float(total) / max(batches, 1)))
            result.epochs = epoch + 1

            improved = False
            if valid is not None and (result.epochs % config.valid_every == 0 or result.epochs == config.epochs):
                model.eval()
                with torch.no_grad():
                    score = float(valid(model))
                model.train()
                result.valid.append((result.epochs, score))
                if result.best_valid is None or score > result.best_valid:
                    result.best_valid, result.best_epoch, bad_epochs, improved = score, result.epochs, 0, True
                else:
                    bad_epochs += 1
                if improved and config.restore_best:
                    if ckdir is not None:
                        save(ckdir / best_name)
                    else:
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if config.patience is not None and bad_epochs >= config.patience:
                    result.stopped_early = True
            if ckdir is not None:
                save(ckdir / last_name)
                result.checkpoint = ckdir / last_name
            checked = f"  valid {result.valid[-1][1]:.4f}" if result.valid and result.valid[-1][0] == result.epochs else ""
            bar.log(f"epoch {result.epochs}: loss {result.losses[-1]:.4f}{checked}")
            bar.advance(0, epoch=min(result.epochs + 1, config.epochs))
            if result.stopped_early:
                break

    if valid is not None and config.restore_best and result.best_epoch not in (None, result.epochs):
        if ckdir is not None and (ckdir / best_name).exists():
            ckpt.load_weights(model, ckpt.load(ckdir / best_name, map_location="cpu"))
        elif best_state is not None:
            model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    result.triples_per_s = seen / result.seconds if result.seconds > 0 else 0.0
    return result


def _batches(n: int, batch_size: int):
    """(start, stop) of each mini-batch of a shuffled epoch."""
    return ((i, min(i + batch_size, n)) for i in range(0, n, batch_size))


def _check_ids(triples: torch.Tensor, model: KGModel) -> None:
    lo = int(triples.min())
    e_max = int(torch.maximum(triples[:, 0].max(), triples[:, 2].max()))
    r_max = int(triples[:, 1].max())
    if lo < 0 or e_max >= model.num_entities or r_max >= model.num_relations:
        raise ValueError(
            f"triple ids out of range: entities must be < {model.num_entities} (max {e_max}), "
            f"relations < {model.num_relations} (max {r_max}), none negative"
        )

