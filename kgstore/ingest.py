"""Ingest knowledge triples: files -> validated table -> batched, idempotent writes.

Transactions: every input file is read and validated whole before anything is written (see
`tables`); then the writes go in batches, each batch its own managed transaction (`execute_write`,
retried on transient errors). Writes are idempotent, so an interrupted ingest is completed by running
it again, and a second identical ingest creates nothing.

Speed: MERGE on a relationship re-checks the (often dense) end nodes for every row and takes locking
index seeks; instead each batch (sorted by head) locks its head nodes, reads the triples already
leaving them, drops those rows in pandas, and CREATEs only the new ones, addressing nodes by element
id (plain id seeks, no index locks). Entities are looked up first and only the missing ones created.
Batches are written one after another. Relationship writes lock both end nodes; a parallel writer
with node-disjoint blocks ("mix and batch": hash nodes into buckets, write the blocks
{bucket(head), bucket(tail)} in rounds of disjoint pairs) was measured and dropped: the record store
also locks the neighbouring relationship of each chain, so deadlocks (retried) still occur, and on two
cores it was no faster (docs/graph-model.md has the figures).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable

import neo4j
import numpy as np
import pandas as pd

from kgtag.conventions import triple_key

from .fingerprint import bump_version
from .store import Store, StoreError, cypher
from .tables import read_triples

BATCH_SIZE = 20_000


@dataclass
class IngestReport:
    """What an ingest read and what it changed; `created` vs `existing` tells a re-run apart."""

    sources: list[str] = field(default_factory=list)
    rows: int = 0                 # data rows read (header and blank lines excluded)
    duplicates: int = 0           # rows repeating an earlier row of the same input
    entities_created: int = 0
    entities_existing: int = 0
    relations_created: int = 0
    triples_created: int = 0
    triples_existing: int = 0
    videos: int = 0               # video records (videos.ingest_videos)
    features_written: int = 0     # vectors stored (features.ingest_features)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self) -> str:
        parts = [f"{self.rows} rows"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate rows skipped")
        if self.videos:
            parts.append(f"{self.videos} videos")
        parts.append(f"entities {self.entities_created} new / {self.entities_existing} existing")
        parts.append(f"triples {self.triples_created} new / {self.triples_existing} existing")
        if self.features_written:
            parts.append(f"vectors {self.features_written} written")
        return ", ".join(parts) + f" ({self.seconds:.1f} s)"


def ingest_triples(store: Store, paths: str | Path | Iterable[str | Path], batch_size: int = BATCH_SIZE) -> IngestReport:
    """Ingest `head relation tail` triple files (TSV/CSV/Parquet, optionally .gz).

    All files are validated before the first write (an `InputError` names file and line). Entities
    new to the graph become `(:Entity:Tag {id})`; relation names get `(:Relation {name})` nodes.
    """
    started = time.perf_counter()
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    frames = [read_triples(p) for p in paths]
    table = pd.concat([f[["head", "relation", "tail"]] for f in frames], ignore_index=True) if frames else \
        pd.DataFrame(columns=["head", "relation", "tail"], dtype=object)
    report = IngestReport(sources=[str(p) for p in paths], rows=len(table))
    write_triple_table(store, table, report, batch_size)
    report.seconds = time.perf_counter() - started
    return report


def write_triple_table(store: Store, table: pd.DataFrame, report: IngestReport, batch_size: int = BATCH_SIZE) -> None:
    """Write validated (head, relation, tail) rows: entities, relations, then the new triples."""
    unique = table.drop_duplicates(["head", "relation", "tail"])
    report.duplicates += len(table) - len(unique)
    if unique.empty:
        return
    bump_version(store)  # before and after: a cache read while the batches run matches neither
    # integer codes for everything from here on: sorting and set work on ints, not strings
    codes, ids = pd.factorize(pd.concat([unique["head"], unique["tail"]], ignore_index=True))
    ids = np.asarray(ids, dtype=object)
    heads, tails = codes[:len(unique)], codes[len(unique):]
    relations, names = pd.factorize(unique["relation"])
    eids, created = upsert_entities(store, ids, batch_size)
    report.entities_created += created
    report.entities_existing += len(ids) - created
    report.relations_created += upsert_relations(store, np.asarray(names, dtype=object))
    created = write_triples(store, eids, heads, np.asarray(names, dtype=object), relations, tails, batch_size)
    report.triples_created += created
    report.triples_existing += len(unique) - created
    bump_version(store)


def upsert_entities(store: Store, ids: np.ndarray, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, int]:
    """Element ids of the entities `ids` (aligned), creating the missing ones; and how many were new."""
    ids = np.asarray(ids, dtype=object)
    eids = np.empty(len(ids), dtype=object)
    created = 0
    # not store.write_batches: a batch that lost a race with another writer's CREATE is redone here
    with store.session() as session:
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            for attempt in range(3):
                try:
                    found, new = session.execute_write(_upsert_entity_batch, chunk.tolist())
                    break
                except neo4j.exceptions.ConstraintError:
                    if attempt == 2:  # another writer keeps creating the same ids
                        raise
            eids[start:start + batch_size] = found
            created += new
    return eids, created


def _upsert_entity_batch(tx, ids: list[str]) -> tuple[np.ndarray, int]:
    record = tx.run(cypher("ingest_entities_lookup"), ids=ids).single()
    known = pd.Series(record["eids"], index=record["ids"], dtype=object)
    eids = known.reindex(ids).to_numpy(dtype=object, copy=True)
    missing = pd.isna(eids)
    if missing.any():
        new_ids = [i for i, m in zip(ids, missing) if m]
        eids[missing] = tx.run(cypher("ingest_entities_create"), ids=new_ids).single()["eids"]
    return eids, int(missing.sum())


def upsert_relations(store: Store, names: Iterable[str]) -> int:
    """MERGE a (:Relation {name}) per name; returns how many were new."""
    names = list(names)
    if not names:
        return 0
    with store.session() as session:
        counters = session.execute_write(lambda tx: tx.run(cypher("ingest_relations"), names=names).consume().counters)
    return counters.nodes_created


def write_triples(store: Store, eids: np.ndarray, heads: np.ndarray, relation_names: np.ndarray,
                  relations: np.ndarray, tails: np.ndarray, batch_size: int = BATCH_SIZE) -> int:
    """Create the TRIPLE edges that do not exist yet; returns how many.

    `heads`, `tails` index `eids` (node element ids), `relations` index `relation_names`; rows must be
    unique. Sorted by head so each batch touches few head nodes and reads their existing triples once.
    Batches run one after another (see the module docstring for why not in parallel).
    """
    order = np.argsort(heads, kind="stable")
    heads, relations, tails = heads[order], relations[order], tails[order]
    context = (eids, pd.Index(eids), relation_names, pd.Index(relation_names))
    return sum(store.write_batches(len(heads), batch_size, lambda tx, a, b: _write_triple_batch(
        tx, context, heads[a:b], relations[a:b], tails[a:b])))


def _write_triple_batch(tx, context, heads: np.ndarray, relations: np.ndarray, tails: np.ndarray) -> int:
    eids, eid_index, names, name_index = context
    distinct = eids[np.unique(heads)].tolist()
    tx.run(cypher("ingest_triples_lock"), heads=distinct).consume()
    old = tx.run(cypher("ingest_triples_existing"), heads=distinct).single()
    if old["h"]:
        known = _keys(eid_index.get_indexer(old["h"]), name_index.get_indexer(old["r"]), eid_index.get_indexer(old["t"]), len(eids), len(names))
        new = ~np.isin(_keys(heads, relations, tails, len(eids), len(names)), known)
        heads, relations, tails = heads[new], relations[new], tails[new]
    if len(heads) == 0:
        return 0
    nodes = np.unique(np.concatenate([heads, tails]))
    rels = np.unique(relations)
    summary = tx.run(
        cypher("ingest_triples_create"), nodes=eids[nodes].tolist(), hi=np.searchsorted(nodes, heads).tolist(),
        ti=np.searchsorted(nodes, tails).tolist(), rels=names[rels].tolist(), ri=np.searchsorted(rels, relations).tolist(),
    ).consume()
    if summary.counters.relationships_created != len(heads):
        raise StoreError("entities of this ingest were deleted while it ran; run the ingest again")
    return len(heads)


def _keys(h: np.ndarray, r: np.ndarray, t: np.ndarray, n_entities: int, n_relations: int) -> np.ndarray:
    """One int64 per (head, relation, tail) code triple; -1 codes (not in this ingest) never match."""
    h, r, t = (np.asarray(x, dtype=np.int64) for x in (h, r, t))
    keys = triple_key(h, r, t, n_entities, n_relations)
    return np.where((h < 0) | (r < 0) | (t < 0), -1, keys)
