"""`--split VALID,TEST,COLD`: whole videos held out (cold start), no video straddles train and test."""

from __future__ import annotations

import pytest
import torch

from kgtag.runs.split import holdout, parse_split
from helpers import random_video_graph


def _graph():
    return random_video_graph(300, 40, 3000)


def test_cold_split_holds_out_whole_videos():
    triples, is_video = _graph()
    train, valid, test = holdout(triples, is_video, 0.1, 0.1, seed=5, cold_frac=0.1)
    assert len(train) + len(valid) + len(test) == len(triples)
    in_train = torch.zeros(len(is_video), dtype=torch.bool)
    in_train[train[:, 0]] = True
    cold = is_video & ~in_train
    assert int(cold.sum()) == 30  # a tenth of the 300 videos, all of them with triples
    # a cold video's triples are all held out, in one split: half the cold videos in valid, half in test
    cold_valid, cold_test = torch.unique(valid[cold[valid[:, 0]], 0]), torch.unique(test[cold[test[:, 0]], 0])
    assert len(cold_valid) == len(cold_test) == 15
    assert not bool(torch.isin(cold_valid, cold_test).any())
    assert int(cold[triples[:, 0]].sum()) == int(cold[valid[:, 0]].sum() + cold[test[:, 0]].sum())
    # the warm videos' triples are split as before and none of them loses its last training triple
    warm_held = torch.cat([valid, test])
    warm_held = warm_held[~cold[warm_held[:, 0]]]
    assert len(warm_held) > 0 and bool(in_train[warm_held[:, 0]].all())
    assert torch.equal(holdout(triples, is_video, 0.1, 0.1, seed=5, cold_frac=0.1)[2], test)


def test_split_option_takes_a_cold_fraction():
    assert parse_split("0.1,0.05,0.2") == (0.1, 0.05, 0.2)
    assert parse_split("0.1") == (0.1, 0.1, 0.0)
    from kgtag.runs import BadInput

    with pytest.raises(BadInput, match="held out whole"):
        parse_split("0.1,0.1,1.5")
