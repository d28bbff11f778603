"""Table 3/4-style ablation on a synthetic video KG: TransE, TransFusion-0/-V/-VA/-VAT, B1, B2, B3.

    .venv/bin/python bench/ablation.py [--graph channel|topic|factor] [--videos 1000] [--seed 0]
        [--epochs N] [--only NAME,...] [--split test] [--growing 4]

Every variant trains with the `fast` preset (the default, chosen on validation splits, see
bench/sweep.py) and the same seed on the graph's train split. Protocol: tail prediction
(video, r, ?), filtered (train + valid + test + cold), candidates = the relation's range (tails seen
with r in training); the head is never a candidate. Prints MR, MRR, Hits@1/10 per variant, the MRR
per kind of relation (content, meta, ...: what each modality can or cannot see), and the cold
videos' MRR (features, no training edge; Figure 1). ``--split valid`` scores the validation split.

``--growing K`` is the paper's Table 4 protocol: the videos are cut into K + 1 chunks; the last is a
fixed test chunk (its videos keep their training edges in every run; their held-out edges are the
test set), and the K others are added to the training set one at a time. One row per (variant,
training size): does TransFusion's lead over TransE grow with data?
"""

from __future__ import annotations

import argparse
import time

import torch

from kgtag.synthetic.generators import GENERATORS
from kgtag.embed.ranking import evaluate
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset, preset
from kgtag.embed.trainer import train

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


def run_variant(kg, variant: str, modalities, seed: int = 0, epochs: int | None = None, triples=None, threads: int = 1):
    """Train one variant with the fast preset on ``triples`` (default ``kg.train``); returns (model, seconds)."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(variant=variant, modalities=tuple(modalities), **model_preset("fast")),
                        kg.num_entities, kg.num_relations, kg.features)
    cfg = preset("fast", seed=seed, device="cpu", num_threads=threads, **({"epochs": epochs} if epochs else {}))
    t0 = time.perf_counter()
    train(model, kg.train if triples is None else triples, cfg, progress=False)
    return model, time.perf_counter() - t0


def score(model, kg, split: str = "test", train=None) -> dict:
    """Range-candidate filtered tail metrics on ``split``: all of it, per relation kind, and cold videos."""
    train = kg.train if train is None else train
    known = kg.all_triples()
    tags = torch.nonzero(~kg.is_video).squeeze(1)
    args = dict(filter_triples=known, candidates="relation", constraint_triples=train, range_fallback=tags)
    held = getattr(kg, split)
    out = {"all": evaluate(model, held, **args)["filtered"]}
    for kind in sorted(set(kg.relation_kind.values())):
        part = kg.select(held, (kind,))
        if len(part):
            out[kind] = evaluate(model, part, **args)["filtered"]
    out["cold"] = evaluate(model, kg.test_cold, **args)["filtered"]
    return out


def growing(kg, chunks: int, seed: int, epochs, only) -> None:
    videos = torch.nonzero(kg.is_video).squeeze(1)
    order = videos[torch.randperm(len(videos), generator=torch.Generator().manual_seed(seed))]
    parts = order.chunk(chunks + 1)
    test_videos = parts[-1]
    is_test_video = torch.isin(kg.train[:, 0], test_videos)
    tag_tag = ~kg.is_video[kg.train[:, 0]]
    test = kg.test[torch.isin(kg.test[:, 0], test_videos)]
    print(f"growing: {chunks} chunks of ~{len(parts[0])} videos added one at a time; fixed test chunk of "
          f"{len(test_videos)} videos, {len(test)} held-out edges (range candidates, filtered, tail)")
    print(f"{'variant':16s} {'train videos':>12s} {'MR':>6s} {'MRR':>6s} {'H@10':>6s}")
    for name, variant, mods in VARIANTS:
        if only and name not in only:
            continue
        for i in range(1, chunks + 1):
            chosen = torch.cat(parts[:i])
            triples = kg.train[is_test_video | tag_tag | torch.isin(kg.train[:, 0], chosen)]
            model, _ = run_variant(kg, variant, mods, seed, epochs, triples)
            tags = torch.nonzero(~kg.is_video).squeeze(1)
            m = evaluate(model, test, filter_triples=kg.all_triples(), candidates="relation",
                         constraint_triples=triples, range_fallback=tags)["filtered"]
            print(f"{name:16s} {len(chosen):12d} {m['mr']:6.1f} {m['mrr']:6.3f} {m['hits10']:6.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", choices=list(GENERATORS), default="channel")
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override the fast preset's epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated variant names to run (default: all)")
    parser.add_argument("--split", choices=("valid", "test"), default="test")
    parser.add_argument("--growing", type=int, default=0, metavar="K", help="Table 4 protocol with K training chunks")
    args = parser.parse_args()

    kg = GENERATORS[args.graph](seed=args.seed, n_videos=args.videos)
    only = {v.strip() for v in args.only.split(",") if v.strip()}
    print(f"{args.graph} graph: {args.videos} videos, {kg.num_entities} entities, train {len(kg.train)}, "
          f"{args.split} {len(getattr(kg, args.split))} (+ {len(kg.test_cold)} cold-video edges); fast preset")
    if args.growing:
        growing(kg, args.growing, args.seed, args.epochs, only)
        return
    kinds = sorted(k for k in set(kg.relation_kind.values()) if len(kg.select(getattr(kg, args.split), (k,))))
    header = (f"{'variant':16s} {'MR':>6s} {'MRR':>6s} {'H@1':>6s} {'H@10':>6s} | "
              + " ".join(f"{k[:7]:>7s}" for k in kinds) + f" | {'cold MRR':>8s} | {'s':>4s}")
    print(f"protocol: tail prediction, filtered, candidates = the relation's range; {args.split} split; "
          "per-kind columns are MRR")
    print(header)
    print("-" * len(header))
    for name, variant, mods in VARIANTS:
        if only and name not in only:
            continue
        model, seconds = run_variant(kg, variant, mods, args.seed, args.epochs, threads=args.threads)
        s = score(model, kg, args.split)
        w = s["all"]
        print(f"{name:16s} {w['mr']:6.1f} {w['mrr']:6.3f} {w['hits1']:6.3f} {w['hits10']:6.3f} | "
              + " ".join(f"{s[k]['mrr']:7.3f}" for k in kinds) + f" | {s['cold']['mrr']:8.3f} | {seconds:4.0f}", flush=True)


if __name__ == "__main__":
    main()
