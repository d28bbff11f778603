"""Streaming inference (issue 12 item 4): blocks, their own transactions, --min-confidence, and an
interrupted `infer` that continues where it stopped and ends with what one pass writes."""

from __future__ import annotations

import json

import pytest

from kgtag.runs import Interrupted, RunPlan, infer_and_write, ingest_sample, load_run, sample_dir, select_videos, train_run
from kgtag.runs.infer import PROGRESS_FILE

BLOCK = 20


@pytest.fixture
def run(store, tmp_path):
    ingest_sample(store, sample_dir(120, tmp_path / "sample"))
    node = train_run(store, RunPlan(variant="transfusion", modalities=("vision",), epochs=1), tmp_path / "runs",
                     progress=False)
    return load_run(store, node["id"], tmp_path / "runs", "cpu")


def edges(store, run_id):
    rows = store.driver.execute_query(
        "MATCH (v)-[e:INFERRED {run: $run}]->(t) RETURN v.id AS v, e.relation AS r, t.id AS t, e.rank AS k, "
        "e.confidence AS c", run=run_id).records
    return [(r["v"], r["r"], r["t"], r["k"], round(r["c"], 6)) for r in rows]


def test_an_interrupted_infer_continues_where_it_stopped_and_ends_as_one_pass(store, run):
    videos = select_videos(run, None)
    one_pass = infer_and_write(store, run, videos, None, 5, min_confidence=0.0, block=BLOCK)
    expected = sorted(edges(store, run.run_id))
    assert one_pass.written == len(expected) > 0 and len({e[:3] for e in expected}) == len(expected)
    store.driver.execute_query("MATCH ()-[e:INFERRED]->() DELETE e")

    def stop_at_third_block(names, inferred):
        if names[0] == videos[2 * BLOCK]:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match=f"after {2 * BLOCK} of {len(videos)} videos"):
        infer_and_write(store, run, videos, None, 5, min_confidence=0.0, block=BLOCK, on_block=stop_at_third_block)
    # the two blocks before it are stored whole, nothing of the later ones
    assert {e[0] for e in edges(store, run.run_id)} == set(videos[:2 * BLOCK])
    assert json.loads((run.run_dir / PROGRESS_FILE).read_text())["videos_done"] == 2 * BLOCK

    resumed = infer_and_write(store, run, videos, None, 5, min_confidence=0.0, block=BLOCK)
    assert resumed.resumed_at == 2 * BLOCK and resumed.written == one_pass.written
    assert sorted(edges(store, run.run_id)) == expected
    # a finished inference run again starts over and replaces its edges: no duplicates
    again = infer_and_write(store, run, videos, None, 5, min_confidence=0.0, block=BLOCK)
    assert again.resumed_at == 0 and sorted(edges(store, run.run_id)) == expected


def test_other_arguments_do_not_continue_an_interrupted_infer(store, run):
    videos = select_videos(run, None)

    def stop(names, inferred):
        if names[0] == videos[BLOCK]:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        infer_and_write(store, run, videos, None, 5, min_confidence=0.0, block=BLOCK, on_block=stop)
    other = infer_and_write(store, run, videos, None, 3, min_confidence=0.0, block=BLOCK)
    assert other.resumed_at == 0 and {e[0] for e in edges(store, run.run_id)} == set(videos)


def test_min_confidence_keeps_only_confident_edges(store, run):
    videos = select_videos(run, None)
    full = infer_and_write(store, run, videos, None, 10, min_confidence=0.0)
    assert min(e[4] for e in edges(store, run.run_id)) < 0.05  # the full top-10 reaches low confidences
    kept = infer_and_write(store, run, videos, None, 10, min_confidence=0.05)
    stored = edges(store, run.run_id)
    assert 0 < kept.written == len(stored) < full.written  # the rerun replaced the full top-10's edges
    assert min(e[4] for e in stored) >= 0.05
