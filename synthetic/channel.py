"""A seeded synthetic video knowledge graph with known latent factors (for tests, benches and the demo).

Each video has three latent causes, and each modality sees only some of them — the situation
TransFusion is built for (paper sections 3-4, Figure 1):

* **content** — a topic (``category_2``, under a coarse ``category_1``) and 2-3 generic visual objects
  (``has_object``: "dog", "ball", "kitchen", ...; each topic has a few typical ones, any other shows up
  now and then, and one object can belong to many topics). The *vision* features see the topic and
  the objects; the graph only knows which objects go with which topics.
* **music** — a background-music style (``bgm_style``), loosely tied to the topic. The *audio* features
  see the style (and a little of the topic).
* **channel** — who posted it (``uploaded_by``, always a training edge) and the channel's meta tags
  (``meta_tag``) that its videos carry: the channel's hashtag ("#happypanda12", one per uploader),
  its label ("Official Channel", "Region: South", ..., shared by a few uploaders) and one of its two
  series ("Series: Happy Panda 12 Weekly"). An uploader prefers two topics (60% of its videos). No
  modality sees the channel: a held-out meta tag is learnable from the graph (the video's uploader
  edge and its other meta tags: what TransE and TransFusion's knowledge segment pick up), not from
  the features (B3, modalities only, can only guess it from the topic preference). Meta tags are
  about 30% of the held-out edges.
* **text** is the generated title: about half the titles describe the content, the rest are
  click-bait; the text features are a bag of random word vectors of the title plus noise.

So the graph alone is weak on content (TransE), the features alone are blind to the channel (B3),
and the fused model can have both (the ablation in ``bench/ablation.py``).

Tag-tag triples: topics are ``subcategory_of`` their category, objects of their group ("Animal",
"Scene", ...). Some videos miss some modalities. A fraction of videos is *cold*: features, a title,
no edges at all (Figure 1's "video 4"); their true tags are only in ``test_cold``.

``generate(seed, n_videos)`` returns a :class:`SyntheticKG` holding the tensors (triples, splits,
features with masks) and able to ``write(folder)`` the sample files of the contracts (videos.jsonl,
mapping.toml, tags.tsv, features_<modality>.parquet); ``bench/make_sample.py`` writes the bundled sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .parts import observed, split_held_out, unit_rows

CATEGORIES = {
    "Animals": ["Cats", "Dogs", "Birds", "Aquarium"],
    "Food": ["Recipes", "Street Food", "Baking", "Mukbang"],
    "Sports": ["Football", "Basketball", "Fitness", "Skateboarding"],
    "Music": ["Guitar Covers", "Dance", "Karaoke"],
    "Technology": ["Smartphones", "Gaming", "DIY Electronics"],
    "Travel": ["Hiking", "City Walks", "Beaches"],
}
#: generic visual objects (``has_object`` tags), grouped (``subcategory_of`` their group); shared by topics
OBJECT_GROUPS = {
    "Animal": ["cat", "dog", "bird", "fish", "horse"],
    "Person": ["child", "crowd", "chef", "athlete", "dancer"],
    "Food & Drink": ["cake", "noodles", "coffee", "pizza", "fruit"],
    "Gear": ["ball", "bicycle", "skateboard", "dumbbell", "guitar", "microphone"],
    "Device": ["smartphone", "laptop", "game controller", "camera", "circuit board"],
    "Scene": ["kitchen", "stage", "street", "mountain", "beach", "stadium", "night sky"],
}
#: the objects typical of each topic (others still occur now and then)
TOPIC_OBJECTS = {
    "Cats": ["cat", "child", "camera"], "Dogs": ["dog", "child", "ball", "beach"],
    "Birds": ["bird", "camera", "mountain"], "Aquarium": ["fish", "child", "camera"],
    "Recipes": ["kitchen", "chef", "noodles", "cake"], "Street Food": ["street", "noodles", "crowd", "pizza"],
    "Baking": ["cake", "kitchen", "fruit"], "Mukbang": ["noodles", "pizza", "microphone", "coffee"],
    "Football": ["ball", "stadium", "athlete", "crowd"], "Basketball": ["ball", "athlete", "stadium"],
    "Fitness": ["dumbbell", "athlete", "fruit"], "Skateboarding": ["skateboard", "street", "camera"],
    "Guitar Covers": ["guitar", "microphone", "stage"], "Dance": ["dancer", "stage", "crowd"],
    "Karaoke": ["microphone", "crowd", "night sky"], "Smartphones": ["smartphone", "camera", "laptop"],
    "Gaming": ["game controller", "laptop", "microphone"], "DIY Electronics": ["circuit board", "laptop", "camera"],
    "Hiking": ["mountain", "dog", "night sky"], "City Walks": ["street", "crowd", "coffee", "bicycle"],
    "Beaches": ["beach", "child", "fruit"],
}
#: words that informative titles add after an object ("Dogs: ball tutorial")
TITLE_STYLES = ["tutorial", "compilation", "close-up", "challenge", "review", "vlog", "at night", "funny moments"]
MUSIC = ["Pop", "Rock", "Hip Hop", "Classical", "Electronic", "Jazz", "Folk", "Lo-Fi", "K-Pop", "Country"]
#: channel labels: each uploader has one, shared with a few others
META = [
    "Official Channel", "MCN Partner", "Verified Creator", "Sponsored", "Reupload", "Original Content",
    "Series: Daily Vlog", "Series: Weekend Special", "Region: North", "Region: South", "Region: East",
    "Region: West", "Live Replay", "Collab", "Brand Account", "Student Creator", "Pro Team", "Amateur",
    "Editor's Pick", "Family Friendly", "Long Form", "Shorts", "Premiere", "Podcast Clip",
    "Behind The Scenes", "Charity", "Contest Entry", "Throwback", "Travel Diary", "Nightlife",
]
CLICKBAIT = [
    "You won't believe what happened", "Watch till the end", "This changed everything", "Don't skip this",
    "OMG this is insane", "I tried it so you don't have to", "The result shocked me", "Day {n} of my challenge",
    "Part {n}", "Best video ever?", "Wait for it...", "Nobody expected this",
]
#: the shows of an uploader's series ("Series: Happy Panda 12 Weekly")
SHOWS = ["Weekly", "Daily", "Diaries", "Live", "Stories", "Challenge", "Lab", "Originals", "Shorts", "Q&A"]
HANDLE_A = ["happy", "lazy", "tiny", "wild", "urban", "golden", "silent", "cosmic", "rapid", "mellow", "brave", "sunny"]
HANDLE_B = ["panda", "fox", "chef", "rider", "owl", "studio", "nomad", "tiger", "pixel", "otter", "wave", "lab"]

RELATIONS = ["category_1", "category_2", "has_object", "bgm_style", "meta_tag", "uploaded_by", "subcategory_of"]
#: which latent factor each video relation reflects (what each modality can and cannot see)
RELATION_KIND = {
    "category_1": "content", "category_2": "content", "has_object": "content",
    "bgm_style": "music", "meta_tag": "meta", "uploaded_by": "graph", "subcategory_of": "tag-tag",
}
#: video relations whose edges may be held out for valid/test (uploader edges always stay known)
HELD_OUT_RELATIONS = ("category_1", "category_2", "has_object", "bgm_style", "meta_tag")
#: latent structure: share of an uploader's videos on its two preferred topics; weight of an atypical
#: object of a topic (a typical one weighs 1); chance that a video carries its channel's hashtag,
#: its channel label, and one of its channel's N_SERIES series
UPLOADER_FOCUS, ATYPICAL = 0.6, 0.03
P_HASHTAG, P_LABEL, P_SERIES, N_SERIES = 0.9, 0.9, 0.6, 2
DEFAULT_DIMS = {"vision": 64, "audio": 32, "text": 48}
DEFAULT_MISSING = {"vision": 0.03, "audio": 0.15, "text": 0.05}


@dataclass
class SyntheticKG:
    """A generated video KG: names, id tensors, splits, features, and the raw video records."""

    entities: list[str]
    relations: list[str]
    is_video: torch.Tensor  # BoolTensor[E]
    train: torch.Tensor  # LongTensor[N, 3] (h, r, t)
    valid: torch.Tensor
    test: torch.Tensor  # held-out edges of videos that keep other edges
    test_cold: torch.Tensor  # all edges of the cold videos (features only, no training edges)
    features: dict[str, tuple[torch.Tensor, torch.Tensor]]  # name -> (FloatTensor[E, d], BoolTensor[E])
    cold_videos: torch.Tensor  # LongTensor of entity ids
    titles: dict[str, str]
    records: list[dict] = field(repr=False, default_factory=list)
    tag_triples: list[tuple[str, str, str]] = field(repr=False, default_factory=list)
    seed: int = 0
    relation_kind: dict[str, str] = field(default_factory=lambda: dict(RELATION_KIND))

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def all_triples(self) -> torch.Tensor:
        """train + valid + test + test_cold: the filter for filtered ranks."""
        return torch.cat([self.train, self.valid, self.test, self.test_cold])

    def relation_id(self, name: str) -> int:
        return self.relations.index(name)

    def select(self, triples: torch.Tensor, kinds: tuple[str, ...]) -> torch.Tensor:
        """The rows of ``triples`` whose relation is of one of ``kinds`` (see ``relation_kind``)."""
        ids = torch.tensor([i for i, r in enumerate(self.relations) if self.relation_kind.get(r) in kinds])
        return triples[torch.isin(triples[:, 1], ids)]

    # ------------------------------------------------------------------------------ sample files
    def write(self, folder) -> list[Path]:
        """Write videos.jsonl, mapping.toml, tags.tsv and features_<modality>.parquet into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        path = folder / "videos.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for rec in self.records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        written.append(path)
        path = folder / "mapping.toml"
        path.write_text(MAPPING_TOML, encoding="utf-8")
        written.append(path)
        path = folder / "tags.tsv"
        path.write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in self.tag_triples), encoding="utf-8")
        written.append(path)
        for name, (matrix, mask) in self.features.items():
            rows = torch.nonzero(mask)[:, 0].tolist()
            vectors = matrix[mask].numpy().astype(np.float32)
            table = pa.table(
                {
                    "id": pa.array([self.entities[i] for i in rows], pa.string()),
                    "vector": pa.array(list(vectors), pa.list_(pa.float32())),
                }
            )
            path = folder / f"features_{name}.parquet"
            pq.write_table(table, path, compression="zstd")
            written.append(path)
        return written


MAPPING_TOML = """\
# How videos.jsonl turns into triples (see the kgstore mapper, paper section 3.1.2).
id_field = "id"
properties = ["title"]
drop = ["internal_score"]
unmapped = "error"

[relations.category_1]
relation = "category_1"

[relations.category_2]
relation = "category_2"

[relations.has_object]
relation = "has_object"
normalize = "lower"

[relations.bgm_style]
relation = "bgm_style"

[relations.meta_tag]
relation = "meta_tag"
split = ","

[relations.uploader]
relation = "uploaded_by"
"""


def generate(
    seed: int = 0,
    n_videos: int = 3000,
    dims: dict[str, int] | None = None,
    missing: dict[str, float] | None = None,
    n_uploaders: int | None = None,
    cold_fraction: float = 0.05,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.15,
    informative_titles: float = 0.55,
    noise: float = 1.0,
) -> SyntheticKG:
    """Generate a video KG; the same arguments always give the same graph and features.

    Args:
        dims: feature dimension per modality (default vision 64, audio 32, text 48).
        missing: probability that a video lacks each modality (cold videos always have vision).
        cold_fraction: share of videos with features but no edges (their edges form ``test_cold``).
        valid_fraction, test_fraction: share of the other videos' held-out-able edges
            (category, objects, music, meta tags) moved to valid / test.
        informative_titles: share of titles that describe the content (the rest are click-bait).
        noise: feature noise standard deviation, relative to the signal's per-dimension spread.
    """
    if n_videos < 10:
        raise ValueError(f"n_videos must be at least 10, got {n_videos}")
    dims = dict(DEFAULT_DIMS if dims is None else dims)
    missing = {**DEFAULT_MISSING, **(missing or {})}
    rng = np.random.default_rng(seed)
    n_up = n_uploaders or max(8, n_videos // 20)

    categories = list(CATEGORIES)
    topics = [t for c in categories for t in CATEGORIES[c]]
    topic_cat = [categories.index(c) for c in categories for _ in CATEGORIES[c]]
    object_names = [o for group in OBJECT_GROUPS.values() for o in group]
    object_group = [g for g, group in OBJECT_GROUPS.items() for _ in group]
    handles = set()
    while len(handles) < n_up:
        handles.add(f"@{rng.choice(HANDLE_A)}_{rng.choice(HANDLE_B)}_{rng.integers(1, 100)}")
    uploaders = sorted(handles)

    # --- latent structure
    T, D, M = len(topics), len(object_names), len(MUSIC)
    object_pop = np.full((T, D), ATYPICAL)  # typical objects of a topic are common, others rare
    for ti, topic in enumerate(topics):
        object_pop[ti, [object_names.index(o) for o in TOPIC_OBJECTS[topic]]] = 1.0
    object_pop /= object_pop.sum(1, keepdims=True)
    topic_music = rng.dirichlet(np.full(M, 0.4), size=T)
    up_topics = [rng.choice(T, size=2, replace=False) for _ in range(n_up)]
    # channel meta tags: a hashtag per uploader, a channel label (shared by a few uploaders), 2 series
    meta_names = list(META)
    up_label = rng.permutation(np.resize(np.arange(len(META)), n_up))
    up_hashtag, up_series = [], []
    for u, handle in enumerate(uploaders):
        up_hashtag.append(len(meta_names))
        meta_names.append("#" + handle[1:].replace("_", ""))
        shows = rng.choice(len(SHOWS), size=N_SERIES, replace=False)
        up_series.append([len(meta_names) + i for i in range(N_SERIES)])
        meta_names += [f"Series: {handle[1:].replace('_', ' ').title()} {SHOWS[sh]}" for sh in shows]
    up_of = rng.integers(0, n_up, size=n_videos)
    topic_of = np.empty(n_videos, dtype=int)
    for v in range(n_videos):
        prefs = up_topics[up_of[v]]
        topic_of[v] = rng.choice(prefs) if rng.random() < UPLOADER_FOCUS else rng.integers(T)
    music_of = np.array([rng.choice(M, p=topic_music[t]) for t in topic_of])
    objs_of = [rng.choice(D, size=rng.integers(2, 4), replace=False, p=object_pop[t]) for t in topic_of]
    meta_of = []
    for v in range(n_videos):
        u = up_of[v]
        ms = [m for m, p in ((up_hashtag[u], P_HASHTAG), (up_label[u], P_LABEL)) if rng.random() < p]
        if rng.random() < P_SERIES:
            ms.append(up_series[u][rng.integers(N_SERIES)])
        meta_of.append(ms)

    # --- entity table: videos first, then tags
    video_names = [f"v{v + 1:05d}" for v in range(n_videos)]
    tag_names = categories + topics + list(OBJECT_GROUPS) + object_names + MUSIC + meta_names + uploaders
    entities = video_names + tag_names
    eid = {name: i for i, name in enumerate(entities)}
    if len(eid) != len(entities):
        raise AssertionError("tag names collide")
    rid = {r: i for i, r in enumerate(RELATIONS)}

    # --- cold videos and titles
    cold = np.zeros(n_videos, dtype=bool)
    cold[rng.choice(n_videos, size=max(1, int(round(cold_fraction * n_videos))), replace=False)] = True
    titles = []
    for v in range(n_videos):
        topic = topics[topic_of[v]]
        if rng.random() < informative_titles:
            desc = f"{object_names[objs_of[v][0]]} {rng.choice(TITLE_STYLES)}"
            pattern = rng.integers(4)
            title = [
                f"{topic}: {desc}",
                f"Best {topic.lower()} {desc} this week",
                f"My {topic.lower()} {desc} #{rng.integers(1, 50)}",
                f"{topic} {desc} with {MUSIC[music_of[v]].lower()} music",
            ][pattern]
        else:
            title = str(rng.choice(CLICKBAIT)).format(n=rng.integers(2, 30))
        titles.append(title)

    # --- triples
    video_triples = []
    records = []
    for v in range(n_videos):
        ti = topic_of[v]
        rec_objects = [object_names[d] for d in objs_of[v]]
        rec_meta = [meta_names[m] for m in meta_of[v]]
        edges = [("category_1", categories[topic_cat[ti]]), ("category_2", topics[ti])]
        edges += [("has_object", o) for o in rec_objects]
        edges += [("bgm_style", MUSIC[music_of[v]])]
        edges += [("meta_tag", m) for m in rec_meta]
        edges += [("uploaded_by", uploaders[up_of[v]])]
        for rel, tag in edges:
            video_triples.append((v, rid[rel], eid[tag]))
        record = {"id": video_names[v], "title": titles[v], "internal_score": round(float(rng.random()), 3)}
        if not cold[v]:
            record.update(
                category_1=categories[topic_cat[ti]],
                category_2=topics[ti],
                has_object=[o.title() for o in rec_objects],  # the mapping lower-cases them
                bgm_style=MUSIC[music_of[v]],
                uploader=uploaders[up_of[v]],
            )
            if rec_meta:
                record["meta_tag"] = ", ".join(rec_meta)  # the mapping splits on ","
        records.append(record)
    tag_triples = [(topics[ti], "subcategory_of", categories[topic_cat[ti]]) for ti in range(T)]
    tag_triples += [(o, "subcategory_of", g) for o, g in zip(object_names, object_group)]
    vt = torch.tensor(video_triples, dtype=torch.long)
    tt = torch.tensor([(eid[h], rid[r], eid[t]) for h, r, t in tag_triples], dtype=torch.long)

    # --- splits: cold videos' edges -> test_cold; other held-out-able edges -> valid/test at random
    train, valid, test, test_cold = split_held_out(rng, vt, tt, cold, [rid[r] for r in HELD_OUT_RELATIONS],
                                                   valid_fraction, test_fraction)

    # --- features; title words get random vectors, drawn in sorted order so the seed fixes them
    words_of = [titles[v].lower().replace(":", " ").split() for v in range(n_videos)]
    vocab = sorted({w for ws in words_of for w in ws})

    E = len(entities)
    features = {}
    for name, d in dims.items():
        if name == "vision":
            topic_vec, object_vec = unit_rows(rng, T, d), unit_rows(rng, D, d)
            signal = topic_vec[topic_of] + np.stack([object_vec[objs_of[v]].mean(0) for v in range(n_videos)])
        elif name == "audio":
            music_vec, topic_vec = unit_rows(rng, M, d), unit_rows(rng, T, d)
            signal = music_vec[music_of] + 0.3 * topic_vec[topic_of]
        elif name == "text":
            vec = dict(zip(vocab, rng.standard_normal((len(vocab), d))))
            signal = np.stack([np.mean([vec[w] for w in words_of[v]], 0) for v in range(n_videos)])
            signal /= np.linalg.norm(signal, axis=1, keepdims=True) + 1e-9
        else:  # any other modality: a random view of content and music
            a, b = unit_rows(rng, T, d), unit_rows(rng, M, d)
            signal = a[topic_of] + b[music_of]
        features[name] = observed(rng, signal, noise, E, missing.get(name, 0.0), cold if name == "vision" else None)

    is_video = torch.zeros(E, dtype=torch.bool)
    is_video[:n_videos] = True
    return SyntheticKG(
        entities=entities,
        relations=list(RELATIONS),
        is_video=is_video,
        train=train,
        valid=valid,
        test=test,
        test_cold=test_cold,
        features=features,
        cold_videos=torch.nonzero(torch.from_numpy(cold))[:, 0],
        titles=dict(zip(video_names, titles)),
        records=records,
        tag_triples=tag_triples,
        seed=seed,
    )

