"""A run's vectors outside the model file, on the real test Neo4j: `kgtag export` (Parquet read back equal
to the model's tensors, and a numpy ranking equal to `kgtag infer`'s), `kgtag publish` (the pointer,
re-publishing another run of another width, an interrupted publish resumed, a TransR run), and the live
queries `kgtag similar` / `kgtag tags` with their one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from kgtag.cli.guide import DEFAULT_PARAMS, NEEDS_PUBLISHED
from kgtag.cli.main import cli
from kgtag.embed.topk import modality_attention, relation_attention
from kgtag.kgstore import vectors as kv
from kgtag.runs import Interrupted, RunPlan, infer_run, load_run, train_run
from kgtag.runs.export import entity_vectors
from kgtag.runs.synthetic_graph import ingest_part
from kgtag.runs.vectors import live, publish_run, similar, tag_ranges
from kgtag.synthetic.generators import GENERATORS

MODALITIES = ("vision", "audio", "text")
RELATION = "category_3"


def _graph(store, n_videos=240, seed=0):
    kg = GENERATORS["topic"](seed=seed, n_videos=n_videos)
    ingest_part(store, kg, kg.all_triples(), torch.nonzero(kg.is_video).squeeze(1))
    return kg


def _train(store, runs, **kw):
    plan = RunPlan(**{"variant": "transfusion", "modalities": MODALITIES, "epochs": 2, **kw})
    return load_run(store, train_run(store, plan, runs, progress=False)["id"], runs, "cpu")


def numpy_ranking(out, video: str, relation: str, k: int = 10) -> list[str]:
    """The README's "From Python" example: a tag ranking of `kgtag infer` rebuilt from the export with numpy."""
    ent = pd.read_parquet(out / "entities.parquet")
    rel = pd.read_parquet(out / "relations.parquet").set_index("id")
    tri = pd.read_parquet(out / "triples.parquet")
    p = json.loads((out / "manifest.json").read_text())["p_norm"]
    vectors, row = np.stack(ent["vector"]), pd.Index(ent["id"])
    h = vectors[row.get_loc(video)]
    r = rel.loc[relation, "translation"]
    train = tri[(tri.split == "train") & (tri.relation == relation)]
    tags = set(ent.loc[ent.kind == "tag", "id"])
    candidates = sorted(set(train["tail"]) & tags)  # the relation's range: its tails in training
    known = set(tri.loc[(tri["head"] == video) & (tri.relation == relation), "tail"])
    candidates = [t for t in candidates if t not in known]  # the video's known triples are not proposed
    d = np.linalg.norm(h + r - vectors[row.get_indexer(candidates)], ord=p, axis=1)
    return [candidates[i] for i in np.argsort(d, kind="stable")[:k]]


def test_export_reads_back_equal_and_reproduces_infer(store, runner, tmp_path):
    _graph(store)
    run = _train(store, tmp_path / "runs")
    out = tmp_path / "export"
    cli_out = runner.invoke(cli, ["export", "--run", run.run_id, "--out", str(out), "--json"])
    assert cli_out.exit_code == 0, cli_out.output
    manifest = json.loads(cli_out.stdout)
    assert manifest["base"] == "transe" and manifest["width"] == run.model.config.width
    assert manifest == json.loads((out / "manifest.json").read_text())

    ent = pd.read_parquet(out / "entities.parquet")
    assert ent["id"].tolist() == run.entities
    assert ent["kind"].tolist() == ["video" if v else "tag" for v in run.is_video.tolist()]
    assert np.array_equal(np.stack(ent["vector"]), entity_vectors(run.model).numpy())
    rel = pd.read_parquet(out / "relations.parquet")
    assert rel["id"].tolist() == run.relations and list(rel.columns) == ["id", "translation"]
    assert np.array_equal(np.stack(rel["translation"]), run.model.relations.r.all().detach().numpy())
    q = pd.read_parquet(out / "relation_attention.parquet")
    assert np.array_equal(q["weight"].to_numpy(), relation_attention(run.model).numpy())
    mod = pd.read_parquet(out / "modality_attention.parquet")
    videos = torch.nonzero(run.is_video).squeeze(1)
    names, weights = modality_attention(run.model, videos)
    assert list(mod.columns) == ["video", *names] and names[0] == "knowledge"
    assert np.array_equal(mod[names].to_numpy(), weights.numpy())
    tri = pd.read_parquet(out / "triples.parquet")
    assert (tri.split == "train").sum() == len(run.train) and (tri.split == "test").sum() == len(run.test)

    # the README's numpy example ranks as `kgtag infer` does (same candidates and exclusions, no cut)
    some = [v for v in run.entities if v.startswith("video_")][:25]
    inferred = infer_run(store, run, some, [RELATION], k=10, min_confidence=0.0)
    agree = 0
    for video, tails in zip(inferred.videos, inferred.tails.tolist()):
        want = [run.entities[t] for t in tails if t >= 0]
        agree += numpy_ranking(out, video, RELATION) == want
    assert agree == len(some)


def test_publish_query_republish_and_resume(store, runner, tmp_path):
    runs = tmp_path / "runs"
    _graph(store)
    first = _train(store, runs)
    s = publish_run(store, first, block=100)
    assert (s.slot, s.vectors, s.replaced) == ("a", len(first.entities), None)
    pointer = kv.read_pointer(store)
    assert pointer["run"] == first.run_id and pointer["dim"] == first.model.config.width
    assert "pending_run" not in pointer

    video = next(v for v in first.entities if v.startswith("video_"))
    out = runner.invoke(cli, ["similar", video, "--k", "5", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)["similar"]
    assert len(got) == 5 and video not in [r["video"] for r in got]
    # the nearest by the cosine of the model's own vectors
    vec = entity_vectors(first.model)
    vids = torch.nonzero(first.is_video).squeeze(1)
    cos = torch.nn.functional.cosine_similarity(vec[vids], vec[first.entity_names.get_loc(video)][None], dim=1)
    order = [first.entities[i] for i in vids[torch.argsort(cos, descending=True)].tolist() if first.entities[i] != video]
    assert [r["video"] for r in got][:3] == order[:3]

    # live tags = infer's top-10 (same range, same exclusions, no confidence cut) for these videos
    some = [v for v in first.entities if v.startswith("video_")][:20]
    inferred = infer_run(store, first, some, [RELATION], k=10, min_confidence=0.0)
    same = sum([t["tag"] for t in live(store, v, RELATION, 10, overfetch=50)["tags"]]
               == [first.entities[t] for t in tails if t >= 0]
               for v, tails in zip(inferred.videos, inferred.tails.tolist()))
    assert same >= len(some) - 1
    # over-fetch 1 on a wide range: the tag index is asked for 10 x ceil(tags / range) tags, fewer than the
    # range holds, so the query takes the index path (a range no larger than that is scored whole)
    wide, n_tags = "contains", int((~first.is_video).sum())
    n_range = sum(wide in r for r in tag_ranges(first))
    assert n_range > 10 * -(-n_tags // n_range)
    inferred_wide = infer_run(store, first, some, [wide], k=10, min_confidence=0.0)
    via_index = [[t["tag"] for t in live(store, v, wide, 10, overfetch=1)["tags"]] for v in some]
    top1 = sum(got[:1] == [first.entities[tails[0]]] for got, tails in zip(via_index, inferred_wide.tails.tolist()))
    assert top1 >= len(some) - 2
    out = runner.invoke(cli, ["tags", video, "--relation", RELATION, "--k", "3"])
    assert out.exit_code == 0 and "live tags of" in out.output
    # a curator's rejected edge leaves the live answer (as it leaves infer's); a pending one does not
    top = [t["tag"] for t in live(store, video, RELATION, 10)["tags"]]
    with store.session() as session:
        for tag, status in ((top[0], "rejected"), (top[1], "pending")):
            session.run("MATCH (v:Entity {id: $v}), (t:Entity {id: $t}) "
                        "CREATE (v)-[:INFERRED {relation: $r, status: $s}]->(t)", v=video, t=tag, r=RELATION, s=status).consume()
        after = [t["tag"] for t in live(store, video, RELATION, 10)["tags"]]
        session.run("MATCH (:Entity {id: $v})-[e:INFERRED]->() DELETE e", v=video).consume()
    assert after[:9] == top[1:10]
    # a relation whose range is empty: no tags, no arithmetic error (the fetch divides by the range's size)
    with store.session() as session:
        session.run("MATCH (r:Relation {name: 'series'}) SET r[$p] = []", p=kv.read_pointer(store)["ranges"]).consume()
    assert kv.live_tags(store, video, "series", 10, 10) == []

    # the Browser guide's vector queries, as written, with the guide's parameters
    tag = first.entities[inferred.tails[0, 0]]
    params = {**DEFAULT_PARAMS, "video": some[0], "tag": tag, "live_relation": RELATION}
    rows = {name: [r.data() for r in store.query(name, **params)] for name in NEEDS_PUBLISHED}
    assert len(rows["similar_videos"]) == 10 and all(isinstance(r["shared"], list) for r in rows["similar_videos"])
    want = [first.entities[t] for t in inferred.tails[0].tolist()]
    got = [r["tag"] for r in rows["live_tags"]]
    assert got[0] == want[0] and len(set(got) & set(want)) >= 9
    assert len(rows["tag_neighbours"]) == 10 and tag not in [r["tag"] for r in rows["tag_neighbours"]]

    # another run of another width: written into slot b, index recreated at its dimension, slot a dropped
    second = _train(store, runs, model_overrides={"dim": 16})
    assert second.model.config.width != first.model.config.width
    with pytest.raises(Interrupted):  # interrupted after two blocks: the published run is unchanged
        publish_run(store, second, block=100, progress=_interrupt_after(2))
    assert kv.read_pointer(store)["run"] == first.run_id
    assert runner.invoke(cli, ["similar", video, "--json"]).exit_code == 0
    s = publish_run(store, second, block=100)
    assert s.resumed_at == 200 and s.vectors == len(second.entities) - 200 and s.replaced == first.run_id
    pointer = kv.read_pointer(store)
    assert (pointer["run"], pointer["slot"], pointer["dim"]) == (second.run_id, "b", second.model.config.width)
    indexes = {r["name"]: r for r in kv.vector_indexes(store)}
    assert set(indexes) == {"video_vectors_b", "tag_vectors_b"}
    assert {r["dim"] for r in indexes.values()} == {second.model.config.width}
    assert kv.count_with(store, kv.SLOTS["a"]) == 0
    assert kv.count_with(store, kv.SLOTS["b"]) == len(second.entities)
    got = similar(store, video, 5)
    assert got["run"] == second.run_id and len(got["similar"]) == 5


def test_refusals_are_one_line(store, runner, tmp_path):
    runs = tmp_path / "runs"
    kg = _graph(store, n_videos=120)
    video = next(v for v in kg.entities if v.startswith("video_"))
    out = runner.invoke(cli, ["similar", video])
    assert out.exit_code == 2 and "no run is published" in out.output and len(out.output.strip().splitlines()) == 1
    transr = _train(store, runs, base="transr", epochs=1)
    out = runner.invoke(cli, ["publish", "--run", transr.run_id, "--quiet", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["vectors"] == len(transr.entities) and "need a transe run" in " ".join(out.stderr.split())
    out = runner.invoke(cli, ["tags", video, "--relation", RELATION])
    assert out.exit_code == 2 and "is a transr run" in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1
    assert runner.invoke(cli, ["similar", video, "--k", "3"]).exit_code == 0  # similar videos still work
    out = runner.invoke(cli, ["similar", "no-such-video"])
    assert out.exit_code == 2 and "unknown video 'no-such-video'" in out.output
    tag = next(e for e, v in zip(transr.entities, transr.is_video.tolist()) if not v)
    out = runner.invoke(cli, ["similar", tag])
    assert out.exit_code == 2 and "is a tag, not a video" in out.output
    # a video that arrived after the published run: no vector until `infer --new` publishes it
    extra = GENERATORS["topic"](seed=5, n_videos=30)
    newcomer = torch.tensor([extra.entities.index(next(v for v in extra.entities if v.startswith("video_")))])
    extra.entities[newcomer.item()] = "late-video"
    ingest_part(store, extra, extra.all_triples()[:0], newcomer)
    out = runner.invoke(cli, ["similar", "late-video"])
    assert out.exit_code == 2 and "has no vector in the published run" in out.output and "--new" in out.output
    out = runner.invoke(cli, ["infer", "--run", transr.run_id, "--new", "--quiet", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["published_vectors"] == 1
    out = runner.invoke(cli, ["similar", "late-video", "--k", "3", "--json"])
    assert out.exit_code == 0 and len(json.loads(out.stdout)["similar"]) == 3


def test_live_tags_refuse_a_relation_conditioned_run(store, runner, tmp_path):
    """A `relational` run scores tails with h_{v,r}; the graph holds one h_vid, so live tags would differ."""
    runs = tmp_path / "runs"
    kg = _graph(store, n_videos=120)
    video = next(v for v in kg.entities if v.startswith("video_"))
    run = _train(store, runs, preset="relational", epochs=1)
    assert run.model.config.relation_modality
    out = runner.invoke(cli, ["publish", "--run", run.run_id, "--quiet", "--json"])
    assert out.exit_code == 0, out.output
    assert "relation-conditioned" in " ".join(out.stderr.split())
    out = runner.invoke(cli, ["tags", video, "--relation", RELATION])
    assert out.exit_code == 2 and "relation-conditioned" in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1
    # the Cypher query itself answers nothing rather than something `kgtag infer` would not write
    assert store.query("live_tags", video=video, live_relation=RELATION, k=5, overfetch=10) == []
    out = runner.invoke(cli, ["similar", video, "--k", "3", "--json"])
    assert out.exit_code == 0 and len(json.loads(out.stdout)["similar"]) == 3


def _interrupt_after(blocks: int):
    seen = []

    def progress(n):
        seen.append(n)
        if len(seen) == blocks:
            raise KeyboardInterrupt

    return progress
