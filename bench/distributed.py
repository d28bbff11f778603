"""Data-parallel training on torch.distributed (gloo, local ranks): throughput, bytes moved, quality.

    .venv/bin/python bench/distributed.py [--videos 20000] [--epochs 1] [--quality-seeds 0,1,2]
                                          [--quality-epochs 5] [--collectives auto,sparse,dense]

One `topic.generate(seed=0, n_videos=N)` graph, written once and read by every process, no Neo4j.
For TransE and TransFusion-VAT (vision, audio, text) with the `fast` preset:

- throughput: training positives per second over `--epochs` epochs (no validation), at 1 rank x 2
  threads, 1 rank x 1 thread and 2 ranks x 1 thread (each configuration in fresh spawned processes;
  a rank's rate = its partition's positives / its wall time, the group's = all positives / the
  slowest rank's time). Scaling efficiency = rate(2 x 1) / (2 x rate(1 x 1)).
- `--collectives none`: 2 ranks x 1 thread with the same partition, steps and batches but no
  gradient exchange at all (the shared rows drift apart: not a model, only the ceiling of the
  throughput two ranks can reach on the machine without any collective).
- bytes each rank puts into collectives per step (the one buffer of a step: its row part and its
  dense part) and the collectives per step (one; two on a step past a cap), for each
  collective of `--collectives`, next to the sizes of the shared row tables, the dense parameters
  and the whole model.
- peak RSS of each rank's process (the largest is printed), after training and consolidation.
- quality: filtered tail MRR among the relation's range (protocol of kgtag train: candidates = tails
  seen with r in training, all tags where r has none; filter = train + valid + test) on the valid
  split and on a seeded sample of at most 1,000 test triples per relation, 1 rank vs 2 ranks, per seed.

- memory (`--memory`): peak RSS of each rank (VmHWM) 1 rank vs 2 ranks on the same graph, the way
  `kgtag train --procs` holds it: each rank gets only its head range's triples and rank 0's Layout, and
  memory-maps the feature rows of its shard (its videos and the shared entities; one process maps the
  whole matrix, as the run cache); the rank then builds the model, trains `--steps` steps (every
  epoch is cut after that many steps: the peak of set-up plus a few steps, not a whole epoch), runs one
  validation (the distributed evaluation, which computes the vectors of every entity the rank holds)
  and consolidates (rank 0 assembles the whole model). Printed per rank: the peak RSS (VmHWM) and
  each phase's own peak (VmHWM started again at each phase: set-up, steps, validation, consolidation),
  and the bytes of its row tables, their Adam moments, its features and its triples. `--full-tables`:
  every rank holds every entity's rows, as before rank-local row ids (the comparison).

Timings depend on the machine's load: the load average is printed with each line.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import resource
import socket
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from kgtag.embed.distributed import Ranks, rank_of_heads, table_owners
from kgtag.embed.rows import RowTable
from kgtag.embed.config import ModelConfig, model_preset, preset
from kgtag.embed.model import build_model
from kgtag.embed.ranking import evaluate
from kgtag.embed.trainer import train
from kgtag.runs.evaluate import candidate_args, sample_per_relation
from kgtag.synthetic import topic

MODELS = {"TransE": ("transe", ()), "TransFusion-VAT": ("transfusion", ("vision", "audio", "text"))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(kg, variant, mods, seed):
    torch.manual_seed(seed)
    return build_model(ModelConfig(variant=variant, modalities=mods, **model_preset("fast")),
                       len(kg["is_video"]), kg["num_relations"], kg["features"])


def worker(rank, world, port, graph, variant, mods, threads, epochs, seed, collective, out):
    torch.set_num_threads(threads)
    kg = torch.load(graph, weights_only=False)
    model = build(kg, variant, mods, seed)
    config = preset("fast", seed=seed, device="cpu", num_threads=threads, epochs=epochs)
    ranks = None
    if world > 1:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=600))
        ranks = Ranks(kg["train"], len(kg["is_video"]), kg["is_video"], collective="auto" if collective == "none" else collective)
        if collective == "none":  # the ceiling: the same ranks, steps and batches, nothing exchanged
            ranks.exchange = lambda model: None
    part = kg["train"] if ranks is None else ranks.part(kg["train"])
    started = time.perf_counter()
    result = train(model, part, config, progress=False, dist=ranks)
    seconds = time.perf_counter() - started
    row = {"n": len(part), "seconds": seconds, "steps": 0, "rows": 0, "dense": 0,
           "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    state = model.state_dict()
    if ranks is not None:
        row.update(vars(ranks.traffic))
        state = ranks.consolidate(model)  # the whole model, on rank 0
        dist.destroy_process_group()
    if rank == 0:
        row["state"] = state
        row["losses"] = result.losses
    torch.save(row, Path(out) / f"rank{rank}.pt")


def run(graph, world, variant, mods, threads, epochs, seed, collective="auto"):
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(worker, args=(world, free_port(), graph, variant, mods, threads, epochs, seed, collective, out),
                 nprocs=world, join=True)
        rows = [torch.load(Path(out) / f"rank{k}.pt", weights_only=False) for k in range(world)]
    return rows


def quality(kg, state, variant, mods, seed):
    model = build(kg, variant, mods, seed)
    model.load_state_dict(state)
    train(model, kg["train"], preset("fast", epochs=0, device="cpu"), progress=False)  # known rows as trained
    known = torch.cat([kg["train"], kg["valid"], kg["test"]])
    args = candidate_args("range", kg["is_video"], kg["train"])
    v = evaluate(model, kg["valid"], filter_triples=known, **args)["filtered"]["mrr"]
    t = evaluate(model, sample_per_relation(kg["test"], 1000), filter_triples=known, **args)["filtered"]["mrr"]
    return v, t


def sizes(kg, variant, mods, world):
    """Bytes of the shared row tables, the dense parameters and the whole model (float32)."""
    model = build(kg, variant, mods, 0)
    r = Ranks(kg["train"], len(kg["is_video"]), kg["is_video"], rank=0, world=world)
    shared = sum(int((own == -1).sum()) * t.weight[0].numel() * 4 for t, own in table_owners(model, r.owner))
    tables = {id(t.weight) for t, _ in table_owners(model, r.owner)}
    dense = sum(p.numel() * 4 for p in model.parameters() if id(p) not in tables)
    total = sum(p.numel() * 4 for p in model.parameters())
    return shared, dense, total


def vm(field: str) -> float:
    """VmHWM (peak RSS) or VmRSS of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux: clear_refs 5), to measure one phase's peak."""
    Path("/proc/self/clear_refs").write_text("5")


def write_shards(kg, folder: Path, world: int) -> None:
    """Per rank: its training triples and the feature rows of its shard (the rows it may read), as
    kgtag.runs.shard writes them; world 1: every triple and the whole matrices (the run cache)."""
    from kgtag.embed.distributed import Layout

    layout = Layout.of(kg.train, kg.num_entities, world, kg.is_video, kg.num_relations)
    torch.save(layout, folder / f"layout{world}.pt")
    for k in range(world):
        heads = rank_of_heads(kg.train[:, 0], layout.bounds) == k
        np.save(folder / f"w{world}r{k}_train.npy", kg.train[heads].numpy())
        visible = ((layout.owner == -1) | (layout.owner == k)).numpy()
        for m, (feats, mask) in kg.features.items():
            rows = np.flatnonzero(visible & mask.numpy()) if world > 1 else np.arange(kg.num_entities)
            np.save(folder / f"w{world}r{k}_rows_{m}.npy", rows)
            np.save(folder / f"w{world}r{k}_feat_{m}.npy", feats.numpy()[rows])


def memory_worker(rank, world, port, folder, variant, mods, steps, out, full_tables=False):
    from kgtag.embed.feature_rows import FeatureRows
    from kgtag.embed import trainer as trainer_mod
    from kgtag.runs.evaluate import validator

    torch.set_num_threads(1)
    folder = Path(folder)
    # every epoch is cut after `steps` steps (the trainer's batch iterators, wrapped)
    cut = lambda batches: itertools.islice(batches, steps)  # noqa: E731
    plain_batches, rank_batches = trainer_mod._batches, Ranks.batches
    trainer_mod._batches = lambda n, b: cut(plain_batches(n, b))
    Ranks.batches = lambda self, n, b: cut(rank_batches(self, n, b))
    if full_tables:  # as before rank-local row ids: every rank holds every entity's rows
        Ranks.localize = lambda self, model: None
    meta = torch.load(folder / "meta.pt", weights_only=False)
    layout = torch.load(folder / f"layout{world}.pt", weights_only=False)
    E = len(meta["is_video"])
    if world > 1:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=1200))
    own = torch.from_numpy(np.load(folder / f"w{world}r{rank}_train.npy"))
    features, feature_bytes = {}, 0
    for m in mods:
        rows = torch.from_numpy(np.load(folder / f"w{world}r{rank}_rows_{m}.npy"))
        matrix = torch.from_numpy(np.load(folder / f"w{world}r{rank}_feat_{m}.npy", mmap_mode="c"))
        feature_bytes += matrix.numel() * 4
        slot = None
        if world > 1:
            slot = torch.full((E,), -1, dtype=torch.long)
            slot[rows] = torch.arange(len(rows))
        features[m] = FeatureRows(matrix, meta["presence"][m], slot)
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant=variant, modalities=mods, **model_preset("fast")), E,
                        meta["num_relations"], features)
    ranks = Ranks(own, E, layout=layout) if world > 1 else None
    row = {"rank": rank, "setup_mb": vm("VmHWM"), "features_mb": feature_bytes / 1e6, "triples_mb": own.numel() * 8 / 1e6}
    config = preset("fast", seed=0, device="cpu", num_threads=1, epochs=1)
    together = {} if ranks is None else {"evaluate": ranks.evaluate, "constraint": layout.ranges}
    check = validator(own, meta["valid"], meta["test"], meta["is_video"], 0, **together)

    def valid(m):  # the peak of the training steps, then the validation's own
        row["steps_mb"] = vm("VmHWM")
        reset_peak()
        score = check(m)
        row["valid_mb"] = vm("VmHWM")
        return score

    reset_peak()  # each phase's peak (VmHWM) on its own
    started = time.perf_counter()
    train(model, own, config, progress=False, valid=valid, dist=ranks)
    row["seconds"] = time.perf_counter() - started
    tables = [m for m in model.modules() if isinstance(m, RowTable)]
    row["tables_mb"] = sum(t.weight.numel() * 4 for t in tables) / 1e6
    row["moments_mb"] = 2 * row["tables_mb"]
    row["model_mb"] = sum(t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers())) / 1e6
    reset_peak()
    if ranks is not None:
        ranks.consolidate(model)
        dist.destroy_process_group()
    row["end_mb"] = vm("VmHWM")
    row["peak_mb"] = max(row[k] for k in ("setup_mb", "steps_mb", "valid_mb", "end_mb"))
    torch.save(row, Path(out) / f"rank{rank}.pt")


def memory_files(kg, folder: Path) -> None:
    """The graph as the ranks read it (`write_shards`, for 1 and 2 ranks), so that the parent can
    drop its copy before the ranks start."""
    torch.save({"is_video": kg.is_video, "num_relations": kg.num_relations, "valid": kg.valid, "test": kg.test,
                "presence": {m: mask for m, (_, mask) in kg.features.items()}}, folder / "meta.pt")
    for world in (1, 2):
        write_shards(kg, folder, world)


def memory(folder, variant, mods, steps, full_tables=False):
    with tempfile.TemporaryDirectory() as out:
        got = {}
        for world in (1, 2):
            mp.spawn(memory_worker, args=(world, free_port(), folder, variant, mods, steps, out, full_tables), nprocs=world, join=True)
            got[world] = [torch.load(Path(out) / f"rank{k}.pt", weights_only=False) for k in range(world)]
            for r in got[world]:
                print(f"  {world} rank(s), rank {r['rank']}: peak RSS {r['peak_mb']:,.0f} MB; by phase: set-up "
                      f"{r['setup_mb']:,.0f}, {steps} steps {r['steps_mb']:,.0f}, validation {r['valid_mb']:,.0f}, "
                      f"consolidation {r['end_mb']:,.0f} MB; row tables {r['tables_mb']:,.1f} MB + moments "
                      f"{r['moments_mb']:,.1f} MB, model (params + buffers) {r['model_mb']:,.1f} MB, features "
                      f"{r['features_mb']:,.1f} MB, triples {r['triples_mb']:,.1f} MB; {r['seconds']:.1f} s  [{load()}]",
                      flush=True)
        one = got[1][0]["peak_mb"]
        worst = max(r["peak_mb"] for r in got[2])
        print(f"  largest 2-rank peak / 1-rank peak = {worst:,.0f} / {one:,.0f} MB = {worst / one:.2f}", flush=True)


def graph_data(kg) -> dict:
    """What a worker process reads of a synthetic graph (saved once, loaded by every process)."""
    return {"train": kg.train, "valid": kg.valid, "test": kg.test, "is_video": kg.is_video,
            "num_relations": kg.num_relations, "features": kg.features}


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--collectives", default="auto,sparse,dense")
    p.add_argument("--quality-seeds", default="0,1,2")
    p.add_argument("--quality-epochs", type=int, default=5)
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--memory", action="store_true", help="peak RSS per rank, 1 rank vs 2 ranks (only this)")
    p.add_argument("--steps", type=int, default=20, help="--memory: training steps before the measure")
    p.add_argument("--folder", help="--memory: keep the graph's files there and reuse them on the next run")
    p.add_argument("--full-tables", action="store_true",
                   help="--memory: every rank holds every entity's rows (as before rank-local row ids)")
    a = p.parse_args()
    started = time.perf_counter()
    reuse = a.memory and a.folder and (Path(a.folder) / "done").is_file()
    if reuse and (Path(a.folder) / "done").read_text() != str(a.videos):
        raise SystemExit(f"{a.folder} holds another graph; pass another --folder")
    kg = None if reuse else topic.generate(seed=0, n_videos=a.videos)
    if a.memory:
        shape = "(files reused)" if reuse else (f"{len(kg.train):,} train triples, {kg.num_entities:,} entities "
                                                f"(generated in {time.perf_counter() - started:.0f} s)")
        print(f"{os.cpu_count()} CPUs, {load()}; topic graph {a.videos:,} videos, {shape}; preset fast, "
              f"{a.steps} steps, one thread per rank{', full tables on every rank' if a.full_tables else ''}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(a.folder or tmp)
            if kg is not None:
                folder.mkdir(parents=True, exist_ok=True)
                memory_files(kg, folder)
                (folder / "done").write_text(str(a.videos))
            del kg
            for name in a.models.split(","):
                print(f"\n{name}:", flush=True)
                memory(str(folder), *MODELS[name], a.steps, a.full_tables)
        return
    data = graph_data(kg)
    print(f"{os.cpu_count()} CPUs, {load()}; topic graph {a.videos:,} videos, {len(kg.train):,} train triples, "
          f"{kg.num_entities:,} entities; preset fast; gloo on 127.0.0.1", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        graph = str(Path(tmp) / "graph.pt")
        torch.save(data, graph)
        for name in a.models.split(","):
            variant, mods = MODELS[name]
            if not a.skip_throughput:
                shared, dense, total = sizes(data, variant, mods, 2)
                print(f"\n{name}: model {total / 1e6:.1f} MB, shared rows {shared / 1e6:.2f} MB, dense {dense / 1e6:.3f} MB")
                rates = {}
                for world, threads in ((1, 2), (1, 1), (2, 1)):
                    for collective in (a.collectives.split(",") if world > 1 else ["-"]):
                        rows = run(graph, world, variant, mods, threads, a.epochs, 0, collective)
                        rate = sum(r["n"] for r in rows) * a.epochs / max(r["seconds"] for r in rows)
                        rates[(world, threads, collective)] = rate
                        line = (f"  {world} rank x {threads} thread{'s' if threads > 1 else ' '} {collective:6s} {rate:10,.0f} "
                                f"triples/s, peak RSS/rank {max(r['rss_mb'] for r in rows):,.0f} MB")
                        if world > 1:
                            r0 = rows[0]
                            per_step = (r0["rows"] + r0["dense"]) / max(r0["steps"], 1)
                            line += (f"  efficiency {rate / (2 * rates[(1, 1, '-')]):.2f}; {r0['steps']} steps, "
                                     f"{r0['rounds'] / max(r0['steps'], 1):.2f} collectives/step, "
                                     f"{per_step / 1e3:,.1f} kB/step/rank (rows {r0['rows'] / max(r0['steps'], 1) / 1e3:,.1f}, "
                                     f"dense {r0['dense'] / max(r0['steps'], 1) / 1e3:,.1f})")
                        print(line + f"  [{load()}]", flush=True)
            seeds = [int(s) for s in a.quality_seeds.split(",") if s]
            if seeds:
                got = {1: [], 2: []}
                for seed in seeds:
                    for world in (1, 2):
                        rows = run(graph, world, variant, mods, 1, a.quality_epochs, seed)
                        got[world].append(quality(data, rows[0]["state"], variant, mods, seed))
                        print(f"  quality {name} seed {seed} {world} rank(s): valid MRR {got[world][-1][0]:.4f}, "
                              f"test MRR {got[world][-1][1]:.4f}  [{load()}]", flush=True)
                for world in (1, 2):
                    v = [g[0] for g in got[world]]
                    t = [g[1] for g in got[world]]
                    spread = lambda xs: (max(xs) - min(xs)) if len(xs) > 1 else math.nan  # noqa: E731
                    print(f"  {name} {world} rank(s), {a.quality_epochs} epochs, {len(seeds)} seeds: valid MRR "
                          f"{statistics.mean(v):.4f} (spread {spread(v):.4f}), test MRR {statistics.mean(t):.4f} "
                          f"(spread {spread(t):.4f})", flush=True)


if __name__ == "__main__":
    main()
