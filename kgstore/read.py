"""Reading the graph for training: integer triples, id maps, feature matrices with presence masks.

`read_graph` pulls every triple in a handful of records (one per relation) and turns names into
integer ids with pandas index look-ups: no per-triple Python. Entities and relations are sorted by
name, so the same graph always gives the same ids. `iter_triples` pages through a graph too large to
hold, by head-id range (keyset paging on the uniqueness index), optionally for one relation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from .features import decode, property_key
from .store import Store, StoreError, cypher


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


def read_graph(store: Store) -> GraphSnapshot:
    """Every entity, relation and TRIPLE, in one read transaction."""

    def work(tx):
        entities = tx.run(cypher("read_entities")).single()
        relations = tx.run(cypher("read_relations")).single()["names"]
        groups = [(r["relation"], r["heads"], r["tails"]) for r in tx.run(cypher("read_triples"))]
        return entities, relations, groups

    with store.session() as session:
        entities, relation_names, groups = session.execute_read(work)
    ids = np.array(entities["ids"], dtype=object)
    order = np.argsort(ids.astype(str), kind="stable")
    ids, video = ids[order], np.array(entities["video"], dtype=bool)[order]
    rel_names = np.array(sorted(set(relation_names) | {g[0] for g in groups}), dtype=object)
    if groups:
        counts = np.array([len(g[1]) for g in groups], dtype=np.int64)
        heads = np.concatenate([np.array(g[1], dtype=object) for g in groups])
        tails = np.concatenate([np.array(g[2], dtype=object) for g in groups])
        rels = np.repeat(pd.Index(rel_names).get_indexer([g[0] for g in groups]), counts)
        index = pd.Index(ids)
        triples = np.stack([index.get_indexer(heads), rels, index.get_indexer(tails)], axis=1).astype(np.int64)
        triples = triples[np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))]
    else:
        triples = np.zeros((0, 3), dtype=np.int64)
    return GraphSnapshot(torch.from_numpy(triples), ids.tolist(), rel_names.tolist(), torch.from_numpy(video))


def read_features(store: Store, modalities: Sequence[str], entities: Sequence[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per modality, `(FloatTensor[E, d], BoolTensor[E])` aligned with `entities`: the vectors (zeros
    where missing) and the presence mask (paper eq. 3-4 mask a missing modality out of the attention)."""
    index = pd.Index(list(entities))
    out = {}
    for modality in modalities:
        key = property_key(modality)
        found = store.query("read_modality", routing="r", modality=modality)
        if not found:
            raise StoreError(f"no modality {modality!r} in the graph; ingest it with `kgtag ingest features --modality {modality} FILE`")
        dim = int(found[0]["dim"])
        record = store.query("read_features", routing="r", key=key)[0]
        vectors = decode(record["vectors"], dim)
        rows = index.get_indexer(record["ids"])
        keep = rows >= 0
        matrix = np.zeros((len(index), dim), dtype=np.float32)
        mask = np.zeros(len(index), dtype=bool)
        matrix[rows[keep]] = vectors[keep]
        mask[rows[keep]] = True
        out[modality] = (torch.from_numpy(matrix), torch.from_numpy(mask))
    return out


@dataclass
class TriplePage:
    heads: np.ndarray       # entity ids (object array of str)
    relations: np.ndarray
    tails: np.ndarray
    last: str               # the last head id of this page: pass as `after` to continue


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


def iter_triples(store: Store, heads_per_page: int = 10_000, relation: str | None = None) -> Iterator[TriplePage]:
    """Page through all triples (or one relation's) by head-id range, without holding the graph."""
    after = ""
    while (page := read_triples_page(store, after, heads_per_page, relation)) is not None:
        if len(page.heads):
            yield page
        after = page.last
