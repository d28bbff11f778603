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

from kgtag.embed.chance import chance_mrr
from kgtag.embed.ranking import evaluate
from kgtag.kgstore.features import ingest_features
from kgtag.kgstore.ingest import IngestReport, write_triple_table
from kgtag.kgstore.read import read_graph

from .evaluate import candidate_args
from .graph import id_triples, remap


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


def held_out_quality(store, run, named: list[tuple[str, str, str]]) -> dict:
    """Filtered MRR / Hits@10 of `run` (a LoadedRun, extended or not) on named video -> tag triples
    it never trained on, with the chance level of the same protocol: tail prediction, candidates the
    relation's range, filtered by the run's split, every triple now in the graph, and `named` itself."""
    test = id_triples(named, run.entities, run.relations)
    test = test[run.is_video[test[:, 0]] & ~run.is_video[test[:, 2]]]
    known = torch.cat([run.known, remap(read_graph(store), run.entities, run.relations), test])
    protocol = {"filter_triples": known, **candidate_args("range", run.is_video, run.train)}
    got = evaluate(run.model, test, **protocol)["filtered"]
    chance = chance_mrr(test, len(run.entities), len(run.relations), **protocol)
    return {"mrr": got["mrr"], "hits10": got["hits10"], "count": got["count"], "chance_mrr": chance}


def named(kg, triples: torch.Tensor) -> list[tuple[str, str, str]]:
    """A SyntheticKG's id triples as (head, relation, tail) names."""
    return [(kg.entities[h], kg.relations[r], kg.entities[t]) for h, r, t in triples.tolist()]
