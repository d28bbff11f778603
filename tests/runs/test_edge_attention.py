"""Relation-conditioned modality attention on the INFERRED edges (issue 20 item 3): a run with
`relation_modality` stores on each edge the weights p_{v,r} (eq. 3-4 with the relation's logits) that
scored it, as the list `attention` in the order of the Run node's `segments`; a run without it keeps
the per-video MODALITY_ATTENTION edges alone."""

from __future__ import annotations

import numpy as np
import torch

from kgtag.kgstore.results import read_run
from kgtag.kgstore.review import pending
from kgtag.runs import (RunPlan, infer_and_write, infer_run, inferred_rows, ingest_sample, load_run, sample_dir,
                        select_videos, train_run)

MODALITIES = ("vision", "audio", "text")


def edge_rows(store, run_id):
    return store.driver.execute_query(
        "MATCH (v)-[e:INFERRED {run: $run}]->(t) RETURN v.id AS video, e.relation AS relation, t.id AS tag, "
        "properties(e) AS props", run=run_id).records


def train(store, tmp_path, **model_overrides):
    plan = RunPlan(variant="transfusion", modalities=MODALITIES, epochs=2, model_overrides=model_overrides)
    node = train_run(store, plan, tmp_path / "runs", progress=False)
    return load_run(store, node["id"], tmp_path / "runs", "cpu")


def test_each_inferred_edge_carries_the_relation_conditioned_weights_that_scored_it(store, tmp_path):
    ingest_sample(store, sample_dir(120, tmp_path / "sample"))
    run = train(store, tmp_path, relation_modality=True)
    videos = select_videos(run, None)
    assert infer_and_write(store, run, videos, None, 3, min_confidence=0.0).written > 0

    rows = edge_rows(store, run.run_id)
    names = run.model.segment_names
    assert read_run(store, run.run_id)["segments"] == names == ["knowledge", *MODALITIES]
    stored = np.array([r["props"]["attention"] for r in rows])  # KeyError: an edge without weights
    assert len(rows) > 0 and stored.shape == (len(rows), len(names)) and np.allclose(stored.sum(1), 1.0, atol=1e-6)

    heads = torch.from_numpy(run.entity_names.get_indexer([r["video"] for r in rows])).long()
    rels = torch.from_numpy(run.relation_names.get_indexer([r["relation"] for r in rows])).long()
    run.model.eval()
    expected = run.model.modality_attention(heads, rels).numpy()
    assert np.allclose(stored, expected, atol=1e-6)
    # ... and they are the relation's weights, not the video's relation-free ones (eq. 4 alone)
    plain = run.model.modality_attention(heads).numpy()
    assert np.abs(stored - plain).max() > 1e-4
    # the same video's edges of two relations carry different weights
    by_pair = {(r["video"], r["relation"]): w for r, w in zip(rows, stored)}
    video = rows[0]["video"]
    per_relation = [w for (v, _), w in by_pair.items() if v == video]
    assert len(per_relation) > 1 and not np.allclose(per_relation[0], per_relation[1], atol=1e-5)
    # the per-video edges hold the relation-free h_vid's weights (what publish and similar videos use)
    got = store.driver.execute_query(
        "MATCH (v:Video)-[a:MODALITY_ATTENTION {run: $run}]->(:Run) RETURN count(a) AS n", run=run.run_id).records
    assert got[0]["n"] == len(videos)

    # curators see the edge's own weights (kgtag review, the review page)
    shown = pending(store, run=run.run_id, limit=20, details=True)
    assert len(shown) == 20
    for edge in shown:
        w = by_pair[(edge.video, edge.relation)]
        assert set(edge.attention) == set(names) and np.allclose([edge.attention[n] for n in names], w, atol=1e-6)
    # `kgtag infer --json` rows carry the same weights
    printed = inferred_rows(run, infer_run(store, run, [video], None, 3, min_confidence=0.0))
    assert len(printed) == len(per_relation) * 3
    for row in printed:
        w = by_pair[(video, row["relation"])]
        assert np.allclose([row["attention"][n] for n in names], w, atol=1e-6)
    # the analysts' query names the segment that drove each edge: the largest weight
    drove = store.query("edge_modality_attention", routing="r", video=video, run=run.run_id, limit=100)
    assert len(drove) == sum(1 for r in rows if r["video"] == video)
    for row in drove:
        w = by_pair[(video, row["relation"])]
        assert row["driven_by"] == names[int(np.argmax(w))]
        assert np.isclose(row["weight"], w.max())


def test_a_run_without_the_option_keeps_the_per_video_attention_only(store, tmp_path):
    ingest_sample(store, sample_dir(60, tmp_path / "sample"))
    run = train(store, tmp_path)
    videos = select_videos(run, None)
    assert infer_and_write(store, run, videos, None, 3, min_confidence=0.0).written > 0
    rows = edge_rows(store, run.run_id)
    assert rows and not any("attention" in r["props"] for r in rows)
    assert not any("attention" in row for row in inferred_rows(run, infer_run(store, run, videos[:2], None, 3)))
    att = store.driver.execute_query(
        "MATCH (v:Video)-[a:MODALITY_ATTENTION {run: $run}]->(:Run) RETURN properties(a) AS p", run=run.run_id).records
    assert len(att) == len(videos)
    assert all(abs(sum(w for k, w in r["p"].items() if k != "run") - 1.0) < 1e-6 for r in att)
