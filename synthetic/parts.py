"""Building blocks the synthetic video-KG generators share: random unit vectors, Zipf weights, a modality
as features plus presence mask, and the held-out split (cold videos, valid, test)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def zipf(n: int, s: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** s
    return p / p.sum()


def observed(rng: np.random.Generator, signal: np.ndarray, noise: float, n_entities: int, missing: float,
             always: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A modality as the generators hand it out: (features [E, d], present [E]) for the videos, which
    are the first ``len(signal)`` entities. Features = signal + Gaussian noise (``noise`` times the
    signal's spread), scaled to unit spread; a share ``missing`` of the videos lacks the modality
    (never those marked in ``always``); absent rows and non-videos are zero.

    ``signal`` is overwritten: the noise is added in place, a block of rows at a time, so a
    million-video modality needs no second and third copy (the values are those of one draw)."""
    n_videos = signal.shape[0]
    spread = noise * signal.std()
    x = signal
    for rows in _row_blocks(n_videos):
        x[rows] += spread * rng.standard_normal(x[rows].shape)
    matrix = np.zeros((n_entities, signal.shape[1]), dtype=np.float32)
    scale = x.std()
    for rows in _row_blocks(n_videos):
        matrix[rows] = x[rows] / scale
    mask = np.zeros(n_entities, dtype=bool)
    mask[:n_videos] = rng.random(n_videos) >= missing
    if always is not None:
        mask[:n_videos] |= always
    matrix[~mask] = 0.0
    return torch.from_numpy(matrix), torch.from_numpy(mask)


def by_rows(n: int, d: int, rows_of: Callable[[slice], np.ndarray]) -> np.ndarray:
    """An [n, d] float64 matrix filled a block of rows at a time by ``rows_of(rows)``: the per-video
    signal of a large graph without the temporaries of building it whole."""
    out = np.empty((n, d))
    for rows in _row_blocks(n):
        out[rows] = rows_of(rows)
    return out


def _row_blocks(n: int, size: int = 65_536) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def split_held_out(rng: np.random.Generator, vt: torch.Tensor, tt: torch.Tensor, cold: np.ndarray, held_out: list[int],
                   valid_fraction: float, test_fraction: float):
    """(train, valid, test, test_cold): cold videos' edges -> test_cold, other held-out-able edges to
    valid / test at random; tag-tag triples and the rest train."""
    is_cold_edge = torch.from_numpy(cold)[vt[:, 0]]
    holdable = torch.isin(vt[:, 1], torch.tensor(held_out)) & ~is_cold_edge
    u = torch.from_numpy(rng.random(len(vt)))
    to_test = holdable & (u < test_fraction)
    to_valid = holdable & (u >= test_fraction) & (u < test_fraction + valid_fraction)
    train = torch.cat([vt[~(to_test | to_valid | is_cold_edge)], tt])
    return train, vt[to_valid], vt[to_test], vt[is_cold_edge]
