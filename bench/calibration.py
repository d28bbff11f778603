"""Calibration of inferred-tag confidences on validation queries the fit did not see.

    .venv/bin/python bench/calibration.py [--graphs channel,topic,factor] [--videos 2000] [--seed 0]
        [--models TransE,TransFusion-VAT]

For each generator: TransFusion-VAT and TransE with the `fast` preset, then `Calibrator.fit` exactly as
`kgtag train` runs it (range candidates, known triples excluded, half of the validation queries fit
the per-relation temperatures, the other half is held out). Prints the held-out ECE of the top-1
confidence (15 bins) next to its noise floor (the ECE a perfectly calibrated predictor with the same
confidences reads on that many queries), the ECE over all top-10 edges, the top-1 accuracy and the
number of held-out queries; ``--table`` also prints the top-1 reliability table.

Then the choice of `kgtag infer --min-confidence`'s default, on the same held-out validation queries
(never the test split): for each minimum confidence of `MIN_CONFIDENCE_GRID`, the share of the right
top-10 edges it keeps and the share of all top-10 edges it keeps (the review queue's length). Rule,
fixed before the numbers were read: the largest minimum that keeps at least 95% of the right top-10
edges for every graph and model.
"""

from __future__ import annotations

import argparse

import torch

from kgtag.synthetic.generators import GENERATORS
from kgtag.embed.ranking import ConstraintIndex
from kgtag.embed.calibration import MIN_CONFIDENCE_GRID, Calibrator
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset, preset
from kgtag.embed.trainer import train

MODELS = {"TransE": ("transe", ()), "TransFusion-VAT": ("transfusion", ("vision", "audio", "text"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graphs", default="channel,topic,factor")
    p.add_argument("--videos", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", action="store_true", help="print the top-1 reliability table too")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    a = p.parse_args()
    models = {m: MODELS[m] for m in a.models.split(",")}
    torch.set_num_threads(1)
    print("held-out validation queries; range candidates; ECE of the top-1 confidence and of all top-10 edges")
    print(f"{'graph':8s} {'model':16s} {'ECE top-1':>9s} {'floor':>6s} {'ECE top-10':>10s} {'top-1 acc':>9s} {'queries':>7s}")
    kept = {}
    for g in a.graphs.split(","):
        kg = GENERATORS[g](seed=a.seed, n_videos=a.videos)
        tags = torch.nonzero(~kg.is_video).squeeze(1)
        constraint = ConstraintIndex(kg.train, "tail", kg.num_entities, kg.num_relations, tags)
        for name, (variant, mods) in models.items():
            torch.manual_seed(a.seed)
            model = build_model(ModelConfig(variant=variant, modalities=mods, **model_preset("fast")),
                                kg.num_entities, kg.num_relations, kg.features)
            train(model, kg.train, preset("fast", seed=a.seed, device="cpu", num_threads=1), progress=False)
            cal = Calibrator().fit(model, kg.valid, exclude=torch.cat([kg.train, kg.valid, kg.test]), candidates=tags,
                                   constraint=constraint, seed=a.seed)
            print(f"{g:8s} {name:16s} {cal.ece:9.3f} {cal.ece_floor:6.3f} {cal.ece_topk:10.3f} {cal.top1_accuracy:9.3f} "
                  f"{cal.held_out:7d}", flush=True)
            kept[g, name] = cal.kept
            if a.table:
                for lo, hi, n, conf, acc in cal.reliability:
                    print(f"    [{lo:.2f}, {hi:.2f}) n {n:4d} confidence {conf:.3f} accuracy {acc:.3f}")

    print("\n--min-confidence on held-out validation queries: share of the right top-10 edges kept / of all top-10 edges kept")
    print(f"{'graph':8s} {'model':16s} " + " ".join(f"{m:>11g}" for m in MIN_CONFIDENCE_GRID))
    for (g, name), rows in kept.items():
        print(f"{g:8s} {name:16s} " + " ".join(f"{right:5.3f}/{every:5.3f}" for _, right, every, _ in rows))
    ok = [m for i, m in enumerate(MIN_CONFIDENCE_GRID) if all(rows[i][1] >= 0.95 for rows in kept.values())]
    print(f"rule (keeps >= 95% of the right edges everywhere): --min-confidence {max(ok):g}")


if __name__ == "__main__":
    main()
