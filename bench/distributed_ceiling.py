"""What two 1-thread processes reach on this VM without any collective (topic graph, fast, 1 epoch):
- solo: one process, whole training set, batch 512 (the 1 x 1 line)
- rank0 alone / rank1 alone: a rank's exact work (its half, 1,803 steps of ~256, its sampler), no peer, no exchange
- two solos at once: two independent whole-set processes concurrently (CPU contention alone)
- two ranks at once, no exchange: rank 0 and rank 1 concurrently, nothing exchanged

    .venv/bin/python bench/distributed_ceiling.py VIDEOS TransE|TransFusion-VAT [solo,rank0,rank1,twosolo,tworanks]
"""
import os, sys, time
import torch, torch.multiprocessing as mp
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distributed as B
from kgtag.embed.distributed import Ranks
from kgtag.embed.trainer import train
from kgtag.embed.config import preset

def job(i, graph, variant, mods, rank, q):
    torch.set_num_threads(1)
    kg = torch.load(graph, weights_only=False)
    model = B.build(kg, variant, mods, 0)
    cfg = preset("fast", seed=0, device="cpu", num_threads=1, epochs=1)
    r = rank[i] if isinstance(rank, tuple) else rank
    ranks = None
    if r is not None:
        ranks = Ranks(kg["train"], len(kg["is_video"]), kg["is_video"], rank=r, world=2)
        ranks.exchange = lambda m: None
        ranks.mean = lambda v: v
    part = kg["train"] if ranks is None else ranks.part(kg["train"])
    t0 = time.perf_counter()
    train(model, part, cfg, progress=False, dist=ranks)
    s = time.perf_counter() - t0
    q.put((i, r, len(part), s, -(-len(kg['train']) // 512)))

def go(graph, variant, mods, n, rank):
    ctx = mp.get_context("spawn"); q = ctx.Queue()
    ps = [ctx.Process(target=job, args=(i, graph, variant, mods, rank, q)) for i in range(n)]
    for p in ps: p.start()
    got = [q.get() for _ in ps]
    for p in ps: p.join()
    return sorted(got)

if __name__ == "__main__":
    from kgtag.synthetic import topic
    videos, name = int(sys.argv[1]), sys.argv[2]
    cases = sys.argv[3].split(",") if len(sys.argv) > 3 else ["solo", "rank0", "rank1", "twosolo", "tworanks"]
    variant, mods = B.MODELS[name]
    import tempfile
    tmp = tempfile.TemporaryDirectory()
    graph = os.path.join(tmp.name, "g.pt")
    torch.save(B.graph_data(topic.generate(seed=0, n_videos=videos)), graph)
    for c in cases:
        n, rank = {"solo": (1, None), "rank0": (1, 0), "rank1": (1, 1), "twosolo": (2, None), "tworanks": (2, (0, 1))}[c]
        got = go(graph, variant, mods, n, rank)
        desc = "; ".join(f"proc {i} rank {r}: {m:,} triples in {s:.1f} s = {m / s:,.0f}/s, {1e3 * s / st:.2f} ms/step" for i, r, m, s, st in got)
        print(f"{name} {c:9s} {desc}  [{B.load()}]", flush=True)
