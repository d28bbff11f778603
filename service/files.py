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

from kgtag.atomic import write_atomic
from kgtag.embed.checkpoint import first_line
from kgtag.embed.variants import BASES, VARIANTS, segment_names
from kgtag.kgstore.results import headline_metrics, read_run

from .errors import BadInput, RunNotFound
from .plan import configs_from, display_name

GRAPH_KEYS = ("entities", "relations", "is_video", "train", "valid", "test")
COUNTS = ("entities", "relations", "train", "valid", "test")
UNUSABLE = "the run cannot be used: train a new one with `kgtag train`"


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
    """run.json, whole or not at all (a full disk: DiskFull, the previous run.json kept)."""
    write_atomic(run_dir / "run.json", lambda fh: fh.write(json.dumps(meta, indent=2).encode()))


def save_tensors(path: Path, value) -> None:
    """graph.pt, model.pt: whole or not at all, like write_meta."""
    write_atomic(path, lambda fh: torch.save(value, fh))


def save_graph(run_dir: Path, graph: dict) -> None:
    save_tensors(run_dir / "graph.pt", graph)


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
    meta = read_file(run_dir / "run.json", lambda p: json.loads(p.read_text()), UNUSABLE)
    check_run_json(meta, run_dir / "run.json", run_id)
    saved = read_file(run_dir / "graph.pt", load_tensors, UNUSABLE)
    check_graph_pt(saved, meta["counts"], run_dir / "graph.pt")
    return run_dir, meta, saved


# run.json and graph.pt parse as JSON and as tensors even when damaged or edited: each field is checked
# against what kgtag writes, so that a wrong one is one line naming the file and the field, never a
# traceback later (or model.pt blamed for it). The configs' own fields are embed.config.decode's to check.

def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _strings(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _string(v) -> bool:
    return isinstance(v, str)


def _object(v) -> bool:
    return isinstance(v, dict)


RUN_FIELDS = {  # field: (required, check, what it must be)
    "id": (True, _string, "a run id"),
    "created": (True, _string, "a date (ISO 8601 text)"),
    "variant": (True, lambda v: isinstance(v, str) and v in VARIANTS, f"one of {', '.join(VARIANTS)}"),
    "base": (True, lambda v: isinstance(v, str) and v in BASES, f"one of {', '.join(BASES)}"),
    "modalities": (True, _strings, "a list of modality names"),
    "preset": (True, _string, "a preset name"),
    "device": (True, _string, "a device name (cpu, cuda)"),
    "seed": (True, _count, "a whole number >= 0"),
    "split": (True, _string, "the --split text"),
    "counts": (True, lambda v: _object(v) and all(_count(v.get(k)) for k in COUNTS),
               f"an object of whole numbers >= 0 ({', '.join(COUNTS)})"),
    "model_config": (True, _object, "an object of model settings"),
    "train_config": (True, _object, "an object of training settings"),
    "metrics": (False, _object, "an object of metrics"),
    "calibration": (False, _object, "an object"),
    "graph_fingerprint": (False, _string, "a hash"),
    "cache_digest": (False, _string, "a sha256 hex digest"),
    "config_version": (False, _count, "a whole number >= 0"),
    "negatives": (False, lambda v: _object(v) and _count(v.get("count")) and _string(v.get("sha256")),
                  "an object {count, sha256}"),
    "from_run": (False, _string, "a run id"),
    "distributed": (False, _object, "an object"),
}


def _shown(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def check_run_json(meta, path: Path, run_id: str) -> None:
    """run.json's fields: types, ranges, and agreement with the run's folder and its model_config."""
    if not isinstance(meta, dict):
        raise BadInput(f"{path} holds {type(meta).__name__}, not a run's object of fields; {UNUSABLE}")
    for name, (required, ok, want) in RUN_FIELDS.items():
        if name not in meta:
            if required:
                raise BadInput(f"{path}: field {name!r} is missing; {UNUSABLE}")
        elif not ok(meta[name]):
            raise BadInput(f"{path}: field {name!r} is {_shown(meta[name])}, expected {want}; {UNUSABLE}")
    if meta["id"] != run_id:
        raise BadInput(f"{path}: field 'id' is {_shown(meta['id'])}, but the run is {run_id!r}; {UNUSABLE}")
    for name in ("variant", "base", "modalities"):  # the model is built from model_config, named from these
        if name in meta["model_config"] and meta["model_config"][name] != meta[name]:
            raise BadInput(f"{path}: field 'model_config.{name}' is {_shown(meta['model_config'][name])} but "
                           f"{name!r} is {_shown(meta[name])}; {UNUSABLE}")


def check_graph_pt(saved, counts: dict, path: Path) -> None:
    """graph.pt: the id maps (lists of names), is_video (bool, one per entity), the split (int64 [n, 3]
    ids in range), each as long as run.json's `counts` says."""
    if not isinstance(saved, dict):
        raise BadInput(f"{path} holds {type(saved).__name__}, not a run's id maps and split; {UNUSABLE}")
    for key in GRAPH_KEYS:
        if key not in saved:
            raise BadInput(f"{path}: field {key!r} is missing; {UNUSABLE}")
    for key in ("entities", "relations"):
        if not _strings(saved[key]):
            raise BadInput(f"{path}: field {key!r} is not a list of names; {UNUSABLE}")
    n_e, n_r = len(saved["entities"]), len(saved["relations"])
    flags = saved["is_video"]
    if not isinstance(flags, torch.Tensor) or flags.dtype != torch.bool or tuple(flags.shape) != (n_e,):
        raise BadInput(f"{path}: field 'is_video' is not a bool tensor of one flag per entity ({n_e}); {UNUSABLE}")
    for key in ("train", "valid", "test"):
        t = saved[key]
        if not isinstance(t, torch.Tensor) or t.dtype != torch.int64 or t.dim() != 2 or t.shape[1] != 3:
            raise BadInput(f"{path}: field {key!r} is not an int64 tensor [n, 3] of (head, relation, tail) ids; {UNUSABLE}")
        if len(t) and (int(t.min()) < 0 or int(t[:, [0, 2]].max()) >= n_e or int(t[:, 1].max()) >= n_r):
            raise BadInput(f"{path}: field {key!r} holds ids outside the run's {n_e} entities and {n_r} relations; {UNUSABLE}")
    lengths = {"entities": n_e, "relations": n_r, **{k: len(saved[k]) for k in ("train", "valid", "test")}}
    for key in COUNTS:
        if lengths[key] != counts[key]:
            raise BadInput(f"{path}: field {key!r} holds {lengths[key]}, but run.json's counts.{key} is "
                           f"{counts[key]}; {UNUSABLE}")


def check_same_config(run_dir: Path, meta: dict, trained_as, source: Path) -> None:
    """run.json's model_config is the one the run was trained with (`trained_as`, from `source`, its
    checkpoint): an edit of run.json after training began is named as such, not as a checkpoint or a
    model.pt that "does not fit"."""
    now = configs_from(meta, str(run_dir / "run.json"))[0].to_dict()
    was = trained_as.to_dict()
    changed = [f for f, v in now.items() if was.get(f) != v]
    if changed:
        f = changed[0]
        raise BadInput(f"{run_dir / 'run.json'}: field 'model_config.{f}' is {now[f]!r}, but {source} was trained "
                       f"with {was.get(f)!r}; restore run.json, or start a new run with `kgtag train`")
