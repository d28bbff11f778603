"""Tags for videos that arrived after training, without retraining (`kgtag infer --new`).

A finished run is extended: its model is rebuilt on the run's entities plus the new videos appended
at the end (old ids unchanged), every trained row carried over by name (`embed.carry.carry_rows`),
and the new videos' features read from the store. A new video's fused vector is eq. 1-4 with the
trained projections W_M, b_M and attention V, a. Its knowledge segment z_K starts at zero (the
cold-start rule of `EntityRepresentation.set_known_`, as for in-run videos without a training
triple) and stays there unless the video already has triples to tags the run knows: then they are
folded in (`embed.fold_in`: a few steps on its z_K row alone, everything else frozen). The split is
unchanged, so the extended run ranks and calibrates as the run did; the new videos' existing
triples are excluded from their inferred tags by `infer_run`, like any video's.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch

from kgtag.embed.carry import carry_rows
from kgtag.embed.fold_in import fold_in_
from kgtag.embed.model import build_model
from kgtag.kgstore.arrivals import found_with_features, videos_with_features_outside
from kgtag.kgstore.read import out_triples

from .errors import BadInput
from .graph import id_map, pull_features, triple_ids
from .infer import select_videos
from .load import LoadedRun
from .notes import note
from .plan import configs_from


def name_map(new: list[str], old: list[str]) -> torch.Tensor:
    """LongTensor[len(new)]: each name's id in `old`, -1 where `old` lacks it."""
    return torch.from_numpy(id_map(old).get_indexer(pd.Index(new, dtype=object)).astype("int64"))


def choose_videos(store, run: LoadedRun, video_ids: tuple[str, ...] | None, new: bool,
                  run_videos: bool) -> tuple[LoadedRun, list[str]]:
    """The videos to infer (`run_videos`: every video of the run; `new`: every video with features that
    arrived after training; `video_ids`: these, in the run or not) and the run extended to cover them."""
    chosen = select_videos(run, None) if run_videos else []
    known = run.entity_names
    inside = tuple(v for v in video_ids or () if v in known)
    chosen += select_videos(run, inside) if inside else []
    outside = list(dict.fromkeys(v for v in video_ids or () if v not in known))
    if outside:
        _check_arrivals(store, run, outside)
    if new and not run.meta["modalities"]:
        raise BadInput(f"run {run.run_id} ({run.name}) has no modalities to represent videos that arrived after "
                       f"training: train a run with --modalities, or `kgtag train --from {run.run_id}` to take them in")
    if new:
        arrived = videos_with_features_outside(store, run.meta["modalities"], run.entities)
        if not arrived:
            note(f"no video with {'/'.join(run.meta['modalities'])} features has arrived since run {run.run_id}")
        outside = list(dict.fromkeys(outside + arrived))
    chosen = list(dict.fromkeys(chosen))
    return (extend_run(store, run, outside) if outside else run), chosen + outside


def _check_arrivals(store, run: LoadedRun, ids: list[str]) -> None:
    """One line naming the ids that cannot be inferred as new videos, and what to do."""
    mods = run.meta["modalities"]
    if not mods:
        raise BadInput(f"video(s) {_few(ids)} are not in run {run.run_id}, and {run.name} has no modalities to "
                       f"represent a new video: train a run with --modalities, or `kgtag train --from {run.run_id}` "
                       "to take them in")
    found, featured = found_with_features(store, mods, ids)
    absent = [v for v, f in zip(ids, found) if not f]
    if absent:
        raise BadInput(f"unknown video id(s), in neither run {run.run_id} nor the graph: {_few(absent)}")
    bare = [v for v, f in zip(ids, featured) if not f]
    if bare:
        raise BadInput(f"video(s) {_few(bare)} arrived after run {run.run_id} without {'/'.join(mods)} features: "
                       f"load them with `kgtag ingest features --modality {mods[0]} FILE`")


def _triples_of(store, videos: list[str], entity_index: pd.Index, relation_index: pd.Index,
                block: int = 10_000) -> torch.Tensor:
    """The triples the given videos have now (their heads), in the extended id space: read a block of
    videos at a time, never the whole graph."""
    pages = [out_triples(store, videos[a:a + block]) for a in range(0, len(videos), block)]
    return torch.cat([triple_ids(page, entity_index, relation_index) for page in pages] or [torch.empty(0, 3, dtype=torch.long)])


def _few(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def extend_run(store, run: LoadedRun, videos: list[str]) -> LoadedRun:
    """The run with `videos` (not in it, with features) appended: carried rows, z_K = 0 for the new ones."""
    entities = run.entities + list(videos)
    mconf, _ = configs_from(run.meta)
    features = pull_features(store, run.meta["modalities"], entities)
    try:
        model = build_model(mconf, len(entities), len(run.relations), features)
        device = run.model.entities.fused.device
        old_ids = torch.cat([torch.arange(len(run.entities)), torch.full((len(videos),), -1)])
        carry_rows(run.model.cpu(), model, old_ids, torch.arange(len(run.relations)))
    except ValueError as exc:
        raise BadInput(f"run {run.run_id} cannot take new videos: {exc}") from None
    is_video = torch.cat([run.is_video, torch.ones(len(videos), dtype=torch.bool)])
    theirs = _triples_of(store, videos, pd.Index(entities), pd.Index(run.relations))
    theirs = theirs[~is_video[theirs[:, 2]]]
    folded = fold_in_(model, theirs, run.train)  # on the CPU, before the move
    note(f"{len(videos)} video(s) new since run {run.run_id}: fused from their features; knowledge segment "
         f"from their {len(theirs)} triples for {folded} of them, zero for the others")
    return dataclasses.replace(run, model=model.to(device).eval(), entities=entities, is_video=is_video)
