"""Scaling A/B, interleaved: per round and model, 1 rank x 1 thread, then 2 ranks x 1 thread with an
older kgtag (OLD: a folder holding a `kgtag` package, e.g. main's tree before a change assembled as
the package-dir mapping of pyproject.toml lays it out), with this tree's, and with no exchange at all
(the ceiling), so that old and new see the same machine (docs/distributed.md, "Measured").

    .venv/bin/python bench/distributed_ab.py VIDEOS ROUNDS TransE,TransFusion-VAT [OLD]

Topic graph, `fast`, 1 epoch, gloo on 127.0.0.1; bench/distributed.py's workers. Without OLD the
"old" line is skipped.
"""
import os, sys, tempfile
from pathlib import Path
OLD = sys.argv[4] if len(sys.argv) > 4 else None
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import distributed as B
from kgtag.synthetic import topic

def run(graph, world, variant, mods, collective, old):
    if old:
        sys.path.insert(0, OLD)
    try:
        rows = B.run(graph, world, variant, mods, 1, 1, 0, collective)
    finally:
        if old:
            sys.path.remove(OLD)
    rate = sum(r["n"] for r in rows) / max(r["seconds"] for r in rows)
    r0 = rows[0]
    return rate, r0

if __name__ == "__main__":
    videos, rounds, models = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
    kg = topic.generate(seed=0, n_videos=videos)
    data = B.graph_data(kg)
    print(f"topic {videos:,} videos, {len(kg.train):,} train triples [{B.load()}]", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        graph = str(Path(tmp) / "g.pt"); torch.save(data, graph)
        for rnd in range(rounds):
            for name in models:
                variant, mods = B.MODELS[name]
                one, _ = run(graph, 1, variant, mods, "-", False)
                print(f"r{rnd} {name:16s} 1x1            {one:9,.0f}/s [{B.load()}]", flush=True)
                for label, coll, old in (("2x1 old auto", "auto", True), ("2x1 new auto", "auto", False),
                                         ("2x1 none", "none", False)):
                    if old and OLD is None:
                        continue
                    rate, r0 = run(graph, 2, variant, mods, coll, old)
                    steps = max(r0["steps"], 1)
                    print(f"r{rnd} {name:16s} {label:14s} {rate:9,.0f}/s eff {rate / (2 * one):.2f}  "
                          f"{r0.get('rounds', 0) / steps:.2f} coll/step  {(r0['rows'] + r0['dense']) / steps / 1e3:,.1f} kB/step/rank "
                          f"(rows {r0['rows'] / steps / 1e3:,.1f}, dense {r0['dense'] / steps / 1e3:,.1f}) [{B.load()}]", flush=True)
