"""kgtag infer: write a run's top-k inferred tags (score, calibrated confidence, rank) to Neo4j."""

from __future__ import annotations

import os

import click

from kgtag.runs import (BLOCK_VIDEOS, CANDIDATES, DEFAULT_CANDIDATES, DEFAULT_MIN_CONFIDENCE, WRITERS, infer_and_write,
                        inferred_rows, load_run)
from kgtag.runs.distributed import InferJob, infer_rank, launch_infer, threads_per_rank, world_from_env
from kgtag.runs.grow import choose_videos
from kgtag.runs.vectors import publish_new_videos
from kgtag.progress import progress_bar

from .options import connection_options, csv_list, json_option
from .output import CliError, console, emit, info, table

SHOWN_VIDEOS = 3  # the printed table: a few videos, the best SHOWN_TAGS per relation
SHOWN_TAGS = 5


@click.command()
@click.option("--run", "--run-id", "run_id", required=True,
              help="Run id (see `kgtag status`). Under torchrun write --run-id: torchrun's own parser takes --run "
                   "for an abbreviation of its --run-path.")
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
@click.option("--procs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Infer with this many local processes (torch.distributed ranks), each scoring and writing its "
                   "share of the videos; --writers is shared between them. Under torchrun the ranks come from "
                   "torchrun instead; every node needs the run folder (docs/distributed.md).")
@click.option("--threads", type=click.IntRange(min=1),
              help="With --procs: CPU threads per process [default: all cores, split between the processes].")
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where runs keep their files [default: ./runs].")
@click.option("--dry-run", is_flag=True, help="Print, do not write to Neo4j.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@connection_options
@json_option
def infer(run_id, video_ids, all_videos, new_videos, relations, top_k, min_confidence, candidates, block, writers, device,
          procs, threads, runs_dir, dry_run, quiet, conn, as_json):
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
    if procs > 1 or world_from_env() > 1:
        _infer_ranks(run_id, videos, all_videos, new_videos, relations, top_k, min_confidence, candidates, block,
                     writers, device, procs, threads, runs_dir, dry_run, quiet, conn, as_json)
        return
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
    _report({"run": run_id, "name": run.name, "written": summary.written, "videos": len(chosen),
             "resumed_at": summary.resumed_at, "seconds": summary.seconds, "write_seconds": summary.write_seconds,
             "published_vectors": published, "calibration": summary.calibration, "edges": rows},
            dry_run, min_confidence, top_k, candidates, as_json)


def _infer_ranks(run_id, videos, all_videos, new_videos, relations, top_k, min_confidence, candidates, block, writers,
                 device, procs, threads, runs_dir, dry_run, quiet, conn, as_json):
    """`kgtag infer --procs N` or under torchrun: each rank infers and writes its share of the videos."""
    job = InferJob(videos, all_videos, new_videos, csv_list(relations) or None, top_k, min_confidence, candidates,
                   block, writers, device, not dry_run, None if as_json else SHOWN_VIDEOS)
    runs, show = conn.runs_dir(runs_dir), not (quiet or as_json)
    if world_from_env() > 1:  # this process is one rank of torchrun's group
        job.threads = threads_per_rank(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), threads)
        out = infer_rank(conn.settings, run_id, runs, job, show)
        if out is None:
            return  # rank 0 reports
    else:
        with conn.open():  # a Neo4j that answers before any process starts
            pass
        out = launch_infer(conn.settings, run_id, runs, job, procs, threads, show)
    if out["videos"] == 0:
        emit({"run": run_id, "written": 0, "edges": []}, as_json, lambda: info("no video to infer"))
        return
    _report(out, dry_run, min_confidence, top_k, candidates, as_json)


def _report(out: dict, dry_run, min_confidence, top_k, candidates, as_json) -> None:
    cal = out["calibration"]
    ranks = f" by {out['world_size']} processes" if out.get("world_size", 1) > 1 else ""
    info(f"{out['written']} inferred edges {'found' if dry_run else 'written'} for {out['videos']} videos{ranks} "
         f"(run {out['run']}; confidence >= {min_confidence:g}, top {top_k}) in {out['seconds']:.1f} s "
         f"({out['write_seconds']:.1f} s of it writing to Neo4j while scoring went on); "
         f"candidates: {candidates}; calibration: temperature {cal['temperature']:.3g}, "
         f"ECE {cal['ece']:.3f} on {cal.get('held_out', 0)} held-out validation queries "
         f"(sampling noise alone reads {cal.get('ece_floor', float('nan')):.3f})")
    if out["published_vectors"]:
        info(f"{out['published_vectors']} new videos' vectors published (run {out['run']} is the published run): "
             "`kgtag similar` and the live queries find them now")
    rows = out["edges"]

    def render():
        console.print(table(f"{out['name']}: inferred tags ({min(out['videos'], SHOWN_VIDEOS)} of {out['videos']} videos)",
                            ["video", "relation", "rank", "tag", "score", "confidence"],
                            [list(r.values()) for r in rows]))

    emit({"run": out["run"], "written": out["written"], "videos": out["videos"], "resumed_at": out["resumed_at"],
          "published_vectors": out["published_vectors"], "min_confidence": min_confidence, "calibration": cal,
          "edges": rows, **({"world_size": out["world_size"]} if "world_size" in out else {})}, as_json, render)
