"""A run's vectors in Neo4j (`kgtag publish`) and the live questions they answer (`kgtag similar`, `kgtag tags`).

Publishing writes every entity's vector as the scorer uses it (videos: the fused h_vid of eq. 3, after
the fused-norm constraint when the run has one), each tag's range membership (the relations it was a
tail of in training: the candidates `kgtag infer` ranks among) and each relation's translation r, in
blocks of `PUBLISH_BLOCK` entities, one transaction each, like `infer`: an interrupted publish is
continued at its first unwritten block (`publish-progress.json` in the run folder). Then the slot's
vector indexes are built, the graph's pointer flips to the run, and the previous run's slot is
dropped (`kgstore.vectors`).

Bases: a TransE run's live tags are exact (h_vid + r against the tag vectors). TransH, TransR and
TransD score a tag after a per-relation projection of both ends, which one tag index cannot hold:
their entity vectors and translations are stored (similar videos and tag neighbourhoods work on the
raw vectors) and live tags refuse with one line. So do they for a relation-conditioned run (preset
`relational`): its tail scores use h_{v,r}, one per relation; the graph holds eq. 4's h_vid.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Callable

import torch

from kgtag.atomic import write_atomic
from kgtag.kgstore import vectors as kv
from kgtag.kgstore.store import StoreUnavailable

from .errors import BadInput, Interrupted, StoreLost
from .export import entity_vectors, relation_tables
from .load import LoadedRun
from .notes import note

PUBLISH_BLOCK = 2_000  # entities per transaction: 2,000 x 256 floats ~ 4 MB of parameters
PROGRESS_FILE = "publish-progress.json"
# Live tags score a relation's whole range when it holds at most k * OVERFETCH tags (and always for L1
# runs); a larger range takes about k * OVERFETCH of its tags nearest to h_vid + r from the tag index.
# bench/vectors.py measures how far the exact answer reaches; docs/graph-model.md "Published vectors".
DEFAULT_OVERFETCH = 10


@dataclass
class PublishSummary:
    run: str
    slot: str
    vectors: int  # entities written by this call (0: already published)
    resumed_at: int  # entities an interrupted earlier call had written
    replaced: str | None  # the run published before, now dropped
    base: str
    dim: int
    seconds: float
    write_seconds: float
    index_seconds: float


def tag_ranges(run: LoadedRun) -> list[list[str]]:
    """Per entity, the relations whose range (training tails that are not videos) holds it."""
    t = run.train[~run.is_video[run.train[:, 2]]]
    pairs = torch.unique(t[:, [2, 1]], dim=0).tolist()
    out: list[list[str]] = [[] for _ in run.entities]
    for e, r in pairs:
        out[e].append(run.relations[r])
    return out


def publish_run(store, run: LoadedRun, block: int = PUBLISH_BLOCK,
                progress: Callable[[int], None] | None = None) -> PublishSummary:
    """Publish the run's vectors (see the module docstring); the pointer flips only once all are written."""
    t0 = time.perf_counter()
    pointer = kv.read_pointer(store)
    base, p_norm = run.meta["base"], run.model.config.p_norm
    conditioned = bool(run.model.config.relation_modality)
    if pointer.get("run") == run.run_id and not pointer.get("pending_run"):
        note(f"run {run.run_id} is already the published run; nothing to write")
        return PublishSummary(run.run_id, pointer["slot"], 0, 0, None, base, int(pointer.get("dim", 0)),
                              time.perf_counter() - t0, 0.0, 0.0)
    slot = kv.other_slot(pointer.get("slot"))
    vectors = entity_vectors(run.model).numpy()
    ranges_of = tag_ranges(run)
    n, dim = vectors.shape
    state_file = run.run_dir / PROGRESS_FILE
    key = _key(run, slot.name, block)
    state = _read_state(state_file)
    resuming = (pointer.get("pending_run") == run.run_id and pointer.get("pending_slot") == slot.name
                and state.get("key") == key and not state.get("complete"))
    start = int(state.get("done", 0)) if resuming else 0
    write_seconds = 0.0
    try:
        if start:
            note(f"continuing an interrupted publish: {start} of {n} vectors were written already")
            if progress:
                progress(start)
        else:
            kv.begin(store, run.run_id, slot)
            kv.clear_slot(store, slot)  # what an abandoned publish left in this slot
        with store.session() as session:
            for a in range(start, n, block):
                b = min(a + block, n)
                w0 = time.perf_counter()
                session.execute_write(kv.write_entity_block, slot, run.entities[a:b], vectors[a:b], ranges_of[a:b])
                write_seconds += time.perf_counter() - w0
                _write_state(state_file, {"key": key, "done": b, "of": n})
                if progress:
                    progress(b - a)
        range_ids = [[] for _ in run.relations]
        for e, relations in enumerate(ranges_of):
            for r in relations:
                range_ids[run.relation_names.get_loc(r)].append(run.entities[e])
        kv.write_relations(store, slot, run.relations, relation_tables(run.model)["translation"].numpy(), range_ids)
        i0 = time.perf_counter()
        kv.create_indexes(store, slot, dim)
        index_seconds = time.perf_counter() - i0
        if not kv.flip(store, run.run_id, slot, base, p_norm, dim, int((~run.is_video).sum()), conditioned):
            raise BadInput(f"another publish took slot {slot.name!r} while run {run.run_id} was written; "
                           "run `kgtag publish` again")
        old = pointer.get("slot")
        if old and old != slot.name:
            kv.clear_slot(store, kv.SLOTS[old])
    except KeyboardInterrupt:
        raise Interrupted(f"publish interrupted ({_done(state_file, key)} of {n} vectors written); run the same "
                          "command again to continue from there; the published run is unchanged") from None
    except StoreUnavailable as exc:
        raise StoreLost(f"{exc} ({_done(state_file, key)} of {n} vectors written; the same command continues "
                        "from there)") from None
    _write_state(state_file, {"key": key, "done": n, "of": n, "complete": True})
    if base != "transe":
        note(f"run {run.run_id} is a {base} run: similar videos and tag neighbourhoods read its vectors; live "
             "tags (`kgtag tags`) need a transe run")
    elif conditioned:
        note(f"run {run.run_id} uses relation-conditioned attention: similar videos and tag neighbourhoods read its "
             "vectors; live tags (`kgtag tags`) need one vector per video")
    return PublishSummary(run.run_id, slot.name, n - start, start, pointer.get("run"), base, dim,
                          time.perf_counter() - t0, write_seconds, index_seconds)


def publish_new_videos(store, run: LoadedRun, videos: list[str], block: int = PUBLISH_BLOCK) -> int:
    """The vectors of videos added to `run` (`infer --new`) into the published slot, when `run` is the
    published run (else nothing): a new upload is searchable at once. Returns the vectors written."""
    pointer = kv.read_pointer(store)
    if not videos or pointer.get("run") != run.run_id:
        return 0
    ids = torch.from_numpy(run.entity_names.get_indexer(videos)).long()
    with torch.no_grad():
        vectors = run.model.represent(ids.to(run.model.entities.fused.device)).e.float().cpu().numpy()
    return kv.write_entities(store, kv.SLOTS[pointer["slot"]], list(videos), vectors, [[] for _ in videos], block)


def _published_video(store, video: str, what: str) -> dict:
    """The pointer state for `video`, or one line saying why it has no published vector."""
    state = kv.video_state(store, video)
    if state["run"] is None:
        raise BadInput("no run is published in this graph: `kgtag publish --run RUN` first")
    if not state["found"]:
        raise BadInput(f"unknown video {video!r}: no entity has this id")
    if not state["video"]:
        raise BadInput(f"{video!r} is a tag, not a video; {what} takes a video id")
    if not state["has_vector"]:
        raise BadInput(f"video {video!r} has no vector in the published run {state['run']} (it arrived after "
                       f"training): `kgtag infer --run {state['run']} --new` publishes it")
    return state


def similar(store, video: str, k: int) -> dict:
    """{run, video, similar: [{video, title, similarity, shared}]} from `cypher/similar_videos.cypher`."""
    state = _published_video(store, video, "kgtag similar")
    return {"run": state["run"], "video": video, "similar": kv.similar_videos(store, video, k)}


def live(store, video: str, relation: str, k: int, overfetch: int = DEFAULT_OVERFETCH) -> dict:
    """{run, video, relation, tags: [{tag, score}]} from `cypher/live_tags.cypher` (TransE runs only)."""
    state = _published_video(store, video, "kgtag tags")
    if state["base"] != "transe":
        raise BadInput(f"the published run {state['run']} is a {state['base']} run: its score projects video and tag "
                       "per relation, which one tag index cannot hold, so live tags need a transe run; "
                       f"use `kgtag infer --run {state['run']} --videos {video}`")
    if state["conditioned"]:
        raise BadInput(f"the published run {state['run']} uses relation-conditioned attention (preset 'relational'): "
                       "its video vector differs per relation, and the graph holds one per video, so live tags would "
                       f"not be what `kgtag infer` ranks; use `kgtag infer --run {state['run']} --videos {video}`")
    tags = kv.live_tags(store, video, relation, k, overfetch)
    if not tags and not kv.relation_has_range(store, relation):
        raise BadInput(f"relation {relation!r} has no tags in its range in the published run {state['run']}")
    return {"run": state["run"], "video": video, "relation": relation, "tags": tags}


def _key(run: LoadedRun, slot: str, block: int) -> str:
    digest = hashlib.sha256(json.dumps([run.run_id, slot, len(run.entities), block]).encode())
    return digest.hexdigest()


def _read_state(path) -> dict:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and isinstance(state.get("done", 0), int) else {}


def _write_state(path, state: dict) -> None:
    write_atomic(path, lambda fh: fh.write(json.dumps(state).encode()))  # a unique temp name; a full disk: DiskFull


def _done(path, key: str) -> int:
    state = _read_state(path)
    return int(state.get("done", 0)) if state.get("key") == key else 0
