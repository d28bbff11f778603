"""Train a new run, or resume an interrupted one: cache the graph, split, fit, evaluate, store.

A run ends 'done' only once everything reached Neo4j; until then it stays 'training' and resumable.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime, timezone
from pathlib import Path

import torch

from kgtag.embed import checkpoint as ckpt
from kgtag.embed import trainer
from kgtag.embed.config import CONFIG_VERSION, decode
from kgtag.embed.topk import relation_attention
from kgtag.embed.model import build_model
from kgtag.kgstore.read import modality_dim, read_graph, read_presence
from kgtag.errors import DiskFull, InvalidConfig
from kgtag.kgstore.results import write_relation_attention, write_run
from kgtag.kgstore.store import StoreUnavailable

from .cache import build_cache
from .errors import BadInput, Interrupted, StoreLost
from .evaluate import DEFAULT_CANDIDATES, TEST_QUERIES_PER_RELATION, calibrate, evaluate_run, validator
from . import lock
from .files import (check_same_config, freeze_negatives, frozen_negatives, load_tensors, make_run_dir, node_of,
                    run_dir_of, run_files, save_graph, save_tensors, write_meta)
from .graph import check_graph, known_negatives, run_features
from .notes import note
from .plan import RunPlan, configs, configs_from, display_name, new_run_id, plain, resolve_device
from .split import holdout, parse_split, split_from_files


def train_run(store, plan: RunPlan, runs_dir: Path, progress: bool = True, run_id: str | None = None,
              start=None) -> dict:
    """Cache the graph (or reuse a cache of the same graph), split, train, evaluate and store a new run;
    returns the Run properties. `start`: a `warm.WarmStart` (`kgtag train --from`): its split rule and
    trained rows."""
    meta, run_dir, entities, relations, is_video, features, train, valid, test = prepare_run(
        store, plan, runs_dir, run_id, start)
    return _fit(store, meta, run_dir, entities, relations, is_video, features,
                train, valid, test, resume=False, progress=progress, start=start)


def prepare_run(store, plan: RunPlan, runs_dir: Path, run_id: str | None = None, start=None, extra: dict | None = None,
                sharded: bool = False):
    """A new run up to training: its cache, its split and files, its Run node ('training'). Returns
    (meta, run_dir, entities, relations, is_video, features, train, valid, test). `extra`: more
    run.json fields (a distributed run's world size). `sharded`: rank 0 of a distributed run whose
    ranks read their own shards (kgtag.runs.shard): the ids and the integer triples are read into
    memory for the split, no vector and no cache (rank 0 writes the run's cache once training
    ended); `features` is then (None, presence mask) per modality."""
    device = resolve_device(plan.device)
    split = parse_split(plan.split)
    mconf, tconf = configs(plan, device)
    run_id = run_id or new_run_id(plan)
    run_dir = run_dir_of(runs_dir, run_id)
    fresh = make_run_dir(run_dir)
    lock.hold(run_dir, run_id)  # from before its Run node says 'training' until it ends (lock.py)
    try:  # a run refused before it starts (or a disk full before training) leaves no folder behind
        if sharded:
            for m in plan.modalities:
                modality_dim(store, m)  # a modality the graph lacks: the same line as the cache's
            graph = read_graph(store)
            entities, relations, is_video, triples = graph.entities, graph.relations, graph.is_video, graph.triples
            features = {m: (None, read_presence(store, m, entities)) for m in plan.modalities}
            fingerprint, digest, reused = graph.fingerprint["hash"], None, None
        else:
            cache = build_cache(store, run_dir, runs_dir, plan.modalities)
            entities, relations, is_video, triples = cache.entities(), cache.relations, cache.is_video(), cache.triples()
            features = cache.features(plan.modalities)
            fingerprint, digest, reused = cache.fingerprint, cache.digest, cache.manifest.get("reused_from")
        check_graph(triples, features)
        if isinstance(split[0], Path):
            train, valid, test = split_from_files(triples, entities, relations, *split)
        else:
            train, valid, test = holdout(triples, is_video, split[0], split[1], plan.seed, cold_frac=split[2])
        if start is not None:
            train, valid, test = start.split(triples, train, valid, test, entities, relations)
        if len(test) == 0:
            raise BadInput("the split left no test triple (too few video -> tag triples); use a larger --split or more data")
        save_graph(run_dir, {"entities": entities, "relations": relations, "is_video": is_video,
                             "train": train, "valid": valid, "test": test})
        meta = {
            "id": run_id, "variant": plan.variant, "base": plan.base, "modalities": list(plan.modalities),
            "preset": plan.preset, "device": device, "seed": plan.seed, "split": plan.split,
            "model_config": plain(dataclasses.asdict(mconf)), "train_config": plain(dataclasses.asdict(tconf)),
            "counts": {"entities": len(entities), "relations": len(relations),
                       "train": len(train), "valid": len(valid), "test": len(test)},
            "created": datetime.now(timezone.utc).isoformat(),
            "graph_fingerprint": fingerprint,
            **({"cache_digest": digest} if digest else {}),
            "config_version": CONFIG_VERSION,
            # the curators' rejected edges as they are now: the run trains (and a resume continues) against these
            "negatives": freeze_negatives(run_dir, known_negatives(store, entities, relations)),
        }
        if start is not None:
            meta["from_run"] = start.run_id
        meta.update(extra or {})
        write_meta(run_dir, meta)
    except BaseException:
        lock.release(run_dir)
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    write_run(store, node_of(meta, run_dir, status="training"))
    note(f"run {run_id}: {display_name(plan.variant, plan.base, plan.modalities)}, "
         f"{len(train)} train / {len(valid)} valid / {len(test)} test triples, device {device}"
         + (f", graph cache reused from run {reused}" if reused else ""))
    del triples  # the split holds its own rows; the model reads features through the cache's memory maps
    return meta, run_dir, entities, relations, is_video, features, train, valid, test


def resume_run(store, run_id: str, runs_dir: Path, progress: bool = True) -> dict:
    """Continue an interrupted run from its last checkpoint."""
    run_dir, meta, saved = run_files(store, run_id, runs_dir)
    if "distributed" in meta:  # last.pt is rank 0's alone: resuming from it would drop the other ranks' epochs
        raise BadInput(f"run {run_id} was trained by {meta['distributed'].get('world_size', 'several')} processes "
                       "(--procs): its checkpoints are per rank and only an elastic restart of its group continues "
                       "it (--max-restarts); train a new run")
    lock.hold(run_dir, run_id)  # a run whose process is still alive is not resumed twice
    try:
        return _resume(store, run_dir, meta, saved, progress)
    finally:
        lock.release(run_dir)


def _resume(store, run_dir: Path, meta: dict, saved: dict, progress: bool) -> dict:
    last = run_dir / "checkpoints" / ckpt.FILENAME
    if not last.exists() and "from_run" not in meta:
        # stopped before its first checkpoint (a full disk, a kill during epoch 1): its split and files are
        # whole, so it trains again from the start, as it would have (same seed). Not a warm start: the rows
        # it carried live in its checkpoint.
        note(f"run {meta['id']} has no checkpoint yet: it trains again from its first epoch")
        features = run_features(store, run_dir, meta["modalities"], saved["entities"], meta.get("cache_digest"))
        return _fit(store, meta, run_dir, saved["entities"], saved["relations"], saved["is_video"], features,
                    saved["train"], saved["valid"], saved["test"], resume=False, progress=progress)
    try:  # read it now, before anything is written: a damaged checkpoint leaves the Run node as it was
        state = ckpt.load(last)
        trained_as, _ = decode(state.get("model_config"), None, str(last))
    except (ckpt.CheckpointError, InvalidConfig) as exc:
        raise BadInput(f"{exc}; it cannot be resumed: start a new run with `kgtag train`") from None
    check_same_config(run_dir, meta, trained_as, last)
    features = run_features(store, run_dir, meta["modalities"], saved["entities"], meta.get("cache_digest"))
    return _fit(store, meta, run_dir, saved["entities"], saved["relations"], saved["is_video"], features,
                saved["train"], saved["valid"], saved["test"], resume=True, progress=progress)


def _fit(store, meta, run_dir, entities, relations, is_video, features, train, valid, test, resume, progress,
         start=None, ranks=None, negatives=None, sharded=False) -> dict | None:
    """Train, evaluate and store. `ranks`: an `embed.distributed.Ranks` when this process is one rank
    of a distributed run (it trains its partition; rank 0 stores the result, the others return None).
    `sharded`: the rank read only its shard (kgtag.runs.shard): `train` and `features` are its own,
    the ranges come from `ranks.layout`, `negatives` from rank 0, and rank 0 writes the run's whole
    cache at the end (eval, infer and train --from read it as for any run). The run's lock is held
    meanwhile (by rank 0); a full disk leaves the run 'interrupted', resumable."""
    main = ranks is None or ranks.rank == 0
    if main:
        lock.hold(run_dir, meta["id"])
    try:
        return _train_and_store(store, meta, run_dir, entities, relations, is_video, features, train, valid, test,
                                resume, progress, start, ranks, negatives, sharded)
    except DiskFull as exc:
        if main:
            try:  # the last complete epoch's checkpoint is intact: the run continues from it
                write_run(store, node_of({k: v for k, v in meta.items() if k not in ("metrics", "calibration")},
                                         run_dir, status="interrupted"))
            except StoreUnavailable:
                pass  # it stays 'training'; status shows it interrupted once this process is gone
        raise DiskFull(f"{exc}; once there is space, continue with `kgtag train --resume {meta['id']}`") from None
    finally:
        if main:
            lock.release(run_dir)


def _train_and_store(store, meta, run_dir, entities, relations, is_video, features, train, valid, test, resume,
                     progress, start, ranks, negatives, sharded) -> dict | None:
    mconf, tconf = configs_from(meta, str(run_dir / "run.json"))
    torch.manual_seed(meta["seed"])  # the seed covers the initialisation too: a seeded run is reproducible
    model = build_model(mconf, len(entities), len(relations), features).to(meta["device"])
    if start is not None and not resume:  # a resume reads the carried rows back from its checkpoint
        start.carry(model, entities, relations)
    if negatives is None:
        negatives = frozen_negatives(run_dir, meta)
    if negatives is None:  # a run from before negatives were frozen with it: today's, as it did then
        negatives = known_negatives(store, entities, relations)
    if len(negatives) and (ranks is None or ranks.rank == 0):
        note(f"{len(negatives)} rejected edges used as known negatives")
    together = {} if ranks is None else {"evaluate": ranks.evaluate}
    if sharded:
        together["constraint"] = ranks.layout.ranges
    try:
        trainer.train(model, train if ranks is None else ranks.part(train), tconf,
                      checkpoint_dir=run_dir / "checkpoints", resume=resume,
                      valid=validator(train, valid, test, is_video, meta["seed"], **together),
                      known_negatives=negatives if len(negatives) else None,
                      progress=progress, metadata={"run": meta["id"]}, dist=ranks)
    except KeyboardInterrupt:
        write_run(store, node_of(meta, run_dir, status="interrupted"))
        raise Interrupted(f"interrupted; continue with `kgtag train --resume {meta['id']}`") from None
    # a distributed run: every rank ranks its own heads with its own rows (the ranks' figures together)
    metrics = evaluate_run(model, relations, is_video, train, valid, test, per_relation_max=TEST_QUERIES_PER_RELATION,
                           **together)
    main = ranks is None or ranks.rank == 0
    # rank 0 assembles the whole model from every rank's own rows (each rank holds only its own)
    state = model.state_dict() if ranks is None else ranks.consolidate(model)
    if main:
        save_tensors(run_dir / "model.pt", state)
    if not main:
        return None
    if ranks is not None:
        del model
        model, train = _whole(store, meta, run_dir, state, entities, len(relations), sharded)
    del state
    q = relation_attention(model)
    meta["metrics"] = metrics
    if len(valid):
        meta["calibration"] = calibrate(model, is_video, train, valid, test, DEFAULT_CANDIDATES, meta["seed"])
    write_meta(run_dir, meta)
    node = node_of(meta, run_dir, status="done")
    try:  # 'done' goes last: a run whose results did not all reach Neo4j stays 'training', resumable
        write_relation_attention(store, meta["id"], relations, q.tolist())
        write_run(store, node)
    except StoreUnavailable:
        raise StoreLost(f"Neo4j stopped answering while run {meta['id']} was being stored; once it is back, "
                        f"finish it with `kgtag train --resume {meta['id']}`") from None
    return node


def _whole(store, meta, run_dir: Path, state: dict, entities, num_relations: int, sharded: bool = True):
    """Rank 0 of a distributed run once training ended: the run's cache in today's format (read from
    Neo4j, or reused from a run of the same graph, when the ranks read shards), so that eval, infer
    and train --from never read every vector into memory; and the trained weights (`state`, the
    whole model assembled from the ranks' rows) on a model over it with the whole training split
    (calibration scores every video). Returns (model, train)."""
    if not sharded:
        raise ValueError("a distributed run's ranks read their own shards (kgtag.runs.distributed.train_rank)")
    cache = build_cache(store, run_dir, Path(run_dir).parent, meta["modalities"])
    if cache.fingerprint != meta["graph_fingerprint"] or cache.entities() != list(entities):
        shutil.rmtree(cache.folder, ignore_errors=True)
        raise BadInput(f"the graph changed while run {meta['id']} trained (an ingest or a review ran meanwhile); "
                       "train it again")
    meta["cache_digest"] = cache.digest
    mconf, _ = configs_from(meta, str(Path(run_dir) / "run.json"))
    whole = build_model(mconf, len(entities), num_relations, cache.features(meta["modalities"]))
    whole.load_state_dict(state, assign=True)  # takes the assembled tensors, no second copy
    train = load_tensors(Path(run_dir) / "graph.pt")["train"]
    return whole.to(meta["device"]).eval(), train
