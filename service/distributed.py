"""A training run on several processes: ranks of one torch.distributed group (embed.distributed).

`kgtag train --procs N` starts N local ranks through torch's own launcher (the elastic agent of
`torch.distributed.run`, c10d rendezvous on 127.0.0.1); under `torchrun ... -m kgtag train` each
process is already a rank (WORLD_SIZE > 1 in its environment) and `train_rank` runs in it directly,
so a cluster's nodes join the same way.

Rank 0 owns the run: it reads the graph's ids and integer triples (no vector), makes the split
(once, independent of the world size), writes the run folder and the Run node, then broadcasts
what every rank must agree on (kgtag.runs.shard.Plan). Each rank, rank 0 included, reads its own
shard from Neo4j (its head range's triples, the vectors of the rows it may touch) into its own runs
folder, so nodes share no file system, and trains its head range. Rank 0 writes the one model.pt in
today's format, the run's whole cache (read once training ended), the test figures and the 'done'
Run node; eval, infer, train --from work on it unchanged.

Every wait has a bound: the rendezvous (`RDZV_TIMEOUT_S`) and every collective (`COLLECTIVE_TIMEOUT_S`)
fail instead of hanging, and the failure reaches the user as one line naming the rank.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist

from kgtag.embed.distributed import DEFAULT_TIMEOUT_S, Ranks, init_process_group
from kgtag.errors import KgtagError, first_line

from .errors import BadInput, RunError, StoreLost
from .notes import note
from .plan import RunPlan

RDZV_TIMEOUT_S = 120  # --procs: every rank must have joined within this
COLLECTIVE_TIMEOUT_S = DEFAULT_TIMEOUT_S  # joining the group, and any collective: a rank waiting longer fails
TIMEOUT_ENV = "KGTAG_DIST_TIMEOUT_S"  # overrides both (seconds)


def timeout_s(default: float) -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, default))
    except ValueError:
        raise BadInput(f"{TIMEOUT_ENV}={os.environ[TIMEOUT_ENV]!r} is not a number of seconds") from None


class RankFailed(RunError):
    """A rank of a distributed run failed; the message names the rank and the cause."""

    kind = "env"


def world_from_env() -> int:
    """WORLD_SIZE when this process was started by torchrun (or the elastic agent), else 1."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def threads_per_rank(procs: int, threads: int | None) -> int:
    return threads or max(1, (os.cpu_count() or 1) // procs)


@contextmanager
def _joined(settings, device: str):
    """This process as one rank: the process group joined and Neo4j open, as (store, device, rank,
    world). A rendezvous, a backend or a Neo4j that fails, and a rank that stops answering, are one
    line naming the rank (RankFailed); the group is left at the end, however it ends."""
    from kgtag.kgstore.store import Store, StoreError

    rank = int(os.environ.get("RANK", "0"))
    try:
        dev = init_process_group(device, timeout_s(COLLECTIVE_TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - the rendezvous or the backend: one line
        raise RankFailed(f"rank {rank}: could not join the process group ({first_line(exc)})") from None
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        try:
            store = Store.connect(settings)
        except StoreError as exc:
            raise RankFailed(f"rank {rank}: cannot reach Neo4j ({exc})") from None
        with store:
            yield store, dev, rank, world
    except dist.DistBackendError as exc:
        raise RankFailed(f"rank {rank}: another rank stopped answering ({first_line(exc)})") from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def train_rank(settings, plan: RunPlan, runs_dir, progress: bool = True, run_id: str | None = None) -> dict | None:
    """One rank's part of a new run (the process group is joined here); the Run properties on rank 0,
    None elsewhere. Expected failures on any rank are RunErrors naming the rank."""
    from kgtag.kgstore.store import StoreError

    from .files import make_run_dir, run_dir_of
    from .shard import build_shard, own_train
    from .train import _fit

    with _joined(settings, plan.device) as (store, device, rank, world):
        plan = dataclasses.replace(plan, device=str(device))
        outcome: list = [None]
        if rank == 0:
            try:
                outcome = [("ok", _plan(store, plan, Path(runs_dir), run_id, world))]
            except KgtagError as exc:  # a RunError, a cache's DiskFull: one line for every rank
                outcome = [("error", type(exc).__name__, exc.kind, str(exc))]
            except StoreError as exc:
                outcome = [("error", "StoreLost", "env", f"rank 0: Neo4j failed while preparing the run ({exc})")]
        dist.broadcast_object_list(outcome, src=0)
        if outcome[0][0] == "error":
            raise (StoreLost if outcome[0][2] == "env" else BadInput)(outcome[0][3])
        shared = outcome[0][1]
        # this rank's own device (rank 0 recorded its own in run.json)
        meta = {**shared.meta, "device": str(device),
                "train_config": {**shared.meta["train_config"], "device": str(device)}}
        try:
            run_dir = run_dir_of(runs_dir, meta["id"])
            make_run_dir(run_dir)  # this node's own folder: nodes share no file system
            failed = None
            try:
                shard = build_shard(store, run_dir, shared, rank)
                train = own_train(shard, shared)
                if len(train) != shared.layout.counts[rank]:
                    raise StoreError(f"{len(train)} training triples in rank {rank}'s shard, "
                                     f"{shared.layout.counts[rank]} expected: the graph changed; start the run again")
            except (StoreError, RunError, OSError) as exc:
                failed = f"rank {rank}: reading its shard failed ({first_line(exc)})"
            said = [None] * world  # every rank stops at once with the first rank's line, none waits
            dist.all_gather_object(said, failed)
            if any(said):
                raise RankFailed(next(x for x in said if x))
            ranks = Ranks(train, len(shared.entities), layout=shared.layout)
            resume = shared.again and _can_resume(run_dir, ranks)
            return _fit(store, meta, run_dir, shared.entities, shared.relations, shared.is_video, shard.features,
                        train, shared.valid, shared.test, resume=resume, progress=progress and rank == 0,
                        ranks=ranks, negatives=shared.negatives, sharded=True)
        except StoreError as exc:
            raise RankFailed(f"rank {rank}: lost Neo4j ({exc})") from None


def _plan(store, plan: RunPlan, runs_dir: Path, run_id: str | None, world: int):
    """Rank 0: prepare the run (or reopen it after a restart) and say what every rank must agree on
    (kgtag.runs.shard.Plan): the id maps, valid and test, the layout of the training set, which
    entities hold each modality. The whole training set is not kept: rank 0 trains its shard too."""
    from kgtag.embed.distributed import Layout, rank_of_heads
    from kgtag.kgstore.fingerprint import graph_fingerprint
    from kgtag.kgstore.read import modality_dim, read_presence
    from kgtag.kgstore.schema import ensure_schema

    from .files import frozen_negatives, run_files
    from .plan import configs, new_run_id, resolve_device
    from .shard import Plan
    from .train import prepare_run

    ensure_schema(store)
    again = bool(run_id) and (runs_dir / run_id / "run.json").is_file()  # a group the elastic agent restarted
    if again:
        _, meta, saved = run_files(store, run_id, runs_dir)
        if graph_fingerprint(store)["hash"] != meta["graph_fingerprint"]:
            raise BadInput(f"the graph changed since run {run_id} started; the restarted group cannot continue it")
        entities, relations, is_video = saved["entities"], saved["relations"], saved["is_video"]
        train, valid, test = saved["train"], saved["valid"], saved["test"]
        presence = {m: read_presence(store, m, entities) for m in meta["modalities"]}
    else:
        if configs(plan, resolve_device(plan.device))[0].feature_dims is not None:
            raise BadInput("PCA-reduced features (feature_dims) need every video's vectors in one process; "
                           "train this run without --procs or torchrun")
        meta, _, entities, relations, is_video, features, train, valid, test = prepare_run(
            store, plan, runs_dir, run_id or new_run_id(plan), extra={"distributed": {"world_size": world}},
            sharded=True)
        presence = {m: mask for m, (_, mask) in features.items()}
    layout = Layout.of(train, len(entities), world, is_video, len(relations))
    every = torch.cat([train, valid, test])
    per_rank = torch.bincount(rank_of_heads(every[:, 0], layout.bounds), minlength=world).tolist()
    negatives = frozen_negatives(runs_dir / meta["id"], meta)
    return Plan(meta, list(entities), list(relations), is_video, valid, test, layout, per_rank, presence,
                {m: modality_dim(store, m) for m in meta["modalities"]},
                negatives if negatives is not None else torch.zeros(0, 3, dtype=torch.long), again)


def _can_resume(run_dir: Path, ranks: Ranks) -> bool:
    """After a restart: every rank holds a checkpoint of the same completed epoch (the ranks step
    together, so a rank killed mid-epoch leaves them all at the last complete one). Otherwise the
    run trains again from the start (a rank killed while writing its checkpoint)."""
    from kgtag.embed import checkpoint as ckpt

    try:
        epoch = int(ckpt.load(run_dir / "checkpoints" / ranks.file(ckpt.FILENAME))["result"]["epochs"])
    except ckpt.CheckpointError:
        epoch = -1
    epochs = [None] * ranks.world
    dist.all_gather_object(epochs, epoch)
    resume = min(epochs) >= 0 and len(set(epochs)) == 1
    if ranks.rank == 0:
        note(f"restarted group: {'resuming from epoch ' + str(epochs[0]) if resume else 'training again from the start'}"
             f" (checkpoints of the ranks at epochs {epochs})")
    return resume


def _entry(target, args, threads, errors):
    """What each process of `_launch` runs: its rank's part (`target(*args)`). An expected failure is
    written to `errors`/rank<k>.json and the process exits 1, so that the agent stops the other ranks
    at once (instead of leaving them in a collective until its timeout) and `_launch` prints that line."""
    torch.set_num_threads(threads)
    try:
        return target(*args)
    except KgtagError as exc:  # a RunError, or a full disk at a checkpoint (DiskFull)
        rank = os.environ.get("RANK", "0")
        (Path(errors) / f"rank{rank}.json").write_text(json.dumps({"kind": exc.kind, "message": str(exc)}))
        raise SystemExit(1) from None


def launch(settings, plan: RunPlan, runs_dir, procs: int, threads: int | None = None, progress: bool = True,
           max_restarts: int = 0) -> dict:
    """Start `procs` local ranks through torch's elastic launcher and train one run with them; the
    Run properties. A rank's expected failure is raised here as one line."""
    from .plan import new_run_id

    threads = threads_per_rank(procs, threads)
    plan = dataclasses.replace(plan, overrides={**plan.overrides, "num_threads": threads})
    run_id = new_run_id(plan)  # fixed here: a restarted group continues the same run
    return _launch(train_rank, (settings, plan, str(runs_dir), progress, run_id), procs, threads, max_restarts)


def launch_infer(settings, run_id: str, runs_dir, job: "InferJob", procs: int, threads: int | None = None,
                 progress: bool = True) -> dict:
    """`kgtag infer --procs N`: N local ranks each infer and write their share of the videos; the
    summary of all of them (`infer_rank`)."""
    threads = threads_per_rank(procs, threads)
    return _launch(infer_rank, (settings, run_id, str(runs_dir), job, progress), procs, threads, 0)


def _launch(target, args, procs: int, threads: int, max_restarts: int):
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=procs, run_id=uuid.uuid4().hex,
        rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", rdzv_configs={"timeout": int(timeout_s(RDZV_TIMEOUT_S))},
        max_restarts=max_restarts, monitor_interval=0.5, start_method="spawn",
    )
    # the agent logs each failed worker with a traceback; the user gets one line below instead
    for name in ("torch.distributed.elastic", "torch.multiprocessing", "torch.distributed.launcher"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="kgtag-ranks-") as errors:
        try:
            results = elastic_launch(config, _entry)(target, args, threads, errors)
        except ChildFailedError as exc:
            said = sorted(Path(errors).glob("rank*.json"))
            if said:  # the rank's own line (rank 0's first: the others may only say that it went away)
                error = json.loads(said[0].read_text())
                raise (RankFailed if error["kind"] == "env" else BadInput)(error["message"]) from None
            rank, failure = exc.get_first_failure()
            raise RankFailed(f"rank {rank} of {procs} failed ({_failure_line(failure)})") from None
    return results[0]


@dataclasses.dataclass
class InferJob:
    """What `kgtag infer` asks of each rank (its options)."""

    video_ids: tuple = ()
    all_videos: bool = False
    new_videos: bool = False
    relations: list | None = None
    k: int = 10
    min_confidence: float = 0.02
    candidates: str = "range"
    block: int = 1000
    writers: int = 2
    device: str = "auto"
    write: bool = True
    rows: int | None = None  # edges returned: None every one (JSON), else those of the first `rows` videos
    threads: int | None = None  # CPU threads of this process (torchrun; `launch_infer` sets them itself)


def share(items: list, rank: int, world: int) -> list:
    """Rank `rank`'s contiguous share of `items` (in order; sizes differ by at most one)."""
    n = len(items)
    return items[rank * n // world:(rank + 1) * n // world]


def infer_rank(settings, run_id: str, runs_dir, job: InferJob, progress: bool = True) -> dict | None:
    """One rank of `kgtag infer --procs N` (or under torchrun): it loads the run (the run folder must be
    on its node: a shared folder or a copy), takes its contiguous share of the chosen videos and
    writes them through the block write-back, with its own progress file (`infer-progress.rank<k>of<N>.json`,
    so a rerun with the same ranks continues each share at its first unwritten block) and its share
    of the writers. Rank 0 gets everyone's summary and publishes new videos' vectors; others None."""
    from kgtag.kgstore.store import StoreError
    from kgtag.progress import progress_bar

    from .grow import choose_videos
    from .infer import PROGRESS_FILE, infer_and_write, inferred_rows
    from .load import load_run
    from .vectors import publish_new_videos

    if job.threads:
        torch.set_num_threads(job.threads)
    with _joined(settings, job.device) as (store, device, rank, world):
        try:
            run = load_run(store, run_id, runs_dir, str(device))
            trained = len(run.entities)
            run, chosen = choose_videos(store, run, job.video_ids or None, job.new_videos, job.all_videos)
            mine = share(chosen, rank, world)
            rows: list = []

            def keep(names, inferred):
                if job.rows is None:
                    rows.extend(inferred_rows(run, inferred))
                elif rank == 0 and len(rows) < job.rows:
                    rows.extend(inferred_rows(run, inferred, set(names[:job.rows]), 5))

            stem = PROGRESS_FILE.rsplit(".", 1)[0]
            with progress_bar(f"infer (rank 0 of {world})", len(mine), show=progress and rank == 0,
                              unit="videos") as bar:
                summary = infer_and_write(store, run, mine, job.relations, job.k, job.candidates,
                                          job.min_confidence, job.block, write=job.write, on_block=keep,
                                          progress=bar.advance, writers=max(1, job.writers // world),
                                          progress_file=f"{stem}.rank{rank}of{world}.json")
        except StoreError as exc:
            raise RankFailed(f"rank {rank}: lost Neo4j ({exc})") from None
        said = [None] * world
        dist.all_gather_object(said, (summary.written, summary.resumed_at, summary.write_seconds, rows,
                                      summary.seconds))
        if rank != 0:
            return None
        published = publish_new_videos(store, run, run.entities[trained:]) if job.write else 0
        return {"run": run_id, "name": run.name, "written": sum(s[0] for s in said), "videos": len(chosen),
                "resumed_at": sum(s[1] for s in said), "seconds": max(s[4] for s in said),
                "write_seconds": sum(s[2] for s in said), "published_vectors": published,
                "calibration": summary.calibration, "edges": [r for s in said for r in s[3]],
                "world_size": world}


def _failure_line(failure) -> str:
    if failure.exitcode is not None and failure.exitcode < 0:
        return f"killed by signal {-failure.exitcode}"
    msg = failure.message
    if isinstance(msg, dict):
        msg = msg.get("message", {}).get("message") if isinstance(msg.get("message"), dict) else msg.get("message")
    return first_line(Exception(str(msg))) if msg else f"exit code {failure.exitcode}"


__all__ = ["InferJob", "RankFailed", "infer_rank", "launch", "launch_infer", "train_rank", "world_from_env",
           "threads_per_rank"]
