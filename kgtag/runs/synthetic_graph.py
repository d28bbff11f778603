"""A generated video graph (`embed.generators`) put into the store in parts: for the tests and benches
of a graph that grows after training (`kgtag infer --new`, `kgtag train --from`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from kgtag.kgstore.features import ingest_features
from kgtag.kgstore.ingest import IngestReport, write_triple_table


def ingest_part(store, kg, triples: torch.Tensor, videos: torch.Tensor) -> None:
    """Write `triples` (ids of `kg`) and the features of `videos` (entity ids) of a SyntheticKG."""
    names = np.asarray(kg.entities, dtype=object)
    rels = np.asarray(kg.relations, dtype=object)
    if len(triples):
        t = triples.numpy()
        table = pd.DataFrame({"head": names[t[:, 0]], "relation": rels[t[:, 1]], "tail": names[t[:, 2]]})
        write_triple_table(store, table, IngestReport())
    with tempfile.TemporaryDirectory() as tmp:
        for modality, (matrix, mask) in kg.features.items():
            rows = videos[mask[videos]]
            if len(rows) == 0:
                continue
            path = Path(tmp) / f"{modality}.parquet"
            vectors = matrix[rows].numpy().astype(np.float32)
            pq.write_table(pa.table({"id": pa.array(names[rows.numpy()].tolist(), pa.string()),
                                     "vector": pa.array(list(vectors), pa.list_(pa.float32()))}), path)
            ingest_features(store, modality, path, allow_new=True)


def hold_out_videos(kg, share: float, seed: int = 0) -> torch.Tensor:
    """A seeded `share` of the generated videos, cold ones included (entity ids, sorted)."""
    videos = torch.nonzero(kg.is_video).squeeze(1)
    g = torch.Generator().manual_seed(seed)
    picked = videos[torch.randperm(len(videos), generator=g)[: max(1, int(round(share * len(videos))))]]
    return picked.sort().values


def touching(triples: torch.Tensor, entities: torch.Tensor) -> torch.Tensor:
    """BoolTensor[N]: triples whose head or tail is one of `entities`."""
    return torch.isin(triples[:, 0], entities) | torch.isin(triples[:, 2], entities)
