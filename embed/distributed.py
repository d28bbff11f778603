"""Data-parallel training on torch.distributed: each rank owns a head range of the triples.

Almost every triple's head is a video, and a video's knowledge row z_K (TransE: its entity row) is
touched only by the video's own triples and by head corruptions. So the triples are cut into
`world` contiguous head ranges of about N / world triples each (`head_bounds`, a boundary never
splits one head's triples), rank k trains the triples whose head lies in range k, and head
negatives are drawn among rank k's own heads. A video that is a head in range k and never a tail
anywhere is then *owned* by rank k: only rank k ever reads or updates its row and its row-wise Adam
moments (`owners`). Everything else is *shared*: tags (the tails, and every tail negative), the
relation tables, and the dense projection / attention weights.

Every step, after `backward()`, the gradients of shared parameters are summed across ranks and
divided by the world size (the mean of the ranks' batch losses, as DDP does), before the same Adam
update runs on every rank, so shared parameters stay identical bit for bit.

All of a step's exchange is ONE collective (`Exchange.step`; collectives cost ~1 ms each on gloo
here, more than their bytes: docs/distributed.md):

- row tables: each rank has a different set of touched shared rows. "sparse" = one all_gather of
  every table's touched (gradient, shared-row index) pairs, each table's part sized by a cap that
  every rank derives from the counts gathered in earlier steps (no count round; a step past a cap
  sends the rest in a second gather); "dense" = one all_reduce of a buffer of every table's shared
  rows plus a touched flag. `collective="auto"` takes the one that sends fewer bytes this step
  (from the caps, known on every rank): sparse for large tag vocabularies, dense when the shared
  tables are small next to the touched rows. A shared row some rank renormalised (Algorithm 1
  line 7) is renormalised on every rank before the update.
- dense parameters: their gradients ride in the same buffer (a few hundred kB), with a flag per
  tensor so that a tensor no rank touched keeps `grad = None` as in one process; a gathered buffer
  is summed locally (the W copies), a reduced one is the sum.

Owned rows are never communicated during training. Each rank holds only the rows it reads: its own
videos' and the shared ones (`Ranks.localize` -> `KGModel.hold_`: rank-local row ids in entity-id
order; a shared row is exchanged by its index among the shared rows, the same on every rank), so its
row tables and their Adam moments are sized to its partition. `consolidate` sends every rank's own
rows once to rank 0 at the end, which assembles the whole model in today's format (model.pt).

World size 1 changes nothing: every hook is the identity, so the trainer is the single-process
trainer bit for bit (tests/embed/test_distributed.py).

Limits (docs/distributed.md): the model is built whole (its seeded initialisation is one process's)
and then cut to the rank's rows, before any Adam moment exists; the entity -> row maps (`local`,
`fused`) stay one entry per entity of the graph.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .ranking import evaluate, metrics_from_ranks
from .rows import RowTable, renorm_
from .sampling import NegativeSampler

COLLECTIVES = ("auto", "sparse", "dense")
DEFAULT_TIMEOUT_S = 300  # a collective (or the rendezvous) that waits longer fails, naming the rank


def head_bounds(heads: torch.Tensor, num_entities: int, world: int) -> torch.Tensor:
    """world + 1 entity ids b: rank k takes the triples with b[k] <= head < b[k+1]; each range holds
    about N / world triples and a boundary never splits one head's triples (as the run cache's
    `shards`). Depends only on the triples and the world size."""
    h = torch.sort(heads.long()).values
    n = len(h)
    cuts = [0]
    for k in range(1, world):
        at = int(h[min(k * n // world, n - 1)]) if n else 0
        cuts.append(max(at, cuts[-1]))
    cuts.append(num_entities)
    return torch.tensor(cuts, dtype=torch.long)


def owners(triples: torch.Tensor, bounds: torch.Tensor, num_entities: int,
           is_video: torch.Tensor | None = None) -> torch.Tensor:
    """LongTensor [E]: the rank that owns each entity's rows, -1 for shared ones. An entity is owned
    by the rank of its head range when it is a head (a video, where `is_video` is given) and never a
    tail of any triple; tags, tails and entities in no triple are shared."""
    out = torch.full((num_entities,), -1, dtype=torch.long)
    heads = torch.unique(triples[:, 0].long())
    if is_video is not None:
        heads = heads[is_video.bool()[heads]]
    heads = heads[~torch.isin(heads, torch.unique(triples[:, 2].long()))]
    out[heads] = torch.searchsorted(bounds, heads, right=True) - 1
    return out


def rank_of_heads(heads: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    return (torch.searchsorted(bounds.to(heads.device), heads.contiguous(), right=True) - 1).clamp_(0, len(bounds) - 2)


def init_process_group(device: str = "cpu", timeout_s: float = DEFAULT_TIMEOUT_S) -> torch.device:
    """Join the process group torchrun (or `kgtag train --procs`) described in the environment
    (RANK, WORLD_SIZE, MASTER_ADDR/PORT or the elastic agent's store): gloo on CPU, NCCL on CUDA with
    one device per LOCAL_RANK. Returns this rank's device. A rendezvous or collective that waits
    longer than `timeout_s` raises instead of hanging."""
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group("nccl" if cuda else "gloo", store=_attempt_store(rank, world, timeout_s), rank=rank,
                                world_size=world, timeout=timedelta(seconds=timeout_s), **({"device_id": dev} if cuda else {}))
    return dev


def _attempt_store(rank: int, world: int, timeout_s: float) -> dist.Store:
    """The rendezvous store under a key prefix of this attempt's own. torch's env:// rendezvous (2.15)
    hands a group that the elastic agent restarted the previous attempt's gloo addresses, so the
    restarted ranks fail with "connection refused"; the restart count in the prefix keeps attempts
    apart. Under torchrun the agent hosts the store; with bare MASTER_ADDR/PORT, rank 0 does."""
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=not agent and rank == 0, timeout=timedelta(seconds=timeout_s))
    return dist.PrefixStore(f"kgtag/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


@dataclass
class Traffic:
    """Bytes this rank sent into collectives during training (per kind), the steps taken and the
    collectives made for them (`rounds`: one per step, two on a step past a cap)."""

    rows: int = 0
    dense: int = 0
    steps: int = 0
    rounds: int = 0


@dataclass
class Layout:
    """What every rank must agree on about the whole training set, computed once from it (`of`):
    the head ranges, the owner rank of every entity's rows, each range's triple count, which
    entities are in some training triple, each relation's training tails (as (0, r, t) rows: the
    tail pools of the sampler and the range candidates of evaluation) and the Bernoulli head
    probabilities. When the ranks read their own shards (kgtag.runs.distributed), rank 0 computes
    it and broadcasts it, so that no rank holds the whole training set; its size is O(E + tags)."""

    bounds: torch.Tensor     # [world + 1] entity ids: rank k's heads are bounds[k] <= h < bounds[k+1]
    owner: torch.Tensor      # [E] owner rank, -1 shared
    counts: list[int]        # training triples per rank
    seen: torch.Tensor       # bool [E]: a head or tail of some training triple
    ranges: torch.Tensor     # [P, 3] unique (0, r, t) of the training triples
    head_prob: torch.Tensor  # [R] P(replace head | r), Wang et al. (sampling.NegativeSampler)

    @classmethod
    def of(cls, triples: torch.Tensor, num_entities: int, world: int, is_video: torch.Tensor | None = None,
           num_relations: int | None = None) -> "Layout":
        triples = triples.long()
        bounds = head_bounds(triples[:, 0], num_entities, world)
        num_relations = num_relations or (int(triples[:, 1].max()) + 1 if len(triples) else 1)
        seen = torch.zeros(num_entities, dtype=torch.bool)
        seen[triples[:, 0]] = True
        seen[triples[:, 2]] = True
        pairs = torch.unique(triples[:, 1] * num_entities + triples[:, 2])
        ranges = torch.stack([torch.zeros_like(pairs), pairs // num_entities, pairs % num_entities], 1)
        return cls(bounds, owners(triples, bounds, num_entities, is_video),
                   torch.bincount(rank_of_heads(triples[:, 0], bounds), minlength=world).tolist(), seen, ranges,
                   NegativeSampler.bernoulli_head_prob(triples, num_relations) if len(triples)
                   else torch.full((num_relations,), 0.5))


class Ranks:
    """This process's place in the group, and the trainer's hooks (`embed.trainer.train(dist=...)`).

    all_triples: the whole training set (every rank builds the same one: the split is made once,
    independent of the world size); `part(t)` is this rank's share of any triple set. Or, with
    `layout` (rank 0's `Layout` of the whole set), only this rank's part: a rank that read its own
    shard never sees the others' triples.
    """

    def __init__(self, all_triples: torch.Tensor, num_entities: int, is_video: torch.Tensor | None = None,
                 collective: str = "auto", rank: int | None = None, world: int | None = None,
                 layout: Layout | None = None):
        if collective not in COLLECTIVES:
            raise ValueError(f"collective must be one of {COLLECTIVES}, got {collective!r}")
        self.rank = dist.get_rank() if rank is None else rank
        self.world = dist.get_world_size() if world is None else world
        self.num_entities = num_entities
        self.collective = collective
        if layout is None:
            self.all_triples, self.layout = all_triples.long(), Layout.of(all_triples, num_entities, self.world, is_video)
        else:
            self.all_triples, self.layout = None, layout
        self.bounds, self.owner, self.counts = self.layout.bounds, self.layout.owner, self.layout.counts
        self.own = self.part(all_triples.long())
        if layout is not None and len(self.own) != len(all_triples):
            raise ValueError(f"rank {self.rank} was given {len(all_triples) - len(self.own)} triples outside its head range")
        self.traffic = Traffic()
        self._exchange: Exchange | None = None

    @property
    def seed_offset(self) -> int:
        return 1_000_003 * self.rank  # rank 0 draws exactly what one process draws

    def part(self, triples: torch.Tensor) -> torch.Tensor:
        """The rows of `triples` whose head lies in this rank's range (their order kept); `triples`
        itself, not a copy, when they all do (a rank's shard)."""
        mine = rank_of_heads(triples[:, 0].long(), self.bounds) == self.rank
        return triples if bool(mine.all()) else triples[mine]

    # -- trainer hooks ---------------------------------------------------------------------------
    def known_triples(self) -> torch.Tensor:
        """The trainer's known rows (the sampler's filter and statistics): the whole training set,
        or this rank's part when it read only its shard (its statistics then come from `layout`)."""
        return self.own if self.all_triples is None else self.all_triples

    def sampler_args(self, device) -> dict:
        if self.world == 1:
            return {}
        visible = ((self.owner == -1) | (self.owner == self.rank)).nonzero().squeeze(1)
        args = {"head_triples": self.own.to(device), "entities": visible.to(device)}
        if self.all_triples is None:  # tail pools and Bernoulli odds of the whole graph, not of this shard
            args.update(tail_triples=self.layout.ranges.to(device), head_prob=self.layout.head_prob.to(device))
        return args

    def visible(self) -> torch.Tensor:
        """bool [E]: the entities whose rows this rank may read (its own and the shared ones): the
        features a rank's shard must hold."""
        return (self.owner == -1) | (self.owner == self.rank)

    def batches(self, n: int, batch_size: int):
        """Every rank takes the same number of steps per epoch (collectives pair up): as many as one
        process takes (`batch_size` is the global batch, as in one process, so the number of updates
        per epoch does not depend on the world size), each rank's batches of about n_k / steps triples."""
        if self.world == 1:
            return ((i, min(i + batch_size, n)) for i in range(0, n, batch_size))
        steps = max(1, min(math.ceil(sum(self.counts) / batch_size), min(self.counts)))
        return ((i * n // steps, (i + 1) * n // steps) for i in range(steps))

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t) / self.world

    def file(self, name: str) -> str:
        """Checkpoint file of this rank: rank 0 keeps today's names (last.pt, best.pt)."""
        if self.rank == 0:
            return name
        stem, dot, ext = name.rpartition(".")
        return f"{stem}.rank{self.rank}.{ext}" if dot else f"{name}.rank{self.rank}"

    def exchange(self, model) -> Exchange | None:
        if self.world == 1:
            return None
        self._exchange = Exchange(self, model)
        return self._exchange

    def held(self, rank: int | None = None) -> torch.Tensor:
        """The entities whose rows `rank` (this one) holds, sorted by id (their rank-local row order):
        the shared ones and its own. The gradient exchange addresses a shared row by its index among
        the shared rows, the same on every rank (`Exchange`: `slot`, `ids`)."""
        rank = self.rank if rank is None else rank
        return ((self.owner == -1) | (self.owner == rank)).nonzero().squeeze(1)

    def localize(self, model) -> None:
        """The trainer's first hook: the model keeps only this rank's rows (`KGModel.hold_`), so its
        tables and their Adam moments are sized to the partition. Identity in one process."""
        if self.world > 1 and model.held is None:
            model.hold_(self.held())

    # -- after training ------------------------------------------------------------------------
    @torch.no_grad()
    def consolidate(self, model) -> dict | None:
        """The whole model's state dict in today's format (model.pt) on rank 0, None on the others:
        each rank sends its own rows once (point to point), rank 0 assembles the whole tables; the
        ranks' models stay rank-local. One process: the model's own state dict."""
        if self.world == 1 or model.held is None:
            return model.state_dict() if self.rank == 0 else None
        names = {id(p): name for name, p in model.named_parameters()}
        state = model.state_dict() if self.rank == 0 else None
        ent = model.entities
        fused = ent.fused.cpu()
        for table, entity_of_row, whole_row in _held_tables(model):
            w = table.weight
            if self.rank != 0:
                mine = (self.owner.index_select(0, entity_of_row.cpu()) == self.rank).nonzero().squeeze(1)
                if len(mine):  # its own rows, by entity id: the order rank 0 expects
                    dist.send(w.index_select(0, mine.to(w.device)), dst=0)
                continue
            kind = None if table is model.entity_proj else (table is ent.plain)
            full = torch.empty(_whole_rows(model, table), *w.shape[1:], dtype=w.dtype, device=w.device)
            full.index_copy_(0, whole_row.to(w.device), w)
            for k in range(1, self.world):
                theirs = (self.owner == k).nonzero().squeeze(1)
                if kind is not None:
                    theirs = theirs[~fused[theirs] if kind else fused[theirs]]
                if len(theirs) == 0:
                    continue
                buf = torch.empty(len(theirs), *w.shape[1:], dtype=w.dtype, device=w.device)
                dist.recv(buf, src=k)
                full.index_copy_(0, _row_of(model, table, theirs).to(w.device), buf)
            state[names[id(w)]] = full
        if state is not None and "entities.known" in state:
            state["entities.known"] = self.layout.seen.to(fused.device)[fused].to(state["entities.known"].device)
        return state

    def evaluate(self, model, test: torch.Tensor, per_relation: bool = False, relation_names=None,
                 **kwargs) -> dict:
        """`ranking.evaluate` (tail side) with each query ranked by the rank owning its head, the
        ranks gathered in the queries' order: the same figures as one process on the same model."""
        if self.world == 1:
            return evaluate(model, test, per_relation=per_relation, relation_names=relation_names, **kwargs)
        test = torch.as_tensor(test).long()
        mine = (rank_of_heads(test[:, 0], self.bounds) == self.rank).nonzero().squeeze(1)
        out = evaluate(model, test[mine], return_ranks=True, **kwargs)["ranks"]["tail"]
        settings = list(out)
        gathered = [None] * self.world
        dist.all_gather_object(gathered, (mine, {s: out[s].cpu() for s in settings}))
        ranks = {}
        for s in settings:
            full = torch.zeros(len(test), dtype=out[s].dtype)
            for idx, got in gathered:
                full[idx] = got[s]
            ranks[s] = full
        result = {s: metrics_from_ranks(ranks[s]) for s in settings}
        result["tail"] = {s: metrics_from_ranks(ranks[s]) for s in settings}
        if per_relation:
            rel = test[:, 1]
            result["per_relation"] = {}
            for rid in torch.unique(rel).tolist():
                name = relation_names[rid] if relation_names is not None else rid
                result["per_relation"][name] = {s: metrics_from_ranks(ranks[s][rel == rid]) for s in settings}
        return result


def table_owners(model, owner: torch.Tensor) -> list[tuple[RowTable, torch.Tensor]]:
    """(row table, owner rank of each of its rows) for every RowTable of the model, in the
    optimiser's order (rank-local rows after `KGModel.hold_`); relation tables are shared (-1)."""
    ent = model.entities
    out = []
    for t in (m for m in model.modules() if isinstance(m, RowTable)):
        if t is ent.plain or getattr(ent, "z_k", None) is t:
            out.append((t, owner[ent.row_entities(t).cpu()]))
        elif t is model.entity_proj:
            out.append((t, owner.clone() if model.held is None else owner[model.proj_ids.cpu()]))
        else:
            out.append((t, torch.full((t.num,), -1, dtype=torch.long)))
    return out


def _held_tables(model) -> list[tuple[RowTable, torch.Tensor, torch.Tensor]]:
    """(table, entity of each held row, that row's row in the whole table) for each rank-local table."""
    ent = model.entities
    out = [(ent.plain, ent.plain_ids, ent.plain_rows)]
    if getattr(ent, "z_k", None) is not None:
        out.append((ent.z_k, ent.fused_ids, ent.fused_rows))
    if model.entity_proj is not None:
        out.append((model.entity_proj, model.proj_ids, model.proj_ids))
    return out


def _whole_rows(model, table) -> int:
    fused = int(model.entities.fused.sum())
    if table is model.entity_proj:
        return model.num_entities
    return fused if table is not model.entities.plain else model.num_entities - fused


def _row_of(model, table, entities: torch.Tensor) -> torch.Tensor:
    """The rows of `entities` in the whole `table` (a plain row: its rank among the entities that
    are not fused; a z_K row: among the fused ones; TransD's projection: the entity id)."""
    if table is model.entity_proj:
        return entities
    fused = model.entities.fused.cpu()
    mask = ~fused if table is model.entities.plain else fused
    return (torch.cumsum(mask.long(), 0) - 1).index_select(0, entities)


class Exchange:
    """Sums the shared parameters' gradients across ranks before each update, in ONE collective per
    step (see module docstring): every row table's touched shared rows (with their index among the
    shared rows) and every dense parameter's gradient travel in one flat buffer per rank.

    - "sparse": `all_gather_into_tensor` of each rank's buffer [counts | table 1: `cap` rows of
      (gradient, shared index) | table 2 ... | dense flags | dense gradients]; every rank then sums
      the gathered parts itself, in rank order (rows: unique + index_add, as before; dense: the sum
      of the W copies). `cap` (rows reserved per table and rank) is not exchanged: every rank derives
      it from the counts it gathered in earlier steps (the largest count seen x 1.05, at most the
      table's shared rows), so every rank knows the layout in advance without a count round. A step
      that touches more rows than `cap` sends the rest in a second gather (every rank knows from the
      gathered counts that it must): correct for any step, two collectives only on such a step.
    - "dense": one `all_reduce` of [table 1: every shared row (gradient, touched flag) | ... | dense
      flags | dense gradients]: positional, no counts, no cap.
    - "auto": the one that sends fewer bytes this step (a ring all_reduce sends about 2 (W-1)/W of its
      buffer per rank, an all_gather (W-1) x each rank's part), decided from the caps, which every
      rank knows: no collective decides it.

    Collectives cost ~1 ms each on gloo here, more than their bytes (docs/distributed.md), so the
    number of rounds is what this minimises. The sums are the ones the per-table exchanges made
    (each shared row: its ranks' gradients in rank order; dense: the ranks' sum), divided by W.
    """

    HEADROOM = 1.05  # cap = the largest count seen x this: past the first steps, rarely exceeded

    def __init__(self, ranks: Ranks, model):
        self.ranks, self.world = ranks, ranks.world
        kind = model.interaction.entity_constraint
        constrained = {id(model.entities.plain)} | ({id(model.entities.z_k)} if hasattr(model.entities, "z_k") else set())
        self.tables = []
        for table, owner in table_owners(model, ranks.owner):
            device = table.weight.device
            shared = (owner == -1).to(device)
            ids = shared.nonzero().squeeze(1)
            slot = torch.full((table.num,), -1, dtype=torch.long, device=device)
            slot[ids] = torch.arange(len(ids), device=device)
            self.tables.append({"shared": shared, "ids": ids, "slot": slot, "cap": 0,
                                "constrain": kind if id(table) in constrained else None})

    def step(self, tables: list[RowTable], taken: list, params: list[torch.Tensor]) -> list:
        """Every row table's (ids, gradients) of this step merged across ranks (returned, one per
        table), and every dense parameter's `grad` replaced by the ranks' mean (None where no rank
        has one, as in one process): one collective (see the class docstring)."""
        self.ranks.traffic.steps += 1
        parts = [self._split(i, t, got) for i, (t, got) in enumerate(zip(tables, taken))]
        dtype = torch.float32
        for t in tables:
            dtype = torch.promote_types(dtype, t.weight.dtype)
        device = tables[0].weight.device if tables else params[0].device if params else torch.device("cpu")
        widths = [t.weight.shape[1:].numel() for t in tables]
        dense_len = len(params) + sum(p.numel() for p in params)
        mode = self.ranks.collective
        if mode == "auto":
            gather = len(tables) + sum(info["cap"] * (w + 1) for info, w in zip(self.tables, widths)) + dense_len
            reduce = sum(len(info["ids"]) * (w + 1) for info, w in zip(self.tables, widths)) + dense_len
            mode = "dense" if 2 * reduce <= self.world * gather else "sparse"
        if mode == "dense":
            merged, flat = self._reduce(parts, widths, dense_len, dtype, device, params)
        else:
            merged, flat = self._gather(parts, widths, dense_len, dtype, device, params)
        at = len(params)
        for i, p in enumerate(params):
            n = p.numel()
            p.grad = None if flat[i] == 0 else (flat[at:at + n] / self.world).view_as(p).to(p.dtype)
            at += n
        return [self._finish(i, t, part, got) for i, (t, part, got) in enumerate(zip(tables, parts, merged))]

    def _split(self, i: int, table: RowTable, got):
        """(local ids, local gradients, shared ids, shared gradients [n, width]) of one table's step."""
        info, w = self.tables[i], table.weight
        shape = w.shape[1:]
        if got is None:
            idx = torch.zeros(0, dtype=torch.long, device=w.device)
            g = torch.zeros((0, *shape), dtype=w.dtype, device=w.device)
        else:
            idx, g = got
        sh = info["shared"].index_select(0, idx)
        return idx[~sh], g[~sh], idx[sh], g[sh].reshape(-1, shape.numel())

    @staticmethod
    def _dense_part(out: torch.Tensor, params: list[torch.Tensor]) -> None:
        """Writes [flag per tensor | flat gradients] into `out` (a tensor without grad: zeros, flag 0)."""
        out[: len(params)] = torch.tensor([p.grad is not None for p in params], dtype=out.dtype, device=out.device)
        at = len(params)
        for p in params:
            n = p.numel()
            if p.grad is not None:
                out[at:at + n] = p.grad.reshape(-1)
            at += n

    def _reduce(self, parts, widths, dense_len, dtype, device, params):
        """"dense": one all_reduce of every table's shared rows by position (+ touched flag) and the
        dense gradients. Returns per table (touched shared indices, summed gradients) and the summed
        dense part."""
        sizes = [len(info["ids"]) * (w + 1) for info, w in zip(self.tables, widths)]
        buf = torch.zeros(sum(sizes) + dense_len, dtype=dtype, device=device)
        at = 0
        for info, (_, _, sidx, sg), w, size in zip(self.tables, parts, widths, sizes):
            rows = buf[at:at + size].view(-1, w + 1)
            slot = info["slot"].index_select(0, sidx)
            rows[slot, :w] = sg.to(dtype)
            rows[slot, w] = 1.0
            at += size
        self._dense_part(buf[at:], params)
        dist.all_reduce(buf)
        self.ranks.traffic.rounds += 1
        self.ranks.traffic.rows += at * buf.element_size()
        self.ranks.traffic.dense += dense_len * buf.element_size()
        merged, at = [], 0
        for w, size in zip(widths, sizes):
            rows = buf[at:at + size].view(-1, w + 1)
            touched = (rows[:, w] > 0).nonzero().squeeze(1)
            merged.append((touched, rows.index_select(0, touched)[:, :w]))
            at += size
        return merged, buf[at:]

    def _gather(self, parts, widths, dense_len, dtype, device, params):
        """"sparse": one all_gather of [counts | each table's first `cap` shared rows (gradient, index
        bits) | dense part]; a second gather only when some rank touched more rows than a cap. Returns
        per table (shared indices, gradients: every rank's rows in rank order) and the summed dense part."""
        itype = {4: torch.int32, 8: torch.int64}[torch.empty(0, dtype=dtype).element_size()]
        T, W = len(widths), self.world
        caps = [info["cap"] for info in self.tables]
        sizes = [c * (w + 1) for c, w in zip(caps, widths)]
        buf = torch.zeros(T + sum(sizes) + dense_len, dtype=dtype, device=device)
        ibuf = buf.view(itype)  # the counts and the row indices travel as integer bits: exact
        ibuf[:T] = torch.tensor([len(p[2]) for p in parts], dtype=itype, device=device)
        at = T
        for info, (_, _, sidx, sg), w, cap, size in zip(self.tables, parts, widths, caps, sizes):
            _pack(buf[at:at + size], itype, w, sg[:cap], info["slot"].index_select(0, sidx[:cap]))
            at += size
        self._dense_part(buf[at:], params)
        out = torch.empty(W * len(buf), dtype=dtype, device=device)
        dist.all_gather_into_tensor(out, buf)
        self.ranks.traffic.rounds += 1
        self.ranks.traffic.rows += at * buf.element_size()
        self.ranks.traffic.dense += dense_len * buf.element_size()
        out = out.view(W, -1)
        counts = out.view(itype)[:, :T].long().cpu()  # [W, T]: one small read, on NCCL too
        most = counts.max(0).values.tolist()
        over = [max(0, m - c) for m, c in zip(most, caps)]
        extra = self._overflow(parts, widths, caps, over, dtype, itype, device) if any(over) else None
        merged, at = [], T
        for i, (info, w, cap, size) in enumerate(zip(self.tables, widths, caps, sizes)):
            rows = out[:, at:at + size].reshape(W, cap, w + 1)
            valid = torch.arange(cap).unsqueeze(0) < counts[:, i:i + 1]
            if extra is not None and over[i]:
                rows = torch.cat([rows, extra[i]], 1)
                valid = torch.cat([valid, torch.arange(over[i]).unsqueeze(0) < counts[:, i:i + 1] - cap], 1)
            got = rows[valid.to(device)]  # every rank's rows, rank by rank (the order of the sums)
            slots = got.view(itype)[:, w].long()
            uslot, inv = torch.unique(slots, return_inverse=True)
            ug = torch.zeros(len(uslot), w, dtype=dtype, device=device).index_add_(0, inv, got[:, :w])
            merged.append((uslot, ug))
            # the next steps' cap: every rank computes it from the same gathered counts
            info["cap"] = min(len(info["ids"]), max(cap, math.ceil(most[i] * self.HEADROOM)))
            at += size
        return merged, out[:, at:].sum(0)

    def _overflow(self, parts, widths, caps, over, dtype, itype, device) -> list:
        """The second gather of a step where some rank touched more shared rows than a table's cap:
        per table, each rank's rows past the cap, padded to the largest excess (known to every rank
        from the gathered counts). Returns per table [W, excess, width + 1]."""
        sizes = [o * (w + 1) for o, w in zip(over, widths)]
        buf = torch.zeros(sum(sizes), dtype=dtype, device=device)
        at = 0
        for info, (_, _, sidx, sg), w, cap, size in zip(self.tables, parts, widths, caps, sizes):
            _pack(buf[at:at + size], itype, w, sg[cap:], info["slot"].index_select(0, sidx[cap:]))
            at += size
        out = torch.empty(self.world * len(buf), dtype=dtype, device=device)
        dist.all_gather_into_tensor(out, buf)
        self.ranks.traffic.rounds += 1
        self.ranks.traffic.rows += buf.numel() * buf.element_size()
        out, at, got = out.view(self.world, -1), 0, []
        for o, w, size in zip(over, widths, sizes):
            got.append(out[:, at:at + size].reshape(self.world, o, w + 1))
            at += size
        return got

    def _finish(self, i: int, table: RowTable, part, merged):
        """This table's update: its own rows' gradients and the shared rows' mean over the ranks."""
        info, w = self.tables[i], table.weight
        lidx, lg, sidx, _ = part
        uslot, ug = merged
        uidx = info["ids"].index_select(0, uslot)
        ug = ug / self.world
        if info["constrain"] is not None and len(uidx):
            # rows another rank renormalised in its forward (Algorithm 1 line 7): the same here
            other = uidx[~torch.isin(uidx, sidx)]
            if len(other):
                with torch.no_grad():
                    w.index_copy_(0, other, renorm_(w.index_select(0, other), info["constrain"]))
        idx = torch.cat([lidx, uidx])
        if idx.numel() == 0:
            return None
        return idx, torch.cat([lg, ug.view(-1, *w.shape[1:]).to(lg.dtype)])


def _pack(part: torch.Tensor, itype: torch.dtype, width: int, grads: torch.Tensor, slots: torch.Tensor) -> None:
    """Writes rows (gradient | shared-row index) into the first rows of `part` viewed as [-1, width + 1];
    the index travels as the integer bits of the last column (exact)."""
    n = len(slots)
    part.view(-1, width + 1)[:n, :width] = grads.to(part.dtype)
    part.view(itype).view(-1, width + 1)[:n, width] = slots.to(itype)
