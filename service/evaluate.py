"""How a run is measured: the candidate sets, the protocol words, test metrics, validation and calibration."""

from __future__ import annotations

from collections.abc import Callable

import torch

from kgtag.embed.history import GROUPS, by_history
from kgtag.embed.ranking import ConstraintIndex, evaluate
from kgtag.embed.calibration import Calibrator

from .errors import BadInput
from .notes import note

VALID_QUERIES = 1000  # validation triples scored after each epoch (a seeded sample): bounded cost
CANDIDATES = ("range", "tags", "entities")
DEFAULT_CANDIDATES = "range"


TEST_QUERIES_PER_RELATION = 10_000  # train's closing figure: MRR's standard error under ~0.004 per relation
                                    # while the cost stays linear in the graph (kgtag eval ranks them all)


def protocol(candidates: str, split: str = "test", sample: tuple[int, int, int] | None = None) -> str:
    """The words every printed or stored figure carries: what was ranked against what, and on how
    many queries (`sample` = (at most per relation, scored, of) when the split was sampled)."""
    among = {"range": "the relation's range (tails seen with r in training; all tags where r has none)",
             "tags": "all tags (every non-video entity)", "entities": "all entities"}[candidates]
    words = f"tail prediction (video, r, ?) on the {split} split, filtered (train + valid + test), candidates: {among}"
    if sample is not None and sample[1] < sample[2]:
        words += (f"; a seeded sample of at most {sample[0]:,} {split} triples per relation "
                  f"({sample[1]:,} of {sample[2]:,})")
    return words


def sample_per_relation(triples: torch.Tensor, at_most: int, seed: int = 0) -> torch.Tensor:
    """At most `at_most` rows of each relation, drawn at random (seeded), in their original order."""
    g = torch.Generator().manual_seed(seed)
    shuffled = torch.randperm(len(triples), generator=g)
    by_relation = shuffled[torch.argsort(triples[shuffled, 1], stable=True)]
    rel = triples[by_relation, 1]
    within = torch.arange(len(rel)) - torch.searchsorted(rel, rel)  # position inside its relation's run
    return triples[by_relation[within < at_most].sort().values]


def warn_rangeless(candidates: str, train: torch.Tensor, queried: torch.Tensor, relations: list[str]) -> None:
    """Say which queried relations have no observed range (they are ranked among all tags instead)."""
    if candidates != "range":
        return
    missing = sorted(set(torch.unique(queried).tolist()) - set(torch.unique(train[:, 1]).tolist()))
    if missing:
        note(f"no tail seen in training for {', '.join(relations[r] for r in missing)}: "
             "their candidates are all tags instead of the relation's range")


def candidate_args(candidates: str, is_video: torch.Tensor, train: torch.Tensor) -> dict:
    """``evaluate`` keyword arguments for a candidate setting (range | tags | entities)."""
    if candidates not in CANDIDATES:
        raise BadInput(f"--candidates must be one of {', '.join(CANDIDATES)}, got {candidates!r}")
    tags = torch.nonzero(~is_video).reshape(-1)
    if candidates == "range":
        return {"candidates": "relation", "constraint_triples": train, "range_fallback": tags}
    return {"candidates": tags if candidates == "tags" else None}


def validator(train, valid, test, is_video, seed: int, evaluate=evaluate, constraint=None):
    """Filtered MRR (range candidates) on a sample of the validation split, for early stopping and
    best-epoch restore. The filter holds the whole split; only the scored queries are sampled.
    `evaluate`: ranking.evaluate, or a distributed run's `Ranks.evaluate` (same figures).
    `constraint`: the triples whose (r, t) give each relation's range, when `train` is only a rank's
    shard (embed.distributed.Layout.ranges); the filter needs only the rank's own heads' triples."""
    if len(valid) == 0:
        return None
    known = torch.cat([train, valid, test])
    if len(valid) > VALID_QUERIES:
        g = torch.Generator().manual_seed(seed)
        valid = valid[torch.randperm(len(valid), generator=g)[:VALID_QUERIES]]
    args = candidate_args(DEFAULT_CANDIDATES, is_video, train if constraint is None else constraint)
    return lambda model: evaluate(model, valid, filter_triples=known, **args)["filtered"]["mrr"]


def evaluate_run(model, relations, is_video, train, valid, test, candidates: str = DEFAULT_CANDIDATES,
                 per_relation_max: int | None = None, progress: Callable[[int], None] | None = None,
                 evaluate=evaluate, constraint=None) -> dict:
    """Tail prediction on the test split, raw and filtered (train+valid+test), overall and per
    relation, with the protocol named in the result. `per_relation_max` scores a seeded sample of at
    most that many test triples per relation (the filter still holds them all); `progress(n)` is told
    each ranked batch's size. `constraint`: as `validator`'s."""
    ranges = train if constraint is None else constraint
    scored = test if per_relation_max is None else sample_per_relation(test, per_relation_max)
    warn_rangeless(candidates, ranges, scored[:, 1], list(relations))
    metrics = evaluate(model, scored, filter_triples=torch.cat([train, valid, test]), per_relation=True,
                       relation_names=list(relations), progress=progress, **candidate_args(candidates, is_video, ranges))
    metrics["protocol"] = protocol(candidates, sample=(per_relation_max, len(scored), len(test)) if per_relation_max else None)
    metrics["candidates"] = candidates
    metrics["test_queries"] = {"scored": len(scored), "of": len(test), "per_relation_max": per_relation_max}
    return metrics


def score_run(run, candidates: str = DEFAULT_CANDIDATES, progress: Callable[[int], None] | None = None,
              history: bool = False) -> dict:
    """`evaluate_run` for a loaded run (kgtag.runs.load.LoadedRun): its model on its whole test split.
    `history` adds "by_history": the same test triples by the head video's training history."""
    metrics = evaluate_run(run.model, run.relations, run.is_video, run.train, run.valid, run.test, candidates,
                           progress=progress)
    if history:
        metrics["by_history"] = history_groups(run.model, run.relations, run.is_video, run.train, run.valid,
                                               run.test, candidates)
    return metrics


def history_groups(model, relations, is_video, train, valid, test, candidates: str = DEFAULT_CANDIDATES) -> dict:
    """Test metrics by the head video's number of training triples: warm (>= 3), few (1-2), cold (0),
    each with its count and chance MRR (random scores, same protocol), overall and per relation
    (`kgtag.embed.history.by_history`). Filtered, candidates as `candidates`."""
    groups = by_history(model, test, train, relation_names=list(relations), filter_triples=torch.cat([train, valid, test]),
                        **candidate_args(candidates, is_video, train))
    return {g: groups[g] for g in GROUPS}


def ranking_scope(candidates: str, is_video: torch.Tensor, train: torch.Tensor, num_entities: int,
                  num_relations: int) -> dict:
    """``candidates`` / ``constraint`` keyword arguments of ``embed.infer``'s ``predict`` and
    ``Calibrator.fit`` for a candidate setting: what inference ranks among (calibration must match)."""
    if candidates not in CANDIDATES:
        raise BadInput(f"--candidates must be one of {', '.join(CANDIDATES)}, got {candidates!r}")
    tags = torch.nonzero(~is_video).reshape(-1)
    range_ = ConstraintIndex(train, "tail", num_entities, num_relations, tags) if candidates == "range" else None
    return {"candidates": None if candidates == "entities" else tags, "constraint": range_}


def calibrate(model, is_video, train, valid, test, candidates: str, seed: int) -> dict:
    """Fit the confidence temperatures with the candidates and exclusions `infer` uses; the ECE is
    measured on validation queries held out of the fit. Returns the calibrator's report."""
    scope = ranking_scope(candidates, is_video, train, model.num_entities, model.num_relations)
    cal = Calibrator().fit(model, valid, exclude=torch.cat([train, valid, test]), seed=seed, **scope)
    return {**cal.report(), "candidates": candidates}
