"""Property test of every input reader (issue 18): random bytes, random Unicode (control characters
included), random nesting and random shapes give either a one-line error of the input family (InputError,
the run service's BadInput, the CLI's CliError) or data that reads back equal to what was written.
Bounded: a few dozen examples per property (CI time), no deadline (the machine is shared)."""

from __future__ import annotations

import gzip
import io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kgtag.kgstore.errors import InputError
from kgtag.kgstore.tables import CONTROL, MAX_ID, read_triples

# KGTAG_EXAMPLES=500 for a deeper search by hand
SCALE = int(os.environ.get("KGTAG_EXAMPLES", "40"))
EXAMPLES = settings(max_examples=SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=max(SCALE * 3 // 8, 5), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def input_error(exc: BaseException) -> str:
    """The exception is one of the input family, with a one-line message; returns it."""
    from kgtag.cli.output import CliError
    from kgtag.runs.errors import RunError

    assert isinstance(exc, (InputError, RunError, CliError)), repr(exc)
    message = str(exc.message if isinstance(exc, RunError) else exc)
    assert message and "\n" not in message and "\r" not in message, message
    return message


def read_or_refuse(read, *args):
    try:
        return read(*args)
    except Exception as exc:  # noqa: BLE001  the property: anything raised is a one-line input error
        input_error(exc)
        return None


def valid_name(s: str) -> bool:
    import re

    return bool(s) and len(s) <= MAX_ID and not re.search(CONTROL.replace("\\\\", "\\"), s)


names = st.text(st.characters(codec="utf-8"), min_size=0, max_size=12)


# ------------------------------------------------------------------------------------------- triples
@EXAMPLES
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".tsv", ".csv", ".txt", ".parquet", ".tsv.gz"]),
       gz=st.booleans())
def test_random_bytes_as_triples(tmp_path_factory, data, suffix, gz):
    path = tmp_path_factory.mktemp("t") / f"x{suffix}"
    path.write_bytes(gzip.compress(data) if gz else data)
    frame = read_or_refuse(read_triples, path)
    if frame is not None:  # accepted: every name obeys the limits
        for column in ("head", "relation", "tail"):
            assert all(valid_name(v) for v in frame[column]), frame[column].tolist()


@EXAMPLES
@given(rows=st.lists(st.tuples(names, names, names), min_size=1, max_size=6),
       fmt=st.sampled_from(["tsv", "csv", "parquet", "tsv.gz"]))
def test_random_unicode_triples_read_back_equal(tmp_path_factory, rows, fmt):
    assume([r.lower() for r in rows[0]] != ["head", "relation", "tail"])
    path = tmp_path_factory.mktemp("t") / f"x.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(("head", "relation", "tail"))}), path)
    else:
        if fmt == "csv":
            text = "".join(",".join('"' + v.replace('"', '""') + '"' for v in r) + "\n" for r in rows)
        else:
            text = "".join("\t".join(r) + "\n" for r in rows)
        raw = text.encode("utf-8", "surrogatepass")
        path.write_bytes(gzip.compress(raw) if fmt.endswith(".gz") else raw)
    frame = read_or_refuse(read_triples, path)
    if frame is not None:
        wanted = [tuple(v.strip() for v in r) for r in rows]
        wanted = [r for r in wanted if r != ("", "", "")]
        assert [tuple(r) for r in frame[["head", "relation", "tail"]].itertuples(index=False)] == wanted
        assert all(valid_name(v) for r in wanted for v in r)


# -------------------------------------------------------------------------------------------- videos
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | names,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                           max_leaves=10)


@EXAMPLES
@given(records=st.lists(st.dictionaries(names, json_values, max_size=4), min_size=1, max_size=4),
       with_id=st.booleans(), depth=st.integers(0, 3000))
def test_random_video_records(tmp_path_factory, records, with_id, depth):
    from kgtag.kgstore.videos import Mapping, read_videos

    tmp = tmp_path_factory.mktemp("v")
    if with_id:
        records = [{**r, "id": f"v{i}"} for i, r in enumerate(records)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    if depth:
        lines.append('{"id": "deep", "a": ' + "[" * depth + "]" * depth + "}")
    (tmp / "r.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    table = read_or_refuse(read_videos, tmp / "r.jsonl", Mapping())
    if table is not None:
        assert table.videos["id"].tolist() == [str(r["id"]).strip() for r in records] + (["deep"] if depth else [])
        for column in ("head", "relation", "tail"):
            assert all(valid_name(v) for v in table.triples[column]), table.triples[column].tolist()


@EXAMPLES
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_random_mapping_bytes(tmp_path_factory, data):
    from kgtag.kgstore.videos import load_mapping

    path = tmp_path_factory.mktemp("m") / "m.toml"
    path.write_bytes(data)
    mapping = read_or_refuse(load_mapping, path)
    if mapping is not None:
        assert all(valid_name(rule.relation) for rule in mapping.relations.values())


# ------------------------------------------------------------------------------------------ features
dtypes = hnp.scalar_dtypes() | hnp.byte_string_dtypes() | hnp.unicode_string_dtypes() | st.just(np.dtype("c8"))


@EXAMPLES
@given(matrix=hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
def test_random_npy_shapes_and_types(tmp_path_factory, matrix):
    from kgtag.kgstore.features import read_feature_file

    tmp = tmp_path_factory.mktemp("f")
    np.save(tmp / "m.npy", matrix)
    rows = matrix.shape[0] if matrix.ndim else 0
    (tmp / "ids.txt").write_text("".join(f"v{i}\n" for i in range(rows)))
    out = read_or_refuse(read_feature_file, tmp / "m.npy", tmp / "ids.txt")
    if out is not None:
        ids, read = out
        assert matrix.ndim == 2 and matrix.shape[1] > 0 and matrix.dtype.kind in "iuf"
        assert ids.tolist() == [f"v{i}" for i in range(rows)]
        assert np.array_equal(read, matrix.astype(np.float32))


@EXAMPLES
@given(data=st.binary(max_size=300), header=st.booleans())
def test_random_bytes_as_npy_and_parquet(tmp_path_factory, data, header):
    from kgtag.kgstore.features import read_feature_file

    tmp = tmp_path_factory.mktemp("f")
    (tmp / "m.npy").write_bytes((b"\x93NUMPY\x01\x00" if header else b"") + data)
    (tmp / "ids.txt").write_text("a\n")
    read_or_refuse(read_feature_file, tmp / "m.npy", tmp / "ids.txt")
    (tmp / "m.parquet").write_bytes((b"PAR1" if header else b"") + data + (b"PAR1" if header else b""))
    read_or_refuse(read_feature_file, tmp / "m.parquet")


value_types = st.sampled_from([pa.int8(), pa.uint32(), pa.float16(), pa.float32(), pa.float64(), pa.bool_(), pa.string(),
                               pa.timestamp("s"), pa.list_(pa.float32()), pa.decimal128(24, 2)])


@FEW
@given(value_type=value_types, lengths=st.lists(st.integers(0, 3), min_size=1, max_size=4), ids=st.lists(names, min_size=1, max_size=4))
def test_random_parquet_vectors(tmp_path_factory, value_type, lengths, ids):
    from kgtag.kgstore.features import read_feature_file

    n = min(len(lengths), len(ids))
    lengths, ids = lengths[:n], ids[:n]
    source = [[(i + j) % 2 for j in range(k)] for i, k in enumerate(lengths)]
    if pa.types.is_list(value_type):  # nested: each value a one-element list
        vectors = pa.array([[[float(x)] for x in row] for row in source], pa.list_(value_type))
    else:
        vectors = pa.array(source, pa.list_(pa.int64())).cast(pa.list_(value_type))
    path = tmp_path_factory.mktemp("p") / "f.parquet"
    pq.write_table(pa.table({"id": pa.array(ids, pa.string()), "vector": vectors}), path)
    out = read_or_refuse(read_feature_file, path)
    if out is not None:
        got_ids, matrix = out
        assert pa.types.is_integer(value_type) or pa.types.is_floating(value_type)
        assert got_ids.tolist() == [i.strip() for i in ids] and matrix.shape == (n, lengths[0]) and lengths[0] > 0
        assert np.array_equal(matrix, np.array([[(i + j) % 2 for j in range(k)] for i, k in enumerate(lengths)], np.float32))


# --------------------------------------------------------------------------------------- split files
@FEW
@given(valid=st.lists(st.tuples(st.sampled_from(["v0", "v1", "A", "B", "zz"]), st.sampled_from(["genre", "mood"]),
                                st.sampled_from(["A", "B", "v1"])), min_size=1, max_size=4),
       test=st.lists(st.tuples(st.sampled_from(["v0", "v1"]), st.sampled_from(["genre", "mood"]), st.sampled_from(["A", "B"])),
                     min_size=1, max_size=4))
def test_random_split_files(tmp_path_factory, valid, test):
    import torch

    from kgtag.runs.split import split_from_files

    entities, relations = ["v0", "v1", "A", "B"], ["genre", "mood"]
    triples = torch.tensor([[0, 0, 2], [1, 0, 3], [0, 1, 3], [1, 1, 2]])
    tmp = tmp_path_factory.mktemp("s")
    (tmp / "valid.tsv").write_text("".join("\t".join(r) + "\n" for r in valid))
    (tmp / "test.tsv").write_text("".join("\t".join(r) + "\n" for r in test))
    out = read_or_refuse(split_from_files, triples, entities, relations, tmp / "valid.tsv", tmp / "test.tsv")
    graph = {(entities[h], relations[r], entities[t]) for h, r, t in triples.tolist()}
    if out is None:
        assert not set(valid) <= graph or not set(test) <= graph or set(valid) & set(test)
    else:
        train, v, t = out
        assert set(valid) <= graph and set(test) <= graph and not set(valid) & set(test)
        names_of = lambda x: [(entities[h], relations[r], entities[tt]) for h, r, tt in x.tolist()]  # noqa: E731
        assert names_of(v) == valid and names_of(t) == test
        assert not set(names_of(train)) & (set(valid) | set(test))


# ---------------------------------------------------------------------------------------- kgtag.toml
toml_values = st.recursive(st.integers() | st.booleans() | names | st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@EXAMPLES
@given(data=st.binary(max_size=200), sections=st.dictionaries(st.sampled_from(["neo4j", "kgtag", "other"]),
       st.dictionaries(st.sampled_from(["uri", "user", "password", "database", "runs_dir"]), toml_values, max_size=3)
       | toml_values, max_size=3))
def test_random_config_files(tmp_path_factory, data, sections):
    from kgtag.cli.options import CONFIG_KEYS, load_config

    tmp = tmp_path_factory.mktemp("c")
    (tmp / "raw.toml").write_bytes(data)
    read_or_refuse(load_config, tmp / "raw.toml")
    text = io.StringIO()
    for key, value in sections.items():
        if isinstance(value, dict):
            text.write(f"[{key}]\n" + "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in value.items()))
        else:
            text.write(f"{key} = {json.dumps(value, ensure_ascii=False)}\n")
    (tmp / "c.toml").write_text(text.getvalue(), encoding="utf-8")
    config = read_or_refuse(load_config, tmp / "c.toml")
    if config is not None:
        for section in ("neo4j", "kgtag"):
            assert isinstance(config.get(section, {}), dict)
            assert all(isinstance(v, str) for k, v in config.get(section, {}).items() if k in CONFIG_KEYS[section])
