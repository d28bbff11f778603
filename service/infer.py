"""Inferred tags of a finished run: top-k per (video, relation) with calibrated confidences, and storing them.

Inference walks the videos in blocks (`BLOCK_VIDEOS`): per block it reads the tags those videos have
now, scores them against the candidates, keeps the top-k whose confidence reaches `min_confidence`,
and writes the block in its own transaction while the next block is scored. A progress file in the
run folder (`infer-progress.json`) lets an interrupted `infer` continue at the first block it had not
written; a block's write replaces the pending edges its videos had, so re-running never doubles them.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from kgtag.atomic import write_atomic
from kgtag.embed.ranking import scoring_context
from kgtag.errors import DiskFull
from kgtag.embed.calibration import Calibrator
from kgtag.embed.topk import modality_attention, predict
from kgtag.kgstore.read import out_triples
from kgtag.kgstore.results import write_inferred as write_edges
from kgtag.kgstore.results import write_modality_attention
from kgtag.kgstore.store import StoreUnavailable

from .errors import BadInput, Interrupted, StoreLost
from .evaluate import DEFAULT_CANDIDATES, calibrate, ranking_scope, warn_rangeless
from .graph import known_negatives, triple_ids
from .load import LoadedRun
from .notes import note

BLOCK_VIDEOS = 1_000  # videos per scored-and-written block: with ~6 relations x top-10, <= 60k edges a transaction
# Blocks written at once, each in its own transaction: Neo4j runs one transaction on one core, and one
# writer left it the bottleneck at 1M videos (bench/writeback.py: 2 writers ~2x one on 2 cores).
WRITERS = 2
# Edges below this calibrated confidence are not written (docs/method.md, "Choosing --min-confidence").
DEFAULT_MIN_CONFIDENCE = 0.02
PROGRESS_FILE = "infer-progress.json"


@dataclass
class Inferred:
    videos: list[str]  # one per (video, relation) query
    relations: list[str]
    tails: torch.Tensor  # LongTensor[Q, k] entity ids, -1 = none (or below the minimum confidence)
    scores: torch.Tensor
    confidence: torch.Tensor
    rank: torch.Tensor
    calibration: dict
    # Relation-conditioned modality attention only: FloatTensor[Q, S], the weights p_{v,r} of each
    # query's h_{vid,r} (eq. 3-4 with the relation's logits), columns = the model's segment_names.
    attention: torch.Tensor | None = None


@dataclass
class InferSummary:
    videos: int
    written: int  # edges of the whole inference, blocks written by an earlier interrupted call included
    resumed_at: int  # videos already written by an earlier call (0: started from the first)
    seconds: float
    write_seconds: float  # time the writer spent in Neo4j transactions
    calibration: dict


def inferred_rows(run: LoadedRun, inferred: Inferred, videos=None, per_pair: int | None = None) -> list[dict]:
    """Flat rows (video, relation, rank, tag, score, confidence), optionally for some videos and the
    best `per_pair` of each (video, relation): for printing, JSON or a DataFrame. Relation-conditioned
    runs add `attention` ({segment: weight}, the p_{v,r} that scored the edge)."""
    out = []
    for q, (video, relation) in enumerate(zip(inferred.videos, inferred.relations)):
        if videos is not None and video not in videos:
            continue
        extra = {}
        if inferred.attention is not None:
            extra["attention"] = dict(zip(run.model.segment_names, inferred.attention[q].tolist()))
        for j, t in enumerate(inferred.tails[q].tolist()[:per_pair]):
            if t >= 0:
                out.append({"video": video, "relation": relation, "rank": int(inferred.rank[q, j]),
                            "tag": run.entities[t], "score": float(inferred.scores[q, j]),
                            "confidence": float(inferred.confidence[q, j]), **extra})
    return out


def tag_relations(run: LoadedRun) -> list[str]:
    """Relations that link videos to tags in the training graph: the ones worth inferring."""
    t = run.known
    mask = run.is_video[t[:, 0]] & ~run.is_video[t[:, 2]]
    return [run.relations[i] for i in torch.unique(t[mask, 1]).tolist()]


def select_videos(run: LoadedRun, video_ids: tuple[str, ...] | None) -> list[str]:
    """The given video ids, checked against the run; none given: every video of the run."""
    if not video_ids:
        return [e for e, v in zip(run.entities, run.is_video.tolist()) if v]
    missing = [v for v in video_ids if v not in run.entity_names]
    if missing:
        raise BadInput(f"unknown video id(s) for run {run.run_id}: {', '.join(missing[:5])}"
                       + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return list(video_ids)


def run_calibration(run: LoadedRun, candidates: str) -> dict:
    """The calibration fitted at training time when it was fitted for these candidates; otherwise one
    fitted now on the run's validation split (or temperature 1 without one)."""
    stored = run.meta.get("calibration")
    if stored and stored.get("candidates") == candidates:
        return stored
    if len(run.valid):
        note(f"fitting confidences for --candidates {candidates} on the run's validation split")
        return calibrate(run.model, run.is_video, run.train, run.valid, run.test, candidates, run.meta["seed"])
    note("no validation triples in this run: confidences use temperature 1 (uncalibrated)")
    return {**Calibrator().report(), "candidates": candidates}


def infer_blocks(store, run: LoadedRun, videos: list[str], relations: list[str] | None, k: int,
                 candidates: str = DEFAULT_CANDIDATES, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 block: int = BLOCK_VIDEOS, start: int = 0) -> Iterator[tuple[list[str], Inferred]]:
    """(block's videos, their Inferred) for videos[start:], `block` videos at a time.

    Excluded from each block's answers: the block's triples in the run's split and in the graph now
    (read per block, never the whole graph) and the edges curators rejected.
    """
    relations = _check_relations(run, relations)
    report = run_calibration(run, candidates)
    calibrator = Calibrator.from_report(report)
    scope = ranking_scope(candidates, run.is_video, run.train, run.model.num_entities, run.model.num_relations)
    rels = torch.from_numpy(run.relation_names.get_indexer(relations).astype("int64"))
    warn_rangeless(candidates, run.train, rels, run.relations)
    # Every exclusion source sorted by head once: a block of videos in id order (--all) takes one narrow slice.
    known = torch.cat([run.known, known_negatives(store, run.entities, run.relations)])
    known = known[torch.argsort(known[:, 0], stable=True)]
    known_heads = known[:, 0].contiguous()
    entity_index, relation_index = run.entity_names, run.relation_names
    conditioned = run.model.config.relation_modality  # each edge then keeps the weights that scored it
    with scoring_context(run.model):  # every entity's representation once for all blocks, not once a block
        for a in range(start, len(videos), block):
            names = videos[a:a + block]
            heads = torch.from_numpy(entity_index.get_indexer(names)).long()
            exclude = torch.cat([_rows_of(known, known_heads, heads),
                                 triple_ids(out_triples(store, names), entity_index, relation_index)])
            q_heads, q_rels = heads.repeat(len(rels)), rels.repeat_interleave(len(heads))
            pred = predict(run.model, q_heads, q_rels, k, calibrator, exclude=exclude, **scope)
            tails = pred.tails.masked_fill(pred.confidence < min_confidence, -1)
            attention = modality_attention(run.model, q_heads, q_rels)[1] if conditioned else None
            yield names, Inferred([v for _ in relations for v in names], [r for r in relations for _ in names],
                                  tails, pred.scores, pred.confidence, pred.rank, report, attention)


def infer_run(store, run: LoadedRun, videos: list[str], relations: list[str] | None, k: int,
              candidates: str = DEFAULT_CANDIDATES, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> Inferred:
    """Every block of `infer_blocks` in one Inferred (for a few videos: printing, JSON, the API)."""
    parts = [inferred for _, inferred in infer_blocks(store, run, videos, relations, k, candidates, min_confidence)]
    if not parts:
        return Inferred([], [], torch.empty(0, k, dtype=torch.long), torch.empty(0, k), torch.empty(0, k),
                        torch.empty(0, k, dtype=torch.long), run_calibration(run, candidates))
    return Inferred([v for p in parts for v in p.videos], [r for p in parts for r in p.relations],
                    *(torch.cat([getattr(p, f) for p in parts]) for f in ("tails", "scores", "confidence", "rank")),
                    parts[0].calibration,
                    None if parts[0].attention is None else torch.cat([p.attention for p in parts]))


def write_inferred(store, run: LoadedRun, inferred: Inferred, videos: list[str] | None = None,
                   relations: list[str] | None = None) -> int:
    """Store the INFERRED edges and the videos' modality attention; the pending edges `videos` had
    for `relations` (default: those of `inferred`) are replaced. Returns the edge count.

    With relation-conditioned attention each edge also carries its (video, relation)'s weights
    (`attention`, in the order of the Run node's `segments`); the per-video MODALITY_ATTENTION edge
    then holds the weights of the relation-free h_vid (eq. 3-4), the vector that `publish`, similar
    videos and head-side scoring use."""
    live = inferred.tails >= 0
    q_idx = torch.nonzero(live, as_tuple=True)[0].numpy()
    attention = None
    if inferred.attention is not None:
        attention = inferred.attention.numpy()[q_idx]
    videos = sorted(set(inferred.videos)) if videos is None else videos
    relations = sorted(set(inferred.relations)) if relations is None else relations
    written = write_edges(
        store, run.run_id,
        np.asarray(inferred.videos, dtype=object)[q_idx], np.asarray(inferred.relations, dtype=object)[q_idx],
        run.entity_names.values[inferred.tails[live].numpy()],
        inferred.scores[live].numpy(), inferred.confidence[live].numpy(), inferred.rank[live].numpy(),
        replace=(videos, relations), attention=attention,
    )
    if len(run.model.segment_names) > 1 and videos:
        ids = torch.from_numpy(run.entity_names.get_indexer(videos)).long()
        names, weights = modality_attention(run.model, ids)
        write_modality_attention(store, run.run_id, videos, names, weights.numpy())
    return written


def infer_and_write(store, run: LoadedRun, videos: list[str], relations: list[str] | None, k: int,
                    candidates: str = DEFAULT_CANDIDATES, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                    block: int = BLOCK_VIDEOS, write: bool = True,
                    on_block: Callable[[list[str], Inferred], None] | None = None,
                    progress: Callable[[int], None] | None = None, writers: int = WRITERS,
                    progress_file: str = PROGRESS_FILE) -> InferSummary:
    """Infer and store tags for `videos`, block by block: up to `writers` blocks are written (each its
    own transaction, in writer threads) while the next is scored. An earlier call with the same
    arguments that was interrupted is continued at its first unwritten block (blocks are recorded as
    written in order, so one that committed after an unrecorded one is written again: it replaces its
    own edges). `on_block(names, inferred)` sees every block (printing, JSON); `progress(n)` is told
    each block's video count once it is written. `progress_file`: the progress file's name in the run
    folder (one per rank of a distributed inference: kgtag.runs.distributed.infer_rank)."""
    relations = _check_relations(run, relations)
    state_file = run.run_dir / progress_file
    key = _progress_key(videos, relations, k, candidates, min_confidence)
    state = _read_progress(state_file, key) if write else {}
    start, written = state.get("videos_done", 0), state.get("edges", 0)
    if start:
        note(f"continuing an interrupted inference: {start} of {len(videos)} videos were written already")
        if progress:
            progress(start)
    t0, write_seconds, calibration, done = time.perf_counter(), 0.0, None, start

    def store_block(names: list[str], inferred: Inferred) -> tuple[int, float]:
        w0 = time.perf_counter()
        n = write_inferred(store, run, inferred, names, relations)
        return n, time.perf_counter() - w0

    def finish(job, end: int) -> None:  # wait for a block's write, then record it as done
        nonlocal written, write_seconds, done
        n, seconds = job.result()
        written, write_seconds = written + n, write_seconds + seconds
        _write_progress(state_file, {"key": key, "videos_done": end, "videos": len(videos), "edges": written})
        if progress:
            progress(end - done)
        done = end

    pending: deque = deque()  # (a write in flight, the video count once it is done), oldest first
    queued = start
    with ThreadPoolExecutor(max_workers=writers) as writer:
        try:
            for names, inferred in infer_blocks(store, run, videos, relations, k, candidates, min_confidence,
                                                block, start):
                calibration = inferred.calibration
                if on_block:
                    on_block(names, inferred)
                if len(pending) == writers:
                    finish(*pending.popleft())
                queued += len(names)
                if write:
                    pending.append((writer.submit(store_block, names, inferred), queued))
                elif progress:
                    progress(len(names))
            while pending:
                finish(*pending.popleft())
        except KeyboardInterrupt:
            try:  # the blocks in flight commit or roll back whole: record those that committed, in order
                while pending:
                    finish(*pending.popleft())
            except Exception:  # one did not: the next run writes it (and any after it) again
                pass
            raise Interrupted(f"interrupted after {done} of {len(videos)} videos; run the same command again "
                              "to continue from there") from None
        except StoreUnavailable as exc:
            raise StoreLost(f"{exc} ({done} of {len(videos)} videos were written; the same command "
                            "continues from there)") from None
        except DiskFull as exc:  # the progress file: the edges are in Neo4j, a rerun continues (rewriting a block at most)
            raise DiskFull(f"{exc}; {done} of {len(videos)} videos were written: once there is space, the same "
                           "command continues from there") from None
    if write:
        _write_progress(state_file, {"key": key, "videos_done": len(videos), "videos": len(videos),
                                     "edges": written, "complete": True})
    return InferSummary(len(videos), written, start, time.perf_counter() - t0, write_seconds,
                        calibration or run_calibration(run, candidates))


def _check_relations(run: LoadedRun, relations: list[str] | None) -> list[str]:
    relations = list(relations) if relations else tag_relations(run)
    unknown = [r for r in relations if r not in run.relation_names]
    if unknown:
        raise BadInput(f"unknown relation(s) for run {run.run_id}: {', '.join(unknown)}")
    return relations


def _rows_of(by_head: torch.Tensor, sorted_heads: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
    """The rows of a head-sorted triple table whose head is in `heads`: one slice, then a mask."""
    if len(heads) == 0 or len(by_head) == 0:
        return by_head[:0]
    lo, hi = torch.searchsorted(sorted_heads, torch.stack([heads.min(), heads.max() + 1])).tolist()
    rows = by_head[lo:hi]
    return rows[torch.isin(rows[:, 0], heads)]


def _progress_key(videos: list[str], relations: list[str], k: int, candidates: str, min_confidence: float) -> str:
    digest = hashlib.sha256("\n".join(videos).encode("utf-8", "surrogatepass"))
    digest.update(json.dumps([relations, k, candidates, min_confidence]).encode())
    return digest.hexdigest()


def _read_progress(path, key: str) -> dict:
    """An interrupted inference's progress for the same arguments, or {} (none, finished, or other)."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("key") != key or state.get("complete"):
        return {}
    if not isinstance(state.get("videos_done"), int) or not isinstance(state.get("edges"), int):
        return {}
    if _alive_elsewhere(state):  # a concurrent `infer`, not an interrupted one: start from the beginning
        note(f"another kgtag infer (pid {state['pid']}) is writing this run's tags now; this one writes all of them too")
        return {}
    return state


def _write_progress(path, state: dict) -> None:
    """Atomic: a crash leaves the old state or the new one, never half a file. The temporary file's
    name is unique (two `infer` on one run must not rename each other's), and the state names this
    process, so that another `infer` does not take a live inference's progress for an interrupted one."""
    state = {**state, "pid": os.getpid(), "host": socket.gethostname()}
    write_atomic(path, lambda fh: fh.write(json.dumps(state).encode()))  # a full disk: DiskFull, one line


def _alive_elsewhere(state: dict) -> bool:
    """Whether the progress was written by another process that is still running (on this host)."""
    pid = state.get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or state.get("host") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
