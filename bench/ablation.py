"""Table 3/4-style ablation on the synthetic video KG: TransE, TransFusion-0/-V/-VA/-VAT, B1, B2, B3.

    .venv/bin/python bench/ablation.py [--videos 1000] [--epochs 30] [--seed 0] [--device cpu]

Every variant trains with the same settings and seed on the generator's train split and is
evaluated on (h, r, ?) for the held-out test edges (filtered, all-entity candidates, as in the
paper), plus the cold-start videos' content tags (features only, no training edge; Figure 1).
Prints MR, MRR, Hits@1/10 per variant, the MRR on the content and on the channel meta-tag test
edges, and the cold videos' MRR and Hits@10.

The generator (kgtag.embed.synthetic) puts content in the features and the channel in the graph,
so the expected shape is: TransE (graph only) well below TransFusion-VAT on content and cold start,
B3 (modalities only) well below it on the meta tags, and so overall.
"""

from __future__ import annotations

import argparse
import time

import torch

from kgtag.embed.evaluate import evaluate
from kgtag.embed.model import ModelConfig, build_model
from kgtag.embed.synthetic import generate
from kgtag.embed.train import TrainConfig, train

MODALITIES = {"V": ("vision",), "VA": ("vision", "audio"), "VAT": ("vision", "audio", "text")}
VARIANTS = [
    ("TransE", "transe", ()),
    ("TransFusion-0", "transfusion0", ()),
    ("TransFusion-V", "transfusion", MODALITIES["V"]),
    ("TransFusion-VA", "transfusion", MODALITIES["VA"]),
    ("TransFusion-VAT", "transfusion", MODALITIES["VAT"]),
    ("Baseline1-VAT", "b1", MODALITIES["VAT"]),
    ("Baseline2-VAT", "b2", MODALITIES["VAT"]),
    ("Baseline3-VAT", "b3", MODALITIES["VAT"]),
]
#: settings tuned for this generator on CPU (the `fast` preset's shape, smaller); lr 1e-2 lets 30
#: epochs learn the graph.
DEFAULT_TRAIN = dict(epochs=30, batch_size=512, lr=1e-2, num_negatives=16, sampler="bernoulli")
DEFAULT_MODEL = dict(dim=32, hidden=64, p_norm=2, margin=0.5)


def run_variant(kg, variant: str, modalities, train_cfg: TrainConfig, model_kw: dict, seed: int = 0):
    """Train one variant on ``kg.train``; returns (model, seconds)."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(variant=variant, modalities=tuple(modalities), **model_kw),
                        kg.num_entities, kg.num_relations, kg.features)
    t0 = time.perf_counter()
    train(model, kg.train, train_cfg, progress=False)
    return model, time.perf_counter() - t0


def score(model, kg) -> dict:
    """Filtered tail-prediction metrics: all warm test edges, their content and meta-tag parts, and
    the cold videos' content tags."""
    known = kg.all_triples()
    warm = evaluate(model, kg.test, filter_triples=known)["filtered"]
    content = evaluate(model, kg.select(kg.test, ("content",)), filter_triples=known)["filtered"]
    meta = evaluate(model, kg.select(kg.test, ("meta",)), filter_triples=known)["filtered"]
    cold = evaluate(model, kg.select(kg.test_cold, ("content",)), filter_triples=known)["filtered"]
    return {"warm": warm, "content": content, "meta": meta, "cold": cold}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=DEFAULT_TRAIN["epochs"])
    parser.add_argument("--dim", type=int, default=DEFAULT_MODEL["dim"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (1 is fastest for these small batches on a shared machine)")
    parser.add_argument("--only", default="", help="comma-separated variant names to run (default: all)")
    args = parser.parse_args()

    kg = generate(seed=args.seed, n_videos=args.videos)
    cfg = TrainConfig(**{**DEFAULT_TRAIN, "epochs": args.epochs}, seed=args.seed, device=args.device,
                      num_threads=args.threads)
    model_kw = {**DEFAULT_MODEL, "dim": args.dim}
    print(f"synthetic KG: {args.videos} videos, {kg.num_entities} entities, train {len(kg.train)}, "
          f"test {len(kg.test)} (+ {len(kg.test_cold)} cold-video edges); {cfg}")
    header = (f"{'variant':16s} {'MR':>6s} {'MRR':>6s} {'H@1':>6s} {'H@10':>6s} | {'content':>7s} {'meta':>6s} | "
              f"{'cold MRR':>8s} {'cold H@10':>9s} | {'s':>4s}")
    print(header)
    print("-" * len(header))
    only = {v.strip() for v in args.only.split(",") if v.strip()}
    for name, variant, mods in VARIANTS:
        if only and name not in only:
            continue
        model, seconds = run_variant(kg, variant, mods, cfg, model_kw, args.seed)
        s = score(model, kg)
        w, ct, m, c = s["warm"], s["content"], s["meta"], s["cold"]
        print(f"{name:16s} {w['mr']:6.1f} {w['mrr']:6.3f} {w['hits1']:6.3f} {w['hits10']:6.3f} | {ct['mrr']:7.3f} {m['mrr']:6.3f} | "
              f"{c['mrr']:8.3f} {c['hits10']:9.3f} | {seconds:4.0f}", flush=True)


if __name__ == "__main__":
    main()
