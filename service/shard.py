"""A rank's shard of the run cache: what one rank of a distributed run reads from Neo4j itself.

    runs/<id>/shard<k>/manifest.json   run id, rank, world, head range, counts, the graph's fingerprint;
                                      written last
                       triples.npy    int64 [n, 3], sorted: every triple (train, valid and test) whose
                                      head lies in the rank's head range, and no other
                       feat_<m>.npy   float32 [n_m, d]: the vectors of the entities this rank may read
                                      (its own videos and the shared entities: tags, tails, videos in
                                      no training triple), one row each
                       rows_<m>.npy   int64 [n_m]: the entity id of each row

Rank 0 reads the graph's ids, relations and integer triples (no vector) to make the split once, as one
process makes it, and broadcasts what every rank must agree on (`Plan`: the id maps, valid and test,
the embed.distributed.Layout, which entities hold each modality). Each rank then reads its own triples
(pages of its head ids, `kgstore.read.iter_out_triples`) and the vectors of the rows it may touch
(`read_features_of`), into its own runs folder: nodes share no file system. The shard is checked
against rank 0's counts and fingerprint, so a graph that changed in between fails the read.

A restarted group (elastic restart) reuses a complete shard of the same run, rank, world size and
fingerprint; anything else is read again.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kgtag.embed.feature_rows import FeatureRows
from kgtag.embed.distributed import Layout
from kgtag.kgstore.fingerprint import graph_fingerprint
from kgtag.kgstore.read import iter_out_triples, read_features_of
from kgtag.kgstore.store import StoreError

from .cache import _check_space, _Maps

MANIFEST = "manifest.json"


@dataclass
class Plan:
    """What rank 0 broadcasts before the ranks read their shards (kgtag.runs.distributed)."""

    meta: dict                      # run.json
    entities: list[str]
    relations: list[str]
    is_video: torch.Tensor
    valid: torch.Tensor             # the whole valid and test splits: small, and every rank ranks its share
    test: torch.Tensor
    layout: Layout
    per_rank: list[int]             # triples (train + valid + test) whose head lies in each rank's range
    presence: dict[str, torch.Tensor]  # modality -> bool [E]
    dims: dict[str, int]
    negatives: torch.Tensor         # the run's frozen rejected edges
    again: bool = False             # a restarted group: resume if every rank holds the same epoch


@dataclass
class Shard:
    folder: Path
    triples: torch.Tensor                    # [n, 3], this rank's head range, every split
    features: dict[str, FeatureRows]         # build_model's features: this rank's rows only


def folder_of(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / f"shard{rank}"


def build_shard(store, run_dir: Path, plan: Plan, rank: int) -> Shard:
    """This rank's shard, read from Neo4j (or reused after a restart); checked against rank 0's plan."""
    folder = folder_of(run_dir, rank)
    expect = {"run": plan.meta["id"], "rank": rank, "world": len(plan.per_rank),
              "fingerprint": plan.meta["graph_fingerprint"], "triples": plan.per_rank[rank]}
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if {k: manifest.get(k) for k in expect} == expect:
            return _open(folder, manifest, plan)
    except (OSError, ValueError):
        pass
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        manifest = _read(store, staging, plan, rank, expect)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return _open(folder, manifest, plan)


def _read(store, staging: Path, plan: Plan, rank: int, expect: dict) -> dict:
    started = time.perf_counter()
    lo, hi = (int(b) for b in plan.layout.bounds[rank:rank + 2])
    entities = plan.entities
    index, rel_index = pd.Index(entities), pd.Index(plan.relations)
    pages = [page.codes(index, rel_index) for page in iter_out_triples(store, entities[lo:hi])]
    triples = np.concatenate(pages) if pages else np.zeros((0, 3), dtype=np.int64)
    if (triples < 0).any() or len(triples) != expect["triples"]:
        raise StoreError(f"the graph changed since rank 0 read it ({len(triples)} triples in rank {rank}'s head range, "
                         f"{expect['triples']} expected); start the run again")
    triples = triples[np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))]
    # the rows this rank may read: its own videos and the shared entities (embed.distributed.Ranks.visible)
    visible = ((plan.layout.owner == -1) | (plan.layout.owner == rank)).numpy()
    rows = {m: np.flatnonzero(visible & plan.presence[m].numpy()) for m in plan.dims}
    _check_space(staging, triples.nbytes + sum(max(len(r), 1) * (plan.dims[m] * 4 + 8) for m, r in rows.items()))
    np.save(staging / "triples.npy", triples)
    maps = _Maps(staging)
    ids = np.asarray(entities, dtype=object)
    for m, dim in plan.dims.items():
        np.save(staging / f"rows_{m}.npy", rows[m].astype(np.int64))
        out = maps(f"feat_{m}", (max(len(rows[m]), 1), dim), np.float32)  # a memory map cannot be empty
        read_features_of(store, m, dim, ids[rows[m]], out)
        maps.flush()
    if graph_fingerprint(store)["hash"] != expect["fingerprint"]:
        raise StoreError(f"the graph changed while rank {rank} read its shard (an ingest or a review ran meanwhile); "
                         "start the run again")
    return {**expect, "heads": [lo, hi], "rows": {m: len(r) for m, r in rows.items()},
            "read_seconds": round(time.perf_counter() - started, 3)}


def _open(folder: Path, manifest: dict, plan: Plan) -> Shard:
    triples = torch.from_numpy(np.load(folder / "triples.npy"))
    features = {}
    for m in plan.dims:
        rows = torch.from_numpy(np.load(folder / f"rows_{m}.npy"))
        slot = torch.full((len(plan.entities),), -1, dtype=torch.long)
        slot[rows] = torch.arange(len(rows))
        matrix = torch.from_numpy(np.load(folder / f"feat_{m}.npy", mmap_mode="c"))
        features[m] = FeatureRows(matrix, plan.presence[m], slot)
    return Shard(folder, triples, features)


def own_train(shard: Shard, plan: Plan) -> torch.Tensor:
    """The shard's training triples: its triples less the held-out ones (rank 0's split)."""
    from kgtag.embed.sampling import triple_keys

    n_e, n_r = len(plan.entities), len(plan.relations)
    held = triple_keys(torch.cat([plan.valid, plan.test]), n_e, n_r)
    return shard.triples[~torch.isin(triple_keys(shard.triples, n_e, n_r), held)]
