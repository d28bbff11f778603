"""A small instance of the paper's ablation on the synthetic video KG (Tables 3-4), and cold start
(Figure 1, "video 4": a video with features but no training edge gets its content tags).

The generator puts content in the features and the channel (meta tags) in the graph only, so
TransE (graph only) falls behind TransFusion-VAT on content and B3 (modalities only) on the meta
tags. Every model trains with the default `fast` preset; metrics are filtered tail prediction among
the relation's range (the product's protocol), on the test split."""

from __future__ import annotations

import pytest
import torch
from helpers import fit_fast as fit

from kgtag.embed.ranking import evaluate
from kgtag.embed.topk import modality_attention, top_k
from kgtag.synthetic.channel import generate

VAT = ("vision", "audio", "text")


def score(model, kg) -> dict:
    """Range-candidate filtered tail metrics: warm test edges, their content and meta parts, cold videos."""
    tags = torch.nonzero(~kg.is_video).squeeze(1)
    args = dict(filter_triples=kg.all_triples(), candidates="relation", constraint_triples=kg.train, range_fallback=tags)
    return {"warm": evaluate(model, kg.test, **args)["filtered"],
            "content": evaluate(model, kg.select(kg.test, ("content",)), **args)["filtered"],
            "meta": evaluate(model, kg.select(kg.test, ("meta",)), **args)["filtered"],
            "cold": evaluate(model, kg.select(kg.test_cold, ("content",)), **args)["filtered"]}


@pytest.fixture(scope="module")
def trained():
    kg = generate(seed=0, n_videos=600)
    models = {"transe": fit(kg, "transe"), "vat": fit(kg, "transfusion", VAT), "b3": fit(kg, "b3", VAT)}
    return kg, models, {name: score(m, kg) for name, m in models.items()}


def test_transfusion_vat_beats_transe_widely(trained):
    _, _, s = trained
    vat, transe = s["vat"]["warm"], s["transe"]["warm"]
    assert vat["mrr"] > transe["mrr"] + 0.15, (vat, transe)
    assert vat["hits1"] > transe["hits1"] + 0.1, (vat, transe)
    assert vat["mr"] < 0.8 * transe["mr"], (vat, transe)


def test_b3_without_the_knowledge_segment_is_poor(trained):
    _, _, s = trained
    vat, b3 = s["vat"], s["b3"]
    # the features do not see the channel: B3 only guesses its meta tags from the topic
    assert vat["meta"]["mrr"] > b3["meta"]["mrr"] + 0.3, (vat["meta"], b3["meta"])
    assert vat["warm"]["mrr"] > b3["warm"]["mrr"] + 0.06, (vat["warm"], b3["warm"])
    assert vat["warm"]["mr"] < 0.7 * b3["warm"]["mr"], (vat["warm"], b3["warm"])
    # while on content the features carry B3 about as far as TransFusion
    assert b3["content"]["mrr"] > vat["content"]["mrr"] - 0.1, (vat["content"], b3["content"])


def test_cold_start_video_gets_its_content_tags(trained):
    kg, models, s = trained
    # pooled over the cold videos: TransE has only relation priors, TransFusion sees the features
    # (MRR: Hits@10 is near 1 for anyone on category_1's six tags)
    assert s["vat"]["cold"]["mrr"] > s["transe"]["cold"]["mrr"] + 0.15, s
    # "video 4": its topic is among the top 10 from its modalities alone
    cold = _cold_topics(kg)
    assert not torch.isin(cold[:, 0], kg.train[:, [0, 2]].reshape(-1)).any()
    # and the attention that explains it puts weight on the modalities
    names, p = modality_attention(models["vat"], cold[:, 0])
    assert names == ["knowledge", *VAT]
    assert torch.allclose(p.sum(1), torch.ones(len(p)), atol=1e-5)
    assert (p[:, 1:].sum(1) > 0.2).all()
    ev = evaluate(models["vat"], cold, filter_triples=kg.all_triples())
    assert ev["filtered"]["hits10"] > 0.8


def _cold_topics(kg):
    return kg.test_cold[kg.test_cold[:, 1] == kg.relation_id("category_2")]


def test_cold_video_topic_comes_out_on_top(trained):
    kg, models, _ = trained
    cold = _cold_topics(kg)
    tails, _ = top_k(models["vat"], cold[:, 0], cold[:, 1], 3, exclude=kg.train)
    hit_rate = (tails[:, 0] == cold[:, 2]).double().mean().item()
    transe_tails, _ = top_k(models["transe"], cold[:, 0], cold[:, 1], 3, exclude=kg.train)
    transe_rate = (transe_tails[:, 0] == cold[:, 2]).double().mean().item()
    assert hit_rate > 0.6 and hit_rate > transe_rate + 0.3, (hit_rate, transe_rate)
