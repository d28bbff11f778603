"""kgtag infer: write a run's top-k inferred tags (score, calibrated confidence, rank) to Neo4j."""

from __future__ import annotations

import click

from kgtag.runs import (BLOCK_VIDEOS, CANDIDATES, DEFAULT_CANDIDATES, DEFAULT_MIN_CONFIDENCE, WRITERS, infer_and_write,
                        inferred_rows, load_run)
from kgtag.runs.grow import choose_videos
from kgtag.runs.vectors import publish_new_videos
from kgtag.progress import progress_bar

from .options import connection_options, csv_list, json_option
from .output import CliError, console, emit, info, table

SHOWN_VIDEOS = 3  # the printed table: a few videos, the best SHOWN_TAGS per relation
SHOWN_TAGS = 5


@click.command()
@click.option("--run", "run_id", required=True, help="Run id (see `kgtag status`).")
@click.option("--videos", "video_ids", multiple=True, metavar="ID",
              help="Video id(s); repeat or comma-separate. Use --all for every video.")
@click.option("--all", "all_videos", is_flag=True, help="Infer tags for every video of the run.")
@click.option("--new", "new_videos", is_flag=True,
              help="Also every video with features that arrived after training (no retraining: fused from its "
                   "features; its knowledge segment zero, or fitted to the triples it already has).")
@click.option("--relations", default="", help="Comma-separated relations [default: every video->tag relation].")
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(min=1, max=1000))
@click.option("--min-confidence", default=DEFAULT_MIN_CONFIDENCE, show_default=True, type=click.FloatRange(0, 1),
              help="Write only edges whose calibrated confidence reaches this: below it nearly every edge is "
                   "wrong and would only lengthen the review queue (docs/method.md). 0 writes the full top-k.")
@click.option("--candidates", type=click.Choice(CANDIDATES), default=DEFAULT_CANDIDATES, show_default=True,
              help="Which tags may answer (video, r, ?): those seen with r in training (its range), any tag, "
                   "or any entity. The video itself never does.")
@click.option("--block", default=BLOCK_VIDEOS, show_default=True, type=click.IntRange(min=1),
              help="Videos scored and written per transaction.")
@click.option("--writers", default=WRITERS, show_default=True, type=click.IntRange(min=1),
              help="Blocks written to Neo4j at once, each its own transaction (one core of the server each).")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where runs keep their files [default: ./runs].")
@click.option("--dry-run", is_flag=True, help="Print, do not write to Neo4j.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@connection_options
@json_option
def infer(run_id, video_ids, all_videos, new_videos, relations, top_k, min_confidence, candidates, block, writers, device,
          runs_dir, dry_run, quiet, conn, as_json):
    """Infer tags: for each (video, relation), the top-k tags the video does not have yet whose
    confidence reaches --min-confidence, written as
    (:Video)-[:INFERRED {relation, score, confidence, rank, run}]->(tag), plus each video's modality
    attention. Confidence is a temperature-scaled softmax fitted on the run's validation split.

    Videos go in blocks, each written in its own transaction while the next is scored. Interrupted,
    the same command continues at the first block not written; run again, it replaces the pending
    edges those videos had (decided ones stay).

    \b
    Examples:
      kgtag infer --run RUN --all
      kgtag infer --run RUN --new
      kgtag infer --run RUN --videos v0001,v0002 --relations has_topic --top-k 5 --json
    """
    videos = tuple(v for arg in video_ids for v in csv_list(arg))
    if videos and all_videos:
        raise CliError("give either --videos or --all, not both")
    if not videos and not all_videos and not new_videos:
        raise CliError("which videos? give --videos ID[,ID...], --all or --new")
    shown, rows = set(), []

    def keep_rows(names, inferred):  # the printed table needs a few videos; JSON needs every edge
        if as_json:
            rows.extend(inferred_rows(run, inferred))
        elif len(shown) < SHOWN_VIDEOS:
            shown.update(names[:SHOWN_VIDEOS - len(shown)])
            rows.extend(inferred_rows(run, inferred, shown, SHOWN_TAGS))

    with conn.open() as store:
        run = load_run(store, run_id, conn.runs_dir(runs_dir), device)
        trained = len(run.entities)
        run, chosen = choose_videos(store, run, videos or None, new_videos, all_videos)
        if not chosen:  # --new with nothing new: not a mistake (a scheduled job), nothing to write
            emit({"run": run_id, "written": 0, "edges": []}, as_json, lambda: info("no video to infer"))
            return
        with progress_bar("infer", len(chosen), show=not (quiet or as_json), unit="videos") as bar:
            summary = infer_and_write(store, run, chosen, csv_list(relations) or None, top_k, candidates,
                                      min_confidence, block, write=not dry_run, on_block=keep_rows,
                                      progress=bar.advance, writers=writers)
        # videos new since training get their vectors in the published slot when this run is the published one
        published = 0 if dry_run else publish_new_videos(store, run, run.entities[trained:])
    cal = summary.calibration
    info(f"{summary.written} inferred edges {'found' if dry_run else 'written'} for {len(chosen)} videos "
         f"(run {run_id}; confidence >= {min_confidence:g}, top {top_k}) in {summary.seconds:.1f} s "
         f"({summary.write_seconds:.1f} s of it writing to Neo4j while scoring went on); "
         f"candidates: {candidates}; calibration: temperature {cal['temperature']:.3g}, "
         f"ECE {cal['ece']:.3f} on {cal.get('held_out', 0)} held-out validation queries "
         f"(sampling noise alone reads {cal.get('ece_floor', float('nan')):.3f})")
    if published:
        info(f"{published} new videos' vectors published (run {run_id} is the published run): "
             "`kgtag similar` and the live queries find them now")

    def render():
        console.print(table(f"{run.name}: inferred tags ({min(len(chosen), SHOWN_VIDEOS)} of {len(chosen)} videos)",
                            ["video", "relation", "rank", "tag", "score", "confidence"],
                            [list(r.values()) for r in rows]))

    emit({"run": run_id, "written": summary.written, "videos": len(chosen), "resumed_at": summary.resumed_at,
          "published_vectors": published,
          "min_confidence": min_confidence, "calibration": cal, "edges": rows}, as_json, render)
