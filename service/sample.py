"""The bundled sample video KG (core/sample/, made by kgtag.synthetic): find it, or a smaller one, and ingest it."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

from kgtag.synthetic.channel import generate
from kgtag.kgstore.features import ingest_features
from kgtag.kgstore.ingest import ingest_triples
from kgtag.kgstore.videos import count_videos_outside, ingest_videos

from .errors import BadInput
from .notes import note

MODALITIES = ("vision", "audio", "text")


def sample_dir(n_videos: int | None = None, tmp: Path | None = None) -> Path:
    """The bundled sample, or a smaller one generated into `tmp` with the same seeded generator."""
    if n_videos is None:
        folder = Path(str(resources.files("kgtag").joinpath("sample")))
        if not (folder / "videos.jsonl").is_file():
            raise BadInput(f"the bundled sample is missing from {folder}; reinstall kgtag")
        return folder
    generate(seed=0, n_videos=n_videos).write(tmp)
    return tmp


def ingest_sample(store, folder: Path | None = None, force: bool = False) -> None:
    """Ingest the sample's videos, tag triples and features (idempotent). Refuses a database that holds
    other videos unless `force`: the sample is for trying kgtag, not for mixing into real data."""
    folder = folder or sample_dir()
    ids = [json.loads(line)["id"] for line in (folder / "videos.jsonl").open(encoding="utf-8") if line.strip()]
    others = count_videos_outside(store, ids)
    if others and not force:
        raise BadInput(f"the database holds {others} videos that are not in the demo sample; run the demo on an "
                       "empty database (or pass --force to mix the sample in)")
    t0 = time.perf_counter()
    ingest_videos(store, folder / "videos.jsonl", folder / "mapping.toml")
    ingest_triples(store, [folder / "tags.tsv"])
    for modality in MODALITIES:
        ingest_features(store, modality, folder / f"features_{modality}.parquet")
    note(f"ingested {len(ids)} videos, tag triples and {len(MODALITIES)} modalities in {time.perf_counter() - t0:.1f} s")
