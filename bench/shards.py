"""What each rank of a distributed run reads from Neo4j (its shard) against the whole graph, and
distributed inference's wall time.

    KGTAG_NEO4J_HOME=... NEO4J_URI=... NEO4J_PASSWORD=... \\
    .venv/bin/python bench/shards.py [--videos 5000] [--procs 2] [--epochs 1] [--block 1000] [--force]

Wipes the database (bench/ingest.py's `prepare`: it refuses one holding non-bench data unless
--force), puts `topic.generate(seed=0, n_videos=N)` in (triples, vision/audio/text vectors; as the
growth tests do, `kgtag.runs.synthetic_graph.ingest_part`), then runs, each in a fresh process with one thread per rank:

- `kgtag train --model transfusion --modalities vision,audio,text --procs P --epochs E`, each rank
  with its own runs folder layout as on a cluster (one folder here: the shards are per rank anyway);
  per rank: the triples and vector rows of its shard against the whole graph's, the shard's bytes
  against the run's whole cache (which rank 0 writes after training), and the seconds its read took;
- `kgtag infer --all --min-confidence 0 --top-k 10` with --procs 1 and --procs P on that run: wall
  seconds and edges written.

Timings depend on the machine's load: the load average is printed with each line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest import prepare  # noqa: E402

import torch  # noqa: E402

from kgtag.kgstore.store import Settings, Store, StoreError  # noqa: E402
from kgtag.runs.synthetic_graph import ingest_part  # noqa: E402
from kgtag.synthetic import topic  # noqa: E402

MODS = ("vision", "audio", "text")


def kgtag(*args: str, cwd: Path, threads: int | None = None) -> tuple[dict, float]:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kgtag", *args, "--json"], capture_output=True, text=True, cwd=cwd,
                          env=env)
    if done.returncode != 0:
        sys.exit(f"bench: kgtag {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout), time.perf_counter() - started


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=5000)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--block", type=int, default=1000, help="infer's --block (videos a write transaction)")
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    try:
        store = Store.connect(Settings.from_env())
    except StoreError as exc:
        sys.exit(f"bench: {exc}")
    with store:
        prepare(store, args.force)
    with tempfile.TemporaryDirectory(prefix="kgtag-shards-") as tmp:
        tmp = Path(tmp)
        kg = topic.generate(seed=0, n_videos=args.videos)
        with Store.connect(Settings.from_env()) as store:  # as the growth tests put a generated graph in
            ingest_part(store, kg, kg.all_triples(), torch.nonzero(kg.is_video).squeeze(1))
        runs = tmp / "runs"
        node, seconds = kgtag("train", "--model", "transfusion", "--modalities", ",".join(MODS), "--epochs",
                              str(args.epochs), "--procs", str(args.procs), "--threads", "1", "--quiet",
                              "--runs-dir", str(runs), cwd=tmp)
        run_dir = runs / node["id"]
        meta = json.loads((run_dir / "run.json").read_text())
        cache = json.loads((run_dir / "cache" / "manifest.json").read_text())
        whole_triples = cache["counts"]["triples"]
        whole_rows = {m: cache["modalities"][m]["vectors"] for m in MODS}
        print(f"graph: {args.videos} videos, {meta['counts']['entities']} entities, {whole_triples} triples, "
              f"vectors {whole_rows}; run cache {size(run_dir / 'cache') / 1e6:.1f} MB")
        print(f"train --procs {args.procs} --epochs {args.epochs} --threads 1: {seconds:.1f} s wall ({load()})")
        for k in range(args.procs):
            shard = json.loads((run_dir / f"shard{k}" / "manifest.json").read_text())
            rows = shard["rows"]
            print(f"  rank {k}: {shard['triples']} triples ({shard['triples'] / whole_triples:.0%}), vector rows "
                  + ", ".join(f"{m} {rows[m]} ({rows[m] / max(whole_rows[m], 1):.0%})" for m in MODS)
                  + f"; shard {size(run_dir / f'shard{k}') / 1e6:.1f} MB; read in {shard['read_seconds']:.1f} s")
        for procs in (1, args.procs):
            out, seconds = kgtag("infer", "--run", node["id"], "--all", "--min-confidence", "0", "--top-k", "10",
                                 "--procs", str(procs), "--threads", "1", "--block", str(args.block), "--quiet",
                                 "--runs-dir", str(runs), cwd=tmp,
                                 threads=1)
            print(f"infer --all --procs {procs} --threads 1 --block {args.block}: {out['written']} edges for {out['videos']} videos in "
                  f"{seconds:.1f} s wall ({load()})")


if __name__ == "__main__":
    main()
