"""Every bad input at the kgstore layer is refused whole (issue 18 items 2, 4, 5, 7): one line naming
the file, the line or field and the limit, and the graph's node and relationship counts unchanged."""

from __future__ import annotations

import datetime
import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgtag.kgstore.errors import InputError
from kgtag.kgstore.features import ingest_features
from kgtag.kgstore.ingest import ingest_triples
from kgtag.kgstore.videos import ingest_videos

ESC_RELATION = "r2\x1b[2J\x1b]0;OWNED\x1b\\"
MAPPING = 'properties = ["title"]\n'


def counts(store) -> tuple[int, int]:
    records, _, _ = store.driver.execute_query(
        "MATCH (n) WITH count(n) AS n OPTIONAL MATCH ()-[e]->() RETURN n, count(e) AS e")
    return records[0]["n"], records[0]["e"]


@pytest.fixture
def graph(store, tmp_path):
    """Two videos with tags (v1 -genre-> Comedy, v2 -genre-> Drama) and an 8-d vision modality."""
    (tmp_path / "base.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"id": "v1", "title": "one", "genre": "Comedy"}, {"id": "v2", "title": "two", "genre": "Drama"}]) + "\n")
    (tmp_path / "map.toml").write_text(MAPPING)
    ingest_videos(store, tmp_path / "base.jsonl", tmp_path / "map.toml")
    pq.write_table(pa.table({"id": ["v1", "v2"], "vector": [[0.5] * 8, [0.25] * 8]}), tmp_path / "vis.parquet")
    ingest_features(store, "vision", tmp_path / "vis.parquet")
    return store


def text(name: str, content: str | bytes):
    def make(tmp):
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path
    return make


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def parquet(name: str, vector, ids=("v1", "v2")):
    def make(tmp):
        pq.write_table(pa.table({"id": list(ids), "vector": vector}), tmp / name)
        return tmp / name
    return make


def npy(name: str, matrix):
    def make(tmp):
        np.save(tmp / name, matrix)
        return tmp / name
    return make


def raw_npy(name: str, header: bytes, body: bytes = b"\0" * 64):
    header = header + b" " * (118 - len(header)) + b"\n"
    return text(name, b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body)


def gz_blank_lines(name: str, megabytes: int):
    def make(tmp):
        with gzip.open(tmp / name, "wb", compresslevel=9) as f:
            for _ in range(megabytes):
                f.write(b"\n" * (1 << 20))
        return tmp / name
    return make


def wide_parquet(columns: int):
    def make(tmp):
        pq.write_table(pa.table({"id": ["v1"], **{f"c{i}": [1.0] for i in range(columns)}}), tmp / "wide.parquet")
        return tmp / "wide.parquet"
    return make


TRIPLES = [  # (case, file maker, words the one-line message holds)
    ("ESC in a relation name", text("esc.tsv", f"v1\t{ESC_RELATION}\tt1\n"), ["esc.tsv:1", "U+001B (ESC)", "relation name"]),
    ("C1 CSI in a head id", text("c1.tsv", "v1\u009b2J\tgenre\tt1\n"), ["c1.tsv:1", "U+009B (CSI)", "head id"]),
    ("DEL in a tail (CSV)", text("del.csv", "v1,genre,ok\nv1,genre,t\x7f1\n"), ["del.csv:2", "U+007F (DEL)", "tail id"]),
    ("NUL inside a Parquet tail", lambda tmp: (pq.write_table(pa.table({"head": ["v1"], "relation": ["genre"], "tail": ["a\x00b"]}),
                                                              tmp / "nul.parquet"), tmp / "nul.parquet")[1], ["nul.parquet:1", "U+0000 (NUL)"]),
    ("relation of 2,001 characters", text("long.tsv", "v1\t" + "r" * 2001 + "\tt\n"), ["long.tsv:1", "2,001 characters", "at most 2,000"]),
    ("empty relation", text("empty.csv", 'v1,"",t\n'), ["empty.csv:1", "empty relation name"]),
    ("gzip bomb: 100 KB of 100 MB blank lines", gz_blank_lines("bomb.tsv.gz", 100), ["bomb.tsv.gz", "gzip data unpacks to more than", "200x"]),
    ("broken gzip", text("broken.tsv.gz", gzip.compress(b"v1\tgenre\tt\n" * 100)[:-12]), ["broken.tsv.gz", "broken gzip data"]),
    ("not UTF-8", text("latin.tsv", "v1\tgenre\tCaf\xe9\n".encode("latin-1")), ["latin.tsv:1", "not valid UTF-8"]),
    ("four columns", text("four.tsv", "v1\tgenre\tt\tx\n"), ["four.tsv:1", "expected 3 tab-separated columns"]),
]

VIDEOS = [
    ("video id with ESC", jsonl({"id": "vx\x1b[2J", "genre": "a"}), ["r.jsonl:1", "video id", "U+001B (ESC)"]),
    ("title with OSC", jsonl({"id": "vx", "title": "a\x1b]0;OWNED\x07"}), ["r.jsonl:1", "property 'title'", "U+001B (ESC)"]),
    ("tag with NUL", jsonl({"id": "vx", "genre": "a\x00b"}), ["r.jsonl:1", "tag", "U+0000 (NUL)"]),
    ("tag with C1 in a split list", jsonl({"id": "vx", "genre": ["ok", "b\u0085c"]}), ["r.jsonl:1", "U+0085"]),
    ("attribute name of 5,000 emoji after a good record",
     jsonl({"id": "vnew20", "genre": "a"}, {"id": "vnew21", "\U0001F600" * 5000: "a"}), ["r.jsonl:2", "5,000 characters", "at most 2,000"]),
    ("attribute name of 5,000 ASCII", jsonl({"id": "vnew22", "a" * 5000: "a"}), ["r.jsonl:1", "(a relation name) has 5,000 characters"]),
    ("empty attribute name", jsonl({"id": "vnew23", "": "a"}), ["r.jsonl:1", "attribute '' (a relation name) is empty"]),
    ("blank attribute name", jsonl({"id": "vnew23", "  ": "a"}), ["r.jsonl:1", "(a relation name) is empty"]),
    ("attribute name with ESC", jsonl({"id": "vnew24", "g\x1b[2J": "a"}), ["r.jsonl:1", "attribute 'g\\x1b[2J' (a relation name) holds", "U+001B (ESC)"]),
    ("record nested 100,000 deep", '{"id": "vd", "genre": ' + "[" * 100_000 + "]" * 100_000 + "}\n", ["r.jsonl:1", "nested too deep"]),
    ("nested list value", jsonl({"id": "vd", "genre": [["a"]]}), ["r.jsonl:1", "values must be strings or numbers"]),
    ("object value", jsonl({"id": "vd", "genre": {"a": 1}}), ["r.jsonl:1", "values must be strings or numbers"]),
    ("not an object", "[1, 2]\n", ["r.jsonl:1", "JSON object"]),
    ("repeated id", jsonl({"id": "vd"}, {"id": "vd"}), ["r.jsonl:2", "already appears on line 1"]),
]

MAPPINGS = [
    ("relation with ESC", '[relations.genre]\nrelation = "g\\u001b[2J"\n', ["m.toml", "relations.'genre'.relation", "U+001B (ESC)"]),
    ("relation of 3,000 characters", f'[relations.genre]\nrelation = "{"g" * 3000}"\n', ["m.toml", "3,000 characters"]),
    ("nested 5,000 deep", "a = " + "[" * 5000 + "]" * 5000 + "\n", ["m.toml", "nested too deep"]),
]

FEATURES = [  # (case, file maker, id-list maker or None, words)
    ("Parquet with 20,000 scalar columns", wide_parquet(20_000), None, ["wide.parquet", "expected one list column", "20,001 columns"]),
    ("list<string>", parquet("str.parquet", pa.array([["1.5", "2"], ["3", "4"]])), None, ["str.parquet", "list<string>", "float16/32/64"]),
    ("list<timestamp>", parquet("ts.parquet", pa.array([[datetime.datetime(2020, 1, 1)] * 2] * 2)), None, ["ts.parquet", "list<timestamp"]),
    ("list<bool>", parquet("bool.parquet", pa.array([[True, False]] * 2)), None, ["bool.parquet", "list<bool>"]),
    ("list<decimal>", parquet("dec.parquet", pa.array([[1], [2]], pa.list_(pa.decimal128(5, 2)))), None, ["dec.parquet", "list<decimal128"]),
    ("nested list", parquet("nest.parquet", pa.array([[[1.0], [2.0]]] * 2)), None, ["nest.parquet", "holds list<list<"]),
    ("empty vectors", parquet("dim0.parquet", pa.array([[], []], pa.list_(pa.float32()))), None, ["dim0.parquet", "empty vectors"]),
    ("features for a tag", parquet("tag.parquet", [[1.0] * 8], ids=["Comedy"]), None, ["tag.parquet:1", "'Comedy' is a tag"]),
    ("id with ESC", parquet("idesc.parquet", [[1.0] * 8], ids=["v1\x1b[2J"]), None, ["idesc.parquet:1", "U+001B (ESC)"]),
    ("complex .npy", npy("complex.npy", np.array([[1 + 2j, 3], [4, 5j]])), text("ids.txt", "v1\nv2\n"), ["complex.npy", "complex128"]),
    ("bool .npy", npy("bool.npy", np.ones((2, 3), dtype=bool)), text("ids.txt", "v1\nv2\n"), ["bool.npy", "type bool"]),
    ("datetime .npy", npy("dt.npy", np.zeros((2, 3), dtype="datetime64[s]")), text("ids.txt", "v1\nv2\n"), ["dt.npy", "datetime64"]),
    ("string .npy", npy("s.npy", np.array([["a", "b"], ["c", "d"]])), text("ids.txt", "v1\nv2\n"), ["s.npy", "<U1"]),
    ("dimension-0 .npy", npy("zero.npy", np.zeros((2, 0), dtype="float32")), text("ids.txt", "v1\nv2\n"), ["zero.npy", "dimension 0"]),
    ("1-D .npy", npy("flat.npy", np.zeros(2, dtype="float32")), text("ids.txt", "v1\nv2\n"), ["flat.npy", "2-D"]),
    (".npy header claiming 10^14 values",
     raw_npy("huge.npy", b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 1000), }"),
     text("ids.txt", "v1\n"), ["huge.npy", "400,000,000,000,000 bytes", "holds 64 bytes"]),
    (".npy header that is no dict", raw_npy("bad.npy", b"[1, 2, 3]"), text("ids.txt", "v1\n"), ["bad.npy", "not a .npy matrix"]),
    ("ids with ESC", npy("ok.npy", np.ones((2, 8), dtype="float32")), text("ids.txt", "v1\nv\x1b2\n"), ["ids.txt:2", "U+001B (ESC)"]),
]


@pytest.mark.parametrize("case, make, words", TRIPLES, ids=[c[0] for c in TRIPLES])
def test_bad_triples_are_refused_whole(graph, tmp_path, case, make, words):
    refused(graph, words, lambda: ingest_triples(graph, [make(tmp_path)]))


@pytest.mark.parametrize("case, records, words", VIDEOS, ids=[c[0] for c in VIDEOS])
def test_bad_video_records_are_refused_whole(graph, tmp_path, case, records, words):
    (tmp_path / "r.jsonl").write_text(records)
    (tmp_path / "m.toml").write_text(MAPPING)
    refused(graph, words, lambda: ingest_videos(graph, tmp_path / "r.jsonl", tmp_path / "m.toml"))


@pytest.mark.parametrize("case, mapping, words", MAPPINGS, ids=[c[0] for c in MAPPINGS])
def test_bad_mappings_are_refused_whole(graph, tmp_path, case, mapping, words):
    (tmp_path / "m.toml").write_text(mapping)
    refused(graph, words, lambda: ingest_videos(graph, tmp_path / "base.jsonl", tmp_path / "m.toml"))


@pytest.mark.parametrize("case, make, ids, words", FEATURES, ids=[c[0] for c in FEATURES])
def test_bad_features_are_refused_whole(graph, tmp_path, case, make, ids, words):
    path = make(tmp_path)
    ids_path = ids(tmp_path) if ids else None
    refused(graph, words, lambda: ingest_features(graph, "vision" if "tag" in case or "id" in case else "other", path, ids_path))


def refused(store, words: list[str], ingest) -> None:
    before = counts(store)
    with pytest.raises(InputError) as info:
        ingest()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    for word in words:
        assert word in message, (word, message)
    assert counts(store) == before


def test_features_for_an_entity_made_by_ingest_triples_make_it_a_video(store, tmp_path):
    """The documented triples-first workflow: a head of `ingest triples` gets features and becomes a video."""
    (tmp_path / "t.tsv").write_text("v9\tgenre\tComedy\n")
    ingest_triples(store, [tmp_path / "t.tsv"])
    pq.write_table(pa.table({"id": ["v9"], "vector": pa.array([[1, 2, 3]], pa.list_(pa.int16()))}), tmp_path / "f.parquet")
    assert ingest_features(store, "vision", tmp_path / "f.parquet").features_written == 1
    records, _, _ = store.driver.execute_query("MATCH (v:Video {id: 'v9'}) RETURN count(v) AS n")
    assert records[0]["n"] == 1


def test_accepted_vector_types_read_back_equal(tmp_path):
    from kgtag.kgstore.features import read_feature_file

    want = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    for dtype in ("int8", "uint16", "int64", "float16", "float64", ">f4"):
        np.save(tmp_path / "m.npy", want.astype(dtype))
        (tmp_path / "ids.txt").write_text("a\nb\n")
        ids, matrix = read_feature_file(tmp_path / "m.npy", tmp_path / "ids.txt")
        assert ids.tolist() == ["a", "b"] and matrix.dtype == np.float32 and (matrix == want).all(), dtype
    np.save(tmp_path / "f.npy", np.asfortranarray(want))
    assert (read_feature_file(tmp_path / "f.npy", tmp_path / "ids.txt")[1] == want).all()
    for value_type in (pa.int32(), pa.uint8(), pa.float16(), pa.float64()):
        vectors = pa.array([[1, 2, 3], [4, 5, 6]], pa.list_(pa.int64())).cast(pa.list_(value_type))
        pq.write_table(pa.table({"id": ["a", "b"], "vector": vectors}), tmp_path / "p.parquet")
        assert (read_feature_file(tmp_path / "p.parquet")[1] == want).all(), value_type
    fixed = pa.array([[1, 2, 3], [4, 5, 6]], pa.list_(pa.float32(), 3))
    pq.write_table(pa.table({"id": ["a", "b"], "vector": fixed}), tmp_path / "x.parquet")
    assert (read_feature_file(tmp_path / "x.parquet")[1] == want).all()


def test_a_multi_member_gzip_reads_whole(tmp_path):
    from kgtag.kgstore.tables import read_triples

    (tmp_path / "t.tsv.gz").write_bytes(gzip.compress(b"a\tr\tb\n") + gzip.compress(b"c\tr\td\n"))
    assert read_triples(tmp_path / "t.tsv.gz")[["head", "tail"]].values.tolist() == [["a", "b"], ["c", "d"]]
