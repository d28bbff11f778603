"""Tags for videos that arrive after training (`kgtag infer --new`): wall time, and quality of the new
videos against the trained (warm) ones.

    eval "$(docker/neo4j-local env)"   # a scratch database: it is wiped (bench/ingest.py's `prepare`)
    .venv/bin/python bench/new_videos.py [--videos 10000] [--new 10000] [--graph topic] [--epochs 20]

A seeded graph of videos + new videos (`embed.generators`, all three modalities) is generated; the new
videos are held out entirely. The rest is ingested and a TransFusion-VAT run trained (`fast` preset).
Then the new videos' features are ingested, and one triple each for half of them. `kgtag infer --run
RUN --new --top-k 10` runs as a subprocess (timed: load, read features, carry rows, rank, write).

Quality, one protocol for both: tail prediction (video, r, ?), candidates the relation's range (tails
seen with r in training), filtered (the run's split, every triple in the graph, the scored triples).
New videos: MRR / Hits@10 on their triples not ingested (never seen by the run), with the MRR random
ranking gets under the same protocol. Warm videos: the run's **test** split (read once).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
import tempfile

import torch

sys.path.insert(0, str(Path(__file__).parent))
from ingest import prepare  # noqa: E402  (the bench-database check and wipe)

from kgtag.synthetic.generators import GENERATORS  # noqa: E402
from kgtag.kgstore.store import Settings, Store  # noqa: E402
from kgtag.runs import RunPlan, load_run, score_run, train_run  # noqa: E402
from kgtag.runs.grow import choose_videos  # noqa: E402
from kgtag.runs.synthetic_graph import held_out_quality, hold_out_videos, ingest_part, named, touching  # noqa: E402

KGTAG = str(Path(sys.executable).with_name("kgtag"))
MODALITIES = ("vision", "audio", "text")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000, help="videos in the trained graph")
    parser.add_argument("--new", type=int, default=10_000, help="videos that arrive after training")
    parser.add_argument("--graph", choices=sorted(GENERATORS), default="topic")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs [default: the preset's]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="wipe a database that holds other data")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; graph {args.graph}, "
          f"{args.videos} videos trained + {args.new} new, seed {args.seed}", flush=True)
    kg = GENERATORS[args.graph](seed=args.seed, n_videos=args.videos + args.new)
    held = hold_out_videos(kg, args.new / (args.videos + args.new), args.seed)
    triples = kg.all_triples()
    videos = torch.nonzero(kg.is_video).squeeze(1)
    runs = Path(tempfile.mkdtemp(prefix="kgtag-new-videos-"))
    with Store.connect(Settings.from_env()) as store:
        prepare(store, args.force)
        t0 = time.perf_counter()
        ingest_part(store, kg, triples[~touching(triples, held)], videos[~torch.isin(videos, held)])
        print(f"ingested the trained part in {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        node = train_run(store, RunPlan(variant="transfusion", modalities=MODALITIES, epochs=args.epochs,
                                        seed=args.seed), runs, progress=False)
        print(f"trained {node['id']} in {time.perf_counter() - t0:.0f} s", flush=True)
        warm = score_run(load_run(store, node["id"], runs))["filtered"]

        theirs = triples[touching(triples, held)]
        theirs = theirs[torch.argsort(theirs[:, 0], stable=True)]
        first = theirs[torch.isin(theirs[:, 0], held[::2])]
        first = first[torch.cat([torch.tensor([True]), first[1:, 0] != first[:-1, 0]])]
        t0 = time.perf_counter()
        ingest_part(store, kg, first, held)
        print(f"ingested {len(held)} new videos' features and {len(first)} of their triples in "
              f"{time.perf_counter() - t0:.0f} s (load average {os.getloadavg()[0]:.1f})", flush=True)

        t0 = time.perf_counter()
        out = subprocess.run([KGTAG, "infer", "--run", node["id"], "--new", "--top-k", "10", "--runs-dir", str(runs),
                              "--json"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if out.returncode:
            sys.exit(out.stderr)
        print(f"kgtag infer --new --top-k 10: {wall:.1f} s wall for {len(held)} new videos "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)

        grown, _ = choose_videos(store, load_run(store, node["id"], runs), None, new=True, run_videos=False)
        have = {(h, t) for h, _, t in named(kg, first)}
        new = held_out_quality(store, grown, [x for x in named(kg, theirs) if (x[0], x[2]) not in have])
    print("\nprotocol: tail prediction (video, r, ?), candidates = the relation's range, filtered")
    print(f"new videos (held-out tags, never trained on): MRR {new['mrr']:.3f}, Hits@10 {new['hits10']:.3f} "
          f"on {new['count']} triples; random ranking MRR {new['chance_mrr']:.3f}")
    print(f"warm videos (the run's test split): MRR {warm['mrr']:.3f}, Hits@10 {warm['hits10']:.3f} "
          f"on {warm['count']} triples")


if __name__ == "__main__":
    main()
