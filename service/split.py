"""Hold out validation and test triples from the graph for a training run.

Only video -> tag triples are held out (the task is tag inference, (video, r, ?)), a fraction of each
relation's, seeded, and never the last triple of an entity: every entity keeps at least one triple in
the training set so that it has a trained embedding.

A third fraction holds out whole videos first (cold start, the paper's Figure 1): that share of the
videos loses every triple, half of them to validation and half to test
(`kgtag.embed.history.cold_holdout`); the fractional holdout above then runs on the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kgtag.embed.history import cold_holdout
from kgtag.embed.sampling import triple_keys
from kgtag.kgstore.tables import read_triples

from .errors import BadInput


def parse_split(value: str) -> tuple[float, float, float] | tuple[Path, Path]:
    """'0.1' (valid = test = 10 %), '0.1,0.05' (valid, test), '0.1,0.05,0.1' (valid, test, share of the
    videos held out whole: cold videos, half to valid, half to test), or 'VALID_FILE,TEST_FILE'.
    Fractions come back as (valid, test, cold)."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    try:
        fractions = [float(p) for p in parts]
    except ValueError:
        if len(parts) != 2:
            raise BadInput(f"--split {value!r}: give fractions like 0.1,0.1 or two files VALID,TEST") from None
        paths = (Path(parts[0]), Path(parts[1]))
        for path in paths:
            if not path.is_file():
                raise BadInput(f"--split: file not found: {path}")
        return paths
    if len(fractions) == 1:
        fractions *= 2
    if len(fractions) == 2:
        fractions.append(0.0)
    if len(fractions) != 3 or any(not 0 <= f < 1 for f in fractions) or sum(fractions[:2]) >= 1:
        raise BadInput(f"--split {value!r}: give one or two fractions in [0, 1) that sum below 1, "
                       "and optionally a third in [0, 1): the share of videos held out whole")
    return fractions[0], fractions[1], fractions[2]


def holdout(
    triples: torch.Tensor, is_video: torch.Tensor, valid_frac: float, test_frac: float, seed: int,
    cold_frac: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split triples [N, 3] into (train, valid, test), per relation, seeded.

    cold_frac > 0 first holds out that share of the videos whole (every triple of theirs; half of
    the videos to valid, half to test); the rest of this docstring applies to the remaining triples.
    A candidate triple (video head, non-video tail) is eligible when both its head and its tail keep
    another triple in train: in a shuffled order, the j-th candidate of a head (or tail) is eligible
    only if j < degree - 1, so at least one triple of each entity always stays behind.
    """
    if cold_frac > 0:
        empty = torch.zeros(0, 3, dtype=torch.long)
        rest, cold_valid, cold_test, _ = cold_holdout(triples, empty, empty, is_video, cold_frac, seed)
        train, valid, test = holdout(rest, is_video, valid_frac, test_frac, seed)
        return train, torch.cat([valid, cold_valid]), torch.cat([test, cold_test])
    t = triples.numpy()
    n = len(t)
    rng = np.random.default_rng(seed)
    h, r, tl = t[:, 0], t[:, 1], t[:, 2]
    video = is_video.numpy()
    candidate = video[h] & ~video[tl]
    num_entities = len(video)
    degree = np.bincount(h, minlength=num_entities) + np.bincount(tl, minlength=num_entities)

    order = rng.permutation(n)
    order = order[candidate[order]]  # candidates in a random order
    ok = (_occurrence(h[order]) < degree[h[order]] - 1) & (_occurrence(tl[order]) < degree[tl[order]] - 1)
    order = order[ok]
    # per relation: the first valid_frac of its candidates go to valid, the next test_frac to test
    per_rel = np.bincount(r[candidate], minlength=int(r.max()) + 1 if n else 0)
    by_rel = order[np.argsort(r[order], kind="stable")]
    pos = _occurrence(r[by_rel])
    n_valid = np.floor(per_rel * valid_frac).astype(np.int64)
    n_test = np.floor(per_rel * test_frac).astype(np.int64)
    rel = r[by_rel]
    to_valid = by_rel[pos < n_valid[rel]]
    to_test = by_rel[(pos >= n_valid[rel]) & (pos < n_valid[rel] + n_test[rel])]
    where = np.zeros(n, dtype=np.int8)
    where[to_valid], where[to_test] = 1, 2
    return triples[where == 0], triples[where == 1], triples[where == 2]


def _occurrence(keys: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions hold the same key (0 for the first)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[0, np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.arange(len(keys)) - run_start
    return out


def split_from_files(
    triples: torch.Tensor, entities: list[str], relations: list[str], valid_path: Path, test_path: Path
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Use given valid/test triple files (read by kgstore.tables): every triple must be in the graph,
    and none in both files (a test triple seen in validation would choose the model on its answer).
    The first fault is named with its file and line."""
    ent, rel = pd.Index(entities), pd.Index(relations)
    n_e, n_r = len(entities), len(relations)
    graph_keys = np.sort(triple_keys(triples, n_e, n_r).numpy())
    held, keys_of = [], []
    for path in (valid_path, test_path):
        table = read_triples(path)
        h, r, t = ent.get_indexer(table["head"]), rel.get_indexer(table["relation"]), ent.get_indexer(table["tail"])
        keys = triple_keys(torch.from_numpy(np.stack([h, r, t], axis=1).astype(np.int64)), n_e, n_r).numpy()
        known = (h >= 0) & (r >= 0) & (t >= 0)
        found = np.searchsorted(graph_keys, keys).clip(max=max(len(graph_keys) - 1, 0))
        known &= len(graph_keys) > 0
        known[known] &= graph_keys[found[known]] == keys[known]
        if (bad := np.flatnonzero(~known)).size:
            i = bad[0]
            raise BadInput(f"{path}:{table['line'].iloc[i]}: triple ({table['head'].iloc[i]}, {table['relation'].iloc[i]}, "
                           f"{table['tail'].iloc[i]}) is not in the graph" + (f" ({bad.size} such lines)" if bad.size > 1 else "")
                           + "; a split file holds triples of the graph")
        held.append(torch.from_numpy(np.stack([h, r, t], axis=1).astype(np.int64)).reshape(-1, 3))
        keys_of.append((keys, table["line"].to_numpy()))
    (valid_keys, valid_lines), (test_keys, test_lines) = keys_of
    if (both := np.flatnonzero(np.isin(test_keys, valid_keys))).size:
        i = both[0]
        first = valid_lines[np.flatnonzero(valid_keys == test_keys[i])[0]]
        more = f"; {both.size} triples are in both" if both.size > 1 else ""
        raise BadInput(f"{test_path}:{test_lines[i]}: this triple is also in {valid_path} (line {first}{more}); "
                       "a triple is held out for validation or for test, not both")
    valid, test = held
    out = torch.isin(triple_keys(triples, n_e, n_r), triple_keys(torch.cat([valid, test]), n_e, n_r))
    return triples[~out], valid, test
