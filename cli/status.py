"""kgtag status: what the graph holds, and the runs with their metrics."""

from __future__ import annotations

from dataclasses import asdict

import click

from kgtag.kgstore.overview import read_status
from kgtag.runs.lock import shown_status

from .options import connection_options, json_option
from .output import console, emit, safe_text, table


@click.command()
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where runs keep their files [default: ./runs].")
@connection_options
@json_option
def status(runs_dir, conn, as_json):
    """Counts per label, relation and modality, and the training runs with their metrics.

    A run still 'training' in the graph whose training process is gone (killed, a lost machine) shows
    as 'interrupted' when its folder is in the runs directory here; every interrupted run is listed
    with the command that resumes it.

    \b
    Example:
      kgtag status --json | jq '.runs[0].run'
    """
    with conn.open(schema=False) as store:
        status = read_status(store)
    data = {name: [asdict(row) for row in getattr(status, name)] for name in ("labels", "relations", "modalities", "runs")}
    runs = conn.runs_dir(runs_dir)
    for row in data["runs"]:  # read only: the Run node keeps 'training' until the run is resumed
        row["status"] = shown_status(runs, row["run"], row["status"])
        if row["status"] == "interrupted":
            row["resume"] = f"kgtag train --resume {row['run']}"

    def render():
        console.print(table("nodes", ["label", "count"], [list(r.values()) for r in data["labels"]]))
        console.print(table("relations", ["relation", "triples", "inferred", "accepted", "rejected"],
                            [list(r.values()) for r in data["relations"]]))
        console.print(table("modalities", ["modality", "dim", "videos"], [list(r.values()) for r in data["modalities"]]))
        console.print(table("runs (test split, tail prediction (video, r, ?), filtered; candidates per run)",
                            ["run", "model", "status", "candidates", "MR", "MRR", "Hits@1", "Hits@10"],
                            [[r["run"], r["model"], r["status"], r["candidates"] or "entities", r["mr"], r["mrr"],
                              r["hits1"], r["hits10"]] for r in data["runs"]]))
        for r in data["runs"]:
            if "resume" in r:
                console.print(safe_text(f"run {r['run']}: interrupted; continue it with `{r['resume']}`"))

    emit(data, as_json, render)
