"""Reading the graph back as integer tensors, and the paged reader."""

from __future__ import annotations

import gzip

import numpy as np

from kgtag.kgstore import ingest, read


def sample(tmp_path, data, n=2000):
    """The first n triples of FB15k-237's validation split as a TSV file, and the set of them."""
    with gzip.open(data / "fb15k-237" / "valid.txt.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    path = tmp_path / "fb.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return path, {tuple(line.rstrip("\n").split("\t")) for line in lines}


def test_read_graph_matches_the_input(store, tmp_path, shared_data):
    path, expected = sample(tmp_path, shared_data)
    ingest.ingest_triples(store, path, batch_size=700)
    store.driver.execute_query("CREATE (:Entity:Video {id: 'lonely video'})")
    snap = read.read_graph(store)
    assert snap.triples.dtype.is_floating_point is False and snap.triples.shape == (len(expected), 3)
    assert snap.entities == sorted(snap.entities) and snap.relations == sorted(snap.relations)
    got = {(snap.entities[h], snap.relations[r], snap.entities[t]) for h, r, t in snap.triples.tolist()}
    assert got == expected
    assert snap.is_video.tolist() == [e == "lonely video" for e in snap.entities]
    assert read.read_graph(store).triples.tolist() == snap.triples.tolist()  # deterministic ids


def test_empty_graph(store):
    snap = read.read_graph(store)
    assert snap.triples.shape == (0, 3) and snap.entities == [] and snap.relations == []


def test_paged_reader_covers_every_triple_once(store, tmp_path, shared_data):
    path, expected = sample(tmp_path, shared_data, 800)
    ingest.ingest_triples(store, path)
    pages = list(read.iter_triples(store, heads_per_page=50))
    assert len(pages) > 3
    rows = [t for p in pages for t in zip(p.heads, p.relations, p.tails)]
    assert len(rows) == len(expected) and set(rows) == expected
    relation = sorted(expected)[0][1]
    only = [t for p in read.iter_triples(store, heads_per_page=50, relation=relation) for t in zip(p.heads, p.relations, p.tails)]
    assert set(only) == {t for t in expected if t[1] == relation}
    heads = np.concatenate([p.heads for p in pages])
    assert (heads[:-1] <= heads[1:]).all()  # pages follow the id order


def one_record_graph(store):
    """What read_graph returned before paging: triples grouped per relation in one record each."""
    records = store.query("read_triples", routing="r")
    return {(h, r["relation"], t) for r in records for h, t in zip(r["heads"], r["tails"])}


def test_paged_read_graph_equals_one_record_read(store, tmp_path, shared_data):
    path, expected = sample(tmp_path, shared_data, 1500)
    ingest.ingest_triples(store, path)
    store.driver.execute_query("CREATE (:Entity:Video {id: 'lonely video'}), (:Relation {name: 'unused relation'})")
    small = read.read_graph(store, heads_per_page=37, entities_per_page=101)  # dozens of pages
    whole = read.read_graph(store, heads_per_page=10**6, entities_per_page=10**6)  # one page each
    assert len(small.entities) > 5 * 101 and small.entities == whole.entities
    assert small.relations == whole.relations and "unused relation" in small.relations
    assert small.triples.tolist() == whole.triples.tolist() and small.is_video.tolist() == whole.is_video.tolist()
    got = {(small.entities[h], small.relations[r], small.entities[t]) for h, r, t in small.triples.tolist()}
    assert got == one_record_graph(store) == expected


def test_a_shards_reads_presence_and_the_vectors_of_some_ids(store, tmp_path):
    """What a rank of a distributed run reads (kgtag.runs.shard): which entities hold a modality
    (ids only), then the vectors of the ids it may touch, in pages; a vector gone meanwhile fails."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pytest

    from kgtag.kgstore.features import ingest_features
    from kgtag.kgstore.store import StoreError

    ids = [f"v{i:03d}" for i in range(30)]
    vectors = np.arange(30 * 4, dtype=np.float32).reshape(30, 4)
    keep = [i for i in range(30) if i % 3]  # every third video has no vision vector
    pq.write_table(pa.table({"id": [ids[i] for i in keep], "vector": pa.array(list(vectors[keep]), pa.list_(pa.float32()))}),
                   tmp_path / "vision.parquet")
    store.driver.execute_query("UNWIND $ids AS id CREATE (:Entity:Video {id: id})", ids=ids)
    ingest_features(store, "vision", tmp_path / "vision.parquet")
    entities = ["a tag"] + ids
    present = read.read_presence(store, "vision", entities, per_page=7)
    assert present.tolist() == [False] + [i % 3 != 0 for i in range(30)]
    wanted = np.array([ids[i] for i in keep[::2]], dtype=object)
    out = np.zeros((len(wanted), 4), dtype=np.float32)
    read.read_features_of(store, "vision", 4, wanted, out, per_page=4)
    assert np.array_equal(out, vectors[keep[::2]])
    with pytest.raises(StoreError, match="graph changed"):
        read.read_features_of(store, "vision", 4, np.array([ids[1], ids[0]], dtype=object), np.zeros((2, 4), np.float32))
