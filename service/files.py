"""A run's two homes: its folder (runs_dir/<run-id>/) and its Run node in Neo4j.

The folder holds what is too big for a node: `graph.pt` (the id maps and the train/valid/test split
as id tensors), `model.pt` (the trained weights), `checkpoints/` (embed.train's per-epoch checkpoints,
for a resume), `run.json` (the configs) and `cache/` (the graph it trained on, memory-mappable: cache.py).
The Run node holds hyper-parameters, metrics, status and the graph's fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from kgtag.embed.checkpoint import first_line
from kgtag.embed.variants import segment_names
from kgtag.kgstore.results import headline_metrics, read_run

from .errors import BadInput, RunNotFound
from .plan import display_name

RUN_KEYS = {"id", "created", "variant", "base", "modalities", "preset", "device", "seed", "split", "counts",
            "model_config", "train_config"}
GRAPH_KEYS = {"entities", "relations", "is_video", "train", "valid", "test"}


def run_node(store, run_id: str) -> dict:
    """The Run node's properties, or RunNotFound."""
    node = read_run(store, run_id)
    if node is None:
        raise RunNotFound(run_id)
    return node


def node_of(meta: dict, run_dir: Path, status: str) -> dict:
    """The Run node's properties for run.json's `meta`: names, JSON blobs, headline metrics, status."""
    metrics = meta.get("metrics") or {}
    params = {k: meta[k] for k in ("variant", "base", "modalities", "preset", "device", "seed", "split",
                                   "model_config", "train_config", "counts")}
    node = {
        "id": meta["id"], "created": meta["created"],
        "model": display_name(meta["variant"], meta["base"], meta["modalities"]),
        "base": meta["base"], "modalities": meta["modalities"],
        # eq. 3's segments in order: the order of the weights in INFERRED.attention (relation-conditioned runs)
        "segments": segment_names(meta["variant"], tuple(meta["modalities"])),
        "params_json": json.dumps(params), "metrics_json": json.dumps(metrics),
        "checkpoint": str(run_dir), "status": status,
    }
    if "protocol" in metrics:
        node["protocol"], node["candidates"] = metrics["protocol"], metrics["candidates"]
    if meta.get("from_run"):  # a warm start (`kgtag train --from`)
        node["from_run"] = meta["from_run"]
    for key in ("graph_fingerprint", "cache_digest"):
        if key in meta:
            node[key] = meta[key]
    if "calibration" in meta:
        node["calibration_json"] = json.dumps(meta["calibration"])
    node.update(headline_metrics(metrics))
    return node


def run_dir_of(runs_dir: Path, run_id: str) -> Path:
    """The run's folder: always runs_dir/<run-id>, never a path taken from the graph (the Run node's
    `checkpoint` is only informative: whoever can write to Neo4j must not pick the files we load)."""
    root = Path(runs_dir).resolve()
    run_dir = (root / run_id).resolve()
    if run_dir.parent != root:  # '..', '/', a symlink out: the id must name a folder right under root
        raise BadInput(f"run id {run_id!r} does not name a folder in the runs directory {root}")
    return run_dir


def make_run_dir(run_dir: Path) -> bool:
    """Create the run's folder (and the runs folder) private to the user, 0700, like the Neo4j home: it
    holds the feature matrices and the trained model. Returns whether it was new. Files in it are
    created 0600 (`kgtag` sets the umask 077)."""
    fresh = not run_dir.exists()
    for folder in (run_dir.parent, run_dir):
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)  # mkdir's mode goes through the umask
    return fresh


def write_meta(run_dir: Path, meta: dict) -> None:
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))


def save_graph(run_dir: Path, graph: dict) -> None:
    torch.save(graph, run_dir / "graph.pt")


NEGATIVES = "negatives.npy"


def freeze_negatives(run_dir: Path, negatives: torch.Tensor) -> dict:
    """The rejected edges a run trains against, frozen in its folder: {count, sha256} for run.json."""
    np.save(run_dir / NEGATIVES, negatives.numpy().astype(np.int64).reshape(-1, 3))
    return {"count": len(negatives), "sha256": hashlib.sha256((run_dir / NEGATIVES).read_bytes()).hexdigest()}


def frozen_negatives(run_dir: Path, meta: dict) -> torch.Tensor | None:
    """The run's frozen rejected edges (checked against run.json's digest); None for a run from before."""
    if "negatives" not in meta:
        return None
    path = run_dir / NEGATIVES
    fix = "the run cannot be resumed: train a new one with `kgtag train`"
    data = read_file(path, lambda p: p.read_bytes(), fix)
    if hashlib.sha256(data).hexdigest() != meta["negatives"].get("sha256"):
        raise BadInput(f"{path} is not the file run {meta['id']} froze (digest differs); {fix}")
    array = read_file(path, lambda p: np.load(p, allow_pickle=False), fix)
    counts = meta["counts"]
    if array.dtype != np.int64 or array.ndim != 2 or array.shape[1] != 3 or (array < 0).any() \
            or (len(array) and (array[:, [0, 2]].max() >= counts["entities"] or array[:, 1].max() >= counts["relations"])):
        raise BadInput(f"{path} holds no [K, 3] ids of this run; {fix}")
    return torch.from_numpy(array)


def read_file(path: Path, load, fix: str):
    """load(path), or one line naming the damaged file and what to do."""
    try:
        return load(path)
    except FileNotFoundError:
        raise BadInput(f"{path} is missing; {fix}") from None
    except Exception as exc:  # truncated, empty, foreign or hostile (weights_only refuses pickled code)
        raise BadInput(f"{path} is damaged ({first_line(exc)}); {fix}") from None


def load_tensors(path: Path):
    with warnings.catch_warnings():  # torch warns (several lines) about a foreign pickle protocol
        warnings.simplefilter("ignore")
        return torch.load(path, weights_only=True, map_location="cpu")


def run_files(store, run_id: str, runs_dir: Path) -> tuple[Path, dict, dict]:
    """(run folder, run.json, graph.pt) of a stored run, checked complete."""
    node = run_node(store, run_id)
    run_dir = run_dir_of(runs_dir, run_id)
    if not (run_dir / "run.json").is_file():
        where = f" (its Run node says {node['checkpoint']})" if node.get("checkpoint") else ""
        raise BadInput(f"run {run_id}'s files are not in {run_dir}{where}; "
                       "give the runs directory it was trained in with --runs-dir")
    fix = "the run cannot be used: train a new one with `kgtag train`"
    meta = read_file(run_dir / "run.json", lambda p: json.loads(p.read_text()), fix)
    saved = read_file(run_dir / "graph.pt", load_tensors, fix)
    if not isinstance(meta, dict) or not RUN_KEYS <= meta.keys() or not isinstance(saved, dict) \
            or not GRAPH_KEYS <= saved.keys():
        raise BadInput(f"{run_dir} holds no complete kgtag run files (run.json, graph.pt); {fix}")
    return run_dir, meta, saved
