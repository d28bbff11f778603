"""The one-collective gradient exchange (embed/distributed.py, Exchange.step) when a step touches
more shared rows than its gathered part was sized for: the rest goes in a second gather, and the
trained weights are exactly those of a run whose parts were large enough."""

from __future__ import annotations

import pytest

import distributed_worker as w
from distributed_worker import same


def run(folder, worker, *args):
    folder.mkdir()
    return w.spawn(folder, worker, *args)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["transe", "transfusion"])
def test_a_step_past_its_cap_gathers_the_rest_and_sums_the_same(tmp_path, variant):
    usual = run(tmp_path / "caps", w.train_rank, variant, "sparse", 0)
    small = run(tmp_path / "small", w.train_rank_small_caps, variant)
    for k in range(2):
        steps = usual[k]["traffic"]["steps"]
        assert usual[k]["traffic"]["rounds"] == steps + 1  # one collective a step (the first step: caps 0)
        assert small[k]["traffic"]["rounds"] > steps + steps // 2  # most steps went past their caps
        assert same(usual[k]["before"], small[k]["before"])
        assert usual[k]["losses"] == small[k]["losses"]
    assert same(usual[0]["after"], small[0]["after"])
