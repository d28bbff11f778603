"""A run's vectors in the graph: publish slots, the published pointer, and the queries that read them.

Two fixed slots, 'a' and 'b', each with its own properties (`vec_a`, `ranges_a` on entities, `vec_a` on
relations) and its own vector indexes (`cypher/vectors_index_a.cypher`). A publish writes the new
run into the slot the pointer does not name, builds that slot's indexes, flips the pointer
`(:Published {key: 'vectors'})` in one transaction, then drops the other slot: a query reads one
run's vectors, never a mix of two. Fixed slot names keep every statement fixed text with parameters
(index and property names cannot be parameters of CREATE INDEX). docs/graph-model.md "Published vectors".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .store import Store, cypher


@dataclass(frozen=True)
class Slot:
    name: str

    @property
    def vector(self) -> str:
        return f"vec_{self.name}"

    @property
    def ranges(self) -> str:
        return f"ranges_{self.name}"

    @property
    def video_index(self) -> str:
        return f"video_vectors_{self.name}"

    @property
    def tag_index(self) -> str:
        return f"tag_vectors_{self.name}"


SLOTS = {"a": Slot("a"), "b": Slot("b")}


def other_slot(name: str | None) -> Slot:
    """The slot a publish writes into: the one the pointer does not name ('a' when none is published)."""
    return SLOTS["b" if name == "a" else "a"]


def read_pointer(store: Store) -> dict:
    """The pointer's properties ({} when nothing was ever published)."""
    return store.query("vectors_pointer", routing="r")[0]["pointer"] or {}


def begin(store: Store, run_id: str, slot: Slot) -> None:
    store.query("vectors_begin", run=run_id, slot=slot.name)


def _statements(name: str) -> list[str]:
    text = "\n".join(line for line in cypher(name).splitlines() if not line.lstrip().startswith("//"))
    return [s.strip() for s in text.split(";") if s.strip()]


def clear_slot(store: Store, slot: Slot) -> None:
    """Drop a slot's indexes and remove its properties (what an earlier publish left there)."""
    with store.session() as session:
        for statement in _statements(f"vectors_drop_index_{slot.name}"):
            session.run(statement).consume()
        session.run(cypher("vectors_clear"), property=slot.vector, ranges=slot.ranges).consume()
    store.query("vectors_clear_relations", property=slot.vector, ranges=slot.ranges)


def write_entity_block(tx, slot: Slot, ids: list[str], vectors: np.ndarray, ranges_of: list[list[str]]) -> int:
    """One block of entity vectors in the caller's write transaction; returns the nodes written.

    The vectors go to the driver as a numpy array, not a list: the driver (6.4) formats every parameter
    with repr() for a debug line even when debug logging is off, which for float lists cost 3x the
    whole write (bench/vectors.py); a large array's repr is a short summary."""
    return tx.run(cypher("vectors_write"), ids=ids, vectors=np.ascontiguousarray(vectors, dtype=np.float32),
                  ranges_of=ranges_of,
                  property=slot.vector, ranges=slot.ranges).single()["written"]


def write_entities(store: Store, slot: Slot, ids: list[str], vectors: np.ndarray, ranges_of: list[list[str]],
                   block: int) -> int:
    """Entity vectors in transactions of `block` rows (`Store.write_batches`); returns the nodes written."""
    done = store.write_batches(len(ids), block, lambda tx, a, b: write_entity_block(
        tx, slot, ids[a:b], vectors[a:b], ranges_of[a:b]))
    return int(sum(done))


def write_relations(store: Store, slot: Slot, names: list[str], vectors: np.ndarray, range_ids: list[list[str]]) -> int:
    """Each relation's translation and the ids of the tags in its range; returns the relations written."""
    return store.query("vectors_write_relations", names=list(names), vectors=np.ascontiguousarray(vectors, dtype=np.float32),
                       range_ids=range_ids, property=slot.vector, ranges=slot.ranges)[0]["written"]


def create_indexes(store: Store, slot: Slot, dim: int, timeout_s: int = 3600) -> None:
    """The slot's vector indexes (of dimension `dim`, dropped first: a slot may last have held another
    width), then wait until they are online (populated)."""
    with store.session() as session:
        for statement in _statements(f"vectors_drop_index_{slot.name}"):
            session.run(statement).consume()
        for statement in _statements(f"vectors_index_{slot.name}"):
            session.run(statement, dim=int(dim)).consume()
        session.run("CALL db.awaitIndexes($timeout)", timeout=timeout_s).consume()


def flip(store: Store, run_id: str, slot: Slot, base: str, p_norm: int, dim: int, tags: int,
         conditioned: bool = False) -> bool:
    """Point the graph at `run_id`'s vectors in `slot`; False when another publish took the slot meanwhile.
    conditioned: the run's tail scores use a relation-conditioned video vector (no live tags)."""
    rows = store.query("vectors_flip", run=run_id, slot=slot.name, property=slot.vector, ranges=slot.ranges,
                       video_index=slot.video_index, tag_index=slot.tag_index, base=base, p_norm=int(p_norm),
                       dim=int(dim), tags=int(tags), conditioned=bool(conditioned))
    return rows[0]["flipped"] == 1


def video_state(store: Store, video: str) -> dict:
    """{run, base, conditioned, found, video, has_vector} for one id: what an empty answer needs to be explained."""
    return dict(store.query("vectors_video_state", routing="r", video=video)[0])


def similar_videos(store: Store, video: str, k: int) -> list[dict]:
    """`cypher/similar_videos.cypher`: [{video, title, similarity, shared}], nearest first."""
    return [dict(r) for r in store.query("similar_videos", routing="r", video=video, k=int(k))]


def live_tags(store: Store, video: str, relation: str, k: int, overfetch: int) -> list[dict]:
    """`cypher/live_tags.cypher`: [{tag, score}], best first."""
    return [dict(r) for r in store.query("live_tags", routing="r", video=video, live_relation=relation, k=int(k),
                                         overfetch=int(overfetch))]


def tag_neighbours(store: Store, tag: str, k: int) -> list[dict]:
    """`cypher/tag_neighbours.cypher`: [{tag, similarity, relations}], nearest first."""
    return [dict(r) for r in store.query("tag_neighbours", routing="r", tag=tag, k=int(k))]


def relation_has_range(store: Store, relation: str) -> bool:
    rows = store.query("vectors_relation_range", routing="r", relation=relation)
    return bool(rows and rows[0]["has_range"])


def vector_indexes(store: Store) -> list[dict]:
    """[{name, state, label, property, dim, similarity}] of the graph's vector indexes."""
    return [dict(r) for r in store.query("vectors_indexes", routing="r")]


def count_with(store: Store, slot: Slot) -> int:
    """Entities holding a vector in `slot`."""
    return store.query("vectors_count", routing="r", property=slot.vector)[0]["n"]


def similar_for_edges(store: Store, edges: list[tuple[str, str]], k: int = 5) -> dict[tuple[str, str], list[dict]]:
    """(video, tag) -> the k videos most similar to the video, each {video, title, similarity, has_tag}
    (`cypher/review_similar.cypher`, the review page's panel); {} when no run is published."""
    rows = [{"video": v, "tag": t} for v, t in dict.fromkeys(edges)]
    if not rows:
        return {}
    return {(r["video"], r["tag"]): [dict(s) for s in r["similar"]]
            for r in store.query("review_similar", routing="r", rows=rows, k=int(k))}
