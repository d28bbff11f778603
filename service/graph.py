"""The graph as a run sees it: pulled from kgstore, named triples turned into the run's id space."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from kgtag.kgstore.read import read_features
from kgtag.kgstore.review import rejected_triples

from .cache import run_cache
from .errors import BadInput


def id_map(names: list[str]) -> pd.Index:
    """The one name <-> id map of a run: `.get_indexer(names)` gives ids (-1 for a name it lacks) and
    `[ids]` names, vectorised; `name in` and `.get_loc(name)` for one."""
    return pd.Index(names, dtype=object)


def _ids(index: pd.Index, names) -> torch.Tensor:
    return torch.from_numpy(index.get_indexer(np.asarray(names, dtype=object)).astype(np.int64))


def pull_features(store, modalities, entities) -> dict:
    if not modalities:
        return {}
    features = read_features(store, list(modalities), entities)
    check_graph(None, features)
    return features


def check_graph(triples, features: dict) -> None:
    """A graph a run can train on: some triples, and some vectors of each modality it asked for."""
    if triples is not None and len(triples) == 0:
        raise BadInput("the graph holds no triples yet: load some with `kgtag ingest` first")
    for m, (_, mask) in features.items():
        if not bool(mask.any()):
            raise BadInput(f"no {m!r} features in the graph: load them with `kgtag ingest features --modality {m} FILE`")


def run_features(store, run_dir, modalities, entities, digest: str | None = None) -> dict:
    """A stored run's features: from its cache (the graph it was trained on; `digest` the one its run
    recorded), else from Neo4j (runs trained before there was a cache)."""
    cache = run_cache(run_dir, digest)
    if cache is not None and cache.has(modalities) and cache.manifest["counts"]["entities"] == len(entities):
        return cache.features(modalities)
    return pull_features(store, modalities, entities)


def id_triples(rows, entities: list[str], relations: list[str]) -> torch.Tensor:
    """Name triples (head, relation, tail) -> id tensor [N, 3]; rows naming unknown entities are dropped."""
    rows = list(rows)
    if not rows:
        return torch.empty(0, 3, dtype=torch.long)
    heads, rels, tails = zip(*rows)
    ent = id_map(entities)
    ids = torch.stack([_ids(ent, heads), _ids(id_map(relations), rels), _ids(ent, tails)], 1)
    return ids[(ids >= 0).all(1)]


def remap(graph, entities: list[str], relations: list[str]) -> torch.Tensor:
    """A graph snapshot's triples in another id space (a run's); triples outside it are dropped."""
    emap, rmap = _ids(id_map(entities), graph.entities), _ids(id_map(relations), graph.relations)
    t = graph.triples
    if len(t) == 0:
        return torch.empty(0, 3, dtype=torch.long)
    out = torch.stack([emap[t[:, 0]], rmap[t[:, 1]], emap[t[:, 2]]], 1)
    return out[(out >= 0).all(1)]


def triple_ids(page, entity_index: pd.Index, relation_index: pd.Index) -> torch.Tensor:
    """A page of named triples (`heads`, `relations`, `tails` arrays) as ids [N, 3]; triples naming
    entities or relations outside the index are dropped."""
    ids = torch.from_numpy(page.codes(entity_index, relation_index))
    return ids[(ids >= 0).all(1)]


def known_negatives(store, entities: list[str], relations: list[str]) -> torch.Tensor:
    """Edges curators rejected (kgstore.review), as ids: the sampler uses them as negatives."""
    return id_triples(rejected_triples(store), entities, relations)
