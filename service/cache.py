"""The run cache: the graph a run trains on, as memory-mappable files under runs/<id>/cache/.

    manifest.json        counts, dtypes, shapes, the graph fingerprint, shard boundaries; written last
    entities.arrow       entity ids (Arrow IPC, one string column), sorted: row i is entity id i
    is_video.npy         bool [E]
    triples.npy          int64 [N, 3] (h, r, t), sorted by (h, r, t): a contiguous row range is a head range
    feat_<m>.npy         float32 [E, d] per modality (zeros where absent), mask_<m>.npy bool [E]

It is written page by page straight from kgstore's keyset pages into preallocated memory maps
(np.lib.format.open_memmap), so no second full copy is ever held, into `cache.partial/`, renamed to
`cache/` only once the manifest is in: a half-written cache is never taken for a complete one.
A new run whose graph fingerprint (kgstore.fingerprint) matches a complete cache of another run in
the same runs directory hard-links that cache's files instead of reading Neo4j (the files are never
written after the rename, so sharing inodes is safe; a copy where links are not possible).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from kgtag.errors import KgtagError
from kgtag.kgstore.fingerprint import graph_fingerprint
from kgtag.kgstore.read import iter_features, iter_triples, modality_dim, read_entities
from kgtag.kgstore.store import StoreError

from .errors import BadInput
from .files import run_dir_of

FORMAT = 1
FOLDER, PARTIAL, MANIFEST = "cache", "cache.partial", "manifest.json"
SHARDS = 8  # head-range shards recorded in the manifest, one per future training process


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


def open_cache(run_dir: Path) -> RunCache | None:
    """The run's complete cache, None when it has none; CacheDamaged when a file of it is unusable."""
    folder = Path(run_dir) / FOLDER
    if not (folder / MANIFEST).is_file():
        return None
    if folder.resolve().parent != Path(run_dir).resolve():  # a link out of the run folder: not ours to read
        raise CacheDamaged(f"{folder} is not a folder of run {Path(run_dir).name}")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") != FORMAT or not manifest.get("complete"):
            raise ValueError("not a complete cache of this kgtag version")
        expected = _expected(manifest)
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise CacheDamaged(f"{folder / MANIFEST} is damaged ({type(exc).__name__}: {exc})") from None
    for name, (dtype, shape) in expected.items():
        try:
            array = np.load(folder / name, mmap_mode="r")
            ok = array.dtype == np.dtype(dtype) and list(array.shape) == shape
            why = f"holds {array.dtype} {list(array.shape)}, expected {dtype} {shape}"
        except (OSError, ValueError) as exc:
            ok, why = False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not ok:
            raise CacheDamaged(f"{folder / name} is damaged ({why})")
    try:  # memory-mapped: the ids are not copied to count them
        with pa.memory_map(str(folder / "entities.arrow")) as source:
            rows = pa.ipc.open_file(source).read_all().num_rows
    except (OSError, pa.ArrowException) as exc:
        raise CacheDamaged(f"{folder / 'entities.arrow'} is damaged ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    if rows != manifest["counts"]["entities"]:
        raise CacheDamaged(f"{folder / 'entities.arrow'} is damaged (holds {rows} ids, expected {manifest['counts']['entities']})")
    return RunCache(folder, manifest)


def run_cache(run_dir: Path) -> RunCache | None:
    """open_cache for a stored run (resume, infer, eval): a damaged cache is one line saying what to do."""
    try:
        return open_cache(run_dir)
    except CacheDamaged as exc:
        raise BadInput(f"{exc}; delete {Path(run_dir) / FOLDER} and the run reads its features from Neo4j") from None


def build_cache(store, run_dir: Path, runs_dir: Path, modalities=()) -> RunCache:
    """The cache of a new run: reused from another run of the same graph when there is one, else read
    from Neo4j (only the parts the other cache lacks). The fingerprint is read before and after: a
    graph that changed meanwhile fails the read rather than giving a half-consistent cache."""
    fingerprint = graph_fingerprint(store)
    source = find_cache(runs_dir, fingerprint["hash"], exclude=run_dir)
    staging = Path(run_dir) / PARTIAL
    shutil.rmtree(staging, ignore_errors=True)  # an interrupted earlier attempt
    staging.mkdir(parents=True)
    if source is not None:
        manifest = dict(source.manifest, modalities={}, reused_from=source.folder.parent.name)
        for name in ("entities.arrow", "is_video.npy", "triples.npy"):
            _link(source.folder / name, staging / name)
        entities = None
    else:
        manifest, entities = _read_graph(store, staging, fingerprint), None
    for m in modalities:
        if source is not None and source.has([m]):
            entry = source.manifest["modalities"][m]
            _link(source.folder / entry["file"], staging / entry["file"])
            _link(source.folder / entry["mask"], staging / entry["mask"])
            manifest["modalities"][m] = entry
            continue
        if entities is None:
            entities = RunCache(staging, manifest).entities()
        manifest["modalities"][m] = _read_features(store, staging, m, entities)
    if graph_fingerprint(store)["hash"] != fingerprint["hash"]:
        raise BadInput("the graph changed while it was being read for this run (an ingest or a review ran "
                       "meanwhile); start the run again")
    manifest.update(complete=True, created=datetime.now(timezone.utc).isoformat())
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
    folder = Path(run_dir) / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return RunCache(folder, manifest)


def find_cache(runs_dir: Path, fingerprint: str, exclude: Path | None = None) -> RunCache | None:
    """A complete, undamaged cache of the graph `fingerprint` in another run of runs_dir (newest first)."""
    found = []
    for manifest in Path(runs_dir).glob(f"*/{FOLDER}/{MANIFEST}"):
        try:
            run_dir = run_dir_of(runs_dir, manifest.parent.parent.name)  # never a folder outside runs_dir
        except BadInput:
            continue
        if exclude is not None and run_dir == Path(exclude).resolve():
            continue
        try:
            if json.loads(manifest.read_text())["fingerprint"]["hash"] != fingerprint:
                continue  # another graph: no need to look at its files
            cache = open_cache(run_dir)
        except (CacheDamaged, OSError, ValueError, KeyError, TypeError):
            continue  # never trusted; its own run reports it when used
        if cache is not None and cache.fingerprint == fingerprint:
            found.append((manifest.stat().st_mtime, cache))
    return max(found, key=lambda f: f[0])[1] if found else None


def _read_graph(store, staging: Path, fingerprint: dict) -> dict:
    ids, video = read_entities(store)
    pa_ids = pa.table({"id": pa.array(ids.tolist(), pa.string())})
    with pa.OSFile(str(staging / "entities.arrow"), "wb") as sink, pa.ipc.new_file(sink, pa_ids.schema) as writer:
        writer.write_table(pa_ids)
    np.save(staging / "is_video.npy", video)
    relations = sorted(store.query("read_relations", routing="r")[0]["names"])
    index, rel_index = pd.Index(ids), pd.Index(relations)
    n = int(fingerprint["triples"])
    if n == 0:  # a memory map cannot be empty; the run refuses the graph (kgtag.runs.graph.check_graph)
        np.save(staging / "triples.npy", np.zeros((0, 3), dtype=np.int64))
        out = np.load(staging / "triples.npy")
    else:
        out = np.lib.format.open_memmap(staging / "triples.npy", mode="w+", dtype=np.int64, shape=(n, 3))
    at, last_head, in_order = 0, -1, True
    for page in iter_triples(store):
        rows = page.codes(index, rel_index)
        if (rows < 0).any() or at + len(rows) > n:
            raise StoreError("the graph changed while it was being read (a triple names an entity or relation "
                             "read after it); read it again")
        rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
        in_order &= bool(rows[0, 0] > last_head)  # pages are head ranges in Cypher's string order
        out[at:at + len(rows)] = rows
        at, last_head = at + len(rows), int(rows[-1, 0])
    if at != n:
        raise StoreError(f"the graph changed while it was being read ({at} triples read, {n} counted); read it again")
    if not in_order:  # Cypher's and Python's string orders differed somewhere: sort once, in memory
        out[:] = out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]
    if n:
        out.flush()
    return {"format": FORMAT, "complete": False, "fingerprint": fingerprint,
            "counts": {"entities": len(ids), "videos": int(video.sum()), "relations": len(relations), "triples": n},
            "relations": relations, "shards": shards(out[:, 0], len(ids), SHARDS), "modalities": {},
            "reused_from": None}


def _read_features(store, staging: Path, modality: str, entities: list[str]) -> dict:
    dim = modality_dim(store, modality)
    entry = {"file": f"feat_{modality}.npy", "mask": f"mask_{modality}.npy", "dim": dim, "dtype": "float32"}
    # float32, as stored in Neo4j: bit-exact features and the metrics of a run read from Neo4j; the map
    # is page cache, not the process's own memory, so halving it (float16) buys less than it costs
    matrix = np.lib.format.open_memmap(staging / entry["file"], mode="w+", dtype=np.float32, shape=(len(entities), dim))
    mask = np.zeros(len(entities), dtype=bool)
    index = pd.Index(entities)
    for ids, vectors in iter_features(store, modality, dim):
        rows = index.get_indexer(ids)
        keep = rows >= 0
        matrix[rows[keep]] = vectors[keep]
        mask[rows[keep]] = True
    matrix.flush()
    np.save(staging / entry["mask"], mask)
    entry["vectors"] = int(mask.sum())
    return entry


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
    counts = manifest["counts"]
    out = {"is_video.npy": ("bool", [counts["entities"]]), "triples.npy": ("int64", [counts["triples"], 3])}
    for entry in manifest["modalities"].values():
        out[entry["file"]] = (entry["dtype"], [counts["entities"], entry["dim"]])
        out[entry["mask"]] = ("bool", [counts["entities"]])
    return out


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)
