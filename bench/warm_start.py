"""Incremental training (`kgtag train --from RUN`) against a full retrain on a grown graph: wall time
and quality.

    eval "$(docker/neo4j-local env)"   # a scratch database: it is wiped (bench/ingest.py's `prepare`)
    .venv/bin/python bench/warm_start.py [--videos 5000] [--grow 0.1] [--warm-epochs 3] [--graph topic]

A seeded graph (`embed.generators`, vision/audio/text) of videos x (1 + grow) is generated and a
`grow` share of its videos held out. The rest is ingested and a TransFusion-VAT run trained fully
(`fast` preset). The held-out videos then arrive with all their triples and features, and three runs
train on the grown graph, all on the **same split** (the warm run's; the fresh ones get it as
--split files):

  warm    `train --from RUN --epochs W` (rows carried over by name)
  fresh   a full retrain, the preset's epochs
  fresh-W a fresh run of W epochs (what the same budget gives without the warm start)

Each is timed as `train_run` (pull the graph, train, evaluate, calibrate, store). Quality: tail
prediction (video, r, ?), candidates the relation's range, filtered (train + valid + test):
validation MRR (all validation triples, and those of the new videos alone) for comparing, and the
test MRR, reported once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from ingest import prepare  # noqa: E402  (the bench-database check and wipe)

from kgtag.embed.ranking import evaluate  # noqa: E402
from kgtag.synthetic.generators import GENERATORS  # noqa: E402
from kgtag.kgstore.store import Settings, Store  # noqa: E402
from kgtag.runs import RunPlan, load_run, train_run  # noqa: E402
from kgtag.runs.evaluate import candidate_args  # noqa: E402
from kgtag.runs.synthetic_graph import hold_out_videos, ingest_part, touching  # noqa: E402
from kgtag.runs.warm import warm_plan  # noqa: E402

MODALITIES = ("vision", "audio", "text")


def valid_mrr(run, heads: set[str] | None = None) -> tuple[float, int]:
    """Filtered validation MRR (range candidates), optionally of the triples whose head is in `heads`."""
    valid = run.valid
    if heads is not None:
        ids = torch.from_numpy(run.entity_names.get_indexer(list(heads))).long()
        ids = ids[ids >= 0]
        valid = valid[torch.isin(valid[:, 0], ids)]
    got = evaluate(run.model, valid, filter_triples=run.known, **candidate_args("range", run.is_video, run.train))
    return got["filtered"]["mrr"], got["filtered"]["count"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5_000, help="videos in the first graph")
    parser.add_argument("--grow", type=float, default=0.1, help="new videos, as a share of --videos")
    parser.add_argument("--warm-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="full training epochs [default: the preset's]")
    parser.add_argument("--graph", choices=sorted(GENERATORS), default="topic")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="wipe a database that holds other data")
    args = parser.parse_args()
    new = int(round(args.videos * args.grow))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; graph {args.graph}, {args.videos} videos "
          f"+ {new} new, seed {args.seed}", flush=True)
    kg = GENERATORS[args.graph](seed=args.seed, n_videos=args.videos + new)
    held = hold_out_videos(kg, new / (args.videos + new), args.seed)
    triples = kg.all_triples()
    videos = torch.nonzero(kg.is_video).squeeze(1)
    runs = Path(tempfile.mkdtemp(prefix="kgtag-warm-start-"))
    plan = dict(variant="transfusion", modalities=MODALITIES, seed=args.seed)
    with Store.connect(Settings.from_env()) as store:
        prepare(store, args.force)
        ingest_part(store, kg, triples[~touching(triples, held)], videos[~torch.isin(videos, held)])
        t0 = time.perf_counter()
        first = train_run(store, RunPlan(**plan, epochs=args.epochs), runs, progress=False)
        print(f"first run {first['id']} on {args.videos} videos: {time.perf_counter() - t0:.0f} s", flush=True)
        ingest_part(store, kg, triples[touching(triples, held)], held)

        timed = {}
        t0 = time.perf_counter()
        warm_p, start = warm_plan(store, first["id"], runs, {}, epochs=args.warm_epochs)
        node = train_run(store, warm_p, runs, progress=False, start=start)
        timed["warm"] = (node, time.perf_counter() - t0, args.warm_epochs)
        warm = load_run(store, node["id"], runs)
        split = []
        for name, t in (("valid", warm.valid), ("test", warm.test)):
            path = runs / f"{name}.tsv"
            path.write_text("".join(f"{warm.entities[h]}\t{warm.relations[r]}\t{warm.entities[x]}\n"
                                    for h, r, x in t.tolist()))
            split.append(str(path))
        for name, epochs in (("fresh", args.epochs), (f"fresh-{args.warm_epochs}", args.warm_epochs)):
            t0 = time.perf_counter()
            node = train_run(store, RunPlan(**plan, epochs=epochs, split=",".join(split)), runs, progress=False)
            timed[name] = (node, time.perf_counter() - t0, epochs or load_run(store, node["id"], runs).meta["train_config"]["epochs"])
            print(f"{name}: {timed[name][1]:.0f} s (load average {os.getloadavg()[0]:.1f})", flush=True)

        new_names = {kg.entities[i] for i in held.tolist()}
        print("\nprotocol: tail prediction (video, r, ?), candidates = the relation's range, filtered; same split for all")
        print(f"{'run':<10} {'epochs':>6} {'wall s':>7} {'valid MRR':>10} {'valid MRR new videos':>21} {'test MRR':>9}")
        for name, (node, wall, epochs) in timed.items():
            run = load_run(store, node["id"], runs)
            v, _ = valid_mrr(run)
            vn, n_new = valid_mrr(run, new_names)
            print(f"{name:<10} {epochs:>6} {wall:>7.0f} {v:>10.3f} {vn:>21.3f} {node['mrr']:>9.3f}")
        print(f"({len(warm.valid)} validation triples, {n_new} of them of new videos; test MRR is the run's "
              "own, on the test split, read once)")


if __name__ == "__main__":
    main()
