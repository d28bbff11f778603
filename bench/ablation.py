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
training size): does TransFusion's lead over TransE grow with data? Besides MR / MRR / Hits@10 on
the chunk's test edges (as before), each row reports the test chunk's videos by training history
(`kgtag.embed.history.by_history`): warm (>= 3 training triples), few (1-2) and cold (none: the
generator's cold videos of the chunk, whose edges are all held out), each as MRR (count) [chance],
over the chunk's test edges plus its cold videos' edges. ``--json FILE`` appends one line per row
(with each group's per-relation figures).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from kgtag.synthetic.generators import GENERATORS
from kgtag.embed.history import GROUPS, by_history
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


def growing(kg, graph: str, chunks: int, seed: int, epochs, only, threads: int = 1, out: str | None = None) -> None:
    videos = torch.nonzero(kg.is_video).squeeze(1)
    order = videos[torch.randperm(len(videos), generator=torch.Generator().manual_seed(seed))]
    parts = order.chunk(chunks + 1)
    test_videos = parts[-1]
    is_test_video = torch.isin(kg.train[:, 0], test_videos)
    tag_tag = ~kg.is_video[kg.train[:, 0]]
    test = kg.test[torch.isin(kg.test[:, 0], test_videos)]
    cold = kg.test_cold[torch.isin(kg.test_cold[:, 0], test_videos)]
    grouped = torch.cat([test, cold])  # every held-out edge of the chunk: by_history splits it by the head's history
    tags = torch.nonzero(~kg.is_video).squeeze(1)
    print(f"growing: {chunks} chunks of ~{len(parts[0])} videos added one at a time; fixed test chunk of "
          f"{len(test_videos)} videos, {len(test)} held-out edges + {len(cold)} edges of its cold videos "
          "(tail, filtered, range candidates)")
    print("MR / MRR / H@10: the chunk's held-out edges of videos with training edges (the earlier table); "
          "groups: MRR (count) [chance] over all the chunk's held-out edges, by the head's training triples")
    print(f"{'variant':16s} {'train videos':>12s} {'MR':>6s} {'MRR':>6s} {'H@10':>6s} | "
          + " | ".join(f"{g:>22s}" for g in GROUPS))
    for name, variant, mods in VARIANTS:
        if only and name not in only:
            continue
        for i in range(1, chunks + 1):
            chosen = torch.cat(parts[:i])
            triples = kg.train[is_test_video | tag_tag | torch.isin(kg.train[:, 0], chosen)]
            model, seconds = run_variant(kg, variant, mods, seed, epochs, triples, threads)
            protocol = dict(filter_triples=kg.all_triples(), candidates="relation", constraint_triples=triples,
                            range_fallback=tags)
            m = evaluate(model, test, **protocol)["filtered"]
            groups = by_history(model, grouped, triples, relation_names=kg.relations, **protocol)
            cells = " | ".join(f"{g['mrr']:6.3f} ({g['count']:5d}) [{g['chance_mrr']:.3f}]" if g["count"] else f"{'-':>22s}"
                               for g in (groups[k] for k in GROUPS))
            print(f"{name:16s} {len(chosen):12d} {m['mr']:6.1f} {m['mrr']:6.3f} {m['hits10']:6.3f} | {cells}", flush=True)
            if out:
                row = {"graph": graph, "videos": int(kg.is_video.sum()), "seed": seed, "variant": name,
                       "train_videos": len(chosen), "test": m, "seconds": seconds,
                       "groups": {k: {f: groups[k][f] for f in ("mrr", "hits1", "hits10", "count", "chance_mrr",
                                                                "per_relation")} for k in GROUPS}}
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")


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
    parser.add_argument("--json", default=None, metavar="FILE", help="--growing: append one JSON line per row")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    kg = GENERATORS[args.graph](seed=args.seed, n_videos=args.videos)
    only = {v.strip() for v in args.only.split(",") if v.strip()}
    print(f"{args.graph} graph: {args.videos} videos, {kg.num_entities} entities, train {len(kg.train)}, "
          f"{args.split} {len(getattr(kg, args.split))} (+ {len(kg.test_cold)} cold-video edges); fast preset")
    if args.growing:
        growing(kg, args.graph, args.growing, args.seed, args.epochs, only, args.threads, args.json)
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
