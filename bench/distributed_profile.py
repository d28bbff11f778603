"""Where a step's time goes with two gloo ranks: cProfile of rank 0 over one epoch, 1 rank vs 2 ranks.

    .venv/bin/python bench/distributed_profile.py [--videos 20000] [--model transe|transfusion]

Topic graph, `fast` preset, one thread per rank, the same set-up as bench/distributed.py's throughput
lines. Prints rank 0's wall time and its functions by own time; `torch._C._distributed_c10d.wait`
is the time a rank waits inside collectives (for the other rank and for the transfer). With two
ranks it also prints each rank's waits (count, seconds): a rank that waits much longer than the
other waits for it (skew, uneven work); and, after training, the same collective without any
training between (`--latency-steps` back-to-back all_gathers of the last step's buffer size): the
pure cost of one collective on this machine, which the per-step wait can be compared with.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distributed as B  # noqa: E402 (bench/distributed.py: build, free_port, graph_data)
from kgtag.embed.distributed import Ranks
from kgtag.embed.trainer import train
from kgtag.embed.config import preset


def waits(stats: pstats.Stats) -> tuple[int, float]:
    """(calls, seconds) of the collectives' waits in a profile."""
    calls = secs = 0
    for (file, _, name), (_, nc, tt, _, _) in stats.stats.items():
        if "wait" in name and "c10d" in f"{file} {name}":
            calls, secs = calls + nc, secs + tt
    return calls, secs


def latency(elements: int, steps: int) -> float:
    """Seconds per all_gather_into_tensor of `elements` floats per rank, back to back."""
    buf = torch.zeros(elements)
    out = torch.empty(dist.get_world_size() * elements)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        dist.all_gather_into_tensor(out, buf)
    return (time.perf_counter() - t0) / steps


def worker(rank, world, port, graph, variant, mods, latency_steps=1000):
    torch.set_num_threads(1)
    kg = torch.load(graph, weights_only=False)
    model = B.build(kg, variant, mods, 0)
    cfg = preset("fast", seed=0, device="cpu", num_threads=1, epochs=1)
    ranks = None
    if world > 1:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=600))
        ranks = Ranks(kg["train"], len(kg["is_video"]), kg["is_video"], collective="auto")
    part = kg["train"] if ranks is None else ranks.part(kg["train"])
    pr = cProfile.Profile(); t0 = time.perf_counter(); pr.enable()
    train(model, part, cfg, progress=False, dist=ranks)
    pr.disable()
    seconds = time.perf_counter() - t0
    if rank == 0:
        s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(18)
        print(f"world {world} seconds {seconds:.1f}\n", s.getvalue()[:5000], flush=True)
    if ranks is not None:
        steps, rounds = ranks.traffic.steps, getattr(ranks.traffic, "rounds", 0)
        calls, secs = waits(pstats.Stats(pr))
        elements = (ranks.traffic.rows + ranks.traffic.dense) // max(steps, 1) // 4
        dist.barrier()
        print(f"rank {rank}: {seconds:.2f} s, {steps} steps, {rounds} collectives, waits {calls} calls "
              f"{secs:.2f} s ({1e3 * secs / max(steps, 1):.2f} ms/step)", flush=True)
        pure = latency(elements, latency_steps)
        if rank == 0:
            print(f"one all_gather of {elements * 4 / 1e3:,.1f} kB/rank back to back (no training between): "
                  f"{1e3 * pure:.2f} ms", flush=True)
        dist.destroy_process_group()


if __name__ == "__main__":
    from kgtag.synthetic import topic
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=20000)
    p.add_argument("--model", choices=("transe", "transfusion"), default="transe")
    a = p.parse_args()
    mods = () if a.model == "transe" else ("vision", "audio", "text")
    kg = topic.generate(seed=0, n_videos=a.videos)
    data = B.graph_data(kg)
    with tempfile.TemporaryDirectory() as d:
        g = os.path.join(d, "g.pt"); torch.save(data, g)
        for world in (1, 2):
            mp.spawn(worker, args=(world, B.free_port(), g, a.model, mods), nprocs=world, join=True)
