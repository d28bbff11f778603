"""What the CLI shows about the graph, read as typed rows: counts, runs, attention summaries, a video's tags.

Each function runs one named query of cypher/ and returns dataclasses whose fields are the query's
columns, in its order (so `asdict` gives what `kgtag status --json` printed before).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .store import Store


def _rows(cls, records) -> list:
    names = [f.name for f in fields(cls)]
    return [cls(**{n: r[n] for n in names}) for r in records]


@dataclass(frozen=True)
class LabelCount:
    label: str
    nodes: int


@dataclass(frozen=True)
class RelationCount:
    relation: str
    triples: int
    inferred: int
    accepted: int
    rejected: int


@dataclass(frozen=True)
class ModalityCount:
    modality: str
    dim: int | None
    videos: int


@dataclass(frozen=True)
class RunSummary:
    run: str
    created: object
    model: str | None
    base: str | None
    modalities: list | None
    status: str | None
    mr: float | None
    mrr: float | None
    hits1: float | None
    hits3: float | None
    hits10: float | None
    candidates: str | None
    protocol: str | None
    checkpoint: str | None


@dataclass(frozen=True)
class Status:
    labels: list[LabelCount]
    relations: list[RelationCount]
    modalities: list[ModalityCount]
    runs: list[RunSummary]


def read_status(store: Store) -> Status:
    """Counts per label, relation and modality, and the runs, newest first."""
    return Status(
        labels=_rows(LabelCount, store.query("status_labels", routing="r")),
        relations=_rows(RelationCount, store.query("status_relations", routing="r")),
        modalities=_rows(ModalityCount, store.query("status_modalities", routing="r")),
        runs=_rows(RunSummary, store.query("status_runs", routing="r")),
    )


@dataclass(frozen=True)
class GuideIds:
    """Ids for the Browser guide's parameters (None on an empty graph)."""

    video: str | None
    tag: str | None
    run: str | None
    a: str | None
    b: str | None
    live_relation: str | None = None  # the best edge's relation: the live-tags query's


def guide_ids(store: Store) -> GuideIds | None:
    """A video with inferred tags of the latest run, its most confident tag, and the two latest runs."""
    rows = _rows(GuideIds, store.query("guide_params", routing="r"))
    return rows[0] if rows else None


@dataclass(frozen=True)
class SegmentAttention:
    run: str
    segment: str
    attention: float
    videos: int


def modality_attention_avg(store: Store, run: str | None) -> list[SegmentAttention]:
    """Average modality attention (eq. 3-4) over a run's videos, per segment (None: the latest run)."""
    return _rows(SegmentAttention, store.query("modality_attention_avg", routing="r", run=run))


@dataclass(frozen=True)
class RelationWeight:
    run: str
    relation: str
    attention: float


def relations_by_attention(store: Store, run: str | None, limit: int) -> list[RelationWeight]:
    """Relations ranked by a run's relation attention q_r (eq. 5)."""
    return _rows(RelationWeight, store.query("relations_by_attention", routing="r", run=run, limit=limit))


@dataclass(frozen=True)
class VideoTag:
    video: str
    title: str | None
    relation: str
    tag: str
    source: str


def video_tags(store: Store, video: str) -> list[VideoTag]:
    """The tags a video already has, with where each came from."""
    return _rows(VideoTag, store.query("video_tags", routing="r", video=video))
