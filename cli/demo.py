"""kgtag demo: the whole job on the bundled sample video KG, in one command.

Neo4j (started from docker/neo4j-local when none answers and the script is there) -> ingest the sample
-> train TransE and TransFusion-VAT -> infer -> print the paper's Tables 3/7/8 for this data and the
Cypher that shows the result in Neo4j Browser. Re-running it is safe: ingest is idempotent and each
run adds new Run nodes; the inferred edges are replaced by the latest run's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import click
import torch
from rich.text import Text

from kgtag.kgstore.overview import modality_attention_avg, relations_by_attention, video_tags
from kgtag.kgstore.store import Settings
from kgtag.runs import DEFAULT_MIN_CONFIDENCE, RunPlan, infer_and_write, load_run, select_videos, train_run
from kgtag.runs.sample import MODALITIES, ingest_sample, sample_dir

from .guide import edit_link
from .options import connection_options
from .output import EXIT_ENV, CliError, console, info, safe_text, table

EXAMPLES = 3


def bolt_answers(uri: str, timeout: float = 2.0) -> bool:
    parsed = urlparse(uri)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 7687), timeout=timeout):
            return True
    except OSError:
        return False


def local_neo4j_script() -> Path | None:
    """docker/neo4j-local of a checkout, if any: beside the package source (an editable install), or in
    the current folder (a checkout whose wheel is installed)."""
    import kgtag

    for root in (Path(kgtag.__file__).resolve().parents[1], Path.cwd()):
        script = root / "docker" / "neo4j-local"
        if script.is_file():
            return script
    return None


def ensure_neo4j(settings: Settings) -> Settings:
    """The settings of a Neo4j that answers: the given one, or the project's local server, started."""
    if bolt_answers(settings.uri):
        return settings
    script = local_neo4j_script()
    if script is None:
        raise CliError(f"Neo4j does not answer at {settings.uri}; start one (see README) or set NEO4J_URI", EXIT_ENV)
    info(f"Neo4j does not answer at {settings.uri}: starting the local one ({script} start; first time: a few minutes)")
    env = {k: v for k, v in os.environ.items() if k not in ("NEO4J_URI", "NEO4J_PASSWORD")}
    started = subprocess.run(["bash", str(script), "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise CliError(f"could not start the local Neo4j: {started.stderr.strip().splitlines()[-1:]}", EXIT_ENV)
    out = subprocess.run(["bash", str(script), "env"], env=env, capture_output=True, text=True, check=True).stdout
    values = dict(part.split("=", 1) for part in out.replace("export ", "").split())
    import shlex

    values = {k: shlex.split(v)[0] if v else "" for k, v in values.items()}
    return Settings(uri=values["NEO4J_URI"], user=values.get("NEO4J_USER", "neo4j"),
                    password=values.get("NEO4J_PASSWORD", ""), database=settings.database)


def pick_examples(run, relation: str, n: int, seed: int = 0) -> list[str]:
    """n videos that have held-out tags of `relation` in the test split (seeded)."""
    r = run.relations.index(relation)
    test = run.test[run.test[:, 1] == r]
    videos = torch.unique(test[:, 0])
    g = torch.Generator().manual_seed(seed)
    chosen = videos[torch.randperm(len(videos), generator=g)[:n]]
    return [run.entities[i] for i in sorted(chosen.tolist())]


def main_relation(run) -> str:
    """The video->tag relation with the most test triples (the paper's Table 8 uses manu_tag)."""
    counts = torch.bincount(run.test[:, 1], minlength=len(run.relations))
    return run.relations[int(torch.argmax(counts))]


def top5(run, videos: list[str], relation: str) -> dict[str, list[str]]:
    """Top-5 tags per video as in evaluation: only training triples excluded, so held-out tags can show up."""
    from kgtag.embed.topk import top_k

    heads = torch.from_numpy(run.entity_names.get_indexer(videos)).long()
    rels = torch.full_like(heads, run.relation_names.get_loc(relation))
    tails, _ = top_k(run.model, heads, rels, 5, exclude=run.train, candidates=torch.nonzero(~run.is_video).reshape(-1))
    return {v: [run.entities[t] for t in row if t >= 0] for v, row in zip(videos, tails.tolist())}


def tags_of(run, triples: torch.Tensor, video: str, relation: str | None = None) -> list[str]:
    v = run.entities.index(video)
    rows = triples[triples[:, 0] == v]
    if relation is not None:
        rows = rows[rows[:, 1] == run.relations.index(relation)]
    return [run.entities[t] for t in rows[:, 2].tolist()]


@click.command()
@click.option("--videos", "n_videos", type=click.IntRange(min=50), help="Generate a smaller sample of N videos instead of the bundled one.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per model [default: the fast preset's].")
@click.option("--tiny", is_flag=True, help="A one-minute instance (200 videos, few epochs), for tests.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where runs keep their files [default: ./runs].")
@click.option("--force", is_flag=True, help="Ingest the sample even if the database holds other videos.")
@connection_options
def demo(n_videos, epochs, tiny, device, runs_dir, force, conn):
    """The main job on the bundled sample: ingest, train TransE and TransFusion-VAT, infer, compare.

    \b
    Example:
      kgtag demo                 # about 5 minutes on 2 CPU cores
      kgtag demo --tiny          # about a minute
    Starts the project's local Neo4j (docker/neo4j-local) when none answers.
    """
    if tiny:
        n_videos, epochs = n_videos or 200, epochs or 3
    started = time.perf_counter()
    conn.settings = ensure_neo4j(conn.settings)
    runs = conn.runs_dir(runs_dir)
    with conn.open() as store, tempfile.TemporaryDirectory() as tmp:
        ingest_sample(store, sample_dir(n_videos, Path(tmp)), force)
        ids = {}
        for variant, mods in (("transe", ()), ("transfusion", MODALITIES)):
            plan = RunPlan(variant=variant, modalities=mods, preset="fast", device=device, epochs=epochs)
            ids[variant] = train_run(store, plan, runs, progress=True)["id"]
        tf = load_run(store, ids["transfusion"], runs, device)
        te = load_run(store, ids["transe"], runs, device)
        summary = infer_and_write(store, tf, select_videos(tf, None), None, 10)
        info(f"{summary.written} inferred edges written (run {tf.run_id}; confidence >= {DEFAULT_MIN_CONFIDENCE:g})")
        report(store, te, tf, summary.calibration)
        info(f"demo done in {time.perf_counter() - started:.0f} s")


def report(store, te, tf, calibration) -> None:
    rows = []
    for run in (te, tf):
        m = run.meta["metrics"]["filtered"]
        rows.append([run.name, m["mr"], m["mrr"], m["hits1"], m["hits10"], run.run_id])
    console.print(table("Link prediction (video, r, ?) on held-out tags (paper Table 3)",
                        ["model", "MR", "MRR", "Hits@1", "Hits@10", "run"], rows))
    console.print(f"protocol: {tf.meta['metrics']['protocol']}", markup=False, highlight=False)
    att = modality_attention_avg(store, tf.run_id)
    console.print(table(f"{tf.name}: average modality attention (paper Table 7)", ["segment", "attention"],
                        [[r.segment, r.attention] for r in att]))
    rel = relations_by_attention(store, tf.run_id, limit=5)
    console.print(table(f"{tf.name}: top relations by attention (paper Table 7)", ["relation", "attention"],
                        [[r.relation, r.attention] for r in rel]))
    relation = main_relation(tf)
    videos = pick_examples(tf, relation, EXAMPLES)
    inferred = {run.name: top5(run, videos, relation) for run in (te, tf)}
    for v in videos:
        held = set(tags_of(tf, tf.test, v, relation))
        title = video_tags(store, v)
        t = table(f"{v}: {title[0].title if title else ''} (paper Table 8; bold = a held-out true tag)",
                  ["", "tags"], [])
        t.add_row("training tags", safe_text(", ".join(f"{tf.relations[r]}: {tf.entities[x]}" for _, r, x in
                                                  tf.train[tf.train[:, 0] == tf.entities.index(v)].tolist())))
        t.add_row(safe_text(f"held out ({relation})"), safe_text(", ".join(sorted(held))))
        for name, per_video in inferred.items():  # graph names as Text; held-out ones in bold
            tags = Text(", ").join(safe_text(x, style="bold" if x in held else "") for x in per_video[v])
            t.add_row(safe_text(f"{name} top-5 {relation}"), tags)
        console.print(t)
    console.print(f"confidence calibration (fitted on half the validation queries): temperature "
                  f"{calibration['temperature']:.3g}, ECE {calibration['ece']:.3f} on the other "
                  f"{calibration.get('held_out', 0)} (sampling noise alone reads "
                  f"{calibration.get('ece_floor', float('nan')):.3f}; candidates: {calibration.get('candidates', 'range')})")
    query = ("MATCH p = (v:Video)-[:TRIPLE|INFERRED]->(:Entity)\n"
             f"WHERE v.id IN {json.dumps(videos)}\nRETURN p")
    console.print("\nOpen them in Neo4j Browser (http://localhost:7474/browser/), paste:\n")
    console.print(query, markup=False, highlight=False)
    console.print("\nor open:")
    click.echo(edit_link("http://localhost:7474/browser/", query))  # unwrapped, so that it stays clickable
    console.print("More analyst queries, one click away: `kgtag guide` (see docs/analysts.md).")
