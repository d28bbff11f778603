"""A run's vectors as Parquet files for use outside kgtag (`kgtag export`; schema in docs/graph-model.md).

Every vector is the one the scorer uses: a video's fused h_vid (eq. 3, after the fused-norm
constraint when the run has one), every other entity's trainable row, each relation's translation r
and the base's extra tables (TransH's normal w_r, TransR's matrix M_r, TransD's r_p and e_p). With the
run's split (`triples.parquet`) a reader can rebuild any ranking `kgtag infer` makes: the README's
"From Python" shows it with numpy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from kgtag.atomic import write_atomic
from kgtag.embed.topk import modality_attention, relation_attention

from .errors import BadInput
from .load import LoadedRun

FILES = ("entities.parquet", "relations.parquet", "relation_attention.parquet", "modality_attention.parquet",
         "triples.parquet", "manifest.json")
# Extra relation tables per base, as relations.parquet columns (relations.TABLES names -> column)
RELATION_COLUMNS = {"r": "translation", "w": "normal", "m": "matrix", "rp": "projection"}


@torch.no_grad()
def entity_vectors(model) -> torch.Tensor:
    """FloatTensor[E, width]: every entity's vector as the scorer reads it (videos: fused h_vid, eq. 3)."""
    return model.entities.all().float().cpu()


@torch.no_grad()
def relation_tables(model) -> dict[str, torch.Tensor]:
    """The base's relation parameters by column name: translation [R, w], normal, matrix [R, w*w], projection."""
    return {RELATION_COLUMNS[name]: t.float().cpu().reshape(t.shape[0], -1) for name, t in model.relations.all().items()}


def export_run(run: LoadedRun, out: Path) -> dict:
    """Write the run's Parquet files into `out` (created; files of an earlier export replaced). Returns
    the manifest (also written as manifest.json)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    model = run.model
    vectors = entity_vectors(model)
    kinds = np.where(run.is_video.numpy(), "video", "tag")
    columns = {"id": pa.array(run.entities, pa.string()), "kind": pa.array(kinds.tolist(), pa.string()),
               "vector": _lists(vectors)}
    if model.entity_proj is not None:  # TransD's e_p
        columns["projection"] = _lists(model.entity_proj.all().detach().float().cpu())
    _write(out / "entities.parquet", columns)
    tables = relation_tables(model)
    _write(out / "relations.parquet", {"id": pa.array(run.relations, pa.string()),
                                       **{name: _lists(t) for name, t in tables.items()}})
    q = relation_attention(model).numpy()
    _write(out / "relation_attention.parquet", {"relation": pa.array(run.relations, pa.string()),
                                                "weight": pa.array(q, pa.float32())})
    videos = torch.nonzero(run.is_video).squeeze(1)
    names, weights = modality_attention(model, videos) if len(videos) else (model.segment_names,
                                                                          torch.zeros(0, len(model.segment_names)))
    _write(out / "modality_attention.parquet",
           {"video": pa.array([run.entities[i] for i in videos.tolist()], pa.string()),
            **{n: pa.array(weights[:, j].float().numpy(), pa.float32()) for j, n in enumerate(names)}})
    parts = [(s, t) for s, t in (("train", run.train), ("valid", run.valid), ("test", run.test)) if len(t)]
    ent, rel = np.asarray(run.entities, dtype=object), np.asarray(run.relations, dtype=object)
    t = torch.cat([t for _, t in parts]).numpy() if parts else np.zeros((0, 3), dtype=np.int64)
    _write(out / "triples.parquet", {"head": pa.array(ent[t[:, 0]].tolist(), pa.string()),
                                     "relation": pa.array(rel[t[:, 1]].tolist(), pa.string()),
                                     "tail": pa.array(ent[t[:, 2]].tolist(), pa.string()),
                                     "split": pa.array([s for s, x in parts for _ in range(len(x))], pa.string())})
    manifest = {"run": run.run_id, "variant": run.meta["variant"], "base": run.meta["base"],
                "modalities": list(run.meta["modalities"]), "p_norm": model.config.p_norm,
                "width": int(vectors.shape[1]), "segments": list(model.segment_names),
                "entities": len(run.entities), "relations": len(run.relations),
                "score": _score_words(run.meta["base"], model.config.p_norm), "files": list(FILES[:-1])}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _score_words(base: str, p: int) -> str:
    proj = {"transe": "e", "transh": "e - (n.e) n, n = normal / ||normal||",
            "transr": "e @ matrix.reshape(width, width)", "transd": "e + (e_projection . e) r_projection"}[base]
    return f"score(h, r, t) = -||proj(h) + translation - proj(t)||_{p}, proj(e) = {proj}"


def _lists(matrix: torch.Tensor) -> pa.Array:
    """A float32 matrix [n, d] as a Parquet list<float> column without a Python list per row."""
    m = np.ascontiguousarray(matrix.numpy(), dtype=np.float32)
    offsets = np.arange(0, m.size + 1, max(m.shape[1], 1), dtype=np.int32)[: m.shape[0] + 1]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(m.reshape(-1)))


def _write(path: Path, columns: dict) -> None:
    write_atomic(path, lambda fh: pq.write_table(pa.table(columns), fh))  # a reader never sees half a file
