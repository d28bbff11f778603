"""How a run is measured: the candidate sets, the protocol words, test metrics, validation and calibration."""

from __future__ import annotations

import torch

from kgtag.embed.evaluate import ConstraintIndex, evaluate
from kgtag.embed.infer import Calibrator

from .errors import BadInput
from .notes import note

VALID_QUERIES = 1000  # validation triples scored after each epoch (a seeded sample): bounded cost
CANDIDATES = ("range", "tags", "entities")
DEFAULT_CANDIDATES = "range"


def protocol(candidates: str, split: str = "test") -> str:
    """The words every printed or stored figure carries: what was ranked against what."""
    among = {"range": "the relation's range (tails seen with r in training; all tags where r has none)",
             "tags": "all tags (every non-video entity)", "entities": "all entities"}[candidates]
    return f"tail prediction (video, r, ?) on the {split} split, filtered (train + valid + test), candidates: {among}"


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


def validator(train, valid, test, is_video, seed: int):
    """Filtered MRR (range candidates) on a sample of the validation split, for early stopping and
    best-epoch restore. The filter holds the whole split; only the scored queries are sampled."""
    if len(valid) == 0:
        return None
    known = torch.cat([train, valid, test])
    if len(valid) > VALID_QUERIES:
        g = torch.Generator().manual_seed(seed)
        valid = valid[torch.randperm(len(valid), generator=g)[:VALID_QUERIES]]
    args = candidate_args(DEFAULT_CANDIDATES, is_video, train)
    return lambda model: evaluate(model, valid, filter_triples=known, **args)["filtered"]["mrr"]


def evaluate_run(model, relations, is_video, train, valid, test, candidates: str = DEFAULT_CANDIDATES) -> dict:
    """Tail prediction on the test split, raw and filtered (train+valid+test), overall and per
    relation, with the protocol named in the result."""
    warn_rangeless(candidates, train, test[:, 1], list(relations))
    metrics = evaluate(model, test, filter_triples=torch.cat([train, valid, test]), per_relation=True,
                       relation_names=list(relations), **candidate_args(candidates, is_video, train))
    metrics["protocol"] = protocol(candidates)
    metrics["candidates"] = candidates
    return metrics


def score_run(run, candidates: str = DEFAULT_CANDIDATES) -> dict:
    """`evaluate_run` for a loaded run (kgtag.runs.load.LoadedRun): its model on its own test split."""
    return evaluate_run(run.model, run.relations, run.is_video, run.train, run.valid, run.test, candidates)


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
