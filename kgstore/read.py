"""Reading the graph for training: integer triples, id maps, feature matrices with presence masks.

The one reader of the graph for training: the run cache (service/cache.py) fills its memory maps
through the same `read_graph` and `read_features` that tests and benches use in memory (`allocate`).
`read_graph` and `read_features` read in keyset pages on the Entity.id uniqueness index (entities,
triples by head-id range, vectors by id), so no record or transaction grows with the graph, and turn
names into integer ids with pandas index look-ups: no per-triple Python. Entities and relations are
sorted by name, so the same graph always gives the same ids. `iter_triples` pages through a graph too
large to hold, optionally for one relation; `out_triples` reads those of a block of heads. A rank of a
distributed run (kgtag.runs.shard) reads only its part: `iter_out_triples` (its heads, in pages),
`read_presence` (which entities hold a modality, ids only) and `read_features_of` (the vectors of
given ids, in pages).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from .features import decode, property_key
from .fingerprint import graph_fingerprint
from .store import Store, StoreError


@dataclass
class GraphSnapshot:
    """The knowledge graph as tensors: `triples[i] = (h, r, t)` index `entities` and `relations`."""

    triples: torch.Tensor          # LongTensor[N, 3], sorted by (h, r, t): a head range is a row range
    entities: list[str]            # index -> entity id
    relations: list[str]           # index -> relation name
    is_video: torch.Tensor         # BoolTensor[E]
    fingerprint: dict | None = None  # the graph's fingerprint when it was read (kgstore.fingerprint)

    def entity_index(self) -> pd.Index:
        """id -> index look-ups, vectorised: `snapshot.entity_index().get_indexer(ids)`."""
        return pd.Index(self.entities)


# Where the arrays a read fills live: `allocate(name, shape, dtype)` returns a zeroed array to fill,
# in memory (`in_memory`, the default) or a memory-mapped file (the run cache, service/cache.py).
Allocate = Callable[[str, tuple, np.dtype], np.ndarray]


def in_memory(name: str, shape: tuple, dtype) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


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


def read_graph(store: Store, heads_per_page: int = HEADS_PER_PAGE, entities_per_page: int = ENTITIES_PER_PAGE,
               allocate: Allocate = in_memory) -> GraphSnapshot:
    """Every entity, relation and TRIPLE, read in keyset pages (one read transaction each), so no record
    grows with the graph, into one int64 array of the fingerprint's triple count (`allocate`d: no second
    copy is ever held). A graph that changes while it is read (an ingest running meanwhile) fails the
    read rather than giving a half-consistent snapshot."""
    fingerprint = graph_fingerprint(store)
    ids, video = read_entities(store, entities_per_page)
    relations = sorted(store.query("read_relations", routing="r")[0]["names"])
    index, rel_index = pd.Index(ids), pd.Index(relations)
    n = int(fingerprint["triples"])
    out = allocate("triples", (n, 3), np.int64) if n else np.zeros((0, 3), dtype=np.int64)
    at, last_head, in_order = 0, -1, True
    for page in iter_triples(store, heads_per_page):
        rows = page.codes(index, rel_index)
        if (rows < 0).any() or at + len(rows) > n:
            raise StoreError("the graph changed while it was being read (a triple names an entity or relation "
                             "read after it); read it again")
        rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
        in_order &= bool(rows[0, 0] > last_head)  # pages are head ranges in Cypher's string order
        out[at:at + len(rows)] = rows
        at, last_head = at + len(rows), int(rows[-1, 0])
    if at != n:
        raise StoreError(f"the graph changed while it was being read ({at} triples read, {n} counted); read it again")
    if not in_order:  # Cypher's and Python's string orders differed somewhere: sort once, in memory
        out[:] = out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]
    return GraphSnapshot(torch.from_numpy(out), ids.tolist(), relations, torch.from_numpy(video), fingerprint)


def read_features(store: Store, modalities: Sequence[str], entities: Sequence[str],
                  per_page: int = VECTORS_PER_PAGE, allocate: Allocate = in_memory) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per modality, `(FloatTensor[E, d], BoolTensor[E])` aligned with `entities`: the vectors (zeros
    where missing; float32 as stored, so bit-exact) and the presence mask (paper eq. 3-4 mask a missing
    modality out of the attention). Vectors come `per_page` at a time in id order (keyset on Entity.id)
    into `allocate`d arrays `feat_<m>` and `mask_<m>`."""
    index = pd.Index(list(entities))
    out = {}
    for modality in modalities:
        dim = modality_dim(store, modality)
        matrix = allocate(f"feat_{modality}", (len(index), dim), np.float32)
        mask = allocate(f"mask_{modality}", (len(index),), np.bool_)
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


def read_presence(store: Store, modality: str, entities: Sequence[str], per_page: int = ENTITIES_PER_PAGE) -> torch.Tensor:
    """BoolTensor [E] aligned with `entities`: which hold a `modality` vector (ids only, keyset pages,
    no vector read). Every rank of a distributed run needs it: the model's shape depends on it."""
    index, key, after = pd.Index(list(entities)), property_key(modality), ""
    mask = np.zeros(len(index), dtype=bool)
    while True:
        ids = store.query("read_feature_ids_page", routing="r", key=key, after=after, limit=per_page)[0]["ids"]
        if not ids:
            return torch.from_numpy(mask)
        pages_read["presence"] += 1
        rows = index.get_indexer(ids)
        mask[rows[rows >= 0]] = True
        after = ids[-1]


def read_features_of(store: Store, modality: str, dim: int, ids: Sequence[str], out: np.ndarray,
                     per_page: int = VECTORS_PER_PAGE) -> None:
    """The `modality` vectors of the entities `ids` into out[i] (float32 [len(ids), dim]), `per_page`
    ids a page (one read transaction each, on the Entity.id index): a rank's shard reads only the
    rows it may touch. StoreError when one of them has no vector (the graph changed meanwhile)."""
    key = property_key(modality)
    for at in range(0, len(ids), per_page):
        want = list(ids[at:at + per_page])
        page = store.query("read_features_of", routing="r", key=key, ids=want)[0]
        pages_read["features"] += 1
        rows = pd.Index(want).get_indexer(page["ids"])
        if len(rows) != len(want) or (rows < 0).any():
            raise StoreError(f"the graph changed while it was being read ({len(want) - len(rows)} of {len(want)} "
                             f"{modality!r} vectors gone); read it again")
        out[at + rows] = decode(page["vectors"], dim)


def iter_out_triples(store: Store, ids: Sequence[str], heads_per_page: int = HEADS_PER_PAGE) -> Iterator["TriplePage"]:
    """The triples whose head is one of `ids`, `heads_per_page` heads a page (one read transaction
    each): a rank's shard reads the triples of its own head range and nothing else."""
    for at in range(0, len(ids), heads_per_page):
        page = out_triples(store, ids[at:at + heads_per_page])
        pages_read["triples"] += 1
        yield page


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
