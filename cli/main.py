"""kgtag: the command line. Each command parses its options, calls the run service (kgtag.runs) or kgstore, and prints."""

import logging
import os

import click

from .output import KgtagGroup

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=KgtagGroup, context_settings=CONTEXT)
@click.version_option(package_name="kgtag")
def cli():
    """kgtag: infer video tags on a Neo4j knowledge graph with TransFusion.

    \b
    The whole job on the bundled sample, in one command:
      kgtag demo
    Step by step on your own data:
      kgtag ingest videos videos.jsonl --mapping mapping.toml
      kgtag ingest features --modality vision vision.parquet
      kgtag train --model transfusion --modalities vision
      kgtag infer --run RUN --all
      kgtag review --run RUN

    Neo4j is reached through --uri/--user/--password, NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD
    or a kgtag.toml file with a [neo4j] table (see any command's --help).
    """
    # the driver logs server notifications (e.g. "property key does not exist" on an empty graph)
    # as warnings, and each dropped connection as an error; the user gets one line from KgtagGroup
    logging.getLogger("neo4j").setLevel(logging.CRITICAL)
    # what kgtag writes (runs/: feature matrices, models; the guide) is private to the user: 0600 / 0700
    previous = os.umask(0o077)
    click.get_current_context().call_on_close(lambda: os.umask(previous))


def _register() -> None:
    from . import demo, eval, guide, infer, ingest, review, serve, status, train, vectors

    for command in (ingest.ingest, ingest.features, train.train, infer.infer, eval.eval_, status.status,
                    review.review, serve.serve, demo.demo, guide.guide, vectors.publish, vectors.export,
                    vectors.similar_cmd, vectors.tags):
        cli.add_command(command)


_register()
