"""Write-back: INFERRED edges per second through `kgstore.results.write_inferred`, one block per transaction.

    KGTAG_NEO4J_HOME=... NEO4J_URI=... NEO4J_PASSWORD=... \\
    .venv/bin/python bench/writeback.py [--videos 20000] [--tags 2000] [--relations 6] [--top-k 10] [--block 1000] [--writers 1]
        [--segments 0] [--force]

Wipes the database (bench/ingest.py's `prepare`: it refuses one holding non-bench data unless --force),
creates the videos and tags as entities, then writes top-k edges for every (video, relation) in blocks
of `--block` videos exactly as `kgtag infer` does, twice: a first pass into an empty graph, and a
second that replaces the first's pending edges. Prints edges/s on the wall clock and per CPU-second of
the Neo4j server (when it is the local docker/neo4j-local one), since on a shared machine the wall
clock mostly measures waiting for a core. `--segments S` writes S modality-attention weights on each
edge too (the list `attention`, as a run with relation-conditioned attention does): their cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ingest import neo4j_cpu_seconds, prepare  # noqa: E402

from kgtag.kgstore import ingest, results  # noqa: E402
from kgtag.kgstore.store import Store, cypher  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=20000)
    p.add_argument("--tags", type=int, default=2000)
    p.add_argument("--relations", type=int, default=6)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--block", type=int, default=1000)
    p.add_argument("--writers", type=int, default=1, help="blocks written at once, each its own transaction")
    p.add_argument("--segments", type=int, default=0, help="attention weights per edge (0: none, as runs without "
                   "relation-conditioned attention)")
    p.add_argument("--force", action="store_true")
    a = p.parse_args()
    videos = np.array([f"video-{i:07d}" for i in range(a.videos)], dtype=object)
    tags = np.array([f"tag-{i:05d}" for i in range(a.tags)], dtype=object)
    relations = [f"relation_{r}" for r in range(a.relations)]
    with Store.connect() as store:
        prepare(store, a.force)
        eids, _ = ingest.upsert_entities(store, videos)
        store.write_batches(len(eids), 10_000, lambda tx, i, j: tx.run(
            cypher("ingest_videos_mark"), eids=eids[i:j].tolist(), props=[{}] * (j - i)).consume())
        ingest.upsert_entities(store, tags)
        results.write_run(store, {"id": "bench-writeback"})
        print(f"{a.videos} videos x {a.relations} relations x top-{a.top_k} = "
              f"{a.videos * a.relations * a.top_k:,} edges, {a.block} videos a transaction, {a.writers} at once, "
              f"{a.segments} attention weights an edge; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        per_video = a.relations * a.top_k

        def write_block(s: int) -> int:
            block = videos[s:s + a.block]
            n = len(block) * per_video
            r = np.random.default_rng(s)
            weights = r.random((n, a.segments))
            attention = weights / weights.sum(1, keepdims=True) if a.segments else None
            return results.write_inferred(
                store, "bench-writeback", np.repeat(block, per_video),
                np.tile(np.repeat(relations, a.top_k), len(block)), r.choice(tags, size=n),
                r.random(n), r.random(n), np.tile(np.arange(1, a.top_k + 1), len(block) * a.relations),
                replace=(block.tolist(), relations), attention=attention)

        for name in ("first pass", "replace pass"):
            server0, wall0 = neo4j_cpu_seconds(), time.perf_counter()
            with ThreadPoolExecutor(a.writers) as pool:
                written = sum(pool.map(write_block, range(0, a.videos, a.block)))
            wall = time.perf_counter() - wall0
            line = f"{name}: {written:,} edges in {wall:.1f} s = {written / wall:,.0f} edges/s wall"
            if server0 is not None:
                cpu = neo4j_cpu_seconds() - server0
                line += f"; Neo4j used {cpu:.1f} CPU-s = {written / cpu:,.0f} edges per server CPU-second"
            print(line, flush=True)
        stored = store.query("review_count", routing="r", relation=None, run=None, min_conf=0.0, max_conf=1.0)
        print(f"pending edges stored after both passes: {stored[0][0]:,}")


if __name__ == "__main__":
    main()
