"""A training run on several processes: ranks of one torch.distributed group (embed.distributed).

`kgtag train --procs N` starts N local ranks through torch's own launcher (the elastic agent of
`torch.distributed.run`, c10d rendezvous on 127.0.0.1); under `torchrun ... -m kgtag train` each
process is already a rank (WORLD_SIZE > 1 in its environment) and `train_rank` runs in it directly,
so a cluster's nodes join the same way.

Rank 0 owns the run: it builds the run cache from Neo4j, makes the split (once, independent of the
world size), writes the run folder and the Run node, then tells the others the run id; they read
the same cache (a shared file system for now: each rank reading its own partition from Neo4j is not
done) and train their head range. Rank 0 writes the one model.pt in today's format, the test
figures and the 'done' Run node; eval, infer, train --from work on it unchanged.

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
from pathlib import Path

import torch
import torch.distributed as dist

from kgtag.embed.distributed import DEFAULT_TIMEOUT_S, Ranks, init_process_group
from kgtag.errors import KgtagError

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


def train_rank(settings, plan: RunPlan, runs_dir, progress: bool = True, run_id: str | None = None) -> dict | None:
    """One rank's part of a new run (the process group is joined here); the Run properties on rank 0,
    None elsewhere. Expected failures on any rank are RunErrors naming the rank."""
    from kgtag.kgstore.schema import ensure_schema
    from kgtag.kgstore.store import Store, StoreError

    from .files import run_files
    from .graph import run_features
    from .plan import new_run_id
    from .train import _fit, prepare_run

    rank = int(os.environ.get("RANK", "0"))
    try:
        device = init_process_group(plan.device, timeout_s(COLLECTIVE_TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - the rendezvous or the backend: one line
        raise RankFailed(f"rank {rank}: could not join the process group ({_first(exc)})") from None
    rank, world = dist.get_rank(), dist.get_world_size()
    plan = dataclasses.replace(plan, device=str(device))
    try:
        try:
            store = Store.connect(settings)
        except StoreError as exc:
            raise RankFailed(f"rank {rank}: cannot reach Neo4j ({exc})") from None
        with store:
            outcome: list = [None]
            if rank == 0:
                try:
                    ensure_schema(store)
                    if run_id and (Path(runs_dir) / run_id / "run.json").is_file():
                        outcome = [("again", run_id)]  # a group the elastic agent restarted: same run
                    else:
                        run_id = run_id or new_run_id(plan)
                        prepare_run(store, plan, runs_dir, run_id, extra={"distributed": {"world_size": world}})
                        outcome = [("ok", run_id)]
                except KgtagError as exc:  # a RunError, a cache's DiskFull: one line for every rank
                    outcome = [("error", type(exc).__name__, exc.kind, str(exc))]
                except StoreError as exc:
                    outcome = [("error", "StoreLost", "env", f"rank 0: Neo4j failed while preparing the run ({exc})")]
            dist.broadcast_object_list(outcome, src=0)
            if outcome[0][0] == "error":
                raise (StoreLost if outcome[0][2] == "env" else BadInput)(outcome[0][3])
            run_id = outcome[0][1]
            try:
                run_dir, meta, saved = run_files(store, run_id, runs_dir)
                features = run_features(store, run_dir, meta["modalities"], saved["entities"])
                ranks = Ranks(saved["train"], len(saved["entities"]), saved["is_video"])
                resume = outcome[0][0] == "again" and _can_resume(run_dir, ranks)
                return _fit(store, meta, run_dir, saved["entities"], saved["relations"], saved["is_video"], features,
                            saved["train"], saved["valid"], saved["test"], resume=resume,
                            progress=progress and rank == 0, ranks=ranks)
            except StoreError as exc:
                raise RankFailed(f"rank {rank}: lost Neo4j ({exc})") from None
            except dist.DistBackendError as exc:
                raise RankFailed(f"rank {rank}: another rank stopped answering ({_first(exc)})") from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


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


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _entry(settings, plan, runs_dir, progress, run_id, threads, errors):
    """What each process of `launch` runs: its rank's part. An expected failure is written to
    `errors`/rank<k>.json and the process exits 1, so that the agent stops the other ranks at once
    (instead of leaving them in a collective until its timeout) and `launch` prints that line."""
    torch.set_num_threads(threads)
    try:
        return train_rank(settings, plan, runs_dir, progress, run_id)
    except KgtagError as exc:  # a RunError, or a full disk at a checkpoint (DiskFull)
        rank = os.environ.get("RANK", "0")
        (Path(errors) / f"rank{rank}.json").write_text(json.dumps({"kind": exc.kind, "message": str(exc)}))
        raise SystemExit(1) from None


def launch(settings, plan: RunPlan, runs_dir, procs: int, threads: int | None = None, progress: bool = True,
           max_restarts: int = 0) -> dict:
    """Start `procs` local ranks through torch's elastic launcher and train one run with them; the
    Run properties. A rank's expected failure is raised here as one line."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from .plan import new_run_id

    threads = threads_per_rank(procs, threads)
    plan = dataclasses.replace(plan, overrides={**plan.overrides, "num_threads": threads})
    run_id = new_run_id(plan)  # fixed here: a restarted group continues the same run
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
            results = elastic_launch(config, _entry)(settings, plan, str(runs_dir), progress, run_id, threads, errors)
        except ChildFailedError as exc:
            said = sorted(Path(errors).glob("rank*.json"))
            if said:  # the rank's own line (rank 0's first: the others may only say that it went away)
                error = json.loads(said[0].read_text())
                raise (RankFailed if error["kind"] == "env" else BadInput)(error["message"]) from None
            rank, failure = exc.get_first_failure()
            raise RankFailed(f"rank {rank} of {procs} failed ({_failure_line(failure)})") from None
    return results[0]


def _failure_line(failure) -> str:
    if failure.exitcode is not None and failure.exitcode < 0:
        return f"killed by signal {-failure.exitcode}"
    msg = failure.message
    if isinstance(msg, dict):
        msg = msg.get("message", {}).get("message") if isinstance(msg.get("message"), dict) else msg.get("message")
    return _first(Exception(str(msg))) if msg else f"exit code {failure.exitcode}"


__all__ = ["RankFailed", "launch", "train_rank", "world_from_env", "threads_per_rank"]
