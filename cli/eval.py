"""kgtag eval: link-prediction metrics of a run on its test split."""

from __future__ import annotations

import click

from kgtag.runs import CANDIDATES, DEFAULT_CANDIDATES, load_run, score_run
from kgtag.progress import progress_bar

from .options import connection_options, json_option
from .output import console, emit, table

COLUMNS = ["", "MR", "MRR", "Hits@1", "Hits@3", "Hits@10", "triples"]
KEYS = ("mr", "mrr", "hits1", "hits3", "hits10", "count")


def _row(label, m):
    return [label, *(m.get(k) for k in KEYS)]


@click.command("eval")
@click.option("--run", "run_id", required=True, help="Run id (see `kgtag status`).")
@click.option("--candidates", type=click.Choice(CANDIDATES), default=DEFAULT_CANDIDATES, show_default=True,
              help="What each answer is ranked against: the relation's range (tails seen with it in training), "
                   "all tags, or all entities.")
@click.option("--by-history", "history", is_flag=True,
              help="Also report the test triples by the video's training history: warm (3+ training "
                   "triples), few (1-2) and cold (none), with counts and chance levels, per relation.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where runs keep their files [default: ./runs].")
@connection_options
@json_option
def eval_(run_id, candidates, history, device, runs_dir, conn, as_json):
    """Evaluate a run: MR, MRR, Hits@1/3/10 for (video, relation, ?) on its test split, raw and
    filtered (known train/valid/test tails removed), overall and per relation, on every test triple
    (`kgtag train` closes on a sample of at most 10,000 per relation). Each answer is ranked
    among the relation's range by default (`--candidates tags` or `entities` for wider sets); the
    video itself is never a candidate. The protocol is printed with the table.

    \b
    Examples:
      kgtag eval --run transfusion-vat-transe-20250101-120000-1a2b
      kgtag eval --run RUN --candidates tags --json
      kgtag eval --run RUN --by-history
    """
    with conn.open(schema=False) as store:
        run = load_run(store, run_id, conn.runs_dir(runs_dir), device)
    with progress_bar("eval", len(run.test), show=not as_json, unit="test triples") as bar:
        metrics = score_run(run, candidates, progress=bar.advance, history=history)

    def render():
        console.print(table(f"{run.name} ({run_id}): test tail prediction", COLUMNS,
                            [_row(s, metrics[s]) for s in ("raw", "filtered") if s in metrics]))
        console.print(f"protocol: {metrics['protocol']}", markup=False, highlight=False)
        per = metrics.get("per_relation", {})
        if per:
            console.print(table("per relation (filtered)", COLUMNS,
                                [_row(rel, m.get("filtered", m.get("raw", {}))) for rel, m in sorted(per.items())]))
        if "by_history" in metrics:
            render_history(metrics["by_history"])

    emit({"run": run_id, "model": run.name, **metrics}, as_json, render)


HISTORY_COLUMNS = ["group", "triples", "MRR", "Hits@1", "Hits@10", "chance MRR"]


def render_history(groups: dict) -> None:
    """Warm / few / cold side by side: one table overall, one per relation (cells MRR (triples) [chance])."""
    names = list(groups)
    console.print(table("by training history of the video (filtered): warm = 3+ training triples, few = 1-2, "
                        "cold = none", HISTORY_COLUMNS,
                        [[g, m["count"], m["mrr"], m["hits1"], m["hits10"], m["chance_mrr"]] for g, m in groups.items()]))
    relations = sorted({r for m in groups.values() for r in m["per_relation"]})

    def cell(m):
        return "-" if m is None else f"{m['mrr']:.3f} ({m['count']}) [{m['chance_mrr']:.3f}]"

    console.print(table("per relation: MRR (triples) [chance MRR]", ["relation", *names],
                        [[r, *(cell(groups[g]["per_relation"].get(r)) for g in names)] for r in relations]))
