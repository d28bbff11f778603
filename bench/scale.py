"""Scale: every stage through the CLI on seeded video graphs of growing size, against a dedicated Neo4j.

    KGTAG_NEO4J_HOME=... NEO4J_URI=... NEO4J_PASSWORD=... \\
    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--force] [--out DIR] [--stages ingest,train,infer]

Graphs: `topic.generate(seed=0, n_videos=N)` (about 11-12 triples per video, vision 512-d,
audio 128-d, text 256-d), written as one triples TSV and one Parquet file per modality. For each
size the database is wiped (bench/ingest.py's `prepare`: it refuses a database with non-bench data
unless --force) and the stages run as `kgtag` subprocesses:

    ingest triples, ingest features x3, train --model transe --epochs 1,
    train --model transfusion --modalities vision,audio,text --epochs 1, infer --run RUN --all --top-k 10

Per stage: wall seconds, the stage process's peak RSS (/usr/bin/time's %M; and, sampled, its peak
anonymous RSS: the peak RSS less the resident pages of file maps such as the run cache), and the
Neo4j's bytes on disk after it (store files + transaction logs under
$KGTAG_NEO4J_HOME/data/{databases,transactions}/neo4j; they do not shrink when the previous size is
wiped, so run sizes in ascending order). Also the stage's user and sys CPU seconds (kernel time,
issue 12 item 7). Last, the growth exponent k of
each stage between consecutive sizes (time ~ N^k, RSS ~ N^k). 1M videos: by hand (`--sizes 1000000`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from ingest import prepare  # noqa: E402  (bench/ingest.py: the bench-database check and wipe)

from kgtag.synthetic import topic  # noqa: E402
from kgtag.kgstore.store import Settings, Store  # noqa: E402

KGTAG = str(Path(sys.executable).with_name("kgtag"))
MODALITIES = ("vision", "audio", "text")


def write_graph(n_videos: int, folder: Path) -> tuple[int, dict[str, Path]]:
    """The seeded graph as triples.tsv + features_<m>.parquet; returns (number of triples, files)."""
    kg = topic.generate(seed=0, n_videos=n_videos)
    names = np.array(kg.entities, dtype=object)
    rels = np.array(kg.relations, dtype=object)
    t = kg.all_triples().numpy()
    lines = names[t[:, 0]] + "\t" + rels[t[:, 1]] + "\t" + names[t[:, 2]] + "\n"
    (folder / "triples.tsv").write_text("".join(lines.tolist()), encoding="utf-8")
    files = {"triples": folder / "triples.tsv"}
    for m in MODALITIES:
        matrix, mask = kg.features[m]
        rows = np.nonzero(mask.numpy())[0]
        vectors = matrix.numpy()[rows].astype(np.float32)
        values = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        table = pa.table({"id": pa.array(names[rows].tolist(), pa.string()), "vector": values.cast(pa.list_(pa.float32()))})
        pq.write_table(table, folder / f"features_{m}.parquet")
        files[m] = folder / f"features_{m}.parquet"
    return len(t), files


def store_bytes(home: Path | None) -> int | None:
    """Bytes on disk of the database: store files plus transaction logs (Community has no
    db.checkpoint(); until the periodic checkpoint much of the new data is only in the log)."""
    if home is None:
        return None
    folders = [home / "data" / "databases" / "neo4j", home / "data" / "transactions" / "neo4j"]
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file())


def run_stage(args: list[str], cwd: Path) -> tuple[float, int, float, float, str, int]:
    """(wall s, peak RSS bytes, user s, sys s, stdout, peak anonymous RSS bytes) of one `kgtag` command
    under /usr/bin/time; fails loudly on a non-zero exit. Peak RSS counts the resident pages of memory
    maps too (the run cache's files: page cache the kernel may drop); the anonymous part (the process's
    own memory) is sampled from /proc every 50 ms."""
    usage = cwd / "usage.txt"
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %U %S", "-o", str(usage), KGTAG, *args],
                                stdout=out, stderr=err, text=True, cwd=cwd)
        anon = 0
        while proc.poll() is None:
            anon = max(anon, _anon_rss(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"`kgtag {' '.join(args)}` failed with exit {proc.returncode}:\n{stderr[-3000:]}")
    rss, user, system = usage.read_text().split()[-3:]
    return wall, int(rss) * 1024, float(user), float(system), stdout, anon


def _anon_rss(time_pid: int) -> int:
    """RssAnon of /usr/bin/time's child (the kgtag process), 0 when it is not there (yet, or any more)."""
    try:
        child = Path(f"/proc/{time_pid}/task/{time_pid}/children").read_text().split()[0]
        status = Path(f"/proc/{child}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssAnon:"))) * 1024
    except (OSError, IndexError, StopIteration, ValueError):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of videos, ascending")
    parser.add_argument("--force", action="store_true", help="wipe a database that holds other data")
    parser.add_argument("--out", type=Path, help="keep the generated files and runs here [default: a temp dir]")
    parser.add_argument("--stages", default="ingest,train,infer",
                        help="which stages to run, by first word; without ingest, the graph an earlier run with the "
                             "same --out left in the database is used (no generation, no wipe)")
    args = parser.parse_args()
    kinds = set(args.stages.split(","))
    if not kinds <= {"ingest", "train", "infer"}:
        sys.exit("--stages takes a comma-separated subset of ingest,train,infer")
    sizes = [int(s) for s in args.sizes.split(",")]
    home = Path(os.environ["KGTAG_NEO4J_HOME"]) if os.environ.get("KGTAG_NEO4J_HOME") else None
    settings = Settings.from_env()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Neo4j {settings.uri}, store under {home}")
    results: dict[int, dict[str, tuple[float, int]]] = {}
    base = args.out or Path(tempfile.mkdtemp(prefix="kgtag-scale-"))
    for n in sizes:
        folder = base / f"{n}"
        folder.mkdir(parents=True, exist_ok=True)
        if "ingest" not in kinds:
            files = {"triples": folder / "triples.tsv", **{m: folder / f"features_{m}.parquet" for m in MODALITIES}}
            print(f"\n{n} videos: the graph already in the database", flush=True)
        else:
            t0 = time.perf_counter()
            n_triples, files = write_graph(n, folder)
            print(f"\n{n} videos, {n_triples} triples: generated and written in {time.perf_counter() - t0:.0f} s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
            with Store.connect(settings) as store:
                prepare(store, args.force)
        runs = ["--runs-dir", str(folder / "runs")]
        stages = [("ingest triples", ["ingest", "triples", str(files["triples"])])]
        stages += [(f"ingest features {m}", ["ingest", "features", "--modality", m, str(files[m])]) for m in MODALITIES]
        stages += [("train transe", ["train", "--model", "transe", "--epochs", "1", "--quiet", "--json", *runs]),
                   ("train transfusion-VAT", ["train", "--model", "transfusion", "--modalities", ",".join(MODALITIES),
                                              "--epochs", "1", "--quiet", "--json", *runs])]
        results[n] = {}
        run_id = None
        stages += [("infer --all top-10", None)]
        for name, command in [stage for stage in stages if stage[0].split()[0] in kinds]:
            if name.startswith("infer") and run_id is None:  # the newest run an earlier invocation left
                run_id = max((folder / "runs").iterdir(), key=lambda p: p.stat().st_mtime).name
            if command is None:
                command = ["infer", "--run", run_id, "--all", "--top-k", "10", "--quiet", *runs]
            wall, rss, user, system, out, anon = run_stage(command, folder)
            if name.startswith("train"):
                run_id = json.loads(out)["id"]
            results[n][name] = (wall, rss)
            size = store_bytes(home)
            print(f"{name:<24} {wall:8.1f} s  peak RSS {rss / 2**30:6.2f} GB (anonymous {anon / 2**30:5.2f} GB)  "
                  f"store {'?' if size is None else f'{size / 2**30:6.2f} GB'}  "
                  f"user {user:6.1f} s  sys {system:6.1f} s  (load average {os.getloadavg()[0]:.1f})", flush=True)
            if name.startswith("infer"):
                with Store.connect(settings) as store:
                    edges = store.query("review_count", routing="r", relation=None, run=run_id, min_conf=0.0,
                                        max_conf=1.0)[0]["n"]
                print(f"{'':24} {edges:,} INFERRED edges written = {edges / wall:,.0f} edges/s over the stage's wall", flush=True)
    for small, large in zip(sizes, sizes[1:]):
        print(f"\ngrowth exponent k between {small} and {large} videos (time ~ N^k, RSS ~ N^k):")
        for name, (wall, rss) in results[large].items():
            w0, r0 = results[small][name]
            f = math.log(large / small)
            print(f"{name:<24} time k = {math.log(wall / w0) / f:5.2f}   RSS k = {math.log(rss / r0) / f:5.2f}")


if __name__ == "__main__":
    main()
