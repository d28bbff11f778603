"""kgtag publish / export / similar / tags: a run's vectors in Neo4j and in Parquet, and the live questions."""

from __future__ import annotations

from pathlib import Path

import click

from kgtag.runs import load_run
from kgtag.runs.export import export_run
from kgtag.runs.vectors import DEFAULT_OVERFETCH, PUBLISH_BLOCK, live, publish_run, similar
from kgtag.progress import progress_bar

from .options import connection_options, json_option
from .output import console, emit, info, table

run_option = click.option("--run", "run_id", required=True, help="Run id (see `kgtag status`).")
runs_dir_option = click.option("--runs-dir", type=click.Path(file_okay=False),
                               help="Where runs keep their files [default: ./runs].")


@click.command()
@run_option
@click.option("--block", default=PUBLISH_BLOCK, show_default=True, type=click.IntRange(min=1),
              help="Entities written per transaction.")
@runs_dir_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
@connection_options
@json_option
def publish(run_id, block, runs_dir, quiet, conn, as_json):
    """Publish a run's vectors into Neo4j: each video's fused vector h_vid (as the scorer uses it), each
    tag's vector and range, each relation's translation r, with vector indexes (videos: cosine, tags:
    euclidean). One run is published per graph: the new run is written beside the old one, the graph's
    pointer flips to it, then the old one is dropped. Interrupted, the same command continues.

    \b
    Then, in the terminal or in Cypher (cypher/similar_videos.cypher, live_tags.cypher):
      kgtag similar VIDEO
      kgtag tags VIDEO --relation has_topic
    """
    with conn.open() as store:
        run = load_run(store, run_id, conn.runs_dir(runs_dir), "cpu")
        with progress_bar("publish", len(run.entities), show=not (quiet or as_json), unit="vectors") as bar:
            s = publish_run(store, run, block, progress=bar.advance)
    if s.vectors:
        rate = s.vectors / s.write_seconds if s.write_seconds else float("nan")
        info(f"published run {s.run} ({s.base}, width {s.dim}): {s.vectors} vectors in {s.write_seconds:.1f} s "
             f"({rate:,.0f}/s), indexes built in {s.index_seconds:.1f} s, slot {s.slot}"
             + (f"; run {s.replaced}'s vectors dropped" if s.replaced else ""))
    emit(vars(s), as_json, lambda: None)


@click.command()
@run_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the Parquet files.")
@runs_dir_option
@connection_options
@json_option
def export(run_id, out_dir, runs_dir, conn, as_json):
    """Export a run's vectors as Parquet (entities.parquet: id, kind, vector; relations.parquet: id,
    translation and the base's tables; relation_attention, modality_attention, triples with the split;
    manifest.json). Schema: docs/graph-model.md "Export"."""
    with conn.open() as store:
        run = load_run(store, run_id, conn.runs_dir(runs_dir), "cpu")
    manifest = export_run(run, Path(out_dir))
    info(f"exported run {run_id}: {manifest['entities']} entities, {manifest['relations']} relations, width "
         f"{manifest['width']} into {out_dir}")
    emit(manifest, as_json, lambda: None)


@click.command("similar")
@click.argument("video")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 1000))
@connection_options
@json_option
def similar_cmd(video, k, conn, as_json):
    """The k videos nearest to VIDEO (cosine of the published fused vectors), with the tags they share."""
    with conn.open(schema=False) as store:
        out = similar(store, video, k)
    emit(out, as_json, lambda: console.print(table(
        f"videos similar to {video} (run {out['run']})", ["video", "title", "similarity", "shared tags"],
        [[r["video"], r["title"] or "", r["similarity"], ", ".join(r["shared"])] for r in out["similar"]], digits=4)))


@click.command()
@click.argument("video")
@click.option("--relation", required=True, help="The relation to ask tags for.")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--overfetch", default=DEFAULT_OVERFETCH, show_default=True, type=click.IntRange(1, 10_000),
              help="Tags asked of the vector index per tag wanted, before the relation's range filter (L2 runs; "
                   "for L1 runs the index is asked for every tag, as its euclidean order is not the score's).")
@connection_options
@json_option
def tags(video, relation, k, overfetch, conn, as_json):
    """Live tags: the k tags nearest to h_vid + r for VIDEO and --relation in the published run, among the
    relation's range, without the video's own tags or rejected edges, by the exact score (TransE runs)."""
    with conn.open(schema=False) as store:
        out = live(store, video, relation, k, overfetch)
    emit(out, as_json, lambda: console.print(table(
        f"live tags of {video} for {relation} (run {out['run']})", ["rank", "tag", "score"],
        [[i + 1, r["tag"], r["score"]] for i, r in enumerate(out["tags"])], digits=4)))

