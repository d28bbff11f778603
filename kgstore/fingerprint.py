"""The graph's fingerprint: what a run cache must match to stand for the graph, read without reading it.

Counts of entities, videos, TRIPLE edges and relations come from Neo4j's count store; the modalities
(name, dim) are a few small nodes; `version` is a counter that every writer of triples or features
bumps (`bump_version`: ingest before and after its batches, review's accept inside its transaction),
with the `epoch` the counter node got when it was created (a wiped database counts again from 1).
Counts alone would miss a re-ingest that rewrites vectors or swaps one triple for another.
"""

from __future__ import annotations

import hashlib
import json

from .store import Store, cypher


def graph_fingerprint(store: Store) -> dict:
    """{entities, videos, triples, relations, modalities, version, hash}; `hash` is what caches compare."""
    record = store.query("graph_fingerprint", routing="r")[0]
    out = {k: record[k] for k in ("entities", "videos", "triples", "relations", "version", "epoch")}
    out["modalities"] = [[str(name), int(dim)] for name, dim in record["modalities"]]
    out["hash"] = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()[:16]
    return out


def bump_version(store: Store) -> None:
    """Record that the triples or features changed (its own small write transaction)."""
    store.query("graph_version_bump")


def bump_version_in(tx) -> None:
    """The same inside a caller's write transaction (review's accept)."""
    tx.run(cypher("graph_version_bump")).consume()
