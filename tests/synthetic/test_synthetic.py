"""The synthetic video-KG generator: seeded, well-formed splits, files in the contract format, and
modalities that see what they are meant to see."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from kgtag.synthetic.channel import RELATION_KIND, generate


@pytest.fixture(scope="module")
def kg():
    return generate(seed=7, n_videos=400)


def test_same_seed_same_graph_and_features(kg):
    again = generate(seed=7, n_videos=400)
    other = generate(seed=8, n_videos=400)
    assert again.entities == kg.entities and again.titles == kg.titles
    for split in ("train", "valid", "test", "test_cold"):
        assert torch.equal(getattr(again, split), getattr(kg, split))
    for name, (x, mask) in kg.features.items():
        assert torch.equal(again.features[name][0], x) and torch.equal(again.features[name][1], mask)
    assert not torch.equal(other.train, kg.train)


def test_splits(kg):
    keys = lambda t: set(map(tuple, t.tolist()))  # noqa: E731
    train, valid, test, cold = (keys(getattr(kg, s)) for s in ("train", "valid", "test", "test_cold"))
    assert not (train & valid or train & test or valid & test or cold & (train | valid | test))
    assert len(test) > 100 and len(valid) > 20
    cold_ids = set(kg.cold_videos.tolist())
    assert cold_ids and all(h in cold_ids for h, _, _ in cold)
    # cold videos: no edge anywhere except test_cold, yet vision features
    assert not any(h in cold_ids or t in cold_ids for h, _, t in train | valid | test)
    assert kg.features["vision"][1][kg.cold_videos].all()
    # every warm video keeps its uploader edge in train; tag-tag triples are all in train
    up = kg.relation_id("uploaded_by")
    warm = set(torch.nonzero(kg.is_video)[:, 0].tolist()) - cold_ids
    assert {h for h, r, _ in train if r == up} == warm
    sub = kg.relation_id("subcategory_of")
    assert all(not kg.is_video[h] and not kg.is_video[t] for h, r, t in train if r == sub)
    # heads of held-out edges are videos, tails are tags
    assert kg.is_video[kg.test[:, 0]].all() and not kg.is_video[kg.test[:, 2]].any()
    # some videos miss some modalities, and the masked rows are zero
    for x, mask in kg.features.values():
        assert not mask[~kg.is_video].any() and (x[~mask] == 0).all()
    assert (~kg.features["audio"][1][kg.is_video]).sum() > 20


def _apply_mapping(records, mapping):
    """The mapping's meaning (contracts, 'Sample data files'), written independently of kgstore."""
    norm = {"none": str, "lower": str.lower, "title": str.title}
    triples = set()
    for rec in records:
        for attr, value in rec.items():
            if attr == mapping["id_field"] or attr in mapping["properties"] or attr in mapping["drop"]:
                continue
            spec = mapping["relations"][attr]
            values = value if isinstance(value, list) else [value]
            if "split" in spec:
                values = [p for v in values for p in v.split(spec["split"])]
            for v in values:
                triples.add((rec["id"], spec.get("relation", attr), norm[spec.get("normalize", "none")](v.strip())))
    return triples


def test_written_files_round_trip(kg, tmp_path):
    kg.write(tmp_path)
    records = [json.loads(line) for line in (tmp_path / "videos.jsonl").read_text(encoding="utf-8").splitlines()]
    mapping = tomllib.loads((tmp_path / "mapping.toml").read_text())
    assert len(records) == int(kg.is_video.sum()) and all(r["title"] == kg.titles[r["id"]] for r in records)
    names = lambda t: {(kg.entities[h], kg.relations[r], kg.entities[x]) for h, r, x in t.tolist()}  # noqa: E731
    known = names(torch.cat([kg.train, kg.valid, kg.test]))
    sub = kg.relation_id("subcategory_of")
    tag_tag = {x for x in known if x[1] == "subcategory_of"}
    assert _apply_mapping(records, mapping) == known - tag_tag
    rows = [tuple(line.split("\t")) for line in (tmp_path / "tags.tsv").read_text().splitlines()]
    assert set(rows) == tag_tag and len(rows) == int((kg.train[:, 1] == sub).sum())
    for name, (x, mask) in kg.features.items():
        table = pq.read_table(tmp_path / f"features_{name}.parquet")
        assert table.column_names == ["id", "vector"]
        ids = table.column("id").to_pylist()
        vecs = np.array(table.column("vector").to_pylist(), dtype=np.float32)
        rows_ = [kg.entities.index(i) for i in ids]
        assert sorted(rows_) == torch.nonzero(mask)[:, 0].tolist()
        assert np.array_equal(vecs, x[rows_].numpy())


def _linear_accuracy(x, labels, train_frac=0.7):
    """Held-out accuracy of a least-squares linear probe (how much a feature sees a factor)."""
    n = len(x)
    cut = int(train_frac * n)
    onehot = np.eye(labels.max() + 1)[labels]
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.linalg.lstsq(xb[:cut], onehot[:cut], rcond=None)[0]
    return (np.argmax(xb[cut:] @ w, 1) == labels[cut:]).mean()


def test_each_modality_sees_its_factor():
    kg = generate(seed=1, n_videos=1500)
    all_t = kg.all_triples()

    def label(rel):
        rid = kg.relation_id(rel)
        sel = all_t[all_t[:, 1] == rid]
        lab = np.full(kg.num_entities, -1)
        lab[sel[:, 0].numpy()] = sel[:, 2].numpy()
        return lab

    topic, music, uploader = label("category_2"), label("bgm_style"), label("uploaded_by")

    def probe(modality, lab):
        x, mask = kg.features[modality]
        rows = mask.numpy() & (lab >= 0)
        _, y = np.unique(lab[rows], return_inverse=True)
        return _linear_accuracy(x.numpy()[rows], y)

    assert probe("vision", topic) > 0.9
    assert probe("audio", music) > 0.9
    assert probe("audio", topic) < probe("vision", topic) - 0.2
    assert probe("vision", music) < 0.5
    assert 0.3 < probe("text", topic) < probe("vision", topic)  # titles are half click-bait
    # no modality reveals the uploader (beyond its topic preference)
    assert probe("vision", uploader) < 0.25 and set(RELATION_KIND) == set(kg.relations)
