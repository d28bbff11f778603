"""Data-parallel training on torch.distributed (gloo, two local ranks spawned in memory, no Neo4j).

World size 1 is the single-process trainer bit for bit; with two ranks the shared parameters stay
identical on both, the rows a rank does not own are never touched there, the consolidated model is
the same on every rank, distributed evaluation gives one process's figure on it, and the quality is
close to one process's.
"""

from __future__ import annotations

import copy

import pytest
import torch

import distributed_worker as w
from distributed_worker import same
from kgtag.embed.distributed import Ranks, head_bounds, owners, rank_of_heads, table_owners
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model
from kgtag.embed.ranking import evaluate
from kgtag.embed.rows import RowTable
from kgtag.embed.trainer import train




@pytest.mark.parametrize("variant", ["transe", "transfusion"])
def test_world_size_one_is_the_single_process_trainer(variant):
    train_, valid, test, _, is_video = w.graph()
    plain = w.model_for(variant)
    r1 = train(plain, train_, w.config(), progress=False)
    ranked = w.model_for(variant)
    ranks = Ranks(train_, w.E, is_video, rank=0, world=1)
    r2 = train(ranked, ranks.part(train_), w.config(), progress=False, dist=ranks)
    assert same(plain.state_dict(), ranked.state_dict())
    assert r1.losses == r2.losses


def test_head_ranges_own_videos_that_are_never_tails():
    train_, _, _, _, is_video = w.graph()
    bounds = head_bounds(train_[:, 0], w.E, 2)
    owner = owners(train_, bounds, w.E, is_video)
    assert set(owner[:w.N_VIDEOS].tolist()) == {0, 1}  # every video is a head and never a tail
    assert (owner[w.N_VIDEOS:] == -1).all()  # tags (even the content tags that are heads) are shared
    per_rank = torch.bincount(rank_of_heads(train_[:, 0], bounds), minlength=2)
    assert abs(int(per_rank[0]) - int(per_rank[1])) <= 2  # balanced by triple count (a head has <= 2)


@pytest.mark.parametrize("variant,base", [("transe", "transe"), ("transfusion", "transe"), ("transe", "transd")])
def test_a_model_holding_some_rows_scores_them_as_the_whole_model(variant, base):
    """KGModel.hold_ (a rank's rows, in any order): the tables shrink to those rows,
    and the held entities' vectors and scores are the whole model's, with and without the scoring
    cache; an entity it does not hold is refused, not read from another row."""
    _, _, _, feats, _ = w.graph()
    mods = () if variant == "transe" else ("vision", "audio")
    cfg = ModelConfig(variant=variant, base=base, modalities=mods, dim=8, hidden=16, p_norm=2, margin=0.5)
    torch.manual_seed(0)
    whole = build_model(cfg, w.E, w.R, feats).eval()
    part = copy.deepcopy(whole)
    tags = torch.arange(w.N_VIDEOS, w.E)
    order = torch.cat([tags, torch.arange(100, 180)])  # the shared rows, then this "rank's" videos
    part.hold_(order)
    assert part.held.tolist() == sorted(order.tolist())
    rows = lambda m: [t.num for t in m.modules() if isinstance(t, RowTable)]  # noqa: E731
    relation_rows = sum(t.num for t in whole.relations.tables().values())
    # one row per held entity (a tag's plain row or a video's z_K), and TransD's projection row
    assert sum(rows(part)) - relation_rows == len(order) * (2 if base == "transd" else 1) < sum(rows(whole)) - relation_rows
    ids = torch.tensor([100, 179, w.N_VIDEOS, w.E - 1, 150])
    assert torch.equal(part.represent(ids).e, whole.represent(ids).e)
    h, r = torch.tensor([100, 150, 170]), torch.tensor([0, 1, 0])
    with torch.no_grad():
        assert torch.equal(part.score_tails(h, r, tags), whole.score_tails(h, r, tags))
        with part.cached_entities(), whole.cached_entities():
            assert torch.equal(part.score_tails(h, r, tags), whole.score_tails(h, r, tags))
            with pytest.raises(ValueError, match="outside the rows"):
                part.score_tails(torch.tensor([5]), torch.tensor([0]), tags)
    with pytest.raises(IndexError):
        part.represent(torch.tensor([5]))  # video 5 is another rank's: no row here


def spawn(tmp_path, variant, collective="auto", seed=0, shard=False, full_tables=False):
    return w.spawn(tmp_path, w.train_rank, variant, collective, seed, shard, full_tables)


def held_model(variant, state, held):
    """A model loaded with `state` (the whole model) and cut to the rows `held` (a rank's)."""
    model = w.model_for(variant)
    if state is not None:
        model.load_state_dict(state)
    model.hold_(held)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("variant,collective", [("transe", "sparse"), ("transfusion", "dense"), ("transfusion", "auto")])
def test_two_ranks(tmp_path, variant, collective):
    out = spawn(tmp_path, variant, collective)
    model = w.model_for(variant)
    owner = out[0]["owner"]
    shared = {}
    for k in range(2):
        local = held_model(variant, None, out[k]["held"])  # this rank's rows, as initialised
        names = {id(v): name for name, v in local.named_parameters()}
        for table, row_owner in table_owners(local, owner):
            name = names[id(table.weight)]
            # rank-local tables: the shared rows and the rank's own, no other rank's row
            assert set(row_owner.tolist()) <= {-1, k}, name
            assert out[k]["before"][name].shape[0] == len(row_owner) == table.num, name
            assert table.num < w.E or name.startswith("relations"), name  # sized to the partition
            shared[k, name] = out[k]["before"][name][row_owner == -1]
            if (row_owner == k).any():
                assert not torch.equal(out[k]["before"][name][row_owner == k], table.weight[row_owner == k])
    # shared rows (tags, relations) identical on both ranks at the end of training
    assert all(torch.equal(shared[0, name], shared[1, name]) for _, name in shared)
    dense = [k for k in out[0]["before"] if k.startswith(("entities.proj", "entities.energy", "rel_attention"))]
    assert all(torch.equal(out[0]["before"][k], out[1]["before"][k]) for k in dense)
    # rank 0 assembled the whole model (today's format) from the ranks' own rows
    assert out[1]["after"] is None and out[0]["after"].keys() == model.state_dict().keys()
    assert all(out[0]["after"][k].shape == v.shape for k, v in model.state_dict().items())
    for k in range(2):
        assert same(held_model(variant, out[0]["after"], out[k]["held"]).state_dict(), out[k]["before"])
    assert out[0]["losses"] == out[1]["losses"] and out[0]["valid"] == out[1]["valid"]
    assert out[0]["traffic"]["rows"] > 0

    # distributed evaluation = one process's evaluation of the consolidated model
    train_, valid, test, _, is_video = w.graph()
    model.load_state_dict(out[0]["after"])
    seen = torch.zeros(w.E, dtype=torch.bool)  # the known rows, as training set them
    seen[train_[:, 0]] = True
    seen[train_[:, 2]] = True
    model.entities.set_known_(seen)
    single = evaluate(model, test, **w.eval_args(train_, valid, test, is_video))
    assert single["filtered"] == out[0]["metrics"]["filtered"]

    # quality: close to one process trained on the same triples
    one = w.model_for(variant)
    scores = []
    train(one, train_, w.config(), progress=False,
          valid=lambda m: scores.append(evaluate(m, valid, **w.eval_args(train_, valid, test, is_video))["filtered"]["mrr"]) or scores[-1])
    mrr1 = evaluate(one, test, **w.eval_args(train_, valid, test, is_video))["filtered"]["mrr"]
    assert out[0]["metrics"]["filtered"]["mrr"] > 0.6 * mrr1, (out[0]["metrics"]["filtered"]["mrr"], mrr1)


@pytest.mark.slow
def test_ranks_given_only_their_shard_train_as_ranks_given_everything(tmp_path):
    """A rank that read only its own triples (kgtag.runs.shard) and got rank 0's Layout of the whole
    training set trains exactly as a rank that holds the whole set (fast preset's sampler)."""
    (tmp_path / "all").mkdir()
    (tmp_path / "shard").mkdir()
    everything = spawn(tmp_path / "all", "transfusion")
    sharded = spawn(tmp_path / "shard", "transfusion", shard=True)
    for k in range(2):
        assert same(everything[k]["before"], sharded[k]["before"])
        assert everything[k]["losses"] == sharded[k]["losses"]
        assert everything[k]["n"] == sharded[k]["n"] > 0
    assert same(everything[0]["after"], sharded[0]["after"])


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["transe", "transfusion"])
def test_rank_local_rows_train_as_full_tables(tmp_path, variant):
    """A rank holding only its own rows and the shared ones (rank-local row ids, tables and Adam
    moments sized to its partition) trains exactly as a rank holding every entity's rows."""
    (tmp_path / "local").mkdir()
    (tmp_path / "full").mkdir()
    local = spawn(tmp_path / "local", variant, "sparse")
    full = spawn(tmp_path / "full", variant, "sparse", full_tables=True)
    for k in range(2):
        cut = held_model(variant, full[k]["before"], local[k]["held"])
        assert same(cut.state_dict(), local[k]["before"])
        assert full[k]["losses"] == local[k]["losses"] and full[k]["valid"] == local[k]["valid"]
        assert full[k]["metrics"] == local[k]["metrics"]
