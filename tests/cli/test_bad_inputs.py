"""Bad inputs through the command line (issue 18 items 2, 4, 5, 7, 8, 9): exit 2, one line on stderr
naming the file and line or the field, no traceback, the graph's counts and the runs folder unchanged;
stored control characters print escaped."""

from __future__ import annotations

import json
import os
import pickle
import stat

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgtag.cli.main import cli

ESC = "\x1b"


def counts(driver) -> tuple[int, int]:
    records, _, _ = driver.execute_query("MATCH (n) WITH count(n) AS n OPTIONAL MATCH ()-[e]->() RETURN n, count(e) AS e")
    return records[0]["n"], records[0]["e"]


@pytest.fixture
def graph(runner, neo4j_driver_clean, tmp_path):
    """Twelve videos with a genre and a mood each, and 4-d vision features: enough to split and train."""
    rows = [{"id": f"v{i}", "title": f"video {i}", "genre": "abc"[i % 3], "mood": "xy"[i % 2]} for i in range(12)]
    (tmp_path / "videos.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "mapping.toml").write_text('properties = ["title"]\n')
    assert runner.invoke(cli, ["ingest", "videos", "videos.jsonl", "--mapping", "mapping.toml"]).exit_code == 0
    pq.write_table(pa.table({"id": [r["id"] for r in rows], "vector": [[float(i), 1.0, 0.0, 2.0] for i in range(12)]}),
                   tmp_path / "vision.parquet")
    assert runner.invoke(cli, ["ingest", "features", "--modality", "vision", "vision.parquet"]).exit_code == 0
    return neo4j_driver_clean


def write(path, content) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path.name


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# (case, files to write {name: content}, argv, words the one line holds); runs in the graph's folder
CASES = [
    ("triples: relation with ESC", {"esc.tsv": f"v1\tr2{ESC}[2J{ESC}]0;OWNED{ESC}\\\tt1\n"},
     ["ingest", "triples", "esc.tsv"], ["esc.tsv:1", "U+001B (ESC)"]),
    ("triples: C1 CSI in a head", {"c1.tsv": "v1\u009b2J\tgenre\tt1\n"}, ["ingest", "triples", "c1.tsv"], ["c1.tsv:1", "U+009B"]),
    ("videos: id with ESC", {"r.jsonl": jsonl({"id": f"vx{ESC}[2J", "genre": "a"})},
     ["ingest", "videos", "r.jsonl", "--mapping", "mapping.toml"], ["r.jsonl:1", "video id", "\\x1b"]),
    ("videos: title with ESC", {"r.jsonl": jsonl({"id": "vx", "title": f"a{ESC}]0;OWNED\x07"})},
     ["ingest", "videos", "r.jsonl", "--mapping", "mapping.toml"], ["r.jsonl:1", "title"]),
    ("videos: attribute of 5,000 emoji", {"r.jsonl": jsonl({"id": "vnew20", "genre": "a"}, {"id": "vnew21", "\U0001F600" * 5000: "a"})},
     ["ingest", "videos", "r.jsonl", "--mapping", "mapping.toml"], ["r.jsonl:2", "5,000 characters"]),
    ("videos: empty attribute", {"r.jsonl": jsonl({"id": "vnew23", "": "a"})},
     ["ingest", "videos", "r.jsonl", "--mapping", "mapping.toml"], ["r.jsonl:1", "(a relation name) is empty"]),
    ("videos: nested 100,000 deep", {"r.jsonl": '{"id": "vd", "genre": ' + "[" * 100_000 + "]" * 100_000 + "}\n"},
     ["ingest", "videos", "r.jsonl", "--mapping", "mapping.toml"], ["r.jsonl:1", "nested too deep"]),
    ("features: complex .npy", {"ids.txt": "v1\nv2\n"}, ["ingest", "features", "--modality", "c", "complex.npy", "--ids", "ids.txt"],
     ["complex.npy", "complex128"]),
    ("features: .npy header claiming 10^14 values", {"ids.txt": "v1\n"},
     ["ingest", "features", "--modality", "huge", "huge.npy", "--ids", "ids.txt"], ["huge.npy", "header says shape"]),
    ("features: for a tag", {}, ["ingest", "features", "--modality", "vision", "tag.parquet"], ["tag.parquet:1", "is a tag"]),
    ("split: triple not in the graph", {"valid.tsv": "v0\tmood\ta\n", "test.tsv": "v1\tgenre\tb\n"},
     ["train", "--model", "transe", "--epochs", "1", "--quiet", "--split", "valid.tsv,test.tsv"], ["valid.tsv:1", "not in the graph"]),
    ("split: a triple in both files", {"valid.tsv": "v0\tgenre\ta\nv1\tgenre\tb\n", "test.tsv": "v1\tgenre\tb\n"},
     ["train", "--model", "transe", "--epochs", "1", "--quiet", "--split", "valid.tsv,test.tsv"],
     ["test.tsv:1", "also in", "valid.tsv (line 2"]),
    ("--modalities 'Vis;x'", {}, ["train", "--modalities", "Vis;x"], ["'Vis;x'", "modality name"]),
    ("kgtag.toml not UTF-8", {"kgtag.toml": b'[neo4j]\nuser = "\xff\xfe"\n'}, ["status"], ["kgtag.toml", "not valid UTF-8", "0xff"]),
    ("kgtag.toml neo4j = 5", {"kgtag.toml": "neo4j = 5\n"}, ["status"], ["kgtag.toml", "`neo4j` must be a table"]),
    ("kgtag.toml runs_dir = 5", {"kgtag.toml": "[kgtag]\nruns_dir = 5\n"}, ["train", "--model", "transe"], ["kgtag.runs_dir must be a string"]),
    ("kgtag.toml uri = 5", {"kgtag.toml": "[neo4j]\nuri = 5\n"}, ["status"], ["neo4j.uri must be a string, not int"]),
    ("kgtag.toml nested 5,000 deep", {"kgtag.toml": "a = " + "[" * 5000 + "]" * 5000 + "\n"}, ["status"], ["nested too deep"]),
]


@pytest.mark.parametrize("case, files, argv, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(runner, graph, tmp_path, case, files, argv, words):
    np.save(tmp_path / "complex.npy", np.array([[1 + 2j, 3], [4, 5j]]))
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 1000), }"
    header += b" " * (118 - len(header)) + b"\n"
    (tmp_path / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(64))
    pq.write_table(pa.table({"id": ["a"], "vector": [[1.0] * 4]}), tmp_path / "tag.parquet")
    for name, content in files.items():
        write(tmp_path / name, content)
    before = counts(graph)
    result = runner.invoke(cli, argv)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert ESC not in result.stderr and "\u009b" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert counts(graph) == before
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_stored_control_characters_print_escaped(runner, graph):
    """Names stored before ingest refused them reach no terminal raw: `status`, `--json` too."""
    bad = f"r2{ESC}[2J{ESC}]0;OWNED{ESC}\\\u009b"
    graph.execute_query("MATCH (v:Video {id: 'v1'}), (t:Tag {id: 'a'}) MERGE (:Relation {name: $r}) "
                        "CREATE (v)-[:TRIPLE {relation: $r, source: 'ingest'}]->(t)", r=bad)
    result = runner.invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    assert ESC not in result.output and "\u009b" not in result.output
    assert "r2\\x1b[2J\\x1b]0;OWNED\\x1b\\\\x9b" in result.output.replace("\n", "")
    result = runner.invoke(cli, ["status", "--json"])
    assert ESC not in result.stdout and "\u009b" not in result.stdout
    assert any(r["relation"] == bad for r in json.loads(result.stdout)["relations"])


def test_refusing_a_pickle_never_suggests_weights_only_false(tmp_path):
    from kgtag.embed.checkpoint import CheckpointError, load

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    (tmp_path / "last.pt").write_bytes(pickle.dumps({"version": 1, "x": Evil()}))
    with pytest.raises(CheckpointError) as info:
        load(tmp_path / "last.pt")
    message = str(info.value)
    assert "weights_only" not in message and "False" not in message and "\n" not in message
    assert "refused unread" in message


def test_runs_are_private(runner, graph, tmp_path):
    result = runner.invoke(cli, ["train", "--model", "transe", "--epochs", "1", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / json.loads(result.stdout)["id"]
    paths = [tmp_path / "runs", *sorted((tmp_path / "runs").rglob("*"))]
    assert run_dir in paths and (run_dir / "model.pt") in paths
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))
