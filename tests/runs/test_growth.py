"""A graph that grows after training, on the real test Neo4j: tags for videos that arrived after the
run (`kgtag infer --new`, no retraining) and a warm-started run (`kgtag train --from`)."""

from __future__ import annotations

import json

import torch

from kgtag.cli.main import cli
from kgtag.embed.carry import carry_rows
from kgtag.embed.ranking import evaluate
from kgtag.embed.fold_in import fold_in_
from kgtag.synthetic.generators import GENERATORS
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.config import model_preset
from kgtag.runs import RunPlan, infer_run, load_run, score_run, train_run
from kgtag.runs.evaluate import candidate_args
from kgtag.runs.grow import choose_videos
from kgtag.runs.synthetic_graph import held_out_quality, hold_out_videos, ingest_part, named, touching

MODALITIES = ("vision", "audio", "text")


def _valid_mrr(run) -> float:
    args = candidate_args("range", run.is_video, run.train)
    return evaluate(run.model, run.valid, filter_triples=run.known, **args)["filtered"]["mrr"]


def test_carried_rows_score_old_entities_as_before():
    torch.manual_seed(0)
    feats = {"vision": (torch.randn(13, 6), torch.tensor([True] * 6 + [False] * 4 + [True] * 3))}
    conf = ModelConfig(variant="transfusion", modalities=("vision",))
    old = build_model(conf, 10, 2, {"vision": (feats["vision"][0][:10], feats["vision"][1][:10])}).eval()
    new = build_model(conf, 13, 3, feats).eval()
    done = carry_rows(old, new, torch.tensor(list(range(10)) + [-1, -1, -1]), torch.tensor([0, 1, -1]))
    assert (done.entities, done.new_entities, done.relations, done.new_relations) == (10, 3, 2, 1)
    h, r = torch.arange(10), torch.tensor([0, 1] * 5)
    assert torch.allclose(old.score_tails(h, r), new.score_tails(h, r)[:, :10], atol=1e-5)
    assert not new.entities.known[-3:].any()  # new videos: z_K held at zero (cold start)


def test_fold_in_moves_only_the_new_videos_knowledge_rows():
    torch.manual_seed(0)
    e, videos = 12, 6
    feats = {"vision": (torch.randn(e, 5), torch.arange(e) < videos)}
    conf = ModelConfig(variant="transfusion", modalities=("vision",), **model_preset("fast"))
    model = build_model(conf, e, 2, feats).eval()
    train = torch.tensor([[0, 0, 6], [0, 0, 7], [1, 0, 8], [1, 1, 9], [2, 1, 10], [2, 1, 11]])
    model.entities.set_known_(torch.isin(torch.arange(e), train[:, [0, 2]]))
    theirs = torch.tensor([[4, 0, 7], [4, 1, 10]])  # video 4 arrived with two triples; video 5 with none
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d_before = -model.score_triples(*theirs.unbind(1))
    assert fold_in_(model, theirs, train) == 1
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"entities.z_k.weight", "entities.known"}
    rows = (before["entities.z_k.weight"] != after["entities.z_k.weight"]).any(1).nonzero().squeeze(1).tolist()
    assert rows == [int(model.entities.local[4])] and bool(model.entities.known[model.entities.local[4]])
    assert not bool(model.entities.known[model.entities.local[5]])
    d_after = -model.score_triples(*theirs.unbind(1))
    assert (d_after < d_before).all(), (d_before, d_after)  # its own triples got closer


def test_new_videos_get_tags_without_retraining(store, runner, tmp_path):
    runs = tmp_path / "runs"  # the CLI's default runs directory in the runner's working directory
    kg = GENERATORS["topic"](seed=0, n_videos=400)
    held = hold_out_videos(kg, 0.15)
    triples = kg.all_triples()
    videos = torch.nonzero(kg.is_video).squeeze(1)
    ingest_part(store, kg, triples[~touching(triples, held)], videos[~torch.isin(videos, held)])
    node = train_run(store, RunPlan(variant="transfusion", modalities=MODALITIES, epochs=6), runs,
                     progress=False)
    run = load_run(store, node["id"], runs)
    warm = score_run(run)["filtered"]["mrr"]

    # the held-out videos arrive: features for all, one triple each for half of them
    theirs = triples[touching(triples, held)]
    first = theirs[torch.isin(theirs[:, 0], held[::2])]
    first = first[torch.argsort(first[:, 0], stable=True)]
    first = first[torch.cat([torch.tensor([True]), first[1:, 0] != first[:-1, 0]])]
    ingest_part(store, kg, first, held)
    out = runner.invoke(cli, ["infer", "--run", node["id"], "--videos", "nope-1"])
    assert out.exit_code != 0 and "unknown video id(s), in neither run" in out.output and "nope-1" in out.output

    grown, chosen = choose_videos(store, run, None, new=True, run_videos=False)
    assert sorted(chosen) == sorted(kg.entities[i] for i in held.tolist())
    assert grown.entities[: len(run.entities)] == run.entities  # old ids unchanged
    inferred = infer_run(store, grown, chosen, None, k=5)
    have = {(h, t) for h, _, t in named(kg, first)}
    got = {(v, grown.entities[t]) for v, row in zip(inferred.videos, inferred.tails.tolist()) for t in row if t >= 0}
    assert got and not got & have  # tags a new video already has are never inferred

    # quality on their held-out tags: range candidates, filtered, tail prediction
    q = held_out_quality(store, grown, [x for x in named(kg, theirs) if (x[0], x[2]) not in have])
    print(f"\nnew videos MRR {q['mrr']:.3f} on {q['count']} held-out tags (chance {q['chance_mrr']:.3f}); "
          f"warm videos test MRR {warm:.3f} (range candidates, filtered, tail)")
    assert q["count"] > 50 and q["mrr"] > q["chance_mrr"] + 0.15

    out = runner.invoke(cli, ["infer", "--run", node["id"], "--new", "--dry-run", "--json", "--block", "1"])
    assert out.exit_code == 0, out.output
    edged = {e["video"] for e in json.loads(out.stdout)["edges"]}
    assert edged and edged <= set(chosen)
    # two ranks, each extending the run itself and scoring its share of the new videos: the same edges
    two = runner.invoke(cli, ["infer", "--run", node["id"], "--new", "--dry-run", "--json", "--block", "1",
                              "--procs", "2", "--threads", "1"])
    assert two.exit_code == 0, two.output
    key = lambda e: (e["video"], e["relation"], e["rank"], e["tag"])  # noqa: E731
    assert sorted(map(key, json.loads(two.stdout)["edges"])) == sorted(map(key, json.loads(out.stdout)["edges"]))
    one = chosen[0]  # a new id given by name is accepted too
    out = runner.invoke(cli, ["infer", "--run", node["id"], "--videos", one, "--top-k", "3", "--json"])
    assert out.exit_code == 0, out.output
    assert {e["video"] for e in json.loads(out.stdout)["edges"]} == {one} and json.loads(out.stdout)["written"] > 0
    transe = train_run(store, RunPlan(variant="transe", epochs=1), runs, progress=False)
    out = runner.invoke(cli, ["infer", "--run", transe["id"], "--new"])
    assert out.exit_code != 0 and "has no modalities" in out.output and "Traceback" not in out.output


def test_warm_start_beats_a_fresh_run_after_the_same_few_epochs(store, runner, tmp_path):
    runs = tmp_path / "runs"
    kg = GENERATORS["topic"](seed=1, n_videos=400)
    held = hold_out_videos(kg, 0.1)
    triples = kg.all_triples()
    videos = torch.nonzero(kg.is_video).squeeze(1)
    ingest_part(store, kg, triples[~touching(triples, held)], videos[~torch.isin(videos, held)])
    first = train_run(store, RunPlan(variant="transfusion", modalities=MODALITIES, epochs=6), runs, progress=False)
    ingest_part(store, kg, triples[touching(triples, held)], held)

    out = runner.invoke(cli, ["train", "--from", first["id"], "--base", "transh"])
    assert out.exit_code != 0 and "--base transh conflicts with run" in out.output
    out = runner.invoke(cli, ["train", "--from", first["id"], "--modalities", ",".join(MODALITIES), "--epochs", "2",
                              "--quiet", "--json"])
    assert out.exit_code == 0, out.output
    said = " ".join(out.stderr.split())  # the note may wrap
    assert f"warm start from {first['id']}: " in said and "new, 0 new relations" in said
    warm = json.loads(out.stdout)
    assert warm["from_run"] == first["id"]
    warm_run = load_run(store, warm["id"], runs)
    earlier = load_run(store, first["id"], runs)
    # the earlier run's held-out triples stay held out: the warm model never trained on its validation split
    assert not set(_names_of(earlier, earlier.train)) & set(_names_of(warm_run, warm_run.valid))
    assert set(_names_of(earlier, earlier.valid)) <= set(_names_of(warm_run, warm_run.valid))

    # a fresh run on the same split, same epochs
    valid_file, test_file = tmp_path / "valid.tsv", tmp_path / "test.tsv"
    for path, t in ((valid_file, warm_run.valid), (test_file, warm_run.test)):
        path.write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in _names_of(warm_run, t)))
    fresh = train_run(store, RunPlan(variant="transfusion", modalities=MODALITIES, epochs=2,
                                     split=f"{valid_file},{test_file}"), runs, progress=False)
    fresh_run = load_run(store, fresh["id"], runs)
    w, f = _valid_mrr(warm_run), _valid_mrr(fresh_run)
    print(f"\nvalidation MRR after 2 epochs: warm start {w:.3f}, fresh {f:.3f} (range candidates, filtered, tail)")
    assert w > f + 0.05


def _names_of(run, triples):
    return [(run.entities[h], run.relations[r], run.entities[t]) for h, r, t in triples.tolist()]
