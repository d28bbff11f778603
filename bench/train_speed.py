"""Training speed: our TransE against PyKEEN 1.11's SLCWATrainingLoop, same settings, same run.

    .venv/bin/python bench/train_speed.py [--threads 2]      (PyKEEN: the `bench` extra)

FB15k-237 train split, TransE dim 64, batch 1000, 1 negative per positive (uniform corruption),
Adam; one timed epoch after a warm-up epoch, for each library. Then TransFusion-VAT's cost per
epoch relative to TransE with random 512/128/384-d features (target <= 2.5x).
Last line: ``ratio X.XX`` (our triples/s over PyKEEN's; target >= 3).
"""

from __future__ import annotations

import argparse
import time

import torch

from fb15k237 import load
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import TrainConfig
from kgtag.embed.trainer import train

DIM, BATCH, NEG, LR = 64, 1000, 1, 1e-3


def ours_epoch(model, triples, threads: int) -> float:
    """Seconds of one epoch of our trainer (after a warm-up epoch)."""
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, num_negatives=NEG, sampler="uniform", device="cpu", num_threads=threads)
    train(model, triples, cfg, progress=False)  # warm-up
    t0 = time.perf_counter()
    train(model, triples, cfg, progress=False)
    return time.perf_counter() - t0


def pykeen_epoch(splits, entities, relations, threads: int) -> float:
    """Seconds of one epoch of PyKEEN's SLCWATrainingLoop (after a warm-up epoch)."""
    import numpy as np
    from pykeen.models import TransE
    from pykeen.training import SLCWATrainingLoop
    from pykeen.triples import TriplesFactory

    torch.set_num_threads(threads)
    tf = TriplesFactory(
        mapped_triples=splits["train"],
        entity_to_id={e: i for i, e in enumerate(entities)},
        relation_to_id={r: i for i, r in enumerate(relations)},
    )
    model = TransE(triples_factory=tf, embedding_dim=DIM, scoring_fct_norm=1, random_seed=0)
    loop = SLCWATrainingLoop(
        model=model,
        triples_factory=tf,
        optimizer=torch.optim.Adam(model.parameters(), lr=LR),
        negative_sampler="basic",
        negative_sampler_kwargs=dict(num_negs_per_pos=NEG),
    )
    kw = dict(triples_factory=tf, batch_size=BATCH, use_tqdm=False, use_tqdm_batch=False)
    loop.train(num_epochs=1, **kw)  # warm-up
    t0 = time.perf_counter()
    # num_epochs is the total to reach; without continue_training PyKEEN would re-initialise and,
    # being at epoch 1 already, run no epoch at all
    losses = loop.train(num_epochs=2, continue_training=True, **kw)
    seconds = time.perf_counter() - t0
    assert len(losses) == 2 and np.isfinite(losses[-1]), losses
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    splits, entities, relations = load()
    triples = splits["train"]
    n, E, R = len(triples), len(entities), len(relations)
    print(f"FB15k-237 train: {n} triples; TransE dim {DIM}, batch {BATCH}, {NEG} negative, {args.threads} threads")

    ours = ours_epoch(build_model(ModelConfig(variant="transe", dim=DIM, p_norm=1), E, R), triples, args.threads)
    print(f"ours   TransE: {ours:6.2f} s/epoch  {n / ours:10.0f} triples/s")
    try:
        theirs = pykeen_epoch(splits, entities, relations, args.threads)
        import importlib.metadata

        print(f"PyKEEN {importlib.metadata.version('pykeen')} TransE (SLCWATrainingLoop): {theirs:6.2f} s/epoch  {n / theirs:10.0f} triples/s")
    except ImportError as exc:
        theirs = None
        print(f"PyKEEN not importable ({exc}); install the `bench` extra")

    g = torch.Generator().manual_seed(0)
    feats = {m: (torch.randn(E, d, generator=g), torch.ones(E, dtype=torch.bool))
             for m, d in (("vision", 512), ("audio", 128), ("text", 384))}
    vat = build_model(ModelConfig(variant="transfusion", modalities=("vision", "audio", "text"), dim=DIM, p_norm=1), E, R, feats)
    vat_s = ours_epoch(vat, triples, args.threads)
    print(f"ours   TransFusion-VAT: {vat_s:6.2f} s/epoch  {n / vat_s:10.0f} triples/s  "
          f"cost {vat_s / ours:.2f}x TransE (target <= 2.5x)")
    if theirs is not None:
        print(f"ratio {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
