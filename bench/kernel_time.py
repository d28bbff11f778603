"""Kernel time of training: user vs sys CPU seconds of what `kgtag train` runs, without Neo4j.

    .venv/bin/python bench/kernel_time.py [--videos 6000] [--epochs 3] [--part all|train|valid]

TransFusion-VAT (vision, audio, text) on `topic.generate(seed=0, n_videos)`, preset 'fast',
with the CLI's per-epoch validation (filtered MRR, range candidates, 1,000 sampled validation
triples), then the CLI's final evaluation of the test split and its confidence calibration
(`Calibrator.fit` on the validation split, as `kgtag train` and `kgtag infer` run it). Prints, per part, wall, user and sys
seconds (resource.getrusage of this process) and minor page faults. Run it twice with a different
environment (e.g. `MALLOC_TRIM_THRESHOLD_=-1`, or `KGTAG_BARE_MALLOC=1`) to compare: the machine is
shared, so compare the ratios of runs made one after the other, not absolute seconds.
Figures in docs/method.md "Kernel time".
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from kgtag.synthetic import topic
from kgtag.embed.ranking import ConstraintIndex, evaluate
from kgtag.embed.calibration import Calibrator
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset, preset
from kgtag.embed.trainer import train

VALID_QUERIES = 1000


class Meter:
    """Wall, user, sys seconds and minor faults of this process between enter and exit."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.t, self.r = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc):
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter() - self.t
        self.user, self.sys = r.ru_utime - self.r.ru_utime, r.ru_stime - self.r.ru_stime
        self.faults = r.ru_minflt - self.r.ru_minflt
        print(f"{self.name:<18} wall {self.wall:7.1f} s  user {self.user:7.1f} s  sys {self.sys:7.1f} s  "
              f"sys/user {self.sys / max(self.user, 1e-9):5.2f}  minor faults {self.faults:>10,}  "
              f"peak RSS so far {r.ru_maxrss / 2**20:5.2f} GB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--part", choices=("all", "train", "valid", "calibrate"), default="all",
                        help="train: epochs without validation; valid: validation calls only; "
                             "calibrate: the confidence fit only (untrained model)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_", "GLIBC_", "KGTAG_"))}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, environment {env or '{}'}")
    kg = topic.generate(seed=0, n_videos=args.videos)
    known = kg.all_triples()
    tags = torch.nonzero(~kg.is_video).reshape(-1)
    g = torch.Generator().manual_seed(0)
    valid = kg.valid[torch.randperm(len(kg.valid), generator=g)[:VALID_QUERIES]]
    ranking = dict(filter_triples=known, candidates="relation", constraint_triples=kg.train, range_fallback=tags)
    torch.manual_seed(0)
    mconf = ModelConfig(variant="transfusion", base="transe", modalities=("vision", "audio", "text"), **model_preset("fast"))
    model = build_model(mconf, kg.num_entities, len(kg.relations), kg.features)
    print(f"{args.videos} videos, {kg.num_entities} entities, {len(kg.train)} train triples, {len(valid)} validation queries")

    validate = (lambda m: evaluate(m, valid, **ranking)["filtered"]["mrr"]) if args.part != "train" else None
    config = preset("fast", epochs=args.epochs, device="cpu")
    def calibrate():  # what `kgtag train` does after the final evaluation (cli calibrate(), range candidates)
        constraint = ConstraintIndex(kg.train, "tail", kg.num_entities, len(kg.relations), tags)
        Calibrator().fit(model, kg.valid, exclude=known, candidates=tags, constraint=constraint, seed=0)

    with Meter("total"):
        if args.part == "calibrate":
            with Meter("calibration"):
                calibrate()
        elif args.part == "valid":
            with Meter(f"validation x{args.epochs}"):
                for _ in range(args.epochs):
                    validate(model)
        else:
            with Meter("train+validation"):
                train(model, kg.train, config, valid=validate, progress=False)
            if args.part == "all":
                with Meter("final evaluation"):
                    evaluate(model, kg.test, per_relation=True, relation_names=kg.relations, **ranking)
                with Meter("calibration"):
                    calibrate()


if __name__ == "__main__":
    main()
