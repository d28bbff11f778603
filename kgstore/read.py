"""Reading the graph for training: integer triples, id maps, feature matrices with presence masks.

`read_graph` and `read_features` read in keyset pages on the Entity.id uniqueness index (entities,
triples by head-id range, vectors by id), so no record or transaction grows with the graph, and turn
names into integer ids with pandas index look-ups: no per-triple Python. Entities and relations are
sorted by name, so the same graph always gives the same ids. `iter_triples` pages through a graph too
large to hold, optionally for one relation; `out_triples` reads those of a block of heads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from .features import decode, property_key
from .store import Store, StoreError


@dataclass
class GraphSnapshot:
    """The knowledge graph as tensors: `triples[i] = (h, r, t)` index `entities` and `relations`."""

    triples: torch.Tensor          # LongTensor[N, 3]
    entities: list[str]            # index -> entity id
    relations: list[str]           # index -> relation name
    is_video: torch.Tensor         # BoolTensor[E]

    def entity_index(self) -> pd.Index:
        """id -> index look-ups, vectorised: `snapshot.entity_index().get_indexer(ids)`."""
        return pd.Index(self.entities)


ENTITIES_PER_PAGE = 50_000
HEADS_PER_PAGE = 10_000   # ~100k triples a page on a video graph with ~10 tags per video
VECTORS_PER_PAGE = 4_096  # 8 MB of 512-d float32 a page

# Pages read by this process, by kind: how the tests (and a curious caller) tell a run cache that was
# reused from one read from Neo4j.
pages_read: Counter = Counter()


def iter_entities(store: Store, per_page: int = ENTITIES_PER_PAGE) -> Iterator[tuple[list, list]]:
    """(ids, is_video) of every entity, `per_page` at a time in id order (keyset on Entity.id)."""
    after = ""
    while True:
        page = store.query("read_entities_page", routing="r", after=after, limit=per_page)[0]
        if not page["ids"]:
            return
        pages_read["entities"] += 1
        yield page["ids"], page["video"]
        after = page["ids"][-1]


def read_entities(store: Store, per_page: int = ENTITIES_PER_PAGE) -> tuple[np.ndarray, np.ndarray]:
    """(ids, is_video) of every entity, sorted by id in Python's order (the ids of every run)."""
    pages = list(iter_entities(store, per_page))
    ids = np.array([i for p in pages for i in p[0]], dtype=object)
    video = np.array([v for p in pages for v in p[1]], dtype=bool)
    order = np.argsort(ids.astype(str), kind="stable")  # Cypher's string order may differ from Python's
    return ids[order], video[order]


def read_graph(store: Store, heads_per_page: int = HEADS_PER_PAGE, entities_per_page: int = ENTITIES_PER_PAGE) -> GraphSnapshot:
    """Every entity, relation and TRIPLE, read in keyset pages (one transaction each), so no record
    grows with the graph. A triple naming an entity that was not there when the entities were read
    (an ingest running meanwhile) fails the read rather than giving a half-consistent snapshot."""
    ids, video = read_entities(store, entities_per_page)
    relation_names = store.query("read_relations", routing="r")[0]["names"]
    index = pd.Index(ids)
    codes, seen = [], set(relation_names)
    for page in iter_triples(store, heads_per_page):
        seen.update(page.relations.tolist())
        codes.append((index.get_indexer(page.heads), page.relations, index.get_indexer(page.tails)))
    rel_names = np.array(sorted(seen), dtype=object)
    if codes:
        rel_index = pd.Index(rel_names)
        triples = np.concatenate([np.stack([h, rel_index.get_indexer(r), t], axis=1) for h, r, t in codes]).astype(np.int64)
        if (triples < 0).any():
            raise StoreError("the graph changed while it was being read (a triple names an entity read after it); read it again")
        triples = triples[np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))]
    else:
        triples = np.zeros((0, 3), dtype=np.int64)
    return GraphSnapshot(torch.from_numpy(triples), ids.tolist(), rel_names.tolist(), torch.from_numpy(video))


def read_features(store: Store, modalities: Sequence[str], entities: Sequence[str],
                  per_page: int = VECTORS_PER_PAGE) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per modality, `(FloatTensor[E, d], BoolTensor[E])` aligned with `entities`: the vectors (zeros
    where missing) and the presence mask (paper eq. 3-4 mask a missing modality out of the attention).
    Vectors come `per_page` at a time in id order (keyset on Entity.id), never a modality in one record."""
    index = pd.Index(list(entities))
    out = {}
    for modality in modalities:
        dim = modality_dim(store, modality)
        matrix = np.zeros((len(index), dim), dtype=np.float32)
        mask = np.zeros(len(index), dtype=bool)
        for ids, vectors in iter_features(store, modality, dim, per_page):
            rows = index.get_indexer(ids)
            keep = rows >= 0
            matrix[rows[keep]] = vectors[keep]
            mask[rows[keep]] = True
        out[modality] = (torch.from_numpy(matrix), torch.from_numpy(mask))
    return out


def modality_dim(store: Store, modality: str) -> int:
    found = store.query("read_modality", routing="r", modality=modality)
    if not found:
        raise StoreError(f"no modality {modality!r} in the graph; ingest it with `kgtag ingest features --modality {modality} FILE`")
    return int(found[0]["dim"])


def iter_features(store: Store, modality: str, dim: int, per_page: int = VECTORS_PER_PAGE) -> Iterator[tuple[list, np.ndarray]]:
    """(ids, float32 [n, dim]) of the entities holding `modality`, `per_page` at a time in id order."""
    key, after = property_key(modality), ""
    while True:
        page = store.query("read_features_page", routing="r", key=key, after=after, limit=per_page)[0]
        if not page["ids"]:
            return
        pages_read["features"] += 1
        yield page["ids"], decode(page["vectors"], dim)
        after = page["ids"][-1]


@dataclass
class TriplePage:
    heads: np.ndarray       # entity ids (object array of str)
    relations: np.ndarray
    tails: np.ndarray
    last: str               # the last head id of this page: pass as `after` to continue

    def codes(self, entity_index: pd.Index, relation_index: pd.Index) -> np.ndarray:
        """The page as int64 ids [N, 3] (head, relation, tail) in the given id maps; -1 where a name
        is not in them (the caller drops such rows or refuses the page)."""
        return np.stack([entity_index.get_indexer(self.heads), relation_index.get_indexer(self.relations),
                         entity_index.get_indexer(self.tails)], axis=1).astype(np.int64).reshape(-1, 3)


def read_triples_page(store: Store, after: str = "", heads: int = 10_000, relation: str | None = None) -> TriplePage | None:
    """The triples of the next `heads` head entities with id > `after` (None when there are no more)."""
    records = store.query("read_triples_page", routing="r", after=after, limit=heads, relation=relation)
    if not records:
        # the page may hold heads without (matching) triples: skip to the end of the id range
        probe = store.query("read_next_head", routing="r", after=after, limit=heads)
        if not probe or probe[0]["last"] is None:
            return None
        empty = np.array([], dtype=object)
        return TriplePage(empty, empty, empty, probe[0]["last"])
    r = records[0]
    return TriplePage(np.array(r["heads"], dtype=object), np.array(r["relations"], dtype=object),
                      np.array(r["tails"], dtype=object), r["last"])


def out_triples(store: Store, ids: Sequence[str]) -> TriplePage:
    """The triples whose head is one of `ids` (a block of videos: what they have now)."""
    r = store.query("read_out_triples", routing="r", ids=list(ids))[0]
    last = ids[-1] if len(ids) else ""
    return TriplePage(np.array(r["heads"], dtype=object), np.array(r["relations"], dtype=object),
                      np.array(r["tails"], dtype=object), last)


def iter_triples(store: Store, heads_per_page: int = 10_000, relation: str | None = None) -> Iterator[TriplePage]:
    """Page through all triples (or one relation's) by head-id range, without holding the graph."""
    after = ""
    while (page := read_triples_page(store, after, heads_per_page, relation)) is not None:
        if len(page.heads):
            pages_read["triples"] += 1
            yield page
        after = page.last
