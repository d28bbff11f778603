"""Cold start as a protocol: hold out whole videos, and report by how much a video was trained on.

The paper's case (its Figure 1) is a video that arrives with few or no tags. Two pieces make that
measurable on any graph:

* `cold_holdout` moves *every* triple of a seeded share of the videos out of training, half of those
  videos to validation and half to test, so that defaults can be chosen on cold videos (validation)
  and reported on others (test). No video straddles train and a cold split.
* `by_history` ranks a split once and reports the answers by the head video's number of training
  triples: **warm** (3 or more), **few** (1-2) and **cold** (none), each with its count and the
  chance level of the same protocol (`chance.chance_mrr`), and per relation.
"""

from __future__ import annotations

import torch

from .chance import chance_mrr
from .ranking import evaluate, metrics_from_ranks

GROUPS = ("warm", "few", "cold")
#: a video with at most this many training triples (and at least one) is "few"
FEW_MAX = 2


def training_degree(train: torch.Tensor, num_entities: int) -> torch.Tensor:
    """LongTensor[E]: the number of training triples each entity is in (as head or tail)."""
    train = train.long()
    return torch.bincount(train[:, 0], minlength=num_entities) + torch.bincount(train[:, 2], minlength=num_entities)


def history_group(degree: torch.Tensor) -> torch.Tensor:
    """LongTensor of group indices into GROUPS for training degrees: 0 warm (>= 3), 1 few (1-2), 2 cold (0)."""
    return torch.where(degree == 0, 2, torch.where(degree <= FEW_MAX, 1, 0))


def cold_holdout(
    train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor, is_video: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hold out whole videos: (train, valid, test, cold_videos).

    A seeded share ``fraction`` of the videos that have a training triple is chosen; every triple
    that touches one of them (in train, valid or test) leaves its split. The first half of the chosen
    videos (in a random order) send theirs to validation, the rest to test. ``cold_videos`` lists
    the chosen ids; a video either keeps all its triples where they were or has none in train.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"cold fraction must be in [0, 1), got {fraction}")
    train, valid, test = train.long(), valid.long(), test.long()
    num_entities = is_video.shape[0]
    in_train = training_degree(train, num_entities) > 0
    pool = torch.nonzero(is_video & in_train).squeeze(1)
    n = int(round(fraction * len(pool)))
    if n == 0:
        return train, valid, test, torch.zeros(0, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    chosen = pool[torch.randperm(len(pool), generator=g)[:n]]
    to = torch.zeros(num_entities, dtype=torch.long)  # 0 stays, 1 valid, 2 test
    to[chosen[: (n + 1) // 2]] = 1
    to[chosen[(n + 1) // 2 :]] = 2

    def dest(triples):  # the cold destination of each triple (0 = none): the head's, else the tail's
        return torch.maximum(to[triples[:, 0]], to[triples[:, 2]])

    splits = (train, valid, test)
    dests = [dest(x) for x in splits]
    # each split keeps its own triples first, in their order; the cold videos' triples follow
    out = [torch.cat([splits[k][dests[k] == 0]] + ([x[d == k] for x, d in zip(splits, dests)] if k else []))
           for k in (0, 1, 2)]
    return out[0], out[1], out[2], chosen.sort().values


@torch.no_grad()
def by_history(
    model,
    triples: torch.Tensor,
    train: torch.Tensor,
    relation_names: list[str] | None = None,
    chance: bool = True,
    **protocol,
) -> dict:
    """Tail prediction on ``triples`` grouped by the head video's training history.

    ``protocol``: ``evaluate``'s keyword arguments (filter_triples, candidates, constraint_triples,
    range_fallback, ...). Returns ``{group: {mrr, hits1, hits3, hits10, mr, count, chance_mrr,
    per_relation: {name: {..., chance_mrr}}}}`` for group in GROUPS (filtered ranks when a filter is
    given, else raw). The answers are ranked once; chance levels rank random scores under the same
    protocol on the same group's triples.
    """
    triples = torch.as_tensor(triples, dtype=torch.long)
    E, R = int(model.num_entities), int(model.num_relations)
    setting = "filtered" if protocol.get("filter_triples") is not None else "raw"
    res = evaluate(model, triples, return_ranks=True, num_entities=E, num_relations=R, **protocol)
    ranks = res["ranks"]["tail"][setting]
    group = history_group(training_degree(train, E))[triples[:, 0]]
    out = {}
    for gi, name in enumerate(GROUPS):
        sel = group == gi
        sub = triples[sel]
        m = metrics_from_ranks(ranks[sel])
        m["chance_mrr"] = chance_mrr(sub, E, R, **protocol) if chance and len(sub) else float("nan")
        per = {}
        for rid in torch.unique(sub[:, 1]).tolist():
            rsel = sel & (triples[:, 1] == rid)
            pm = metrics_from_ranks(ranks[rsel])
            pm["chance_mrr"] = chance_mrr(triples[rsel], E, R, **protocol) if chance else float("nan")
            per[relation_names[rid] if relation_names is not None else rid] = pm
        m["per_relation"] = per
        out[name] = m
    return out
