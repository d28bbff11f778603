"""Ingest and read-back benchmark: FB15k-237 (train+valid+test, 310,116 triples) plus a
14,541 x 384 float32 feature matrix (random, seeded), then everything read back.

    eval "$(docker/neo4j-local env)"     # or set NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD
    .venv/bin/python bench/ingest.py [--force]

Targets (2-core machine): >= 50,000 triples/s in, all triples back in <= 3 s, >= 5,000 vectors/s in and
out. The database is wiped: the bench refuses one that holds other data unless --force.
Timings include parsing and validation of the files; the machine's load average is printed because
other work on a 2-core machine slows Neo4j down directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kgtag.kgstore import features, ingest, read, schema
from kgtag.kgstore.store import Settings, Store, StoreError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "fb15k-237"
MARKER = "KgtagBenchDatabase"


def neo4j_cpu_seconds() -> float | None:
    """CPU time used so far by the local server of docker/neo4j-local (KGTAG_NEO4J_HOME), if it runs
    here: with other jobs on the machine, wall time alone says little."""
    home = os.environ.get("KGTAG_NEO4J_HOME")
    try:
        pid = (Path(home) / "run" / "neo4j.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (TypeError, OSError, ValueError, IndexError):
        return None


def prepare(store: Store, force: bool) -> None:
    record = store.query("bench_marker", routing="r")[0]
    if record["nodes"] and not record["marked"] and not force:
        sys.exit(f"bench: the database at {store.database!r} holds {record['nodes']} nodes that are not bench data; "
                 "point NEO4J_URI at a scratch database or pass --force to wipe it")
    with store.session() as session:
        # relationships first, in bounded transactions: DETACH DELETE of 10,000 hub nodes at once can
        # exceed the transaction memory of a small heap
        session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS").consume()
        session.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run(f"MERGE (:{MARKER})").consume()
    schema.ensure_schema(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with {train,valid,test}.txt.gz")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=ingest.BATCH_SIZE)
    parser.add_argument("--force", action="store_true", help="wipe a database that holds other data")
    args = parser.parse_args()
    files = [args.data / f"{split}.txt.gz" for split in ("train", "valid", "test")]
    try:
        store = Store.connect(Settings.from_env())
    except StoreError as exc:
        sys.exit(f"bench: {exc}")
    with store:
        prepare(store, args.force)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        server0, client0 = neo4j_cpu_seconds(), time.process_time()
        t0 = time.perf_counter()
        report = ingest.ingest_triples(store, files, batch_size=args.batch_size)
        t_in = time.perf_counter() - t0
        print(f"triples in : {report.triples_created:,} in {t_in:.2f} s = {report.triples_created / t_in:,.0f} triples/s "
              f"(target >= 50,000; includes parsing)")
        if server0 is not None:
            server, client = neo4j_cpu_seconds() - server0, time.process_time() - client0
            print(f"             CPU used: Neo4j {server:.2f} s + this process {client:.2f} s; one after the other on an "
                  f"idle machine: {report.triples_created / (server + client):,.0f} triples/s")

        t0 = time.perf_counter()
        snap = read.read_graph(store)
        t_out = time.perf_counter() - t0
        print(f"triples out: {len(snap.triples):,} in {t_out:.2f} s (target <= 3 s), "
              f"{len(snap.entities):,} entities, {len(snap.relations)} relations")
        assert len(snap.triples) == report.triples_created

        rng = np.random.default_rng(args.seed)
        matrix = rng.standard_normal((len(snap.entities), args.dim)).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "features.parquet"
            pq.write_table(pa.table({"id": snap.entities, "vector": pa.FixedSizeListArray.from_arrays(matrix.reshape(-1), args.dim)}), path)
            t0 = time.perf_counter()
            freport = features.ingest_features(store, "bench", path)
            t_fin = time.perf_counter() - t0
        print(f"vectors in : {freport.features_written:,} x {args.dim} in {t_fin:.2f} s = "
              f"{freport.features_written / t_fin:,.0f} vectors/s (target >= 5,000)")

        t0 = time.perf_counter()
        back, mask = read.read_features(store, ["bench"], snap.entities)["bench"]
        t_fout = time.perf_counter() - t0
        assert bool(mask.all()) and np.array_equal(back.numpy(), matrix)
        print(f"vectors out: {len(back):,} in {t_fout:.2f} s = {len(back) / t_fout:,.0f} vectors/s (target >= 5,000), exact")

        t0 = time.perf_counter()
        again = ingest.ingest_triples(store, files, batch_size=args.batch_size)
        print(f"re-ingest  : {again.triples_created} created, {again.triples_existing:,} existing in {time.perf_counter() - t0:.2f} s")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
