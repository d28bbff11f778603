"""Cold start as a protocol: warm / few-tag / cold videos side by side, per setting, graph and seed.

    .venv/bin/python bench/cold_start.py [--graphs channel,topic,factor] [--videos 1500] [--seeds 0,1]
        [--settings fast,...] [--variants transe,transfusion] [--split valid] [--cold 0.1] [--jobs 2]
        [--out FILE]

Each graph's own split is kept and, on top, a seeded share ``--cold`` of the videos is held out
whole (`kgtag.embed.history.cold_holdout`: half of them to validation, half to test); the
generator's own cold videos stay in test. Every row trains one variant with one setting (a change to
the ``fast`` preset, see SETTINGS) and ranks the chosen split (``valid`` by default; ``test`` once,
after the choice). Protocol: tail prediction (video, r, ?), filtered (train + valid + test),
candidates = the relation's range (tails seen with r in training). Groups by the head video's number
of training triples: warm (>= 3), few (1-2), cold (0); ``chance`` = the MRR of random scores under the
same protocol on the same triples. ``modal`` = the relations some modality determines in the
generator (``relation_kind`` content / music / language), ``graph-only`` = the rest (uploader,
channel meta, noise), reported apart. ``obj`` = the multi-valued content relation (topic
``contains``, channel ``has_object``, factor ``genre_tag``, ...). ``in-range``: share of (video,
relation) pairs whose top-1 among all tags lies in the relation's range (500 videos). Settings
named "oracle" detach a dropped video's triples for the generator's graph-only relations only (the
generator knows which they are, a user's graph does not): an upper bound for a per-relation rule,
not a candidate default.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import torch

from kgtag.embed.history import by_history, cold_holdout
from kgtag.embed.config import ModelConfig, model_preset, preset
from kgtag.embed.model import build_model
from kgtag.embed.topk import top1_in_range
from kgtag.embed.trainer import train
from kgtag.synthetic.generators import GENERATORS

VAT = ("vision", "audio", "text")
MODAL_KINDS = ("content", "music", "language", "vision", "audio", "text")
#: the multi-valued content relation of each generator (several tags per video, seen by a modality)
OBJECTS = {"channel": "has_object", "topic": "contains", "factor": "genre_tag", "onemodal": "objects",
           "sparse": "contains"}
#: changes to the `fast` preset: (TrainConfig fields, ModelConfig fields)
SETTINGS = {
    "fast": ({}, {"knowledge_dropout": 0.0}),  # the preset before issue 20 (z_K dropout off)
    "no fused norm": ({}, {"fused_norm": False}),
    "all-entity negatives": ({"side_constrained": False}, {}),
    "dim 64": ({}, {"dim": 64, "hidden": 128}),
    "no fused norm + all-entity": ({"side_constrained": False}, {"fused_norm": False}),
    "zk drop 0.1": ({}, {"knowledge_dropout": 0.1}),
    "zk drop 0.15": ({}, {"knowledge_dropout": 0.15}),
    "zk drop 0.2": ({}, {"knowledge_dropout": 0.2}),
    "zk drop 0.25": ({}, {"knowledge_dropout": 0.25}),
    "zk drop 0.5": ({}, {"knowledge_dropout": 0.5}),
    "zk drop 0.1 detach": ({}, {"knowledge_dropout": 0.1, "knowledge_dropout_detach": "all"}),
    "zk drop 0.2 detach": ({}, {"knowledge_dropout": 0.2, "knowledge_dropout_detach": "all"}),
    "zk drop 0.3 detach": ({}, {"knowledge_dropout": 0.3, "knowledge_dropout_detach": "all"}),
    "zk drop 0.1 detach rel": ({}, {"knowledge_dropout": 0.1, "knowledge_dropout_detach": "relations"}),
    "zk drop 0.2 detach rel": ({}, {"knowledge_dropout": 0.2, "knowledge_dropout_detach": "relations"}),
    "zk drop 0.1 detach oracle": ({}, {"knowledge_dropout": 0.1, "knowledge_dropout_detach": "all"}),
    "zk drop 0.2 detach oracle": ({}, {"knowledge_dropout": 0.2, "knowledge_dropout_detach": "all"}),
    "zk drop 0.1 detach tails oracle": ({}, {"knowledge_dropout": 0.1, "knowledge_dropout_detach": "tails"}),
    "zk drop 0.1 learned cold": ({}, {"knowledge_dropout": 0.1, "cold_knowledge": "learned"}),
    "zk drop 0.2 learned cold": ({}, {"knowledge_dropout": 0.2, "cold_knowledge": "learned"}),
    "rel attention": ({}, {"relation_modality": True}),
    "rel attention + zk drop 0.1": ({}, {"relation_modality": True, "knowledge_dropout": 0.1}),
    "rel attention + zk drop 0.25": ({}, {"relation_modality": True, "knowledge_dropout": 0.25}),
    "rel attention + zk drop 0.5": ({}, {"relation_modality": True, "knowledge_dropout": 0.5}),
}


def run_one(job: dict) -> dict:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    kg = GENERATORS[job["graph"]](seed=job["seed"], n_videos=job["videos"])
    train_t, valid, test, cold = cold_holdout(kg.train, kg.valid, kg.test, kg.is_video, job["cold"], job["seed"])
    test = torch.cat([test, kg.test_cold])
    t_kw, m_kw = SETTINGS[job["setting"]]
    mods = () if job["variant"] in ("transe", "transfusion0") else VAT
    m_all = {**model_preset("fast"), **m_kw}
    if not mods:
        m_all.pop("knowledge_dropout", None)
        m_all.pop("relation_modality", None)
        m_all.pop("knowledge_dropout_detach", None)
        m_all.pop("cold_knowledge", None)
    torch.manual_seed(job["seed"])
    model = build_model(ModelConfig(variant=job["variant"], modalities=mods, **m_all),
                        kg.num_entities, kg.num_relations, kg.features)
    if "oracle" in job["setting"]:  # detach the graph-only relations only: the generator says which they are
        model.detach_relations = torch.tensor([kg.relation_kind.get(r) not in MODAL_KINDS for r in kg.relations])
    cfg = preset("fast", **t_kw, seed=job["seed"], device="cpu", num_threads=1)
    t0 = time.perf_counter()
    train(model, train_t, cfg, progress=False)
    seconds = time.perf_counter() - t0
    split = valid if job["split"] == "valid" else test
    known = torch.cat([train_t, valid, test])
    tags = torch.nonzero(~kg.is_video).squeeze(1)
    groups = by_history(model, split, train_t, relation_names=kg.relations, filter_triples=known,
                        candidates="relation", constraint_triples=train_t, range_fallback=tags)
    modal = [r for r in kg.relations if kg.relation_kind.get(r) in MODAL_KINDS]
    summary = {}
    for g, m in groups.items():
        per = m["per_relation"]
        summary[g] = {"mrr": m["mrr"], "hits1": m["hits1"], "count": m["count"], "chance": m["chance_mrr"],
                      "modal": _pooled(per, modal), "graph_only": _pooled(per, [r for r in per if r not in modal]),
                      "obj": per.get(OBJECTS.get(job["graph"]), {}).get("mrr", float("nan")),
                      "obj_count": per.get(OBJECTS.get(job["graph"]), {}).get("count", 0)}
    inr = top1_in_range(model, train_t, kg.is_video, tags, max_videos=500, seed=job["seed"])
    return {**job, "groups": groups, "summary": summary, "in_range": inr, "seconds": seconds,
            "cold_videos": len(cold), "score_parts": score_parts(model, split, train_t, kg, job["graph"])}


@torch.no_grad()
def score_parts(model, split, train_t, kg, graph) -> dict:
    """Why a relation's tags are ranked as they are (TransE L2 with unit tags): -||h + r - t||^2 =
    2<h, t> + 2<r, t> - ||t||^2 + const per query. Over the multi-valued content relation's range,
    the mean per-query spread (std over candidates) of the video term 2<h, t> and of the relation
    term 2<r, t>, and the mean norms of h (query videos) and r. A relation term as large as the video
    term ranks the relation's popular tags first for every video."""
    name = OBJECTS.get(graph)
    if name not in kg.relations:
        return {}
    rid = kg.relation_id(name)
    q = split[split[:, 1] == rid]
    if len(q) == 0:
        return {}
    rng = torch.unique(train_t[train_t[:, 1] == rid, 2])
    with model.cached_entities():
        h = model.represent(torch.unique(q[:, 0])).e
        t = model.represent(rng).e
    r = model.relations.translations()[rid]
    ht, rt = 2 * h @ t.T, 2 * (t @ r)
    return {"relation": name, "video_term_std": float(ht.std(1).mean()), "relation_term_std": float(rt.std()),
            "h_norm": float(h.norm(dim=1).mean()), "r_norm": float(r.norm()), "tag_norm_std": float(t.norm(dim=1).pow(2).std())}


def _pooled(per: dict, names: list[str]) -> dict:
    """Count-weighted MRR over the named relations (their triples pooled)."""
    rows = [per[r] for r in names if r in per and per[r]["count"]]
    n = sum(m["count"] for m in rows)
    if not n:
        return {"mrr": float("nan"), "count": 0, "chance": float("nan")}
    return {"mrr": sum(m["mrr"] * m["count"] for m in rows) / n, "count": n,
            "chance": sum(m["chance_mrr"] * m["count"] for m in rows) / n}


def summarize(paths: list[str]) -> None:
    """Markdown rows from the JSON lines of earlier runs: mean over seeds per (setting, graph, model)."""
    rows: dict[tuple, list[dict]] = {}
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                rows.setdefault((r["setting"], r["graph"], r["variant"], r["split"]), []).append(r)
    print("| setting | graph | model | seeds | warm MRR (n) | few MRR (n) | cold MRR (n) [chance] | modal: warm / cold "
          "| obj: warm / cold | graph-only: warm / cold | min in-range |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def mean(xs):
        xs = [x for x in xs if x == x]
        return sum(xs) / len(xs) if xs else float("nan")

    for (setting, graph, variant, _), rs in rows.items():
        s = [r["summary"] for r in rs]

        def m(g, key, sub=None):
            return mean([x[g][key][sub] if sub else x[g][key] for x in s])

        def n(g):
            return round(mean([x[g]["count"] for x in s]))

        few = f"{m('few', 'mrr'):.3f} ({n('few')})" if n("few") else "-"
        print(f"| {setting} | {graph} | {'TransE' if variant == 'transe' else 'TransFusion-VAT'} | "
              f"{','.join(str(r['seed']) for r in rs)} | {m('warm', 'mrr'):.3f} ({n('warm')}) | {few} | "
              f"{m('cold', 'mrr'):.3f} ({n('cold')}) [{m('cold', 'chance'):.3f}] | "
              f"{m('warm', 'modal', 'mrr'):.3f} / {m('cold', 'modal', 'mrr'):.3f} | {m('warm', 'obj'):.3f} / "
              f"{m('cold', 'obj'):.3f} | {m('warm', 'graph_only', 'mrr'):.3f} / {m('cold', 'graph_only', 'mrr'):.3f} | "
              f"{min(r['in_range'] for r in rs):.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graphs", default="channel,topic,factor")
    p.add_argument("--videos", type=int, default=1500)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--settings", default="fast")
    p.add_argument("--variants", default="transe,transfusion")
    p.add_argument("--split", default="valid", choices=("valid", "test"))
    p.add_argument("--cold", type=float, default=0.1, help="share of videos held out whole (half valid, half test)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default=None, help="append one JSON line per row")
    p.add_argument("--summary", default=None, help="only print the markdown table of these JSON-line files (comma-separated)")
    a = p.parse_args()
    if a.summary:
        summarize(a.summary.split(","))
        return
    jobs = [dict(graph=g, seed=int(s), videos=a.videos, setting=n, variant=v, split=a.split, cold=a.cold)
            for n in a.settings.split(",") for g in a.graphs.split(",") for s in a.seeds.split(",")
            for v in a.variants.split(",") if not (v == "transe" and n != "fast" and not SETTINGS[n][0])]
    print(f"split {a.split}; tail prediction, filtered, range candidates; cold share {a.cold}; "
          "cells: MRR (count) [chance]; modal / graph-only / obj = relations a modality determines / "
          "the rest / the multi-valued content relation", flush=True)
    with ProcessPoolExecutor(a.jobs) as pool:
        for r in pool.map(run_one, jobs):
            s = r["summary"]
            cells = " | ".join(
                f"{g} {s[g]['mrr']:.3f} ({s[g]['count']}) [{s[g]['chance']:.3f}] modal {s[g]['modal']['mrr']:.3f} "
                f"graph-only {s[g]['graph_only']['mrr']:.3f} obj {s[g]['obj']:.3f}" for g in ("warm", "few", "cold"))
            print(f"{r['setting']:26s} {r['graph']:8s} s{r['seed']} {r['variant']:12s} {cells} | in-range "
                  f"{r['in_range']:.3f} | {r['seconds']:4.0f}s", flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
