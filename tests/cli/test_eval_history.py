"""`kgtag eval --by-history`: warm / few / cold side by side, relation names printed as text."""

from __future__ import annotations

import torch
from helpers import TableModel

from kgtag.cli import eval as cli_eval
from kgtag.runs.evaluate import history_groups


def test_by_history_table_prints_every_group_with_counts_and_chance(capsys):
    E, R = 9, 1
    train = torch.tensor([[0, 0, 5], [0, 0, 6], [0, 0, 7], [1, 0, 5]])
    test = torch.tensor([[0, 0, 8], [1, 0, 6], [3, 0, 7]])
    table = torch.zeros(E, R, E)
    table[0, 0, 8] = 1.0
    is_video = torch.zeros(E, dtype=torch.bool)
    is_video[:5] = True
    groups = history_groups(TableModel(table), ["[bold]rel"], is_video, train, torch.zeros(0, 3, dtype=torch.long),
                            test, candidates="tags")
    assert [groups[g]["count"] for g in ("warm", "few", "cold")] == [1, 1, 1]
    assert groups["warm"]["mrr"] == 1.0
    with cli_eval.console.capture() as cap:
        cli_eval.render_history(groups)
    out = cap.get()
    assert "warm" in out and "few" in out and "cold" in out and "chance MRR" in out
    assert "[bold]rel" in out  # a relation name from the graph is printed as text, not markup
