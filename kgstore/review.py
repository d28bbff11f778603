"""Curating inferred edges: the one implementation behind `kgtag review` and the `kgtag serve` page.

An inferred edge `(v:Video)-[:INFERRED {relation, score, confidence, rank, run, status}]->(t)` (the
trainer's link prediction `(v, r, ?)`, with the calibrated confidence of the inference API) is pending
until a curator decides it:

- accepted: status 'accepted', and the triple becomes knowledge: a `TRIPLE {relation}` is MERGEd with
  provenance `source='review', curator, at, run` (an existing triple keeps its own provenance);
- rejected: status 'rejected'; the edge stays as a known negative for the next training
  (`rejected_triples`, fed to the negative sampler so eq. 6 never treats it as a corruption to skip).

Both record `decided_by` and `decided_at`. A decision is taken once: deciding an edge that someone else
has decided meanwhile changes nothing and is reported back as already decided (see `decide`).

Edge ids are Neo4j element ids (`elementId(e)`) as returned by `pending`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import InputError
from .fingerprint import bump_version_in
from .results import read_run
from .store import Store, cypher

DECISIONS = {"accept": "accepted", "accepted": "accepted", "reject": "rejected", "rejected": "rejected"}
MAX_TAGS = 12  # existing tags shown per video in the queue
MAX_CURATOR = 64  # characters in a curator name


class ReviewError(InputError):
    """A review request that cannot be carried out as asked (bad filter, decision or curator)."""

    def __init__(self, message: str):
        super().__init__(None, None, message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Edge:
    """One inferred edge waiting for a curator."""

    id: str
    video: str
    title: str | None
    relation: str
    tag: str
    score: float | None
    confidence: float
    rank: int | None
    run: str | None
    # filled when pending(..., details=True): why the tag was inferred
    tags: tuple[tuple[str, str], ...] = ()  # the video's existing (relation, tag), first MAX_TAGS
    n_tags: int = 0  # how many existing tags the video has in all
    # segment -> weight (eq. 3-4): the edge's own (relation-conditioned runs), else the video's in this run
    attention: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    """An edge someone had already decided when this decision arrived."""

    id: str
    status: str
    decided_by: str | None
    decided_at: str | None

    def message(self) -> str:
        who = f" by {self.decided_by}" if self.decided_by else ""
        when = f" at {self.decided_at}" if self.decided_at else ""
        return f"already decided: {self.status}{who}{when}"


@dataclass(frozen=True)
class DecideResult:
    """What `decide` did: the ids it decided, those already decided by someone, and unknown ids."""

    decision: str
    decided: list[str]
    already_decided: list[Conflict]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.already_decided and not self.missing


@dataclass(frozen=True)
class RelationCounts:
    relation: str
    pending: int
    accepted: int
    rejected: int


@dataclass(frozen=True)
class Bucket:
    """Decided edges whose confidence lies in [low, high): how many were accepted."""

    low: float
    high: float
    accepted: int
    rejected: int
    mean_confidence: float | None

    @property
    def decided(self) -> int:
        return self.accepted + self.rejected

    @property
    def rate(self) -> float | None:
        return self.accepted / self.decided if self.decided else None


@dataclass(frozen=True)
class Summary:
    relations: list[RelationCounts]
    buckets: list[Bucket]

    @property
    def totals(self) -> RelationCounts:
        return RelationCounts(
            "all",
            sum(r.pending for r in self.relations),
            sum(r.accepted for r in self.relations),
            sum(r.rejected for r in self.relations),
        )


def _conf_range(min_conf: float, max_conf: float) -> tuple[float, float]:
    try:
        lo, hi = float(min_conf), float(max_conf)
    except (TypeError, ValueError):
        raise ReviewError(f"confidence bounds must be numbers, got {min_conf!r} and {max_conf!r}") from None
    if not (0.0 <= lo <= hi <= 1.0):
        raise ReviewError(f"confidence range must satisfy 0 <= min <= max <= 1, got {lo:g}..{hi:g}")
    return lo, hi


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    to_native = getattr(value, "to_native", None)
    value = to_native() if to_native else value
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


def pending(store: Store, relation: str | None = None, run: str | None = None, min_conf: float = 0.0,
            max_conf: float = 1.0, limit: int = 50, offset: int = 0, details: bool = False) -> list[Edge]:
    """Pending inferred edges, lowest confidence first, filtered by relation, run and confidence range.

    With `details=True` each edge also carries the video's existing tags and its modality attention
    in the edge's run (the curator's "why"): the weights stored on the edge itself when its run used
    relation-conditioned attention (those that scored it), else the video's (MODALITY_ATTENTION).
    """
    lo, hi = _conf_range(min_conf, max_conf)
    if limit < 0 or offset < 0:
        raise ReviewError("limit and offset must not be negative")
    rows = store.query("review_pending", routing="r", relation=relation or None, run=run or None,
                       min_conf=lo, max_conf=hi, skip=int(offset), limit=int(limit))
    edges = [Edge(id=r["id"], video=r["video"], title=r["title"], relation=r["relation"], tag=r["tag"],
                  score=r["score"], confidence=float(r["confidence"]), rank=r["rank"], run=r["run"])
             for r in rows]
    if not details or not edges:
        return edges
    # the edge's own weights (relation-conditioned runs), named by its run's segments
    runs = {r["run"] for r in rows if r["attention"]}
    segments = {run_: (read_run(store, run_) or {}).get("segments") or [] for run_ in runs}
    own = {r["id"]: dict(zip(segments[r["run"]], map(float, r["attention"]))) if r["attention"] else {} for r in rows}
    keys = sorted({(e.video, e.run) for e in edges}, key=lambda k: (k[0], k[1] or ""))
    context = {}
    for r in store.query("review_context", routing="r", rows=[{"video": v, "run": run_} for v, run_ in keys],
                         max_tags=MAX_TAGS):
        attention = {k: float(w) for k, w in (r["attention"] or {}).items()
                     if k != "run" and isinstance(w, (int, float))}
        context[(r["video"], r["run"])] = (tuple((t["relation"], t["tag"]) for t in r["tags"]), r["n_tags"], attention)
    out = []
    for e in edges:
        tags, n_tags, attention = context.get((e.video, e.run), ((), 0, {}))
        out.append(Edge(**{**e.__dict__, "tags": tags, "n_tags": n_tags, "attention": own[e.id] or attention}))
    return out


def count_pending(store: Store, relation: str | None = None, run: str | None = None, min_conf: float = 0.0,
                  max_conf: float = 1.0) -> int:
    """How many pending edges match the same filters as `pending`."""
    lo, hi = _conf_range(min_conf, max_conf)
    return store.query("review_count", routing="r", relation=relation or None, run=run or None,
                       min_conf=lo, max_conf=hi)[0]["n"]


def filters(store: Store) -> dict[str, list]:
    """The runs and relations that have pending edges, with counts, for filter menus."""
    runs: dict[str, int] = {}
    relations: dict[str, int] = {}
    for r in store.query("review_filters", routing="r"):
        if r["run"] is not None:
            runs[r["run"]] = runs.get(r["run"], 0) + r["n"]
        relations[r["relation"]] = relations.get(r["relation"], 0) + r["n"]
    return {"runs": sorted(runs.items()), "relations": sorted(relations.items())}


def check_curator(name: str | None) -> str:
    """A curator name fit to record: 1..MAX_CURATOR printable characters (no control characters or
    line breaks that could forge log lines or terminal output), surrounding spaces stripped."""
    name = (name or "").strip()
    if not name:
        raise ReviewError("a curator name is needed to record who decided")
    if len(name) > MAX_CURATOR:
        raise ReviewError(f"curator name too long ({len(name)} characters, at most {MAX_CURATOR})")
    if not name.isprintable():
        raise ReviewError(f"curator name {name!r} holds control characters; use printable ones only")
    return name


def decide(store: Store, edge_ids: Iterable[str] | str, decision: str, curator: str) -> DecideResult:
    """Accept or reject inferred edges, once: returns which ids this call actually decided.

    The check and the write happen in one write transaction that first locks every edge (sorted ids,
    so overlapping bulk decisions cannot deadlock), then reads the committed status: of two curators
    racing on one edge, the second waits for the first, sees its decision and is reported under
    `already_decided` with who and when; nothing is decided twice and no TRIPLE is doubled.
    """
    status = DECISIONS.get(str(decision).strip().lower())
    if status is None:
        raise ReviewError(f"decision must be 'accept' or 'reject', got {decision!r}")
    curator = check_curator(curator)
    ids = sorted({edge_ids} if isinstance(edge_ids, str) else {str(i) for i in edge_ids})
    if not ids:
        return DecideResult(status, [], [], [])
    at = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)

    def work(tx):
        tx.run(cypher("review_lock"), ids=ids).consume()
        rows = [r.data() for r in tx.run(cypher("review_decide"), ids=ids, status=status, curator=curator, at=at)]
        if status == "accepted" and any(r["decided"] for r in rows):
            bump_version_in(tx)  # accepted edges became TRIPLEs: run caches of the old graph are stale
        return rows

    with store.session() as session:
        rows = session.execute_write(work)
    decided = [r["id"] for r in rows if r["decided"]]
    conflicts = [Conflict(r["id"], r["status"], r["decided_by"], _iso(r["decided_at"])) for r in rows if not r["decided"]]
    seen = {r["id"] for r in rows}
    return DecideResult(status, decided, conflicts, [i for i in ids if i not in seen])


def summary(store: Store, run: str | None = None, buckets: int = 10) -> Summary:
    """Per relation pending/accepted/rejected counts, and acceptance rate by confidence bucket.

    A well calibrated confidence gives an acceptance rate close to each bucket's mean confidence.
    """
    if not 1 <= buckets <= 100:
        raise ReviewError(f"buckets must be between 1 and 100, got {buckets}")
    relations = [RelationCounts(r["relation"], r["pending"], r["accepted"], r["rejected"])
                 for r in store.query("review_summary", routing="r", run=run or None)]
    found = {r["bucket"]: r for r in store.query("review_buckets", routing="r", run=run or None, buckets=buckets)}
    out = []
    for b in range(buckets):
        r = found.get(b)
        out.append(Bucket(b / buckets, (b + 1) / buckets, r["accepted"] if r else 0, r["rejected"] if r else 0,
                          r["mean_confidence"] if r else None))
    return Summary(relations, out)


def rejected_triples(store: Store) -> list[tuple[str, str, str]]:
    """Known negatives for the next training: (video, relation, tag) of rejected edges not since made true."""
    return [(r["video"], r["relation"], r["tag"]) for r in store.query("review_rejected", routing="r")]
