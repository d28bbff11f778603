"""Cost of fusion: TransFusion-VAT's training epoch against TransE's, on FB15k-237-sized data.

    .venv/bin/python bench/fusion_speed.py [--threads 2] [--epochs-fraction 1.0] [--repeats 1]

Issue 3's target: TransFusion-VAT's cost per epoch <= 2.5x TransE's, with 14,541 entities and
272,115 training triples (FB15k-237's train split from ../shared/data when present, else a random
graph of that size), d_K = 64, batch 1000, 1 negative, random 512/128/384-d features for every
entity, 2 CPU threads. Each model trains one warm-up pass (a tenth of an epoch), then is timed;
with --repeats > 1 the two models alternate and medians are reported (the machine may be shared).
--epochs-fraction f times the first f of a shuffled epoch and extrapolates to a full epoch (the
output says so). Extra ModelConfig fields for the fused model: --hidden, --feature-dims.
--cpu-time reports process CPU seconds instead of wall-clock: on a shared, busy machine, with
--threads 1, that is a steadier proxy (with more threads it also counts spinning).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path

import torch

from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import TrainConfig
from kgtag.embed.trainer import train

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fb15k-237" / "train.txt.gz"
NUM_ENTITIES, NUM_RELATIONS, NUM_TRIPLES = 14_541, 237, 272_115
FEATURES = {"vision": 512, "audio": 128, "text": 384}


def load_triples(seed: int) -> tuple[torch.Tensor, int, int, str]:
    """FB15k-237's train triples as ids when the file is there, else a random graph of that size."""
    if DATA.exists():
        ents: dict[str, int] = {}
        rels: dict[str, int] = {}
        rows = []
        with gzip.open(DATA, "rt", encoding="utf-8") as f:
            for line in f:
                h, r, t = line.rstrip("\n").split("\t")
                rows.append((ents.setdefault(h, len(ents)), rels.setdefault(r, len(rels)), ents.setdefault(t, len(ents))))
        return torch.tensor(rows), max(len(ents), NUM_ENTITIES), len(rels), "FB15k-237 train"
    g = torch.Generator().manual_seed(seed)
    h = torch.randint(NUM_ENTITIES, (NUM_TRIPLES,), generator=g)
    r = torch.randint(NUM_RELATIONS, (NUM_TRIPLES,), generator=g)
    t = torch.randint(NUM_ENTITIES, (NUM_TRIPLES,), generator=g)
    return torch.stack([h, r, t], 1), NUM_ENTITIES, NUM_RELATIONS, "random graph (FB15k-237 not found)"


def random_features(num_entities: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {m: (torch.randn(num_entities, d, generator=g), torch.ones(num_entities, dtype=torch.bool))
            for m, d in FEATURES.items()}


def time_epoch(model, triples: torch.Tensor, cfg: TrainConfig, fraction: float, seed: int, clock=time.perf_counter) -> float:
    """Seconds for one epoch (extrapolated from the first `fraction` of a shuffled epoch)."""
    g = torch.Generator().manual_seed(seed)
    part = triples[torch.randperm(triples.shape[0], generator=g)[: max(cfg.batch_size, int(fraction * triples.shape[0]))]]
    t0 = clock()
    train(model, part, cfg, progress=False)
    return (clock() - t0) * triples.shape[0] / part.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs-fraction", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--feature-dims", type=int, default=None, help="ModelConfig.feature_dims (PCA; default off)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amp", action="store_true", help="TrainConfig.amp (bfloat16 autocast) for both models")
    parser.add_argument("--cpu-time", action="store_true", help="report process CPU time, not wall-clock")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    triples, num_e, num_r, source = load_triples(args.seed)
    features = random_features(num_e, args.seed)
    cfg = TrainConfig(epochs=1, batch_size=1000, lr=1e-3, num_negatives=1, sampler="uniform",
                      device=args.device, num_threads=args.threads, seed=args.seed, amp=args.amp)
    base = dict(dim=args.dim, hidden=args.hidden, p_norm=1, margin=1.0)
    fused_kw = dict(base)
    if args.feature_dims is not None:
        fused_kw["feature_dims"] = args.feature_dims
    torch.manual_seed(args.seed)
    models = {
        "TransE": build_model(ModelConfig(variant="transe", **base), num_e, num_r),
        "TransFusion-VAT": build_model(ModelConfig(variant="transfusion", modalities=tuple(FEATURES), **fused_kw),
                                       num_e, num_r, features),
    }
    print(f"data: {source}, {num_e} entities, {num_r} relations, {triples.shape[0]} triples; "
          f"features {FEATURES}; dim {args.dim}, hidden {args.hidden}, feature_dims {args.feature_dims}; "
          f"batch 1000, 1 negative, {args.threads} threads, device {args.device}, amp {args.amp}")
    clock = time.process_time if args.cpu_time else time.perf_counter
    if args.cpu_time:
        print("times are process CPU seconds, not wall-clock")
    if args.epochs_fraction < 1.0:
        print(f"timing {args.epochs_fraction:.0%} of an epoch and extrapolating to a full epoch")
    for name, model in models.items():  # warm-up: a tenth of an epoch each
        time_epoch(model, triples, cfg, 0.1, args.seed + 100, clock)
    times: dict[str, list[float]] = {name: [] for name in models}
    for rep in range(args.repeats):
        for name, model in models.items():
            times[name].append(time_epoch(model, triples, cfg, args.epochs_fraction, args.seed + rep, clock))
            print(f"  repeat {rep + 1}: {name} {times[name][-1]:.2f} s/epoch", flush=True)
    te, vat = (statistics.median(times[n]) for n in models)
    print(f"TransE           {te:.2f} s/epoch ({triples.shape[0] / te:,.0f} triples/s)")
    print(f"TransFusion-VAT  {vat:.2f} s/epoch ({triples.shape[0] / vat:,.0f} triples/s)")
    print(f"ratio {vat / te:.2f} (target <= 2.5)")


if __name__ == "__main__":
    main()
