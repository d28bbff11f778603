"""Folding a new video's existing triples into its z_K (`embed.fold_in`): the choice of steps and
learning rate on validation, then the test split read once (no Neo4j).

    .venv/bin/python bench/fold_in.py [--videos 1000] [--epochs 10] [--graphs topic,channel,factor]

Per generator (seed 0): 15 % of the videos are held out of training entirely (they are in the model
as videos without a training triple, which is what `kgtag infer --new` builds: z_K = 0); each arrives
with its first two triples. Their other triples are split by video: the held-out videos at even
positions give the **validation** queries, the others the **test** queries. Protocol: tail
prediction (video, r, ?), candidates the relation's range in training, filtered (every triple of the
graph). Rows: z_K = 0 (the cold-start rule), then fold-in with each (steps, lr); the test MRR is
printed for the chosen setting only (`embed.fold_in.STEPS`, `LR`).
"""

from __future__ import annotations

import argparse
import os

import torch

from kgtag.embed.ranking import evaluate
from kgtag.embed.fold_in import LR, STEPS, fold_in_
from kgtag.synthetic.generators import GENERATORS
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset, preset
from kgtag.embed.trainer import train

GRID = [(10, 0.05), (30, 0.05), (30, 0.2), (100, 0.05)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--graphs", default="topic,channel,factor")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.videos} videos, {args.epochs} epochs "
          "(fast preset, 1 thread), seed 0; tail prediction, range candidates, filtered")
    for name in args.graphs.split(","):
        kg = GENERATORS[name](seed=0, n_videos=args.videos)
        triples = kg.all_triples()
        videos = torch.nonzero(kg.is_video).squeeze(1)
        g = torch.Generator().manual_seed(0)
        held = videos[torch.randperm(len(videos), generator=g)[: int(0.15 * len(videos))]].sort().values
        touch = torch.isin(triples[:, 0], held) | torch.isin(triples[:, 2], held)
        train_t, theirs = triples[~touch], triples[touch]
        theirs = theirs[torch.argsort(theirs[:, 0], stable=True)]
        idx = torch.arange(len(theirs))
        starts = torch.cat([torch.tensor([True]), theirs[1:, 0] != theirs[:-1, 0]])
        occurrence = idx - torch.cummax(torch.where(starts, idx, torch.zeros_like(idx)), 0).values
        given, rest = theirs[occurrence < 2], theirs[occurrence >= 2]
        valid = rest[torch.isin(rest[:, 0], held[::2])]
        test = rest[~torch.isin(rest[:, 0], held[::2])]
        torch.manual_seed(0)
        model = build_model(ModelConfig(variant="transfusion", modalities=tuple(kg.features), **model_preset("fast")),
                            kg.num_entities, kg.num_relations, kg.features)
        train(model, train_t, preset("fast", device="cpu", num_threads=1, epochs=args.epochs), progress=False)
        tags = torch.nonzero(~kg.is_video).squeeze(1)
        protocol = dict(filter_triples=triples, candidates="relation", constraint_triples=train_t, range_fallback=tags)

        def mrr(t):
            return evaluate(model, t, **protocol)["filtered"]["mrr"]

        print(f"{name}: {len(held)} new videos, {len(given)} triples given, {len(valid)} valid / {len(test)} test queries")
        print(f"  z_K = 0        valid MRR {mrr(valid):.3f}   test MRR {mrr(test):.3f}")
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for steps, lr in GRID:
            model.load_state_dict(state)
            fold_in_(model, given, train_t, steps, lr)
            chosen = (steps, lr) == (STEPS, LR)
            print(f"  fold-in {steps:>3} x {lr:<4} valid MRR {mrr(valid):.3f}" + (f"   test MRR {mrr(test):.3f}" if chosen else ""))


if __name__ == "__main__":
    main()
