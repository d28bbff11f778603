"""One configuration model (embed/config.py): the dataclass defaults are the default preset, every
preset is complete, overrides are checked, and stored settings decode as they were when written."""

import dataclasses

import pytest

from kgtag.embed.config import (BEFORE_FIELD, DEFAULT_PRESET, PRESETS, RUN_MODEL_FIELDS, ModelConfig, TrainConfig,
                                decode, get_preset, model_preset, preset)
from kgtag.errors import InvalidConfig


def test_the_dataclass_defaults_are_the_default_preset():
    assert DEFAULT_PRESET == "fast"
    assert ModelConfig() == ModelConfig(**model_preset(DEFAULT_PRESET))
    assert TrainConfig() == preset(DEFAULT_PRESET)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_names_every_tunable_field(name):
    p = get_preset(name)
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)} - set(RUN_MODEL_FIELDS)
    optional = {"relation_attention", "feature_dims"}  # None (the variant's default, no PCA) when left out
    assert model_fields - optional <= set(p.model), name
    mconf, tconf = p.configs(variant="transfusion", modalities=("vision",), epochs=3)
    assert mconf.variant == "transfusion" and tconf.epochs == 3 and tconf.lr == p.train["lr"]


def test_a_misspelled_override_is_refused_not_dropped():
    with pytest.raises(InvalidConfig, match="batchsize"):
        get_preset("fast").configs(batchsize=64)
    with pytest.raises(InvalidConfig, match="dimm"):
        get_preset("fast").configs(model_overrides={"dimm": 8})
    with pytest.raises(InvalidConfig, match="unknown preset"):
        get_preset("slow")


@pytest.mark.parametrize("bad", [dict(dim=0), dict(dim="32"), dict(p_norm=3), dict(loss="hinge"),
                                 dict(knowledge_dropout=1.0), dict(modalities=("Vision",)),
                                 dict(knowledge_dropout_detach="tail"), dict(cold_knowledge="mean"),
                                 dict(knowledge_dropout=0.0, knowledge_dropout_detach="all")])
def test_bad_model_fields_are_one_invalid_config(bad):
    with pytest.raises(InvalidConfig) as info:
        ModelConfig(**{"variant": "transfusion", "modalities": ("vision",), **bad})
    assert "\n" not in str(info.value)


def test_a_run_written_before_a_field_existed_decodes_with_the_value_it_had_then():
    # a version-1 run.json: written before segment options, fused_norm and the z_K dropout existed
    v1_model = dict(variant="transfusion", base="transe", modalities=["vision"], dim=64, hidden=256, p_norm=1,
                    margin=1.0, relation_attention=True)
    v1_train = dict(epochs=100, batch_size=100, lr=1e-4, num_negatives=1, seed=0, device="cpu")
    mconf, tconf = decode(v1_model, v1_train, "runs/r1/run.json")
    assert mconf.modalities == ("vision",) and mconf.dim == 64
    for name, then in BEFORE_FIELD["model"].items():
        if name not in v1_model:
            assert getattr(mconf, name) == then, name
    assert (mconf.fused_norm, mconf.segment_norm, mconf.knowledge_dropout) == (False, False, 0.0)
    assert ModelConfig().fused_norm is True  # today's default differs: the old run does not silently take it
    assert tconf.side_constrained is False and tconf.epochs == 100


def test_decode_names_the_file_and_field_at_fault():
    with pytest.raises(InvalidConfig, match=r"runs/r1/run.json: unknown model_config field 'dimm'"):
        decode({"variant": "transe", "dimm": 3}, None, "runs/r1/run.json")
    with pytest.raises(InvalidConfig, match=r"runs/r1/run.json: .*dim"):
        decode({**ModelConfig(variant="transe").to_dict(), "dim": -1}, None, "runs/r1/run.json")
    with pytest.raises(InvalidConfig, match=r"run.json: model_config has no field 'variant'"):
        decode({"dim": 3}, None, "run.json")


def test_the_relational_preset_needs_the_attention_fusion():
    vat = ("vision", "audio", "text")
    assert ModelConfig(variant="transfusion", modalities=vat, **model_preset("relational")).relation_modality
    for variant, mods in (("transe", ()), ("b1", vat), ("transfusion", ())):
        with pytest.raises(InvalidConfig, match="relational"):
            ModelConfig(variant=variant, modalities=mods, **model_preset("relational"))
