"""The run cache: the graph a run trains on, as memory-mappable files under runs/<id>/cache/.

    manifest.json        counts, the graph fingerprint, shard boundaries, and each file's dtype,
                         shape, size and mtime; written last
    entities.arrow       entity ids (Arrow IPC, one string column), sorted: row i is entity id i
    is_video.npy         bool [E]
    triples.npy          int64 [N, 3] (h, r, t), sorted by (h, r, t): a contiguous row range is a head range
    feat_<m>.npy         float32 [E, d] per modality (zeros where absent), mask_<m>.npy bool [E]

Read once, through kgstore's one reader (`kgstore.read.read_graph` / `read_features`) into memory
maps it allocates here (`_Maps`): no second full copy is ever held. Each file is reserved on disk
(posix_fallocate) when it is created, after a check that the whole cache fits, so a full disk is one
line before anything is written, never a SIGBUS half-way through a memory map. Everything goes into
`cache.partial/`, renamed to `cache/` once the manifest is in; a failed build removes it.

Trust: the sha256 of the manifest is recorded in run.json and on the Run node (`cache_digest`) when
the cache is written. A new run reuses (hard-links) a cache of the same graph fingerprint only when
a Run node names it with that digest, and each file still has the size and mtime its manifest
recorded; the id ranges of the triples are checked whenever a cache is opened. A folder copied into
runs/, a file swapped or edited after the fact, or a manifest naming a path outside its folder is
never used. (Content is hashed once, at write time: the stat check on reuse costs no read.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from kgtag.atomic import is_disk_full, size
from kgtag.errors import DiskFull, KgtagError, first_line
from kgtag.kgstore.fingerprint import graph_fingerprint
from kgtag.kgstore.read import modality_dim, read_features, read_graph
from kgtag.kgstore.results import cached_runs

from .errors import BadInput
from .files import run_dir_of

FORMAT = 2  # 2: file stats and a digest recorded on the Run node (format 1 caches are read again)
FOLDER, PARTIAL, MANIFEST = "cache", "cache.partial", "manifest.json"
SHARDS = 8  # head-range shards recorded in the manifest, one per future training process
FILE_NAME = re.compile(r"[a-z][a-z0-9_]*\.(npy|arrow)")  # a manifest names files inside its folder only


class CacheDamaged(KgtagError):
    """A cache file that cannot be used; str() names it."""


@dataclass
class RunCache:
    folder: Path
    manifest: dict

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]["hash"]

    @property
    def digest(self) -> str:
        """sha256 of manifest.json: what run.json and the Run node record as `cache_digest`."""
        return file_digest(self.folder / MANIFEST)

    @property
    def relations(self) -> list[str]:
        return list(self.manifest["relations"])

    def entities(self) -> list[str]:
        with pa.memory_map(str(self.folder / "entities.arrow")) as source:
            return pa.ipc.open_file(source).read_all().column(0).to_pylist()

    def array(self, name: str) -> np.ndarray:
        """A file as a copy-on-write memory map (writable for torch.from_numpy; the file is never written)."""
        return np.load(self.folder / name, mmap_mode="c")

    def triples(self, rows: slice = slice(None)) -> torch.Tensor:
        """LongTensor [n, 3] over the memory map; `rows` a shard's slice (manifest `shards`)."""
        return torch.from_numpy(self.array("triples.npy")[rows])

    def is_video(self) -> torch.Tensor:
        return torch.from_numpy(np.array(self.array("is_video.npy")))

    def has(self, modalities) -> bool:
        return all(m in self.manifest["modalities"] for m in modalities)

    def features(self, modalities) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """build_model's features: per modality (FloatTensor [E, d] over the memory map, BoolTensor [E])."""
        out = {}
        for m in modalities:
            entry = self.manifest["modalities"][m]
            out[m] = (torch.from_numpy(self.array(entry["file"])), torch.from_numpy(np.array(self.array(entry["mask"]))))
        return out


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def open_cache(run_dir: Path, digest: str | None = None) -> RunCache | None:
    """The run's complete cache, None when it has none; CacheDamaged when it is not the cache its run
    recorded (`digest`, from run.json or the Run node) or a file of it is unusable."""
    folder = Path(run_dir) / FOLDER
    if not (folder / MANIFEST).is_file():
        return None
    if folder.resolve().parent != Path(run_dir).resolve():  # a link out of the run folder: not ours to read
        raise CacheDamaged(f"{folder} is not a folder of run {Path(run_dir).name}")
    if digest is not None and file_digest(folder / MANIFEST) != digest:
        raise CacheDamaged(f"{folder / MANIFEST} is not the manifest run {Path(run_dir).name} recorded (digest differs)")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") != FORMAT or not manifest.get("complete"):
            raise ValueError("not a complete cache of this kgtag version")
        expected = _expected(manifest)
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise CacheDamaged(f"{folder / MANIFEST} is damaged ({type(exc).__name__}: {exc})") from None
    for name, (dtype, shape) in expected.items():
        stat = manifest["files"].get(name)
        try:
            now = os.stat(folder / name)
            if stat is None or [now.st_size, now.st_mtime_ns] != [stat["bytes"], stat["mtime_ns"]]:
                raise ValueError("changed after the cache was written")
            if name.endswith(".npy"):
                array = np.load(folder / name, mmap_mode="r")
                if array.dtype != np.dtype(dtype) or list(array.shape) != shape:
                    raise ValueError(f"holds {array.dtype} {list(array.shape)}, expected {dtype} {shape}")
        except (OSError, ValueError) as exc:
            raise CacheDamaged(f"{folder / name} is damaged ({first_line(exc, None)})") from None
    counts = manifest["counts"]
    try:  # memory-mapped: the ids are not copied to count them
        with pa.memory_map(str(folder / "entities.arrow")) as source:
            rows = pa.ipc.open_file(source).read_all().num_rows
    except (OSError, pa.ArrowException) as exc:
        raise CacheDamaged(f"{folder / 'entities.arrow'} is damaged ({first_line(exc, None)})") from None
    if rows != counts["entities"]:
        raise CacheDamaged(f"{folder / 'entities.arrow'} is damaged (holds {rows} ids, expected {counts['entities']})")
    triples = np.load(folder / "triples.npy", mmap_mode="r")
    if len(triples):  # one vectorised pass: an id out of range is a damaged file, never an IndexError later
        low, high = triples.min(axis=0), triples.max(axis=0)
        limits = (counts["entities"], counts["relations"], counts["entities"])
        if (low < 0).any() or any(int(h) >= n for h, n in zip(high, limits)):
            raise CacheDamaged(f"{folder / 'triples.npy'} is damaged (ids outside the {counts['entities']} entities "
                               f"and {counts['relations']} relations of its manifest)")
    return RunCache(folder, manifest)


def run_cache(run_dir: Path, digest: str | None = None) -> RunCache | None:
    """open_cache for a stored run (resume, infer, eval): a damaged cache is one line saying what to do."""
    try:
        return open_cache(run_dir, digest)
    except CacheDamaged as exc:
        raise BadInput(f"{exc}; delete {Path(run_dir) / FOLDER} and the run reads its features from Neo4j") from None


def build_cache(store, run_dir: Path, runs_dir: Path, modalities=()) -> RunCache:
    """The cache of a new run: reused from a trusted cache of the same graph when there is one, else read
    from Neo4j (only the parts the other cache lacks). The fingerprint is read before and after: a
    graph that changed meanwhile fails the read rather than giving a half-consistent cache."""
    fingerprint = graph_fingerprint(store)
    source = find_cache(store, runs_dir, fingerprint["hash"], exclude=run_dir)
    staging = Path(run_dir) / PARTIAL
    shutil.rmtree(staging, ignore_errors=True)  # an interrupted earlier attempt
    staging.mkdir(parents=True)
    try:
        manifest = _fill(store, staging, fingerprint, source, modalities)
        if graph_fingerprint(store)["hash"] != fingerprint["hash"]:
            raise BadInput("the graph changed while it was being read for this run (an ingest or a review ran "
                           "meanwhile); start the run again")
        manifest["files"] = {p.name: {"bytes": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
                             for p in sorted(staging.iterdir())}
        manifest.update(complete=True, created=datetime.now(timezone.utc).isoformat())
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-written stays behind
        if is_disk_full(exc):
            raise DiskFull(f"the disk under {run_dir} filled up while the graph cache was written; free some "
                           "space and run `kgtag train` again") from None
        raise
    folder = Path(run_dir) / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return RunCache(folder, manifest)


def _fill(store, staging: Path, fingerprint: dict, source: RunCache | None, modalities) -> dict:
    dims = {m: modality_dim(store, m) for m in modalities}
    missing = [m for m in modalities if source is None or not source.has([m])]
    counts = source.manifest["counts"] if source else {"entities": fingerprint["entities"], "triples": fingerprint["triples"]}
    need = sum(counts["entities"] * (dims[m] * 4 + 1) for m in missing)
    if source is None:  # triples, is_video and the ids (Arrow: offsets + about 16 bytes an id)
        need += counts["triples"] * 24 + counts["entities"] * 25
    _check_space(staging, need)
    maps = _Maps(staging)
    if source is not None:
        manifest = dict(source.manifest, modalities={}, reused_from=source.folder.parent.name)
        for name in ("entities.arrow", "is_video.npy", "triples.npy"):
            _link(source.folder / name, staging / name)
        entities = None
    else:
        graph = read_graph(store, allocate=maps)
        entities = graph.entities
        table = pa.table({"id": pa.array(entities, pa.string())})
        with pa.OSFile(str(staging / "entities.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        np.save(staging / "is_video.npy", graph.is_video.numpy())
        n = len(graph.triples)
        if n == 0:  # a memory map cannot be empty; the run refuses the graph (kgtag.runs.graph.check_graph)
            np.save(staging / "triples.npy", np.zeros((0, 3), dtype=np.int64))
        manifest = {"format": FORMAT, "complete": False, "fingerprint": graph.fingerprint,
                    "counts": {"entities": len(entities), "videos": int(graph.is_video.sum()),
                               "relations": len(graph.relations), "triples": n},
                    "relations": graph.relations, "shards": shards(graph.triples[:, 0].numpy(), len(entities), SHARDS),
                    "modalities": {}, "reused_from": None}
        maps.flush()
        del graph
    for m in modalities:
        entry = {"file": f"feat_{m}.npy", "mask": f"mask_{m}.npy", "dim": dims[m], "dtype": "float32"}
        if m not in missing:
            _link(source.folder / entry["file"], staging / entry["file"])
            _link(source.folder / entry["mask"], staging / entry["mask"])
        else:
            if entities is None:
                entities = RunCache(staging, manifest).entities()
            _, mask = read_features(store, [m], entities, allocate=maps)[m]
            maps.flush()
            entry["vectors"] = int(mask.sum())
        manifest["modalities"][m] = {**source.manifest["modalities"][m]} if m not in missing else entry
    return manifest


class _Maps:
    """kgstore.read's allocator for the cache: each array a .npy memory map, reserved on disk at creation."""

    def __init__(self, folder: Path):
        self.folder, self.open = folder, []

    def __call__(self, name: str, shape: tuple, dtype) -> np.ndarray:
        path = self.folder / f"{name}.npy"
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        with open(path, "r+b") as fh:  # the map's pages are real blocks now: ENOSPC here, never SIGBUS later
            os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
        self.open.append(array)
        return array

    def flush(self) -> None:
        for array in self.open:
            array.flush()
        self.open.clear()


def _check_space(folder: Path, need: int) -> None:
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DiskFull(f"the graph cache needs about {size(need)} under {folder.parent}, and {size(free)} is free; "
                       "free some space (or give another --runs-dir) and run `kgtag train` again")


def find_cache(store, runs_dir: Path, fingerprint: str, exclude: Path | None = None) -> RunCache | None:
    """A trusted cache of the graph `fingerprint`: that of a run whose Run node records this fingerprint
    and the cache's digest, still intact (newest run first). Folders no Run node names are never read."""
    for run_id, digest in cached_runs(store, fingerprint):
        try:
            run_dir = run_dir_of(runs_dir, run_id)  # never a folder outside runs_dir
            if exclude is not None and run_dir == Path(exclude).resolve():
                continue
            cache = open_cache(run_dir, digest)
        except (BadInput, CacheDamaged, OSError):
            continue  # never trusted; its own run reports it when used
        if cache is not None and cache.fingerprint == fingerprint:
            return cache
    return None


def shards(heads: np.ndarray, num_entities: int, k: int) -> list[dict]:
    """k contiguous head ranges of about N/k triples each (a boundary never splits one head's triples):
    [{heads: [lo, hi), rows: [lo, hi)}]; a process takes `cache.triples(slice(*rows))`."""
    n = len(heads)
    if n == 0:
        return [{"heads": [0, num_entities], "rows": [0, 0]}]
    cuts = sorted({int(np.searchsorted(heads, heads[min(i * n // k, n - 1)], "left")) for i in range(1, k)} - {0})
    rows = [0] + cuts + [n]
    head_at = [0] + [int(heads[c]) for c in cuts] + [num_entities]
    return [{"heads": [head_at[i], head_at[i + 1]], "rows": [rows[i], rows[i + 1]]} for i in range(len(rows) - 1)]


def _expected(manifest: dict) -> dict[str, tuple[str, list[int]]]:
    """The files a manifest promises: name -> (dtype, shape); names must be plain names in the folder."""
    counts = manifest["counts"]
    out = {"entities.arrow": ("", []), "is_video.npy": ("bool", [counts["entities"]]),
           "triples.npy": ("int64", [counts["triples"], 3])}
    for entry in manifest["modalities"].values():
        out[entry["file"]] = (entry["dtype"], [counts["entities"], entry["dim"]])
        out[entry["mask"]] = ("bool", [counts["entities"]])
    for name in out:
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
            raise ValueError(f"file name {name!r} is not a plain name inside the cache folder")
    if not isinstance(manifest["files"], dict):
        raise ValueError("'files' is not an object")
    return out


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)  # copy2 keeps the mtime the source's manifest recorded
