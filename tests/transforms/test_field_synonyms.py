"""Configs name a transform's fields as `fields`, `field`, `applied_key` or `applied_keys`: all mean the same."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from clara_tlt.transforms.base import FIELD_SYNONYMS

SYNONYMS = ("fields", *FIELD_SYNONYMS)


def t(name: str, **args: object) -> object:
    return build({"name": name, "args": args}, "transform", file="test.json", key_path="pre_transforms[0]")


@pytest.mark.parametrize("synonym", SYNONYMS)
def test_every_synonym_names_the_fields(synonym: str) -> None:
    sample = {"image": MetaTensor(torch.tensor([[0.0, 2.0]])), "label": MetaTensor(torch.tensor([[2.0]]))}
    out = t("ScaleIntensityRange", **{synonym: ["image"]}, a_min=0, a_max=2)(sample)
    assert out["image"].tolist() == [[0.0, 1.0]] and out["label"] is sample["label"]
    split = t("SplitBasedOnLabel", **{synonym: "label"}, label_names=["bg", "one", "two"])(sample)
    assert split["two"].tolist() == [[1]]


def test_unknown_argument_lists_the_synonyms_as_accepted() -> None:
    with pytest.raises(ConfigError, match=r"Accepted arguments: fields, .*field, applied_key, applied_keys"):
        t("RandomAxisFlip", keys="image")


def test_fields_missing_given_twice_or_too_many_say_so() -> None:
    with pytest.raises(ConfigError, match="missing 'fields'"):
        t("ConvertToChannelsFirst")
    with pytest.raises(ConfigError, match="not as field and applied_keys"):
        t("ConvertToChannelsFirst", field="image", applied_keys="image")
    with pytest.raises(ConfigError, match="works on one field; got 2"):
        t("RestoreOriginalShape", field=["model", "label"])
    assert t("ConvertToChannelsFirst", fields="image", field=None).fields == ("image",)  # null = not given
