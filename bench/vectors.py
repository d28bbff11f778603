"""The embeddings in the graph (`kgtag publish`, `kgtag similar`, `kgtag tags`): agreement of the live
Cypher tags with `kgtag infer`, how much over-fetch keeps them exact, publish throughput, index build
time, store growth, query latency, and cold-start similar videos.

    eval "$(docker/neo4j-local env)"   # a scratch database: it is wiped (bench/ingest.py's `prepare`)
    .venv/bin/python bench/vectors.py [--videos 4000] [--presets fast,paper-scaled] [--epochs 5] [--force]

A seeded topic graph (`synthetic.generators`, all three modalities) is generated; `--cold` of its videos
are held out, the rest ingested and one TransFusion-VAT run (TransE base) trained per preset (`fast`:
L2 score; `paper-scaled`: L1). Per run:

- publish: `publish_run` timed (vectors/s of the block writes, index build), the store folder's growth
  (`du` of $KGTAG_NEO4J_HOME/data when set);
- agreement: for `--pairs` random (video, relation) pairs over the run's video->tag relations, the live
  query (`cypher/live_tags.cypher`, k = 10, `--overfetch`) against `infer_run`'s top-10 with the same
  candidates (the relation's training tails), the same exclusions (the run's split, the graph's triples,
  rejected edges: none in this graph) and no confidence cut: top-10 equal as lists, top-1 equal. The
  query takes k x overfetch x ceil(tags / range) nearest tags from the tag index, or scores the relation's
  whole range when that holds no more tags (and for L1 runs);
- over-fetch: for the pairs on the index path, the depth in the exact euclidean order of all tags (what
  a perfect index returns) that infer's top-10 (top-1) reaches, in units of k x ceil(tags / range): the
  over-fetch that keeps the answer exact;
- latency: similar videos (k = 10) and live tags (k = 10, a random relation per video) from the Python
  driver, p50 / p95 over `--queries` random videos, one query at a time, `--passes` passes over the same
  videos (the load average printed after each);
- cold start (first preset): the held-out videos' features arrive, `infer --new`'s path publishes their
  vectors; the share of their 10 similar videos with the same true topic (category_3), next to warm
  videos'.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from ingest import prepare  # noqa: E402  (the bench-database check and wipe)

from kgtag.kgstore import vectors as kv  # noqa: E402
from kgtag.kgstore.store import Settings, Store  # noqa: E402
from kgtag.runs import RunPlan, infer_run, load_run, tag_relations, train_run  # noqa: E402
from kgtag.runs.export import entity_vectors  # noqa: E402
from kgtag.runs.grow import choose_videos  # noqa: E402
from kgtag.runs.synthetic_graph import hold_out_videos, ingest_part, touching  # noqa: E402
from kgtag.runs.vectors import publish_new_videos, publish_run  # noqa: E402
from kgtag.synthetic.generators import GENERATORS  # noqa: E402

MODALITIES = ("vision", "audio", "text")
K = 10
DEPTHS = (1, 2, 5, 10, 20, 50, 100)


def store_bytes() -> int | None:
    home = os.environ.get("KGTAG_NEO4J_HOME")
    if not home or not Path(home, "data").is_dir():
        return None
    out = subprocess.run(["du", "-sb", str(Path(home, "data"))], capture_output=True, text=True)
    return int(out.stdout.split()[0]) if out.returncode == 0 else None


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q)) if len(xs) else float("nan")


def depth_needed(run, vectors: np.ndarray, tags: np.ndarray, video: int, relation: int, want: list[int]) -> int:
    """Position (1-based) in the exact euclidean order of every tag around h + r of the deepest `want` tag."""
    r = run.model.relations.r.all().detach().numpy()[relation]
    d = np.linalg.norm(vectors[tags] - (vectors[video] + r), axis=1)
    rank = np.empty(len(tags), dtype=np.int64)
    rank[np.argsort(d, kind="stable")] = np.arange(1, len(tags) + 1)
    pos = {t: i for i, t in enumerate(tags.tolist())}
    return int(max(rank[pos[t]] for t in want))


def range_tags(run) -> list[list[int]]:
    """Per relation, the tag ids of its range (training tails that are not videos): infer's candidates."""
    t = run.train[~run.is_video[run.train[:, 2]]]
    pairs = torch.unique(t[:, [1, 2]], dim=0)
    return [pairs[pairs[:, 0] == r, 1].tolist() for r in range(len(run.relations))]


def measure(store, run, args, rng) -> dict:
    out = {"run": run.run_id, "preset": run.meta.get("preset"), "p_norm": run.model.config.p_norm,
           "width": run.model.config.width, "entities": len(run.entities)}
    before = store_bytes()
    s = publish_run(store, run)
    after = store_bytes()
    out.update(vectors=s.vectors, write_s=s.write_seconds, rate=s.vectors / s.write_seconds, index_s=s.index_seconds,
               growth_mb=None if before is None or after is None else (after - before) / 1e6)
    print(f"  publish: {s.vectors} vectors of width {s.dim} in {s.write_seconds:.1f} s "
          f"({out['rate']:,.0f} vectors/s, blocks of 2,000), index build {s.index_seconds:.1f} s, store "
          + (f"+{out['growth_mb']:.0f} MB" if out["growth_mb"] is not None else "size unknown"), flush=True)

    videos = [e for e, v in zip(run.entities, run.is_video.tolist()) if v]
    relations = tag_relations(run)
    pairs = [(rng.choice(videos), rng.choice(relations)) for _ in range(args.pairs)]
    vectors = entity_vectors(run.model).numpy()
    tags = torch.nonzero(~run.is_video).squeeze(1).numpy()
    range_size = {r: len(ids) for r, ids in zip(run.relations, range_tags(run))}
    top10 = top1 = whole = 0
    need10, need1 = [], []
    for relation in relations:
        mine = [v for v, r in pairs if r == relation]
        if not mine:
            continue
        inferred = infer_run(store, run, mine, [relation], k=K, min_confidence=0.0)
        # the query's path: the index asked for k * overfetch * ceil(tags / range) tags, or the whole range
        # when that is no more tags (and for L1 runs)
        unit = K * -(-len(tags) // max(range_size[relation], 1))
        scored_whole = out["p_norm"] == 1 or range_size[relation] <= unit * args.overfetch
        for video, tails in zip(inferred.videos, inferred.tails.tolist()):
            want = [t for t in tails if t >= 0]
            live = [row["tag"] for row in kv.live_tags(store, video, relation, K, args.overfetch)]
            exact = [run.entities[t] for t in want]
            top10 += live == exact
            top1 += live[:1] == exact[:1]
            whole += scored_whole
            if want and not scored_whole:
                v, r = run.entity_names.get_loc(video), run.relation_names.get_loc(relation)
                need10.append(depth_needed(run, vectors, tags, v, r, want) / unit)
                need1.append(depth_needed(run, vectors, tags, v, r, want[:1]) / unit)
    n = len(pairs)
    out.update(top10=top10 / n, top1=top1 / n, pairs=n, whole=whole / n)
    print(f"  agreement with infer's ranking on {n} random (video, relation) pairs, over-fetch {args.overfetch} "
          f"({whole / n:.0%} of the pairs scored their whole range): top-10 equal {top10 / n:.1%}, top-1 equal "
          f"{top1 / n:.1%}", flush=True)
    if need10:
        d10, d1 = np.asarray(need10), np.asarray(need1)
        out["depth"] = {f: (float((d10 <= f).mean()), float((d1 <= f).mean())) for f in DEPTHS}
        print(f"  index path ({len(d10)} pairs): the over-fetch a perfect index needs (exact euclidean order of all "
              f"{len(tags)} tags, in units of k x tags / range): top-10 p50 {pct(d10, 50):.1f}, p95 {pct(d10, 95):.1f}, "
              f"p99 {pct(d10, 99):.1f}, max {d10.max():.1f}; share exact at over-fetch "
              + ", ".join(f"{f}: {a:.1%} / {b:.1%}" for f, (a, b) in out["depth"].items()) + " (top-10 / top-1)",
              flush=True)

    sample = rng.sample(videos, min(args.queries, len(videos)))
    relation_of = {video: rng.choice(relations) for video in sample}
    for n in range(args.passes):  # the same videos and relations each pass: the spread between passes
        lat_s, lat_t = [], []
        for video in sample:
            t0 = time.perf_counter()
            kv.similar_videos(store, video, K)
            lat_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            kv.live_tags(store, video, relation_of[video], K, args.overfetch)
            lat_t.append(time.perf_counter() - t0)
        out.update(similar_ms=(pct(lat_s, 50) * 1e3, pct(lat_s, 95) * 1e3), tags_ms=(pct(lat_t, 50) * 1e3, pct(lat_t, 95) * 1e3))
        print(f"  latency pass {n + 1} over {len(sample)} random videos (Python driver, one at a time, k = 10; load average "
              f"{os.getloadavg()[0]:.1f} after it): similar videos p50 {out['similar_ms'][0]:.1f} ms, p95 "
              f"{out['similar_ms'][1]:.1f} ms; live tags (over-fetch {args.overfetch}, a random relation each) p50 "
              f"{out['tags_ms'][0]:.1f} ms, p95 {out['tags_ms'][1]:.1f} ms", flush=True)
    return out


def topic_share(store, videos: list[str], topic: dict[str, str]) -> float:
    """Share of each video's 10 similar videos that have its true topic (category_3)."""
    hits = total = 0
    for v in videos:
        for row in kv.similar_videos(store, v, K):
            total += 1
            hits += topic.get(row["video"]) == topic.get(v) and topic.get(v) is not None
    return hits / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4000)
    parser.add_argument("--cold", type=float, default=0.05, help="share of videos held out, arriving after training")
    parser.add_argument("--presets", default="fast,paper-scaled")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--overfetch", type=int, default=10)
    parser.add_argument("--passes", type=int, default=2, help="latency passes over the same random videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="wipe a database that holds other data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; topic graph, {args.videos} videos "
          f"({args.cold:.0%} held out), epochs {args.epochs}, seed {args.seed}", flush=True)
    kg = GENERATORS["topic"](seed=args.seed, n_videos=args.videos)
    held = hold_out_videos(kg, args.cold, args.seed)
    triples = kg.all_triples()
    videos = torch.nonzero(kg.is_video).squeeze(1)
    cat3 = kg.relations.index("category_3")
    topic = {kg.entities[h]: kg.entities[t] for h, r, t in triples.tolist() if r == cat3}
    runs = Path(tempfile.mkdtemp(prefix="kgtag-vectors-"))
    with Store.connect(Settings.from_env()) as store:
        prepare(store, args.force)
        t0 = time.perf_counter()
        ingest_part(store, kg, triples[~touching(triples, held)], videos[~torch.isin(videos, held)])
        print(f"ingested in {time.perf_counter() - t0:.0f} s", flush=True)
        first = None
        for preset in args.presets.split(","):
            t0 = time.perf_counter()
            node = train_run(store, RunPlan(variant="transfusion", modalities=MODALITIES, preset=preset,
                                            epochs=args.epochs, seed=args.seed, device="cpu"), runs, progress=False)
            print(f"{preset}: trained {node['id']} in {time.perf_counter() - t0:.0f} s", flush=True)
            run = load_run(store, node["id"], runs, "cpu")
            run.meta["preset"] = preset
            measure(store, run, args, rng)
            first = first or run
        if len(held) and first is not None:
            publish_run(store, first)  # the first preset's run published again for the cold start
            ingest_part(store, kg, triples[:0], held)
            grown, chosen = choose_videos(store, load_run(store, first.run_id, runs, "cpu"), None, new=True,
                                          run_videos=False)
            t0 = time.perf_counter()
            n = publish_new_videos(store, grown, chosen)
            print(f"cold start: {n} new videos' vectors published in {time.perf_counter() - t0:.1f} s "
                  "(infer --new's step)", flush=True)
            chosen = rng.sample(chosen, min(len(chosen), args.queries))
            warm = rng.sample([kg.entities[i] for i in videos[~torch.isin(videos, held)].tolist()], len(chosen))
            print(f"  similar videos (k = 10) with the query's true topic (category_3, {len(set(topic.values()))} "
                  f"topics): new videos {topic_share(store, chosen, topic):.1%}, warm videos "
                  f"{topic_share(store, warm, topic):.1%} ({len(chosen)} of each)", flush=True)


if __name__ == "__main__":
    main()
