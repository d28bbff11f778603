"""Training throughput per triple as the graph grows (issue 12: "within 20% of the throughput at 10k").

    .venv/bin/python bench/throughput.py [--sizes 10000,100000] [--epochs 1] [--threads 2]

For each size: `topic.generate(seed=0, n_videos=N)`, then TransE and TransFusion-VAT (vision,
audio, text) with the `fast` preset trained for `--epochs` on the training split, in this process,
without Neo4j, validation or evaluation: the trainer's own positives-per-second (`TrainResult.triples_per_s`).
Prints each size's rate and its ratio to the first size's.
"""

from __future__ import annotations

import argparse
import os

import torch

from kgtag.synthetic import topic
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset, preset
from kgtag.embed.trainer import train

MODELS = {"TransE": ("transe", ()), "TransFusion-VAT": ("transfusion", ("vision", "audio", "text"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {a.threads} threads, {a.epochs} epoch(s), preset fast")
    first: dict[str, float] = {}
    for n in (int(s) for s in a.sizes.split(",")):
        kg = topic.generate(seed=0, n_videos=n)
        for name, (variant, mods) in MODELS.items():
            torch.manual_seed(0)
            model = build_model(ModelConfig(variant=variant, modalities=mods, **model_preset("fast")),
                                kg.num_entities, kg.num_relations, kg.features)
            config = preset("fast", seed=0, device="cpu", num_threads=a.threads, epochs=a.epochs)
            result = train(model, kg.train, config, progress=False)
            first.setdefault(name, result.triples_per_s)
            print(f"{n:>8} videos {len(kg.train):>9} train triples  {name:16s} {result.triples_per_s:10,.0f} triples/s "
                  f"({result.triples_per_s / first[name]:.2f}x the first size; load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
