"""Evaluator memory at scale: N test triples ranked against E candidate entities, filtered.

    .venv/bin/python bench/eval_scale.py --entities 1000000 --test 100000 --device cuda

A TransE model (dim 64, L2) with random embeddings; the filter holds the test triples plus
`--known` random triples. Prints wall time and peak memory (CUDA: torch's peak allocated; CPU: the
process's peak RSS), which stays at a few batch x chunk tensors whatever E and N are.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from kgtag.embed.ranking import evaluate
from kgtag.embed.config import ModelConfig
from kgtag.embed.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--relations", type=int, default=100)
    parser.add_argument("--test", type=int, default=100_000)
    parser.add_argument("--known", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    E, R = args.entities, args.relations
    model = build_model(ModelConfig(variant="transe", dim=64, p_norm=2), E, R).to(args.device)
    rand = lambda n: torch.stack([torch.randint(0, E, (n,), generator=g), torch.randint(0, R, (n,), generator=g),  # noqa: E731
                                  torch.randint(0, E, (n,), generator=g)], 1)
    test = rand(args.test)
    known = torch.cat([test, rand(args.known)])
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    res = evaluate(model, test, filter_triples=known, batch_size=args.batch, chunk=args.chunk)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**30
        where = f"CUDA peak allocated above the model: {peak:.2f} GiB"
    else:
        where = f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    seconds = time.perf_counter() - t0
    print(f"{args.test} test x {E} candidates (+{args.known} known), batch {args.batch}, chunk {args.chunk}, "
          f"{args.device}: {seconds:.1f} s, {where}; filtered MR {res['filtered']['mr']:.0f} (random model: ~E/2)")


if __name__ == "__main__":
    main()
