"""The work behind `train`, `infer`, `eval` and `demo`, shared by them (no click here).

A run lives in two places: the Run node in Neo4j (hyper-parameters, metrics, attention, status) and a
run directory (default ./runs/<run-id>/) holding what is too big for a node: `graph.pt` (the id maps
and the train/valid/test split as id tensors), `model.pt` (the trained weights), `checkpoints/`
(embed.train's per-epoch checkpoints, for --resume) and `run.json` (the configs).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path

import neo4j
import torch

from kgtag.embed.variants import BASES, VARIANTS  # noqa: F401  (the one table; re-exported for the CLI)

from .output import EXIT_ENV, EXIT_INPUT, CliError, info
from .split import holdout, parse_split, split_from_files

LETTERS = {"vision": "V", "audio": "A", "text": "T"}


class RunNotFound(CliError):
    def __init__(self, run_id: str):
        super().__init__(f"no run named {run_id!r}; `kgtag status` lists the runs", EXIT_INPUT)


def display_name(variant: str, base: str, modalities) -> str:
    """The paper's names: TransE, TransFusion-VAT, TransFusion-0, B1-VA, ... (base appended unless TransE)."""
    mods = "".join(LETTERS.get(m, m[:1].upper()) for m in modalities)
    name = {
        "transe": {"transe": "TransE", "transh": "TransH", "transr": "TransR", "transd": "TransD"}[base],
        "transfusion": f"TransFusion-{mods}",
        "transfusion0": "TransFusion-0",
        "b1": f"B1-{mods}",
        "b2": f"B2-{mods}",
        "b3": f"B3-{mods}",
    }[variant]
    if variant != "transe" and base != "transe":
        name += f" ({base})"
    return name


@dataclass
class RunPlan:
    """What `kgtag train` was asked for."""

    variant: str = "transfusion"
    base: str = "transe"
    modalities: tuple[str, ...] = ()
    preset: str = "fast"
    device: str = "auto"
    epochs: int | None = None
    seed: int = 0
    split: str = "0.1,0.1"
    overrides: dict = field(default_factory=dict)  # extra TrainConfig fields (e.g. batch_size)
    model_overrides: dict = field(default_factory=dict)  # extra ModelConfig fields (e.g. dim)

    def __post_init__(self):
        if self.variant == "transe":
            self.modalities = ()  # plain TransE/H/R/D: no modality
        elif self.variant != "transfusion0" and not self.modalities:
            raise CliError(f"--model {self.variant} needs --modalities (e.g. vision,audio,text)")


@dataclass
class LoadedRun:
    run_id: str
    run_dir: Path
    meta: dict
    model: torch.nn.Module
    entities: list[str]
    relations: list[str]
    is_video: torch.Tensor
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    @property
    def known(self) -> torch.Tensor:
        return torch.cat([self.train, self.valid, self.test])

    @cached_property
    def entity_index(self) -> dict[str, int]:
        return index_of(self.entities)

    @cached_property
    def relation_index(self) -> dict[str, int]:
        return index_of(self.relations)

    @property
    def name(self) -> str:
        return display_name(self.meta["variant"], self.meta["base"], self.meta["modalities"])


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda: no CUDA device is visible to PyTorch (use --device cpu or auto)")
    return device


def new_run_id(plan: RunPlan) -> str:
    name = display_name(plan.variant, plan.base, plan.modalities).split(" ")[0].lower()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{plan.base}-{stamp}-{secrets.token_hex(2)}" if plan.variant != "transe" else f"{name}-{stamp}-{secrets.token_hex(2)}"


# ------------------------------------------------------------------------------------------ graph
def index_of(names: list[str]) -> dict[str, int]:
    """name -> position: the inverse of an id map."""
    return {name: i for i, name in enumerate(names)}


def pull_graph(store):
    from kgtag.kgstore.read import read_graph

    graph = read_graph(store)
    if len(graph.triples) == 0:
        raise CliError("the graph holds no triples yet: load some with `kgtag ingest` first")
    return graph


def pull_features(store, modalities, entities) -> dict:
    if not modalities:
        return {}
    from kgtag.kgstore.read import read_features

    features = read_features(store, list(modalities), entities)
    for m in modalities:
        if m not in features or not bool(features[m][1].any()):
            raise CliError(f"no {m!r} features in the graph: load them with `kgtag ingest features --modality {m} FILE`")
    return features


def id_triples(rows, entities: list[str], relations: list[str]) -> torch.Tensor:
    """Name triples (head, relation, tail) -> id tensor [N, 3]; rows naming unknown entities are dropped."""
    ent, rel = index_of(entities), index_of(relations)
    ids = [(ent[h], rel[r], ent[t]) for h, r, t in rows if h in ent and r in rel and t in ent]
    return torch.tensor(ids, dtype=torch.long).reshape(-1, 3)


def remap(graph, entities: list[str], relations: list[str]) -> torch.Tensor:
    """A graph snapshot's triples in another id space (a run's); triples outside it are dropped."""
    ent, rel = index_of(entities), index_of(relations)
    emap = torch.tensor([ent.get(n, -1) for n in graph.entities] or [-1], dtype=torch.long)
    rmap = torch.tensor([rel.get(n, -1) for n in graph.relations] or [-1], dtype=torch.long)
    t = graph.triples
    out = torch.stack([emap[t[:, 0]], rmap[t[:, 1]], emap[t[:, 2]]], 1)
    return out[(out >= 0).all(1)]


def known_negatives(store, entities: list[str], relations: list[str]) -> torch.Tensor:
    """Edges curators rejected (kgstore.review), as ids: the sampler uses them as negatives."""
    from kgtag.kgstore.review import rejected_triples

    return id_triples(rejected_triples(store), entities, relations)


# ------------------------------------------------------------------------------------------ train
def configs(plan: RunPlan, device: str):
    from kgtag.embed.model import ModelConfig
    from kgtag.embed.train import model_preset, preset

    tconf = preset(plan.preset)
    changes = {"seed": plan.seed, "device": device, **plan.overrides}
    if plan.epochs is not None:
        changes["epochs"] = plan.epochs
    tconf = dataclasses.replace(tconf, **{k: v for k, v in changes.items() if hasattr(tconf, k)})
    mfields = {f.name for f in dataclasses.fields(ModelConfig)}
    from_preset = {k: v for k, v in model_preset(plan.preset).items() if k in mfields}
    mconf = ModelConfig(variant=plan.variant, base=plan.base, modalities=tuple(plan.modalities),
                        **{**from_preset, **plan.model_overrides})
    return mconf, tconf


def train_run(store, plan: RunPlan, runs_dir: Path, progress: bool = True, run_id: str | None = None) -> dict:
    """Pull the graph, split, train, evaluate and store a new run; returns the Run properties."""
    from kgtag.kgstore.results import write_run

    device = resolve_device(plan.device)
    graph = pull_graph(store)
    features = pull_features(store, plan.modalities, graph.entities)
    split = parse_split(plan.split)
    if isinstance(split[0], Path):
        train, valid, test = split_from_files(graph.triples, graph.entities, graph.relations, *split)
    else:
        train, valid, test = holdout(graph.triples, graph.is_video, split[0], split[1], plan.seed)
    if len(test) == 0:
        raise CliError("the split left no test triple (too few video -> tag triples); use a larger --split or more data")
    mconf, tconf = configs(plan, device)
    run_id = run_id or new_run_id(plan)
    run_dir = (runs_dir / run_id).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"entities": graph.entities, "relations": graph.relations, "is_video": graph.is_video,
                "train": train, "valid": valid, "test": test}, run_dir / "graph.pt")
    meta = {
        "id": run_id, "variant": plan.variant, "base": plan.base, "modalities": list(plan.modalities),
        "preset": plan.preset, "device": device, "seed": plan.seed, "split": plan.split,
        "model_config": _plain(dataclasses.asdict(mconf)), "train_config": _plain(dataclasses.asdict(tconf)),
        "counts": {"entities": len(graph.entities), "relations": len(graph.relations),
                   "train": len(train), "valid": len(valid), "test": len(test)},
        "created": datetime.now(timezone.utc).isoformat(),
    }
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    write_run(store, _run_node(meta, run_dir, status="training"))
    info(f"run {run_id}: {display_name(plan.variant, plan.base, plan.modalities)}, "
         f"{len(train)} train / {len(valid)} valid / {len(test)} test triples, device {device}")
    return _fit(store, meta, run_dir, graph.entities, graph.relations, graph.is_video, features,
                train, valid, test, resume=False, progress=progress)


def resume_run(store, run_id: str, runs_dir: Path, progress: bool = True) -> dict:
    """Continue an interrupted run from its last checkpoint."""
    from kgtag.embed import checkpoint as ckpt

    run_dir, meta, saved = _run_files(store, run_id, runs_dir)
    last = run_dir / "checkpoints" / ckpt.FILENAME
    try:  # read it now, before anything is written: a damaged checkpoint leaves the Run node as it was
        ckpt.load(last)
    except ckpt.CheckpointError as exc:
        raise CliError(f"{exc}; it cannot be resumed: start a new run with `kgtag train`") from None
    features = pull_features(store, meta["modalities"], saved["entities"])
    return _fit(store, meta, run_dir, saved["entities"], saved["relations"], saved["is_video"], features,
                saved["train"], saved["valid"], saved["test"], resume=True, progress=progress)


def _fit(store, meta, run_dir, entities, relations, is_video, features, train, valid, test, resume, progress) -> dict:
    from kgtag.embed.model import build_model
    from kgtag.embed.train import train as train_model
    from kgtag.kgstore.results import write_relation_attention, write_run

    mconf, tconf = _configs_from(meta)
    torch.manual_seed(meta["seed"])  # --seed covers the initialisation too: a seeded run is reproducible
    model = build_model(mconf, len(entities), len(relations), features).to(meta["device"])
    negatives = known_negatives(store, entities, relations)
    if len(negatives):
        info(f"{len(negatives)} rejected edges used as known negatives")
    try:
        train_model(model, train, tconf, checkpoint_dir=run_dir / "checkpoints", resume=resume,
                    valid=validator(train, valid, test, is_video, meta["seed"]),
                    known_negatives=negatives if len(negatives) else None,
                    progress=progress, metadata={"run": meta["id"]})
    except KeyboardInterrupt:
        write_run(store, _run_node(meta, run_dir, status="interrupted"))
        raise CliError(f"interrupted; continue with `kgtag train --resume {meta['id']}`", 130) from None
    torch.save(model.state_dict(), run_dir / "model.pt")
    metrics = evaluate_run(model, relations, is_video, train, valid, test)
    from kgtag.embed.infer import relation_attention

    q = relation_attention(model)
    meta["metrics"] = metrics
    if len(valid):
        meta["calibration"] = calibrate(model, is_video, train, valid, test, DEFAULT_CANDIDATES, meta["seed"])
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    node = _run_node(meta, run_dir, status="done")
    try:  # 'done' goes last: a run whose results did not all reach Neo4j stays 'training', resumable
        write_relation_attention(store, meta["id"], relations, q.tolist())
        write_run(store, node)
    except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired):
        raise CliError(f"Neo4j stopped answering while run {meta['id']} was being stored; once it is back, "
                       f"finish it with `kgtag train --resume {meta['id']}`", EXIT_ENV) from None
    return node


VALID_QUERIES = 1000  # validation triples scored after each epoch (a seeded sample): bounded cost
CANDIDATES = ("range", "tags", "entities")
DEFAULT_CANDIDATES = "range"


def protocol(candidates: str, split: str = "test") -> str:
    """The words every printed or stored figure carries: what was ranked against what."""
    among = {"range": "the relation's range (tails seen with r in training; all tags where r has none)",
             "tags": "all tags (every non-video entity)", "entities": "all entities"}[candidates]
    return f"tail prediction (video, r, ?) on the {split} split, filtered (train + valid + test), candidates: {among}"


def warn_rangeless(candidates: str, train: torch.Tensor, queried: torch.Tensor, relations: list[str]) -> None:
    """Say which queried relations have no observed range (they are ranked among all tags instead)."""
    if candidates != "range":
        return
    missing = sorted(set(torch.unique(queried).tolist()) - set(torch.unique(train[:, 1]).tolist()))
    if missing:
        info(f"no tail seen in training for {', '.join(relations[r] for r in missing)}: "
             "their candidates are all tags instead of the relation's range")


def candidate_args(candidates: str, is_video: torch.Tensor, train: torch.Tensor) -> dict:
    """``evaluate`` keyword arguments for a candidate setting (range | tags | entities)."""
    if candidates not in CANDIDATES:
        raise CliError(f"--candidates must be one of {', '.join(CANDIDATES)}, got {candidates!r}", EXIT_INPUT)
    tags = torch.nonzero(~is_video).reshape(-1)
    if candidates == "range":
        return {"candidates": "relation", "constraint_triples": train, "range_fallback": tags}
    return {"candidates": tags if candidates == "tags" else None}


def validator(train, valid, test, is_video, seed: int):
    """Filtered MRR (range candidates) on a sample of the validation split, for early stopping and
    best-epoch restore. The filter holds the whole split; only the scored queries are sampled."""
    if len(valid) == 0:
        return None
    from kgtag.embed.evaluate import evaluate

    known = torch.cat([train, valid, test])
    if len(valid) > VALID_QUERIES:
        g = torch.Generator().manual_seed(seed)
        valid = valid[torch.randperm(len(valid), generator=g)[:VALID_QUERIES]]
    args = candidate_args(DEFAULT_CANDIDATES, is_video, train)
    return lambda model: evaluate(model, valid, filter_triples=known, **args)["filtered"]["mrr"]


def evaluate_run(model, relations, is_video, train, valid, test, candidates: str = DEFAULT_CANDIDATES) -> dict:
    """Tail prediction on the test split, raw and filtered (train+valid+test), overall and per
    relation, with the protocol named in the result."""
    from kgtag.embed.evaluate import evaluate

    warn_rangeless(candidates, train, test[:, 1], list(relations))
    metrics = evaluate(model, test, filter_triples=torch.cat([train, valid, test]), per_relation=True,
                       relation_names=list(relations), **candidate_args(candidates, is_video, train))
    metrics["protocol"] = protocol(candidates)
    metrics["candidates"] = candidates
    return metrics


def calibrate(model, is_video, train, valid, test, candidates: str, seed: int) -> dict:
    """Fit the confidence temperatures with the candidates and exclusions `infer` uses; the ECE is
    measured on validation queries held out of the fit. Returns the calibrator's report."""
    from kgtag.embed.evaluate import ConstraintIndex
    from kgtag.embed.infer import Calibrator

    tags = torch.nonzero(~is_video).reshape(-1)
    constraint = ConstraintIndex(train, "tail", model.num_entities, model.num_relations, tags) if candidates == "range" else None
    cal = Calibrator().fit(model, valid, exclude=torch.cat([train, valid, test]),
                           candidates=tags if candidates != "entities" else None, constraint=constraint, seed=seed)
    return {**cal.report(), "candidates": candidates}


def _configs_from(meta):
    from kgtag.embed.model import ModelConfig
    from kgtag.embed.train import TrainConfig

    mc = dict(meta["model_config"])
    mc["modalities"] = tuple(mc.get("modalities") or ())
    tc = dict(meta["train_config"])
    tfields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for k, v in list(tc.items()):  # JSON turned tuples into lists
        if k in tfields and isinstance(v, list):
            tc[k] = tuple(v)
    return ModelConfig(**mc), TrainConfig(**{k: v for k, v in tc.items() if k in tfields})


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


def _run_node(meta: dict, run_dir: Path, status: str) -> dict:
    metrics = meta.get("metrics") or {}
    flat = metrics.get("filtered") or metrics.get("raw") or {}
    params = {k: meta[k] for k in ("variant", "base", "modalities", "preset", "device", "seed", "split",
                                   "model_config", "train_config", "counts")}
    node = {
        "id": meta["id"], "created": meta["created"],
        "model": display_name(meta["variant"], meta["base"], meta["modalities"]),
        "base": meta["base"], "modalities": meta["modalities"],
        "params_json": json.dumps(params), "metrics_json": json.dumps(metrics),
        "checkpoint": str(run_dir), "status": status,
    }
    if "protocol" in metrics:
        node["protocol"], node["candidates"] = metrics["protocol"], metrics["candidates"]
    if "calibration" in meta:
        node["calibration_json"] = json.dumps(meta["calibration"])
    for key in ("mr", "mrr", "hits1", "hits3", "hits10"):
        if key in flat:
            node[key] = float(flat[key])
    return node


# ------------------------------------------------------------------------------------------ load
def run_node(store, run_id: str) -> dict:
    rows = store.query("status_run", routing="r", run=run_id)
    if not rows:
        raise RunNotFound(run_id)
    return dict(rows[0]["run"])


def run_dir_of(runs_dir: Path, run_id: str) -> Path:
    """The run's folder: always runs_dir/<run-id>, never a path taken from the graph (the Run node's
    `checkpoint` is only informative: whoever can write to Neo4j must not pick the files we load)."""
    root = Path(runs_dir).resolve()
    run_dir = (root / run_id).resolve()
    if run_dir.parent != root:  # '..', '/', a symlink out: the id must name a folder right under root
        raise CliError(f"run id {run_id!r} does not name a folder in the runs directory {root}")
    return run_dir


def _read(path: Path, load, fix: str):
    """load(path), or one line naming the damaged file and what to do (exit 2)."""
    try:
        return load(path)
    except FileNotFoundError:
        raise CliError(f"{path} is missing; {fix}") from None
    except Exception as exc:  # truncated, empty, foreign or hostile (weights_only refuses pickled code)
        from kgtag.embed.checkpoint import first_line

        raise CliError(f"{path} is damaged ({first_line(exc)}); {fix}") from None


def _load_tensors(path: Path):
    return torch.load(path, weights_only=True, map_location="cpu")


RUN_KEYS = {"id", "created", "variant", "base", "modalities", "preset", "device", "seed", "split", "counts",
            "model_config", "train_config"}
GRAPH_KEYS = {"entities", "relations", "is_video", "train", "valid", "test"}


def _run_files(store, run_id: str, runs_dir: Path):
    node = run_node(store, run_id)
    run_dir = run_dir_of(runs_dir, run_id)
    if not (run_dir / "run.json").is_file():
        where = f" (its Run node says {node['checkpoint']})" if node.get("checkpoint") else ""
        raise CliError(f"run {run_id}'s files are not in {run_dir}{where}; "
                       "give the runs directory it was trained in with --runs-dir")
    fix = "the run cannot be used: train a new one with `kgtag train`"
    meta = _read(run_dir / "run.json", lambda p: json.loads(p.read_text()), fix)
    saved = _read(run_dir / "graph.pt", _load_tensors, fix)
    if not isinstance(meta, dict) or not RUN_KEYS <= meta.keys() or not isinstance(saved, dict) \
            or not GRAPH_KEYS <= saved.keys():
        raise CliError(f"{run_dir} holds no complete kgtag run files (run.json, graph.pt); {fix}")
    return run_dir, meta, saved


def load_run(store, run_id: str, runs_dir: Path, device: str = "auto") -> LoadedRun:
    """The trained model of a finished run, with its id maps and split."""
    from kgtag.embed.model import build_model

    run_dir, meta, saved = _run_files(store, run_id, runs_dir)
    # a model.pt whose run never reached 'done' (Neo4j failed while storing it) is not a result yet
    if not (run_dir / "model.pt").is_file() or run_node(store, run_id).get("status") != "done":
        raise CliError(f"run {run_id} has not finished training; continue it with `kgtag train --resume {run_id}`")
    features = pull_features(store, meta["modalities"], saved["entities"])
    mconf, _ = _configs_from(meta)
    model = build_model(mconf, len(saved["entities"]), len(saved["relations"]), features)
    fix = f"rebuild it from the last checkpoint with `kgtag train --resume {run_id}`"
    _read(run_dir / "model.pt", lambda p: model.load_state_dict(_load_tensors(p)), fix)
    model = model.to(resolve_device(device)).eval()
    return LoadedRun(run_id, run_dir, meta, model, saved["entities"], saved["relations"], saved["is_video"],
                     saved["train"], saved["valid"], saved["test"])


# ------------------------------------------------------------------------------------------ infer
@dataclass
class Inferred:
    videos: list[str]  # one per (video, relation) query
    relations: list[str]
    tails: torch.Tensor  # LongTensor[Q, k] entity ids, -1 = none
    scores: torch.Tensor
    confidence: torch.Tensor
    rank: torch.Tensor
    calibration: dict


def tag_relations(run: LoadedRun) -> list[str]:
    """Relations that link videos to tags in the training graph: the ones worth inferring."""
    t = run.known
    mask = run.is_video[t[:, 0]] & ~run.is_video[t[:, 2]]
    return [run.relations[i] for i in torch.unique(t[mask, 1]).tolist()]


def select_videos(run: LoadedRun, video_ids: tuple[str, ...] | None) -> list[str]:
    if not video_ids:
        return [e for e, v in zip(run.entities, run.is_video.tolist()) if v]
    known = set(run.entities)
    missing = [v for v in video_ids if v not in known]
    if missing:
        raise CliError(f"unknown video id(s) for run {run.run_id}: {', '.join(missing[:5])}"
                       + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return list(video_ids)


def infer_run(store, run: LoadedRun, videos: list[str], relations: list[str] | None, k: int,
              candidates: str = DEFAULT_CANDIDATES) -> Inferred:
    """Top-k tags per (video, relation) with calibrated confidences; excludes tags the video already
    has (every triple now in the graph) and edges curators rejected. The calibration fitted at
    training time is used when it was fitted for these candidates; otherwise one is fitted now."""
    from kgtag.embed.evaluate import ConstraintIndex
    from kgtag.embed.infer import Calibrator, predict
    from kgtag.kgstore.read import read_graph

    relations = list(relations) if relations else tag_relations(run)
    unknown = [r for r in relations if r not in run.relations]
    if unknown:
        raise CliError(f"unknown relation(s) for run {run.run_id}: {', '.join(unknown)}")
    current = remap(read_graph(store), run.entities, run.relations)
    exclude = torch.cat([run.known, current, known_negatives(store, run.entities, run.relations)])
    candidate_args(candidates, run.is_video, run.train)  # checks the name
    tags = torch.nonzero(~run.is_video).reshape(-1)
    constraint = None
    if candidates == "range":
        constraint = ConstraintIndex(run.train, "tail", run.model.num_entities, run.model.num_relations, tags)
    stored = run.meta.get("calibration")
    if stored and stored.get("candidates") == candidates:
        report = stored
    elif len(run.valid):
        info(f"fitting confidences for --candidates {candidates} on the run's validation split")
        report = calibrate(run.model, run.is_video, run.train, run.valid, run.test, candidates, run.meta["seed"])
    else:
        info("no validation triples in this run: confidences use temperature 1 (uncalibrated)")
        report = {**Calibrator().report(), "candidates": candidates}
    calibrator = Calibrator.from_report(report)
    ent, rel = run.entity_index, run.relation_index
    q_videos = [v for r in relations for v in videos]
    q_rels = [r for r in relations for _ in videos]
    heads = torch.tensor([ent[v] for v in q_videos], dtype=torch.long)
    rels = torch.tensor([rel[r] for r in q_rels], dtype=torch.long)
    warn_rangeless(candidates, run.train, rels, run.relations)
    cand = None if candidates == "entities" else tags
    pred = predict(run.model, heads, rels, k, calibrator, exclude=exclude, candidates=cand, constraint=constraint)
    return Inferred(q_videos, q_rels, pred.tails, pred.scores, pred.confidence, pred.rank, report)


def write_inferred(store, run: LoadedRun, inferred: Inferred) -> int:
    """Store the INFERRED edges and the inferred videos' modality attention; returns the edge count."""
    from kgtag.embed.infer import modality_attention
    from kgtag.kgstore.results import write_inferred as write_edges
    from kgtag.kgstore.results import write_modality_attention

    live = inferred.tails >= 0
    q_idx, col = torch.nonzero(live, as_tuple=True)
    q_idx_l = q_idx.tolist()
    write_edges(
        store, run.run_id,
        [inferred.videos[i] for i in q_idx_l],
        [inferred.relations[i] for i in q_idx_l],
        [run.entities[t] for t in inferred.tails[live].tolist()],
        inferred.scores[live].numpy(), inferred.confidence[live].numpy(), inferred.rank[live].numpy(),
    )
    videos = sorted(set(inferred.videos))
    if len(run.model.segment_names) > 1:
        names, weights = modality_attention(run.model, torch.tensor([run.entity_index[v] for v in videos]))
        write_modality_attention(store, run.run_id, videos, names, weights.numpy())
    return int(live.sum())
