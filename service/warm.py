"""Incremental training (`kgtag train --from RUN`): a new run on the current graph, warm-started from
an earlier finished one.

The new run takes the earlier run's settings (variant, base, modalities, preset, model and training
configs; a differing one the user passes is refused) and, unless given, its epochs, seed and split. Its model is built as usual
and every entity and relation row the earlier run trained is carried over by name
(`embed.carry.carry_rows`, the same function `kgtag infer --new` uses); new entities and relations
keep fresh rows. The split keeps the earlier run's held-out triples held out (its validation and test
triples stay validation and test, its training triples stay training) and splits only the triples new
to the graph, with the usual rule (`split.holdout`, same seed): otherwise the warm-started model
would be validated and tested on triples it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kgtag.embed.carry import Carried, carry_rows
from kgtag.embed.config import RUN_MODEL_FIELDS
from kgtag.embed.sampling import triple_keys

from .errors import BadInput
from .grow import name_map
from .load import LoadedRun, load_run
from .notes import note
from .plan import RunPlan, configs_from

INHERITED = ("variant", "base", "modalities", "preset")  # the model's settings: a different one is refused


def warm_plan(store, from_run: str, runs_dir, given: dict, device: str = "auto", epochs: int | None = None,
              seed: int | None = None, split: str | None = None) -> tuple[RunPlan, "WarmStart"]:
    """The plan of a run warm-started from `from_run` and what to carry; `given` holds the settings the
    user passed explicitly (keys of INHERITED), each checked against the earlier run's. `epochs`,
    `seed` and `split` (of the new triples) default to the earlier run's."""
    earlier = load_run(store, from_run, runs_dir, "cpu")
    meta = earlier.meta
    for key, value in given.items():
        value, was = _shown(value), _shown(meta[key])
        if value != was:
            raise BadInput(f"--{'model' if key == 'variant' else key} {value} conflicts with run {from_run} "
                           f"({was or 'no modalities'}): a warm start keeps the earlier run's settings; drop the "
                           "option or train a fresh run without --from")
    mconf, tconf = configs_from(meta)  # as the earlier run was trained, whatever today's defaults
    mc = {k: v for k, v in mconf.to_dict().items() if k not in RUN_MODEL_FIELDS}
    tc = {k: v for k, v in tconf.to_dict().items() if k not in ("seed", "device", "epochs")}
    plan = RunPlan(variant=meta["variant"], base=meta["base"], modalities=tuple(meta["modalities"]),
                   preset=meta["preset"], device=device, seed=meta["seed"] if seed is None else seed,
                   split=meta["split"] if split is None else split,
                   epochs=epochs if epochs is not None else tconf.epochs,
                   overrides=tc, model_overrides=mc)
    return plan, WarmStart(earlier)


def _shown(value) -> str:
    return ",".join(value) if isinstance(value, (list, tuple)) else str(value)


@dataclass
class WarmStart:
    earlier: LoadedRun

    @property
    def run_id(self) -> str:
        return self.earlier.run_id

    def split(self, triples: torch.Tensor, train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor,
              entities: list[str], relations: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(train, valid, test) of the grown graph's `triples`: the earlier run's triples where they were,
        the new ones where `holdout` put them (train/valid/test)."""
        e_map = name_map(self.earlier.entities, entities)  # earlier id -> current id
        r_map = name_map(self.earlier.relations, relations)
        n_e, n_r = len(entities), len(relations)

        def keys(t: torch.Tensor) -> torch.Tensor:
            t = torch.stack([e_map[t[:, 0]], r_map[t[:, 1]], e_map[t[:, 2]]], 1)
            return triple_keys(t[(t >= 0).all(1)], n_e, n_r)

        where = torch.zeros(len(triples), dtype=torch.int8)
        key = triple_keys(triples, n_e, n_r)
        where[torch.isin(key, triple_keys(valid, n_e, n_r))] = 1
        where[torch.isin(key, triple_keys(test, n_e, n_r))] = 2
        where[torch.isin(key, keys(self.earlier.train))] = 0
        where[torch.isin(key, keys(self.earlier.valid))] = 1
        where[torch.isin(key, keys(self.earlier.test))] = 2
        return triples[where == 0], triples[where == 1], triples[where == 2]

    def carry(self, model, entities: list[str], relations: list[str]) -> Carried:
        """Copy the earlier run's rows into `model` (built on `entities`, `relations`) and say how many."""
        try:
            done = carry_rows(self.earlier.model, model, name_map(entities, self.earlier.entities).to(
                model.entities.fused.device), name_map(relations, self.earlier.relations))
        except ValueError as exc:
            raise BadInput(f"run {self.run_id} cannot be warm-started from: {exc}") from None
        note(f"warm start from {self.run_id}: {done.entities:,} entities carried over, {done.new_entities:,} new, "
             f"{done.new_relations} new relations" + (" (fresh rows)" if done.new_relations else ""))
        return done
