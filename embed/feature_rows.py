"""Frozen feature rows gathered per batch: the model holds a reference to a matrix, not a copy.

The matrix [E, d] may be a memory map of the run cache (torch.from_numpy over np.load(mmap_mode=...)):
`gather(ids)` reads only the rows a batch uses, as float32 on the model's device, absent rows zero.
On CUDA the whole matrix is copied to the device once when it fits comfortably (a quarter of the free
memory), so batches gather on the GPU; on the CPU it stays where it is (page cache, not the process's
own memory). Never part of a state dict: features are inputs, not weights.
"""

from __future__ import annotations

import torch

from kgtag.errors import InvalidData


_CHUNK = 65536


class FeatureRows:
    """matrix [E, d] (row i = entity i), or with `slot` only some entities' rows: slot[e] is entity
    e's row in `matrix`, -1 where this process does not hold it (a rank's shard of the run cache,
    kgtag.runs.shard: its videos and the shared entities). `present` [E] always covers every entity
    (the model's shape depends on it). A row that is not held reads as zero: it is another rank's
    video, which this rank never trains nor scores (its model holds no row for it either:
    KGModel.hold_)."""

    def __init__(self, matrix: torch.Tensor, present: torch.Tensor, slot: torch.Tensor | None = None):
        self.matrix, self.present = matrix, present.to(torch.bool)
        self.slot = None if slot is None else slot.long()
        self.device = torch.device("cpu")
        self._here: tuple | None = None  # (matrix, present, slot) on a CUDA device

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def gather(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows `ids` (entity ids of the matrix) as float32 [n, d] on `device`; absent rows are zero."""
        matrix, present, slot = self._here or (self.matrix, self.present, self.slot)
        idx = ids.to(matrix.device)
        keep = present.index_select(0, idx)
        if slot is not None:
            idx = slot.index_select(0, idx)
            keep = keep & (idx >= 0)
            idx = idx.clamp_min(0)
        rows = matrix.index_select(0, idx).to(self.device, torch.float32)
        keep = keep.to(self.device).unsqueeze(1)
        return torch.where(keep, rows, torch.zeros((), device=self.device))  # absent: never NaN

    def to(self, device) -> "FeatureRows":
        device = torch.device(device)
        if device == self.device:
            return self
        self.device, self._here = device, None
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if self.matrix.shape[0] * self.dim * 4 < free // 4:
                self._here = (self.matrix.to(device, torch.float32), self.present.to(device),
                              None if self.slot is None else self.slot.to(device))
        return self

    def check_finite(self, name: str) -> None:
        """InvalidData when a present row holds NaN or inf (checked in chunks: no full copy)."""
        for i in range(0, self.matrix.shape[0], _CHUNK):
            rows = self.matrix[i:i + _CHUNK]
            if self.slot is None:  # a shard's matrix holds present rows only (and a zero row when empty)
                rows = rows[self.present[i:i + _CHUNK]]
            if not torch.isfinite(rows).all():
                raise InvalidData(f"features of {name!r} hold NaN or inf for present rows")
