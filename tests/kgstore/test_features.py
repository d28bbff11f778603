"""Modality features: Parquet and .npy in, exact float32 out, with presence masks; bad vectors rejected."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgtag.kgstore import features, ingest
from kgtag.kgstore.errors import InputError
from kgtag.kgstore.read import read_features


@pytest.fixture
def graph(store, tmp_path):
    path = tmp_path / "g.tsv"
    path.write_text("v0\tr\tt0\nv1\tr\tt0\nv2\tr\tt1\n", encoding="utf-8")
    ingest.ingest_triples(store, path)
    return store


def parquet(path, ids, vectors):
    pq.write_table(pa.table({"id": ids, "vector": pa.array([list(map(float, v)) for v in vectors], type=pa.list_(pa.float32()))}), path)
    return path


def test_parquet_round_trip_with_presence_mask(graph, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5)).astype(np.float32)
    report = features.ingest_features(graph, "vision", parquet(tmp_path / "f.parquet", ["v2", "v0"], x))
    assert report.features_written == 2
    out = read_features(graph, ["vision"], ["t0", "v0", "v1", "v2"])
    matrix, mask = out["vision"]
    assert mask.tolist() == [False, True, False, True]
    assert np.array_equal(matrix.numpy()[1], x[1]) and np.array_equal(matrix.numpy()[3], x[0])
    assert not matrix.numpy()[[0, 2]].any()
    labels = {r["id"]: set(r["l"]) for r in graph.driver.execute_query("MATCH (e:Entity) RETURN e.id AS id, labels(e) AS l").records}
    assert labels["v0"] == {"Entity", "Video"} and labels["t0"] == {"Entity", "Tag"}
    dim = graph.driver.execute_query("MATCH (m:Modality {name: 'vision'}) RETURN m.dim AS d").records[0]["d"]
    assert dim == 5


def test_npy_with_id_list(graph, tmp_path):
    x = np.arange(6, dtype=np.float64).reshape(3, 2) / 7
    np.save(tmp_path / "f.npy", x)
    (tmp_path / "ids.txt").write_text("v0\nv1\nv2\n", encoding="utf-8")
    features.ingest_features(graph, "audio", tmp_path / "f.npy", tmp_path / "ids.txt")
    matrix, mask = read_features(graph, ["audio"], ["v0", "v1", "v2"])["audio"]
    assert mask.all() and np.array_equal(matrix.numpy(), x.astype(np.float32))
    features.ingest_features(graph, "audio", tmp_path / "f.npy", tmp_path / "ids.txt")  # idempotent
    assert np.array_equal(read_features(graph, ["audio"], ["v0", "v1", "v2"])["audio"][0].numpy(), x.astype(np.float32))


@pytest.mark.parametrize("vectors, line, words", [
    ([[1.0, 2.0], [float("nan"), 0.0]], 2, "NaN or infinity"),
    ([[1.0, 2.0], [float("inf"), 0.0]], 2, "NaN or infinity"),
    ([[1.0, 2.0], [1.0, 2.0, 3.0]], 2, "has 3 values, expected 2"),
])
def test_bad_vectors_are_rejected(graph, tmp_path, vectors, line, words):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["v0", "v1"], "vector": vectors}), path)
    with pytest.raises(InputError) as error:
        features.ingest_features(graph, "vision", path)
    assert error.value.line == line and words in str(error.value)
    assert graph.driver.execute_query("MATCH (m:Modality) RETURN count(m) AS n").records[0]["n"] == 0


def test_dimension_must_match_the_stored_modality(graph, tmp_path):
    features.ingest_features(graph, "vision", parquet(tmp_path / "a.parquet", ["v0"], [[1, 2, 3]]))
    with pytest.raises(InputError, match="has dim 3 in the graph"):
        features.ingest_features(graph, "vision", parquet(tmp_path / "b.parquet", ["v1"], [[1, 2]]))


def test_ids_not_in_the_graph(graph, tmp_path):
    path = parquet(tmp_path / "f.parquet", ["v0", "ghost"], [[1, 2], [3, 4]])
    with pytest.raises(InputError, match=r"f.parquet:2: id 'ghost' is not in the graph"):
        features.ingest_features(graph, "vision", path)
    assert graph.driver.execute_query("MATCH (v:Video) RETURN count(v) AS n").records[0]["n"] == 0
    report = features.ingest_features(graph, "vision", path, allow_new=True)  # cold-start videos
    assert report.entities_created == 1
    assert read_features(graph, ["vision"], ["ghost"])["vision"][1].tolist() == [True]


def test_bad_names_and_ids(graph, tmp_path):
    path = parquet(tmp_path / "f.parquet", ["v0"], [[1, 2]])
    for name in ["Vision", "x'}) DETACH DELETE n //", "1a", ""]:
        with pytest.raises(InputError, match="must match"):
            features.ingest_features(graph, name, path)
    dup = parquet(tmp_path / "d.parquet", ["v0", "v0"], [[1, 2], [1, 2]])
    with pytest.raises(InputError, match=r"d.parquet:2: id 'v0' repeats row 1"):
        features.ingest_features(graph, "vision", dup)
    with pytest.raises(Exception, match="no modality 'smell'"):
        read_features(graph, ["smell"], ["v0"])


def test_paged_read_equals_one_record_read(store, tmp_path):
    """Vectors come in pages of a few; the result equals the one-record query's, bit for bit."""
    rng = np.random.default_rng(1)
    ids = [f"v{i:03d}" for i in range(250)]
    path = tmp_path / "g.tsv"
    path.write_text("".join(f"{v}\tr\tt{i % 7}\n" for i, v in enumerate(ids)), encoding="utf-8")
    ingest.ingest_triples(store, path)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    features.ingest_features(store, "audio", parquet(tmp_path / "f.parquet", ids[50:], x))  # v000-v049 have none
    entities = ["t3", "nobody"] + ids[::-1]
    small, small_mask = read_features(store, ["audio"], entities, per_page=7)["audio"]
    whole, whole_mask = read_features(store, ["audio"], entities, per_page=10**6)["audio"]
    assert np.array_equal(small.numpy(), whole.numpy()) and small_mask.tolist() == whole_mask.tolist()
    record = store.query("read_features", routing="r", key="feat_audio")[0]  # the old, one-record read
    old = dict(zip(record["ids"], features.decode(record["vectors"], 6)))
    assert len(old) == 200 and small_mask.sum().item() == 200
    for row, entity in enumerate(entities):
        assert np.array_equal(small.numpy()[row], old.get(entity, np.zeros(6, np.float32)))
    assert np.array_equal(small.numpy()[2:202], x[::-1])  # ids reversed: v249 .. v050
