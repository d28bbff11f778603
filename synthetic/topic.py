"""A second synthetic video KG: one latent topic drives the tags of several relations.

Built to catch a model that answers every relation with the same tags. Each video has a topic, a leaf
of a three-level category tree (``category_1`` > ``category_2`` > ``category_3``), and the tags of
four relations follow from it: the three category levels and the ``contains`` objects (typical
objects of the topic). A model that only learns "videos of this topic are near these tags" ranks
``cat3_25`` first for ``category_1``: the relation must pick the tag *kind* as well.

The other relations have other causes:

* ``has_characters`` (Male, Female, Child, Animal, ...): partly the topic, partly chance; seen by vision.
* ``bgm_style``: music, loosely tied to the topic; seen by audio.
* ``language``: seen by audio (speech) and by the title text.
* ``src_flag`` (UGC, PGC, ...) and ``series``: properties of the uploader, known to the graph only
  (``uploaded_by`` stays a training edge); no modality sees them.
* ``mood_noise``: a tag drawn at random for every video, unpredictable by anything.
* ``subcategory_of`` (tag-tag): the category tree.

Vision (512-d) sees the topic (with its parents), the objects and the characters; audio (128-d) the
music and the language; text (256-d) is a bag of word vectors of the title, which names the topic in
about half of the videos. Some videos miss modalities; a fraction is *cold* (features, no edges).
``generate(seed, n_videos)`` returns a :class:`kgtag.synthetic.channel.SyntheticKG`.
"""

from __future__ import annotations

import numpy as np
import torch

from .channel import SyntheticKG
from .parts import by_rows, observed, split_held_out, unit_rows, zipf

RELATIONS = [
    "category_1", "category_2", "category_3", "contains", "has_characters", "bgm_style", "language",
    "src_flag", "series", "mood_noise", "uploaded_by", "subcategory_of",
]
RELATION_KIND = {
    "category_1": "content", "category_2": "content", "category_3": "content", "contains": "content",
    "has_characters": "content", "bgm_style": "music", "language": "language", "src_flag": "meta",
    "series": "meta", "mood_noise": "noise", "uploaded_by": "graph", "subcategory_of": "tag-tag",
}
HELD_OUT_RELATIONS = tuple(r for r in RELATIONS if r not in ("uploaded_by", "subcategory_of"))
CHARACTERS = ["Male", "Female", "Child", "Elderly", "Animal", "Cartoon", "Crowd", "No People"]
MUSIC = ["Pop", "Rock", "Hip Hop", "Classical", "Electronic", "Jazz", "Folk", "Lo-Fi", "K-Pop", "Country", "None"]
LANGUAGES = ["zh", "en", "es", "hi", "ar", "pt", "ru", "ja", "ko", "fr", "de", "id"]
SOURCES = ["UGC", "PGC", "Reupload", "Live Clip", "Ad"]
DEFAULT_DIMS = {"vision": 512, "audio": 128, "text": 256}
DEFAULT_MISSING = {"vision": 0.02, "audio": 0.2, "text": 0.1}


def generate(
    seed: int = 0,
    n_videos: int = 6000,
    branching: tuple[int, int, int] = (8, 4, 4),
    n_objects: int = 240,
    dims: dict[str, int] | None = None,
    missing: dict[str, float] | None = None,
    cold_fraction: float = 0.04,
    valid_fraction: float = 0.06,
    test_fraction: float = 0.15,
    informative_titles: float = 0.5,
    noise: float = 1.5,
) -> SyntheticKG:
    """Generate the topic-correlated video KG; the same arguments always give the same graph.

    Args:
        branching: number of category_1 values, and children per category_1 and per category_2.
        n_objects: size of the ``contains`` vocabulary (each topic has 6 typical objects).
        noise: feature noise standard deviation relative to the signal's per-dimension spread.
    """
    if n_videos < 20:
        raise ValueError(f"n_videos must be at least 20, got {n_videos}")
    dims = dict(DEFAULT_DIMS if dims is None else dims)
    missing = {**DEFAULT_MISSING, **(missing or {})}
    rng = np.random.default_rng(seed)
    b1, b2, b3 = branching
    n2, n3 = b1 * b2, b1 * b2 * b3
    cat1 = [f"cat1_{i}" for i in range(b1)]
    cat2 = [f"cat2_{i}" for i in range(n2)]
    cat3 = [f"cat3_{i}" for i in range(n3)]
    parent3, parent2 = np.arange(n3) // b3, np.arange(n2) // b2
    objects = [f"object_{i}" for i in range(n_objects)]
    n_up = max(10, n_videos // 25)
    uploaders = [f"channel_{i:04d}" for i in range(n_up)]
    n_series = max(5, n_up // 3)
    series = [f"series_{i:03d}" for i in range(n_series)]
    moods = [f"mood_{i}" for i in range(40)]

    # --- latent structure: topics have typical objects, characters and music; uploaders a source,
    # a series and two favourite topics
    topic_objects = np.stack([rng.choice(n_objects, 6, replace=False) for _ in range(n3)])
    topic_chars = rng.dirichlet(np.full(len(CHARACTERS), 0.3), size=n3)
    topic_music = rng.dirichlet(np.full(len(MUSIC), 0.5), size=n3)
    up_topics = rng.integers(0, n3, size=(n_up, 2))
    up_source = rng.choice(len(SOURCES), size=n_up, p=[0.5, 0.25, 0.1, 0.1, 0.05])
    up_series = rng.integers(0, n_series, size=n_up)
    up_language = rng.choice(len(LANGUAGES), size=n_up, p=zipf(len(LANGUAGES), 1.0))

    up_of = rng.integers(0, n_up, size=n_videos)
    topic_of = np.where(rng.random(n_videos) < 0.5, up_topics[up_of, rng.integers(0, 2, n_videos)],
                        rng.choice(n3, size=n_videos, p=zipf(n3, 0.6)))
    language_of = np.where(rng.random(n_videos) < 0.85, up_language[up_of], rng.integers(0, len(LANGUAGES), n_videos))
    char_of = _sample_rows(rng, topic_chars[topic_of])
    music_of = _sample_rows(rng, topic_music[topic_of])
    n_obj = rng.integers(1, 4, size=n_videos)
    typical = topic_objects[topic_of]
    objs_of = [typical[v, rng.choice(6, n_obj[v], replace=False)] for v in range(n_videos)]
    for v in np.nonzero(rng.random(n_videos) < 0.2)[0]:  # now and then an atypical object
        objs_of[v] = np.unique(np.append(objs_of[v], rng.integers(n_objects)))
    has_series = rng.random(n_videos) < 0.7
    mood_of = rng.integers(0, len(moods), size=n_videos)

    # --- entities, relations, triples
    video_names = [f"video_{v:06d}" for v in range(n_videos)]
    tags = cat1 + cat2 + cat3 + objects + CHARACTERS + MUSIC + LANGUAGES + SOURCES + series + moods + uploaders
    entities = video_names + tags
    eid = {name: i for i, name in enumerate(entities)}
    rid = {r: i for i, r in enumerate(RELATIONS)}
    rows = []

    def edges(rel: str, videos: np.ndarray, names: list[str], values: np.ndarray) -> None:
        ids = np.array([eid[n] for n in names])[values]
        rows.append(np.stack([videos, np.full(len(videos), rid[rel]), ids], 1))

    all_v = np.arange(n_videos)
    topic2 = parent3[topic_of]
    edges("category_3", all_v, cat3, topic_of)
    edges("category_2", all_v, cat2, topic2)
    edges("category_1", all_v, cat1, parent2[topic2])
    obj_v = np.repeat(all_v, [len(o) for o in objs_of])
    edges("contains", obj_v, objects, np.concatenate(objs_of))
    edges("has_characters", all_v, CHARACTERS, char_of)
    edges("bgm_style", all_v, MUSIC, music_of)
    edges("language", all_v, LANGUAGES, language_of)
    edges("src_flag", all_v, SOURCES, up_source[up_of])
    edges("series", all_v[has_series], series, up_series[up_of[has_series]])
    edges("mood_noise", all_v, moods, mood_of)
    edges("uploaded_by", all_v, uploaders, up_of)
    vt = torch.from_numpy(np.concatenate(rows)).long()
    tag_triples = [(cat3[i], "subcategory_of", cat2[parent3[i]]) for i in range(n3)]
    tag_triples += [(cat2[i], "subcategory_of", cat1[parent2[i]]) for i in range(n2)]
    tt = torch.tensor([(eid[h], rid[r], eid[t]) for h, r, t in tag_triples], dtype=torch.long)

    cold = np.zeros(n_videos, dtype=bool)
    cold[rng.choice(n_videos, size=max(1, int(round(cold_fraction * n_videos))), replace=False)] = True
    train, valid, test, test_cold = split_held_out(rng, vt, tt, cold, [rid[r] for r in HELD_OUT_RELATIONS],
                                           valid_fraction, test_fraction)

    # --- titles: half name the topic (and an object), the rest are generic; words -> random vectors
    informative = rng.random(n_videos) < informative_titles
    title_words = [
        [f"w{topic_of[v]}", f"o{objs_of[v][0]}", f"lang{language_of[v]}"] if informative[v]
        else [f"g{rng.integers(60)}", f"g{rng.integers(60)}", f"lang{language_of[v]}"]
        for v in range(n_videos)
    ]
    titles = {video_names[v]: " ".join(title_words[v]) for v in range(n_videos)}

    E = len(entities)
    features = {}
    for name, d in dims.items():
        if name == "vision":
            t3, t2, t1 = unit_rows(rng, n3, d), unit_rows(rng, n2, d), unit_rows(rng, b1, d)
            ov, cv = unit_rows(rng, n_objects, d), unit_rows(rng, len(CHARACTERS), d)
            signal = by_rows(n_videos, d, lambda r: t3[topic_of[r]] + 0.7 * t2[topic2[r]] + 0.5 * t1[parent2[topic2[r]]]
                             + 0.6 * cv[char_of[r]] + 0.8 * np.stack([ov[o].mean(0) for o in objs_of[r]]))
        elif name == "audio":
            mv, lv = unit_rows(rng, len(MUSIC), d), unit_rows(rng, len(LANGUAGES), d)
            signal = mv[music_of] + lv[language_of]
        else:  # text, or any other modality: a bag of random word vectors of the title
            vocab = sorted({w for ws in title_words for w in ws})
            vec = dict(zip(vocab, rng.standard_normal((len(vocab), d))))
            signal = by_rows(n_videos, d, lambda r: np.stack([np.mean([vec[w] for w in ws], 0) for ws in title_words[r]]))
        features[name] = observed(rng, signal, noise, E, missing.get(name, 0.0), cold if name == "vision" else None)

    is_video = torch.zeros(E, dtype=torch.bool)
    is_video[:n_videos] = True
    return SyntheticKG(
        entities=entities, relations=list(RELATIONS), is_video=is_video, train=train, valid=valid, test=test,
        test_cold=test_cold, features=features, cold_videos=torch.from_numpy(np.nonzero(cold)[0]).long(),
        titles=titles, tag_triples=tag_triples, seed=seed, relation_kind=dict(RELATION_KIND),
    )



def _sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of a [n, k] probability matrix, vectorised."""
    u = rng.random((probs.shape[0], 1))
    return np.minimum((probs.cumsum(1) < u).sum(1), probs.shape[1] - 1)
