"""The run cache (service/cache.py): what it holds equals what Neo4j gives, an unchanged graph is
reused without reading it, a changed one is read again, a half-written or damaged cache is never used
silently, and features gathered from a memory map train exactly as features held in memory."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import TrainConfig
from kgtag.embed.trainer import train
from kgtag.kgstore import read
from kgtag.kgstore.fingerprint import graph_fingerprint
from kgtag.kgstore.ingest import ingest_triples
from kgtag.runs import BadInput, RunPlan, load_run, train_run
from kgtag.runs.cache import PARTIAL, CacheDamaged, build_cache, find_cache, open_cache, shards

MODS = ("vision", "audio")


@pytest.fixture
def sample(store):
    from kgtag.runs import ingest_sample

    ingest_sample(store)
    return store


def test_cache_holds_what_neo4j_gives(sample, tmp_path):
    cache = build_cache(sample, tmp_path / "r1", tmp_path, MODS)
    graph = read.read_graph(sample)
    assert cache.entities() == graph.entities and cache.relations == graph.relations
    assert torch.equal(cache.is_video(), graph.is_video)
    assert torch.equal(cache.triples(), graph.triples)  # same ids, same (h, r, t) order
    features = read.read_features(sample, list(MODS), graph.entities)
    for m in MODS:
        matrix, mask = cache.features([m])[m]
        assert torch.equal(matrix, features[m][0]) and torch.equal(mask, features[m][1])  # bit-exact float32
        assert isinstance(np.load(cache.folder / f"feat_{m}.npy", mmap_mode="r"), np.memmap)
    manifest = json.loads((cache.folder / "manifest.json").read_text())
    assert manifest["complete"] and manifest["counts"]["triples"] == len(graph.triples)
    assert manifest["fingerprint"]["hash"] == graph_fingerprint(sample)["hash"]
    # shards: contiguous row ranges covering every triple, each one head range
    rows = [s["rows"] for s in manifest["shards"]]
    assert rows[0][0] == 0 and rows[-1][1] == len(graph.triples)
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    for s in manifest["shards"]:
        heads = cache.triples(slice(*s["rows"]))[:, 0]
        assert bool(((heads >= s["heads"][0]) & (heads < s["heads"][1])).all())
    assert not (tmp_path / "r1" / PARTIAL).exists()


def test_shards_never_split_a_head():
    heads = np.array([0, 0, 0, 0, 0, 1, 2, 2, 3, 5, 5, 5])
    out = shards(heads, 6, 4)
    for s in out:
        lo, hi = s["rows"]
        assert lo < hi
        assert lo == 0 or heads[lo - 1] != heads[lo]
    assert [s["heads"] for s in out][0][0] == 0 and out[-1]["heads"][1] == 6


def test_an_unchanged_graph_is_reused_and_a_changed_one_read_again(sample, tmp_path):
    plan = RunPlan(variant="transfusion", modalities=MODS, epochs=1, seed=0)
    first = train_run(sample, plan, tmp_path, progress=False)
    read.pages_read.clear()
    second = train_run(sample, plan, tmp_path, progress=False)
    assert read.pages_read["triples"] == 0 and read.pages_read["features"] == 0 and read.pages_read["entities"] == 0
    a, b = tmp_path / first["id"] / "cache", tmp_path / second["id"] / "cache"
    assert json.loads((b / "manifest.json").read_text())["reused_from"] == first["id"]
    assert os.stat(a / "triples.npy").st_ino == os.stat(b / "triples.npy").st_ino  # hard links, one copy on disk
    assert first["graph_fingerprint"] == second["graph_fingerprint"]
    assert first["mrr"] == second["mrr"]  # same graph, same seed: the reused cache trains the same run

    new = tmp_path / "more.tsv"
    new.write_text("v00001\tcategory\tsomething-new\n", encoding="utf-8")
    ingest_triples(sample, new)
    read.pages_read.clear()
    third = build_cache(sample, tmp_path / "r3", tmp_path, MODS)
    assert read.pages_read["triples"] > 0 and read.pages_read["features"] > 0
    assert third.fingerprint != first["graph_fingerprint"]
    assert third.manifest["counts"]["triples"] == json.loads((a / "manifest.json").read_text())["counts"]["triples"] + 1

    # a stored run reads its features from its own cache, not from Neo4j
    read.pages_read.clear()
    load_run(sample, first["id"], tmp_path)
    assert read.pages_read["features"] == 0


def test_rewritten_features_change_the_fingerprint(sample, tmp_path):
    """Same counts, other vectors: only the version counter tells them apart."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kgtag.kgstore.features import ingest_features

    before = graph_fingerprint(sample)
    vector = pa.array([[0.5] * before["modalities"][[m for m, _ in before["modalities"]].index("audio")][1]],
                      pa.list_(pa.float32()))
    pq.write_table(pa.table({"id": ["v00001"], "vector": vector}), tmp_path / "one.parquet")
    ingest_features(sample, "audio", tmp_path / "one.parquet")
    after = graph_fingerprint(sample)
    assert {k: after[k] for k in ("entities", "videos", "triples")} == {k: before[k] for k in ("entities", "videos", "triples")}
    assert after["version"] > before["version"] and after["hash"] != before["hash"]


def test_review_accept_changes_the_fingerprint_reject_does_not(review_graph):
    from kgtag.kgstore.review import decide, pending

    store = review_graph
    edges = [p.id for p in pending(store)]
    before = graph_fingerprint(store)
    decide(store, edges[0], "reject", "alice")
    assert graph_fingerprint(store)["hash"] == before["hash"]
    decide(store, edges[1], "accept", "alice")
    assert graph_fingerprint(store)["version"] == before["version"] + 1


def test_half_written_and_damaged_caches_are_never_used(sample, tmp_path):
    run_dir = tmp_path / "r1"
    cache = build_cache(sample, run_dir, tmp_path, MODS)
    # an interrupted build leaves cache.partial/ only: it is no cache, and a new build starts over
    (tmp_path / "r2" / PARTIAL).mkdir(parents=True)
    (tmp_path / "r2" / PARTIAL / "triples.npy").write_bytes(b"half")
    assert open_cache(tmp_path / "r2") is None
    manifest = json.loads((cache.folder / "manifest.json").read_text())
    (cache.folder / "manifest.json").write_text(json.dumps(dict(manifest, complete=False)))
    with pytest.raises(CacheDamaged, match="manifest.json"):
        open_cache(run_dir)
    (cache.folder / "manifest.json").write_text(json.dumps(manifest))
    # a run folder linked in from outside the runs directory is never read
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    shutil.copytree(run_dir, outside)
    (tmp_path / "r9").symlink_to(outside)
    assert find_cache(sample, tmp_path, cache.fingerprint, exclude=run_dir) is None
    assert find_cache(sample, tmp_path, cache.fingerprint) is None  # no Run node names r1: never trusted
    # a truncated file: one line naming it; a new run does not reuse it but reads Neo4j
    data = (cache.folder / "feat_vision.npy").read_bytes()
    (cache.folder / "feat_vision.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheDamaged, match="feat_vision.npy"):
        open_cache(run_dir)
    read.pages_read.clear()
    again = build_cache(sample, tmp_path / "r2", tmp_path, MODS)
    assert again.manifest["reused_from"] is None and read.pages_read["features"] > 0


def test_a_damaged_cache_of_a_stored_run_is_one_line(sample, tmp_path):
    node = train_run(sample, RunPlan(variant="transfusion", modalities=MODS, epochs=1, seed=0), tmp_path, progress=False)
    path = tmp_path / node["id"] / "cache" / "mask_audio.npy"
    path.write_bytes(b"not numpy")
    with pytest.raises(BadInput, match="mask_audio.npy is damaged") as exc:
        load_run(sample, node["id"], tmp_path)
    assert "\n" not in exc.value.message and "delete" in exc.value.message


def test_memory_mapped_features_train_exactly_like_features_in_memory(tmp_path):
    """The model gathers rows from the map per batch; the numbers are those of the in-memory matrix."""
    g = torch.Generator().manual_seed(0)
    E, R = 60, 3
    features = {}
    for m, d in (("vision", 12), ("audio", 5)):
        x = torch.randn(E, d, generator=g)
        present = torch.rand(E, generator=g) < 0.7
        present[40:] = False
        x[~present] = 0.0
        np.save(tmp_path / f"{m}.npy", x.numpy())
        features[m] = (x, present)
    mapped = {m: (torch.from_numpy(np.load(tmp_path / f"{m}.npy", mmap_mode="c")), mask) for m, (_, mask) in features.items()}
    triples = torch.stack([torch.randint(0, 40, (300,), generator=g), torch.randint(0, R, (300,), generator=g),
                           torch.randint(40, E, (300,), generator=g)], 1)
    config = ModelConfig(variant="transfusion", modalities=("vision", "audio"), dim=8, hidden=16)
    results = []
    for feats in (features, mapped):
        torch.manual_seed(0)
        model = build_model(config, E, R, feats)
        res = train(model, triples, TrainConfig(epochs=2, batch_size=50, lr=1e-2, num_threads=1), progress=False)
        results.append((res.losses, model.state_dict()))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(results[0][1][k], results[1][1][k]) for k in results[0][1])
    assert all(not k.startswith("entities.feat") for k in results[1][1])  # features are not weights


def _same_stat(path, like) -> None:
    """Give `path` the mtime `like` had: what someone hiding an edit would do (the size is unchanged)."""
    os.utime(path, ns=(like.st_atime_ns, like.st_mtime_ns))


def test_a_poisoned_copy_in_runs_is_never_reused(sample, tmp_path):
    """Issue 18, item 1: a finished run's cache copied to runs/zz/cache with its tails shuffled (mtimes
    kept, even a Run node naming zz with a forged digest) is not what the next run trains on."""
    node = train_run(sample, RunPlan(variant="transe", epochs=1, seed=0), tmp_path, progress=False)
    genuine = tmp_path / node["id"] / "cache"
    poisoned = tmp_path / "zz" / "cache"
    shutil.copytree(genuine, poisoned)
    triples = np.load(poisoned / "triples.npy", mmap_mode="r+")
    before = os.stat(poisoned / "triples.npy")
    triples[:, 2] = np.random.default_rng(0).permutation(np.asarray(triples[:, 2]))
    triples.flush()
    del triples
    _same_stat(poisoned / "triples.npy", before)
    sample.driver.execute_query("CREATE (:Run {id: 'zz', status: 'done', graph_fingerprint: $fp, "
                                "cache_digest: $digest, created: '9999'})",
                                fp=node["graph_fingerprint"], digest="0" * 64)
    cache = build_cache(sample, tmp_path / "r2", tmp_path, ())
    assert cache.manifest["reused_from"] == node["id"]  # the genuine run's, never zz's
    assert torch.equal(cache.triples(), read.read_graph(sample).triples)

    shutil.rmtree(genuine)  # now only the poisoned copy claims this graph: Neo4j is read instead
    read.pages_read.clear()
    cache = build_cache(sample, tmp_path / "r3", tmp_path, ())
    assert cache.manifest["reused_from"] is None and read.pages_read["triples"] > 0
    assert torch.equal(cache.triples(), read.read_graph(sample).triples)


def test_a_manifest_naming_a_file_outside_its_folder_is_refused(sample, tmp_path):
    cache = build_cache(sample, tmp_path / "r1", tmp_path, MODS)
    manifest = json.loads((cache.folder / "manifest.json").read_text())
    for name in ("/etc/passwd.npy", "../../outside.npy", "feat_vision.npy/../../x.npy"):
        for key in ("file", "mask"):
            changed = json.loads(json.dumps(manifest))
            changed["modalities"]["vision"][key] = name
            (cache.folder / "manifest.json").write_text(json.dumps(changed))
            with pytest.raises(CacheDamaged, match="not a plain name inside the cache folder") as exc:
                open_cache(tmp_path / "r1")
            assert "\n" not in str(exc.value) and name in str(exc.value)


def test_ids_out_of_range_in_a_stored_runs_cache_are_one_line(sample, tmp_path):
    """An edited triples.npy whose size and mtime were put back: the id range check still refuses it."""
    node = train_run(sample, RunPlan(variant="transfusion", modalities=MODS, epochs=1, seed=0), tmp_path, progress=False)
    path = tmp_path / node["id"] / "cache" / "triples.npy"
    before = os.stat(path)
    triples = np.load(path, mmap_mode="r+")
    triples[0, 2] = 10**9
    triples.flush()
    del triples
    _same_stat(path, before)
    with pytest.raises(BadInput, match="triples.npy is damaged \\(ids outside") as exc:
        load_run(sample, node["id"], tmp_path)
    assert "\n" not in exc.value.message
    # and a new run of the same graph does not reuse it: it reads Neo4j
    again = build_cache(sample, tmp_path / "r2", tmp_path, MODS)
    assert again.manifest["reused_from"] is None
