"""kgtag review: the curator's terminal workflow over kgstore.review (the same code as the web page)."""

from __future__ import annotations

import csv
import getpass
import os
from pathlib import Path

import click
from rich.text import Text

from .options import connection_options, json_option
from .output import CliError, console, emit, info, safe_text, table


def default_curator() -> str:
    try:
        return os.environ.get("KGTAG_CURATOR") or getpass.getuser()
    except Exception:  # no login name (e.g. a container without a passwd entry)
        return ""


def read_decisions(path: Path) -> dict[str, list[str]]:
    """EDGE_ID,accept|reject per line (comma or tab; '#' comments; an 'edge' header is skipped)."""
    from kgtag.kgstore.review import DECISIONS

    by_decision: dict[str, list[str]] = {"accept": [], "reject": []}
    text = path.read_text(encoding="utf-8")
    dialect = "excel-tab" if "\t" in text.split("\n", 1)[0] else "excel"
    for line_no, row in enumerate(csv.reader(text.splitlines(), dialect=dialect), 1):
        row = [c.strip() for c in row]
        if not row or not row[0] or row[0].startswith("#"):
            continue
        if line_no == 1 and row[0].lower() in ("edge", "id", "edge_id"):
            continue
        if len(row) < 2 or DECISIONS.get(row[1].lower()) is None:
            raise CliError(f"{path}:{line_no}: expected EDGE_ID,accept|reject, got {','.join(row)!r}")
        by_decision["accept" if DECISIONS[row[1].lower()] == "accepted" else "reject"].append(row[0])
    if not any(by_decision.values()):
        raise CliError(f"{path}: no decisions in the file")
    return by_decision


def edge_row(e) -> list:
    return [e.id, e.video, e.title, e.relation, e.tag, e.score, e.confidence, e.run]


EDGE_COLUMNS = ["edge", "video", "title", "relation", "tag", "score", "confidence", "run"]


def show_edge(e, n: int, total: int) -> None:
    """One edge for the curator; names from the graph are Text, never markup."""
    console.rule(Text(f"{n}/{total}  confidence {e.confidence:.3f}", style="bold"))
    console.print(Text.assemble(safe_text(e.video, "bold"), " ", safe_text(e.title or "")))
    console.print(Text.assemble("  inferred  ", safe_text(f"{e.relation} -> {e.tag}", "bold"),
                                safe_text(f"  (score {e.score:.3f}, rank {e.rank}, run {e.run})")))
    if e.tags:
        more = f" (+{e.n_tags - len(e.tags)} more)" if e.n_tags > len(e.tags) else ""
        console.print(safe_text("  has       " + ", ".join(f"{r}: {t}" for r, t in e.tags) + more))
    if e.attention:
        console.print(safe_text("  attention " + "  ".join(f"{k} {w:.2f}" for k, w in e.attention.items())))


@click.command()
@click.option("--run", "run_id", help="Only edges of this run.")
@click.option("--relation", help="Only edges of this relation.")
@click.option("--min-conf", default=0.0, show_default=True, type=float)
@click.option("--max-conf", default=1.0, show_default=True, type=float)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Edges per session.")
@click.option("--curator", default=default_curator, show_default="$KGTAG_CURATOR or your login",
              help="Who decides (recorded on the edge).")
@click.option("--decisions", "decisions_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Decide in bulk: a CSV/TSV of EDGE_ID,accept|reject (ids from --list --json).")
@click.option("--list", "list_only", is_flag=True, help="Only list the queue, decide nothing.")
@click.option("--summary", is_flag=True, help="Per-relation pending/accepted/rejected and acceptance by confidence.")
@connection_options
@json_option
def review(run_id, relation, min_conf, max_conf, limit, curator, decisions_path, list_only, summary, conn, as_json):
    """Review inferred edges, least confident first: accept (it becomes a triple with provenance) or
    reject (kept as a known negative for the next `kgtag train`).

    \b
    Examples:
      kgtag review --run RUN --max-conf 0.5          # one by one: [a]ccept [r]eject [s]kip [q]uit
      kgtag review --list --json > queue.json        # the queue, with edge ids
      kgtag review --decisions decisions.csv          # bulk: lines of EDGE_ID,accept|reject
      kgtag review --summary
    """
    from kgtag.kgstore import review as rv

    with conn.open() as store:
        if summary:
            return _summary(rv.summary(store, run=run_id), as_json)
        if decisions_path:
            return _bulk(store, read_decisions(decisions_path), curator, as_json)
        edges = rv.pending(store, relation=relation, run=run_id, min_conf=min_conf, max_conf=max_conf,
                           limit=limit, details=not (list_only or as_json))
        if list_only or as_json:
            return emit([e.__dict__ for e in edges], as_json,
                        lambda: console.print(table("pending inferred edges", EDGE_COLUMNS, map(edge_row, edges))))
        if not edges:
            info("nothing to review with these filters")
            return
        _interactive(store, edges, curator)


def _interactive(store, edges, curator) -> None:
    from kgtag.kgstore import review as rv

    counts = {"accepted": 0, "rejected": 0, "skipped": 0}
    for n, e in enumerate(edges, 1):
        show_edge(e, n, len(edges))
        choice = click.prompt("  [a]ccept [r]eject [s]kip [q]uit", type=click.Choice(["a", "r", "s", "q"]),
                              show_choices=False)
        if choice == "q":
            break
        if choice == "s":
            counts["skipped"] += 1
            continue
        result = rv.decide(store, [e.id], "accept" if choice == "a" else "reject", curator)
        for c in result.already_decided:
            console.print(safe_text(f"  {c.message()}", style="yellow"))
        counts[result.decision] += len(result.decided)
    info(f"{counts['accepted']} accepted, {counts['rejected']} rejected, {counts['skipped']} skipped (curator {curator})")


def _bulk(store, by_decision, curator, as_json) -> None:
    from kgtag.kgstore import review as rv

    out = {}
    for decision, ids in by_decision.items():
        if ids:
            res = rv.decide(store, ids, decision, curator)
            out[res.decision] = {"decided": res.decided, "missing": res.missing,
                                 "already_decided": [c.__dict__ for c in res.already_decided]}

    def render():
        console.print(table(f"decisions by {curator}", ["", "decided", "already decided", "unknown id"],
                            [[k, len(v["decided"]), len(v["already_decided"]), len(v["missing"])] for k, v in out.items()]))
        for v in out.values():
            for c in v["already_decided"]:
                info(f"{c['id']}: already decided: {c['status']} by {c['decided_by']}")
            for m in v["missing"]:
                info(f"{m}: no such inferred edge")

    emit(out, as_json, render)


def _summary(s, as_json) -> None:
    data = {"relations": [r.__dict__ for r in s.relations],
            "buckets": [{**b.__dict__, "rate": b.rate} for b in s.buckets]}

    def render():
        console.print(table("review by relation", ["relation", "pending", "accepted", "rejected"],
                            [[r.relation, r.pending, r.accepted, r.rejected] for r in s.relations]))
        console.print(table("acceptance by confidence", ["confidence", "decided", "accepted", "rate", "mean conf"],
                            [[f"{b.low:.1f}-{b.high:.1f}", b.decided, b.accepted, b.rate, b.mean_confidence]
                             for b in s.buckets if b.decided]))

    emit(data, as_json, render)
