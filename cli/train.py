"""kgtag train: pull the graph from Neo4j, hold out valid/test, train, evaluate, store the run."""

from __future__ import annotations

import os

import click

from kgtag.embed.config import DEFAULT_PRESET, PRESETS
from kgtag.embed.variants import BASES, VARIANTS
from kgtag.runs import RunPlan, resume_run, train_run
from kgtag.runs.distributed import launch, threads_per_rank, train_rank, world_from_env
from kgtag.runs.warm import INHERITED, warm_plan

from .options import check_modalities, connection_options, csv_list, json_option
from .output import CliError, console, emit, table

METRICS = ("mr", "mrr", "hits1", "hits3", "hits10")


def show_run(node: dict, as_json: bool) -> None:
    def render():
        console.print(table(f"run {node['id']}: {node['model']} ({node['status']}), test tail prediction, filtered",
                            ["MR", "MRR", "Hits@1", "Hits@3", "Hits@10"], [[node.get(k) for k in METRICS]]))
        if node.get("protocol"):
            console.print(f"protocol: {node['protocol']}", markup=False, highlight=False)

    emit(node, as_json, render)


@click.command()
@click.option("--model", "variant", type=click.Choice(VARIANTS), default="transfusion", show_default=True,
              help="transfusion (both attentions), transe (base model alone), transfusion0 (relation "
                   "attention only), b1 (concatenation), b2 (sum), b3 (modalities only).")
@click.option("--base", type=click.Choice(BASES), default="transe", show_default=True, help="Translation scorer.")
@click.option("--modalities", default="", callback=check_modalities, help="Comma-separated modalities to fuse, e.g. vision,audio,text.")
@click.option("--preset", type=click.Choice(list(PRESETS)), default=DEFAULT_PRESET, show_default=True,
              help="fast: chosen on validation splits of several video graphs (docs/method.md); paper: "
                   "section 5.1 and eq. 6 as printed; paper-scaled: paper with the segment options and "
                   "the relation-attention entropy term.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), help="Override the preset's epoch count.")
@click.option("--split", default="0.1,0.1", show_default=True,
              help="Held-out fractions VALID,TEST of each relation's video->tag triples, optionally a "
                   "third, COLD: the share of videos held out whole (all their triples; half to valid, "
                   "half to test; see `kgtag eval --by-history`), or two files VALID.tsv,TEST.tsv of "
                   "triples already in the graph.")
@click.option("--seed", default=0, show_default=True, help="Seed for the split, the initialisation and sampling.")
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where runs keep their files [default: ./runs].")
@click.option("--resume", "resume", metavar="RUN", help="Continue an interrupted run from its last checkpoint.")
@click.option("--from", "from_run", metavar="RUN",
              help="Warm-start from a finished run on the current graph: its settings, its trained rows carried "
                   "over by name, fresh rows for new entities; use --epochs for a short run.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--procs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train with this many local processes (torch.distributed ranks, gloo on CPU, one GPU each on "
                   "CUDA), each owning a head range of the videos; see docs/distributed.md. Under torchrun the "
                   "ranks come from torchrun instead.")
@click.option("--max-restarts", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --procs: how many times the launcher restarts the group after a process dies; each "
                   "restart resumes every rank from the last complete epoch's checkpoint.")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads per process [default: all cores, split between the --procs processes].")
@connection_options
@json_option
def train(variant, base, modalities, preset, device, epochs, split, seed, runs_dir, resume, from_run, quiet, procs,
          max_restarts, threads, conn, as_json):
    """Train a model on the graph in Neo4j and store the run (hyper-parameters, metrics, attention).

    \b
    Examples:
      kgtag train --model transfusion --modalities vision,audio,text
      kgtag train --model transe --base transh --epochs 50
      kgtag train --model b1 --modalities vision,audio --preset paper --device cuda
      kgtag train --resume transfusion-vat-transe-20250101-120000-1a2b
      kgtag train --from transfusion-vat-transe-20250101-120000-1a2b --epochs 5

    Rejected edges from `kgtag review` are used as known negatives. The run's files go to
    ./runs/<run-id>/; its id is printed and listed by `kgtag status`.
    """
    runs = conn.runs_dir(runs_dir)
    if resume and from_run:
        raise CliError("give either --resume or --from, not both")
    world = world_from_env()
    if procs > 1 or world > 1:
        if resume or from_run:
            raise CliError("--resume and --from run in one process: drop --procs (or torchrun)")
        mods = csv_list(modalities)
        if variant == "transe" and mods:
            raise CliError("--model transe uses no modality; drop --modalities or pick --model transfusion")
        plan = RunPlan(variant=variant, base=base, modalities=mods, preset=preset, device=device,
                       epochs=epochs, seed=seed, split=split)
        if world == 1:
            with conn.open():  # the schema, and a Neo4j that answers, before any process starts
                pass
        if world > 1:  # this process is one rank of torchrun's group
            plan.overrides["num_threads"] = threads_per_rank(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), threads)
            node = train_rank(conn.settings, plan, runs, progress=not (quiet or as_json))
            if node is None:
                return  # rank 0 prints the run
        else:
            node = launch(conn.settings, plan, runs, procs, threads, progress=not (quiet or as_json),
                          max_restarts=max_restarts)
        show_run(node, as_json)
        return
    ctx_overrides = {"num_threads": threads} if threads else {}
    with conn.open() as store:
        if from_run:
            ctx = click.get_current_context()
            values = {"variant": variant, "base": base, "modalities": csv_list(modalities), "preset": preset,
                      "seed": seed, "split": split}
            given = {k: v for k, v in values.items()
                     if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
            plan, start = warm_plan(store, from_run, runs, {k: given[k] for k in INHERITED if k in given}, device,
                                    epochs, given.get("seed"), given.get("split"))
            node = train_run(store, plan, runs, progress=not (quiet or as_json), start=start)
        elif resume:
            node = resume_run(store, resume, runs, progress=not (quiet or as_json))
        else:
            mods = csv_list(modalities)
            if variant == "transe" and mods:
                raise CliError("--model transe uses no modality; drop --modalities or pick --model transfusion")
            plan = RunPlan(variant=variant, base=base, modalities=mods, preset=preset, device=device,
                           epochs=epochs, seed=seed, split=split, overrides=ctx_overrides)
            node = train_run(store, plan, runs, progress=not (quiet or as_json))
    show_run(node, as_json)
