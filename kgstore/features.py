"""Modality features: validated matrices in, float32 byte properties on video nodes out.

Storage (measured, docs/graph-model.md): a modality's vectors live on each video as the property
`feat_<modality>` holding float32 little-endian bytes (`ndarray.tobytes()`, read back with
`numpy.frombuffer`), and the modality's dimension once on `(:Modality {name, dim})`. Neo4j Community has
no vector type and stores a float list as 8-byte doubles; bytes halve the store and were 3-4x faster
both ways. A float list plus a vector index is only worth it where similarity search runs in Cypher.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kgtag.conventions import MODALITY_NAME
from kgtag.errors import first_line

from .errors import InputError
from .fingerprint import bump_version
from .ingest import IngestReport, upsert_entities
from .store import Store, StoreError, cypher
from .tables import check_names, check_utf8, column_list, read_bytes, shorten

BATCH_SIZE = 2_000  # ~3 MB of 384-d vectors per transaction
# Accepted vector value types: fixed-width integers and floats (stored as float32). Strings, booleans,
# timestamps, decimals, complex numbers and nested lists are refused, never converted.
ACCEPTED = "int8..int64, uint8..uint64, float16/32/64"
NPY_KINDS = "iuf"  # numpy dtype kinds: signed, unsigned, floating


def property_key(modality: str) -> str:
    """The node property that holds a modality's vectors; the name is checked, never trusted."""
    if not isinstance(modality, str) or not MODALITY_NAME.fullmatch(modality):
        raise InputError(None, None, f"modality name {modality!r} must match [a-z][a-z0-9_]*")
    return f"feat_{modality}"


def encode(vectors: np.ndarray) -> list[bytes]:
    """One float32 little-endian byte string per row."""
    rows = np.ascontiguousarray(vectors, dtype="<f4")
    return [row.tobytes() for row in rows]


def decode(values: list, dim: int) -> np.ndarray:
    """[n, dim] float32 from stored values (bytes, or float lists written by other tools)."""
    if not values:
        return np.zeros((0, dim), dtype=np.float32)
    if isinstance(values[0], (bytes, bytearray)):
        sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        if (sizes != 4 * dim).any():
            raise StoreError(f"stored vectors do not all have {dim} float32 values; re-ingest the modality")
        return np.frombuffer(b"".join(values), dtype="<f4").reshape(len(values), dim).astype(np.float32)
    return np.asarray(values, dtype=np.float32).reshape(len(values), dim)


def read_feature_file(path: str | Path, ids_path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors[n, d] float32) from Parquet (`id` + a list column, `vector` by default) or .npy
    plus an id list (one id per line); every fault raises `InputError` with file and row/line."""
    path = Path(path)
    if ids_path is not None or path.suffix.lower() == ".npy":
        if ids_path is None:
            raise InputError(path, None, "a .npy matrix needs an id list (one id per line), e.g. --ids ids.txt")
        return _read_npy(path, Path(ids_path))
    parquet = _parquet_file(path)
    schema = parquet.schema_arrow
    names = schema.names
    if "id" not in names:
        raise InputError(path, None, f"no `id` column (columns: {column_list(names)})")
    # one pass over the fields: `schema.field(name)` per name is a linear search (quadratic in columns)
    lists = {f.name: f.type for f in schema if f.name != "id" and _is_list(f.type)}
    column = "vector" if "vector" in lists else (next(iter(lists)) if len(lists) == 1 else None)
    if column is None:
        raise InputError(path, None, f"expected one list column of numbers named `vector` (columns: {column_list(names)})")
    value_type = lists[column].value_type
    if not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type)):
        raise InputError(path, None, f"column {shorten(column)} holds list<{value_type}>; vectors must be lists of "
                                     f"numbers ({ACCEPTED})")
    # Row batches into one float32 matrix: a million 512-d vectors cost their 2 GB once, not the
    # file's bytes, an Arrow table and two numpy copies on top (8.3 GB peak before; 2.8 GB now).
    n = parquet.metadata.num_rows
    ids, matrix, row = np.empty(n, dtype=object), None, 0
    try:
        for batch in parquet.iter_batches(batch_size=65_536, columns=["id", column]):
            ids[row:row + batch.num_rows] = _ids(batch.column("id"), path)
            vectors = _vector_batch(batch.column(column), path, row, matrix.shape[1] if matrix is not None else None)
            if matrix is None:
                matrix = np.empty((n, vectors.shape[1]), dtype=np.float32)
            matrix[row:row + batch.num_rows] = vectors
            _check_finite(vectors, ids, path, row)
            row += batch.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, None, f"not a readable Parquet file ({first_line(exc, 300)})") from None
    if matrix is None:
        raise InputError(path, None, "no vectors (or empty vectors) in this file")
    _check_ids(ids, path, "row")
    return ids, matrix


def _parquet_file(path: Path) -> pq.ParquetFile:
    """The Parquet file, read in place; a gzipped one is unpacked in memory first. Buffered reads
    decode a column chunk a page at a time: a file written as one 2 GB row group (pyarrow's default
    for a million 512-d vectors) otherwise sits in memory whole, twice (7.2 GB peak measured)."""
    try:
        with path.open("rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        return pq.ParquetFile(pa.BufferReader(read_bytes(path)) if gzipped else path, buffer_size=1 << 20, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        read_bytes(path)  # names a missing file or a directory the way every reader does
        raise InputError(path, None, f"not a readable Parquet file ({first_line(exc, 300)})") from None


def _vector_batch(vectors, path: Path, row: int, dim: int | None) -> np.ndarray:
    """[n, dim] float32 of one batch's list column; `row` is the batch's first row (for messages),
    `dim` the file's dimension from its first row (None in the first batch)."""
    if vectors.null_count:
        raise InputError(path, row + int(np.flatnonzero(vectors.is_null().to_numpy(zero_copy_only=False))[0]) + 1, "missing vector")
    lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
    dim = int(lengths[0]) if dim is None and len(lengths) else dim
    if (wrong := np.flatnonzero(lengths != dim)).size:
        raise InputError(path, row + int(wrong[0]) + 1, f"vector has {lengths[wrong[0]]} values, expected {dim} like row 1")
    if not dim:
        raise InputError(path, row + 1, "no vectors (or empty vectors) in this file")
    values = pc.list_flatten(vectors)
    if values.null_count:
        first = np.repeat(np.arange(len(lengths)), lengths)[values.is_null().to_numpy(zero_copy_only=False)][0]
        raise InputError(path, row + int(first) + 1, "vector has a missing value")
    return values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(lengths), dim)


def _is_list(t) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _ids(column, path) -> np.ndarray:
    if pa.types.is_integer(column.type) or pa.types.is_large_string(column.type) or pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    if not pa.types.is_string(column.type):
        raise InputError(path, None, f"the id column has type {column.type}; expected strings")
    return pc.utf8_trim_whitespace(column.fill_null("")).to_numpy(zero_copy_only=False).astype(object)


def read_npy_matrix(path: Path) -> np.ndarray:
    """A 2-D numeric matrix from a .npy file (optionally gzipped). The header is checked before any
    allocation: the dtype (kinds `NPY_KINDS`), two dimensions, at least one column, and a shape that
    the file's bytes actually hold (a header claiming 10^14 values is refused, not allocated)."""
    import io

    data = read_bytes(path)
    stream = io.BytesIO(data)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        version = np.lib.format.read_magic(stream)
        if version not in readers:
            raise ValueError(f".npy format version {version} (1.0 and 2.0 are read)")
        shape, fortran, dtype = readers[version](stream, max_header_size=10_000)
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise InputError(path, None, f"not a .npy matrix ({first_line(exc, 300)})") from None
    if dtype.kind not in NPY_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise InputError(path, None, f"values of type {dtype}; vectors must be numbers ({ACCEPTED})")
    if len(shape) != 2:
        raise InputError(path, None, f"expected a 2-D matrix (rows x dimension), found shape {shape}")
    if shape[1] == 0:
        raise InputError(path, None, f"vectors of dimension 0 (shape {shape}); a modality needs at least one value")
    need = shape[0] * shape[1] * dtype.itemsize
    have = len(data) - stream.tell()
    if need != have:
        raise InputError(path, None, f"header says shape {shape} of {dtype} ({need:,} bytes) but the file holds "
                                     f"{have:,} bytes of values; the file is damaged")
    matrix = np.frombuffer(data, dtype=dtype, count=shape[0] * shape[1], offset=stream.tell())
    return matrix.reshape(shape, order="F" if fortran else "C")


def _read_npy(path: Path, ids_path: Path) -> tuple[np.ndarray, np.ndarray]:
    matrix = read_npy_matrix(path)
    lines = check_utf8(read_bytes(ids_path), ids_path).decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids = np.array([s.strip() for s in lines], dtype=object)
    if len(ids) != len(matrix):
        raise InputError(ids_path, None, f"{len(ids)} ids for {len(matrix)} matrix rows in {path.name}")
    _check_ids(ids, ids_path, "line")
    matrix = matrix.astype(np.float32, copy=False)
    _check_finite(matrix, ids, path)
    return ids, matrix


def _check_ids(ids: np.ndarray, path, unit: str) -> None:
    if (empty := np.flatnonzero(ids == "")).size:
        raise InputError(path, int(empty[0]) + 1, f"empty id ({empty.size} {unit}s)")
    check_names(ids, np.arange(1, len(ids) + 1), path, "id", unit)
    series = pd.Series(ids)
    if (dup := np.flatnonzero(series.duplicated().to_numpy())).size:
        first = int(np.flatnonzero((series == ids[dup[0]]).to_numpy())[0]) + 1
        raise InputError(path, int(dup[0]) + 1, f"id {ids[dup[0]]!r} repeats {unit} {first}")


def _check_finite(matrix: np.ndarray, ids: np.ndarray, path, first_row: int = 0) -> None:
    """InputError at the first row of `matrix` (row `first_row` + 1 of the file) with NaN or infinity."""
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(path, first_row + int(bad[0]) + 1,
                         f"vector of {ids[first_row + bad[0]]!r} holds NaN or infinity ({bad.size} rows affected)")


def ingest_features(store: Store, modality: str, path: str | Path, ids_path: str | Path | None = None,
                    allow_new: bool = False, batch_size: int = BATCH_SIZE) -> IngestReport:
    """Store one modality's vectors on their entities (which become `:Video`).

    The file is validated whole first: ids, dimension (consistent in the file and with the modality's
    stored `dim`), finite values, and that every id is in the graph (unless `allow_new`, which
    creates the missing videos). Batches are idempotent transactions (SET), so a re-run completes an
    interrupted ingest.
    """
    started = time.perf_counter()
    key = property_key(modality)
    ids, matrix = read_feature_file(path, ids_path)
    dim = matrix.shape[1]
    report = IngestReport(sources=[str(path)], rows=len(ids))
    stored = store.query("read_modality", routing="r", modality=modality)
    if stored and stored[0]["dim"] != dim:
        raise InputError(path, None, f"vectors have {dim} values but modality {modality!r} has dim {stored[0]['dim']} in the graph")
    eids = np.asarray(store.query("ingest_entities_find", routing="r", ids=ids.tolist())[0]["eids"], dtype=object)
    missing = np.flatnonzero(eids == "")
    if missing.size and not allow_new:
        raise InputError(ids_path or path, int(missing[0]) + 1,
                         f"id {shorten(ids[missing[0]])} is not in the graph ({missing.size} of {len(ids)} ids missing); "
                         "ingest the videos first")
    found = np.flatnonzero(eids != "")
    tags = store.query("ingest_features_tags", routing="r", eids=eids[found].tolist())[0]["rows"]
    if tags:
        first = int(found[min(tags)])
        raise InputError(ids_path or path, first + 1,
                         f"id {shorten(ids[first])} is a tag (the tail of a triple), not a video"
                         + (f" ({len(tags)} such ids)" if len(tags) > 1 else "") + "; features belong to videos")
    if allow_new:
        eids, created = upsert_entities(store, ids)
        report.entities_created = created
    report.entities_existing = len(ids) - report.entities_created
    bump_version(store)  # before and after: a cache read while the batches run matches neither
    store.query("ingest_features_modality", modality=modality, dim=dim)
    store.write_batches(len(ids), batch_size, lambda tx, a, b: tx.run(
        cypher("ingest_features_write"), eids=eids[a:b].tolist(), key=key, vectors=encode(matrix[a:b])).consume())
    bump_version(store)
    report.features_written = len(ids)
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class VideoText:
    id: str
    text: str


def video_texts(store: Store, prop: str) -> list[VideoText]:
    """Every video's non-blank text property `prop` (e.g. its title), by id: input for text features."""
    return [VideoText(r["id"], r["text"]) for r in store.query("video_texts", routing="r", property=prop)]
