"""kgtag status: what the graph holds, and the runs with their metrics."""

from __future__ import annotations

from dataclasses import asdict

import click

from kgtag.kgstore.overview import read_status

from .options import connection_options, json_option
from .output import console, emit, table


@click.command()
@connection_options
@json_option
def status(conn, as_json):
    """Counts per label, relation and modality, and the training runs with their metrics.

    \b
    Example:
      kgtag status --json | jq '.runs[0].run'
    """
    with conn.open(schema=False) as store:
        status = read_status(store)
    data = {name: [asdict(row) for row in getattr(status, name)] for name in ("labels", "relations", "modalities", "runs")}

    def render():
        console.print(table("nodes", ["label", "count"], [list(r.values()) for r in data["labels"]]))
        console.print(table("relations", ["relation", "triples", "inferred", "accepted", "rejected"],
                            [list(r.values()) for r in data["relations"]]))
        console.print(table("modalities", ["modality", "dim", "videos"], [list(r.values()) for r in data["modalities"]]))
        console.print(table("runs (test split, tail prediction (video, r, ?), filtered; candidates per run)",
                            ["run", "model", "status", "candidates", "MR", "MRR", "Hits@1", "Hits@10"],
                            [[r["run"], r["model"], r["status"], r["candidates"] or "entities", r["mr"], r["mrr"],
                              r["hits1"], r["hits10"]] for r in data["runs"]]))

    emit(data, as_json, render)
