"""How far the topic graph's multi-valued `contains` relation can go for a model that knows the topic.

    .venv/bin/python bench/objects_ceiling.py [--videos 1500] [--seeds 0,1] [--cold 0.1]

An oracle knows every video's true ``category_3`` (its topic) and ranks the objects by how often the
topic's training videos hold them (ties broken by overall popularity). Same split as
bench/cold_start.py (``cold_holdout`` on the generator's split), validation triples of ``contains``,
tail prediction, filtered (train + valid + test), candidates = the relation's range; warm = videos
with training triples, cold = none. A video holds 1-3 of its topic's 6 typical objects, so even this
oracle cannot say which: its MRR is the ceiling of anything that learns only the topic.
"""

from __future__ import annotations

import argparse

import torch

from kgtag.embed.history import cold_holdout
from kgtag.synthetic.generators import GENERATORS


def oracle_mrr(seed: int, videos: int, cold_share: float) -> dict:
    kg = GENERATORS["topic"](seed=seed, n_videos=videos)
    train, valid, test, _ = cold_holdout(kg.train, kg.valid, kg.test, kg.is_video, cold_share, seed)
    rel = {r: i for i, r in enumerate(kg.relations)}
    every = kg.all_triples()
    c3 = every[every[:, 1] == rel["category_3"]]
    topic = torch.full((kg.num_entities,), -1, dtype=torch.long)
    topic[c3[:, 0]] = c3[:, 2]
    contains = train[train[:, 1] == rel["contains"]]
    objects = torch.unique(contains[:, 2])
    topics = torch.unique(c3[:, 2])
    counts = torch.zeros(len(topics), len(objects))
    counts.index_put_((torch.searchsorted(topics, topic[contains[:, 0]]),
                       torch.searchsorted(objects, contains[:, 2].contiguous())),
                      torch.ones(len(contains)), accumulate=True)
    counts += 1e-3 * counts.sum(0)  # popularity breaks ties
    known = torch.cat([train, valid, test])
    known = known[known[:, 1] == rel["contains"]]
    trained = torch.unique(train[:, 0])
    out = {}
    for group, warm in (("warm", True), ("cold", False)):
        q = valid[(valid[:, 1] == rel["contains"]) & (torch.isin(valid[:, 0], trained) == warm)
                  & torch.isin(valid[:, 2], objects)]
        scores = counts[torch.searchsorted(topics, topic[q[:, 0]])]  # [n, objects]
        target = torch.searchsorted(objects, q[:, 2].contiguous())
        own = scores.gather(1, target[:, None])
        # filtered: the video's other known objects leave the candidates
        heads = q[:, 0].unique()
        other = known[torch.isin(known[:, 0], heads) & torch.isin(known[:, 2], objects)]
        mask = torch.zeros(len(heads), len(objects), dtype=torch.bool)
        mask[torch.searchsorted(heads, other[:, 0].contiguous()),
             torch.searchsorted(objects, other[:, 2].contiguous())] = True
        mask = mask[torch.searchsorted(heads, q[:, 0].contiguous())]
        mask[torch.arange(len(q)), target] = False
        scores = scores.masked_fill(mask, -1.0)
        rank = 1 + (scores > own).sum(1) + 0.5 * ((scores == own).sum(1) - 1)  # expected rank among ties
        out[group] = (float((1.0 / rank).mean()), len(q))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=1500)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--cold", type=float, default=0.1)
    a = p.parse_args()
    print("topic graph, `contains`, validation split, tail, filtered, range candidates: oracle that knows the topic")
    for s in a.seeds.split(","):
        r = oracle_mrr(int(s), a.videos, a.cold)
        print(f"seed {s}: warm MRR {r['warm'][0]:.3f} ({r['warm'][1]})  cold MRR {r['cold'][0]:.3f} ({r['cold'][1]})")


if __name__ == "__main__":
    main()
