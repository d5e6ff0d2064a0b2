"""The Clara 3.x config grammar: `Class#instance`, `{"ref": …}`, `batch_transforms` and `handlers` slots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from clara_tlt.config import load_config
from clara_tlt.engines.handlers.catalogue import StatsHandler
from clara_tlt.engines.workflow import build_workflow
from clara_tlt.errors import ConfigError
from tests.conftest import write_json
from tests.engines.conftest import tiny_train_config, train_data, unet_mmar  # noqa: F401 (fixtures)
from tests.test_cli import invoke

LOAD = {"name": "LoadNifti", "args": {"fields": ["image", "label"]}}


def scale(instance: str, a_max: float) -> dict[str, Any]:
    return {
        "name": f"ScaleIntensityRange#{instance}",
        "args": {"fields": "image", "a_min": 0, "a_max": a_max, "b_min": 0.0, "b_max": 1.0},
    }


def workflow_of(tmp_path: Path, config: dict[str, Any]):  # type: ignore[no-untyped-def]
    path = write_json(tmp_path / "config_train.json", config)
    return build_workflow(load_config(path))


def test_instances_are_told_apart_and_a_ref_reuses_the_same_component(tmp_path: Path) -> None:
    config = {
        "train": {"pre_transforms": [LOAD, scale("coarse", 100.0), scale("fine", 10.0)]},
        "validate": {"pre_transforms": [{"ref": "LoadNifti"}, {"ref": "ScaleIntensityRange#fine"}]},
    }
    workflow = workflow_of(tmp_path, config)
    train, validate = workflow.get("train.pre_transforms"), workflow.get("validate.pre_transforms")
    assert validate[0] is train[0] and validate[1] is train[2]
    sample = {"image": torch.full((1, 2, 2, 2), 5.0)}
    assert float(validate[1](sample)["image"].max()) == pytest.approx(0.5)  # fine's arguments, not coarse's
    names = {c["key_path"]: c["name"] for c in workflow.describe()["components"]}
    assert names["train.pre_transforms"] == "LoadNifti, ScaleIntensityRange#coarse, ScaleIntensityRange#fine"


def test_a_ref_may_name_the_instance_alone(tmp_path: Path) -> None:
    """NVIDIA's example configs write `{"ref": "ScaleImg"}` for `"name": "ScaleByResolution#ScaleImg"`."""
    config = {
        "train": {"pre_transforms": [LOAD, scale("coarse", 100.0), scale("fine", 10.0)]},
        "validate": {"pre_transforms": [{"ref": "fine"}, {"ref": "coarse"}]},
    }
    workflow = workflow_of(tmp_path, config)
    train, validate = workflow.get("train.pre_transforms"), workflow.get("validate.pre_transforms")
    assert validate[0] is train[2] and validate[1] is train[1]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "ScaleIntensityRange#fien",
            "ref 'ScaleIntensityRange#fien' names no component defined before it; did you "
            "mean 'ScaleIntensityRange#fine'",
        ),
        ("ScaleIntensityRange", "ref 'ScaleIntensityRange' names no component defined before it"),
        ("Dice", "ref 'Dice' names the loss at train.loss, but this slot takes a transform"),
    ],
)
def test_a_ref_that_names_no_such_component_is_a_config_error(tmp_path: Path, ref: str, message: str) -> None:
    config = {
        "train": {"loss": {"name": "Dice"}, "pre_transforms": [scale("coarse", 1.0), scale("fine", 2.0)]},
        "validate": {"pre_transforms": [{"ref": ref}]},
    }
    with pytest.raises(ConfigError) as info:
        workflow_of(tmp_path, config)
    assert info.value.exit_code == 3
    assert f"validate.pre_transforms[0].ref: {message}" in str(info.value)


def test_a_ref_to_a_name_defined_twice_asks_for_instance_names(tmp_path: Path) -> None:
    config = {
        "train": {"pre_transforms": [LOAD, LOAD]},
        "validate": {"pre_transforms": [{"ref": "LoadNifti"}]},
    }
    with pytest.raises(
        ConfigError,
        match=r"ambiguous: LoadNifti is defined at train.pre_transforms\[0\], "
        r"train.pre_transforms\[1\]; give each a name \"LoadNifti#instance\"",
    ):
        workflow_of(tmp_path, config)


def test_a_ref_with_arguments_of_its_own_is_refused(tmp_path: Path) -> None:
    config = {
        "train": {"pre_transforms": [LOAD]},
        "validate": {"pre_transforms": [{"ref": "LoadNifti", "args": {}}]},
    }
    with pytest.raises(
        ConfigError, match='a "ref" reuses a component with its own arguments, so it takes no args'
    ):
        workflow_of(tmp_path, config)


def test_a_ref_to_a_component_that_failed_says_so_not_that_it_is_undefined(tmp_path: Path) -> None:
    broken = {"name": "ScaleIntensityRange#ct", "args": {"fields": "image", "a_mni": 0}}
    config = {"train": {"pre_transforms": [broken]}, "validate": {"pre_transforms": [{"ref": "ct"}]}}
    with pytest.raises(ConfigError) as info:
        workflow_of(tmp_path, config)
    message = str(info.value)
    assert "train.pre_transforms[0].args.a_mni" in message
    assert (
        "validate.pre_transforms[0].ref: ref 'ct' names the component at train.pre_transforms[0], which "
        in (message)
    )


def test_a_one_component_slot_listing_alternatives_uses_the_first_enabled_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """AutoML configs list a loss per search choice; a plain run takes the first enabled one, as written."""
    dice = {"name": "Dice", "apply": {"@disabled": "loss1"}, "args": {"skip_background": True}}
    focal = {"name": "Focal", "apply": {"@disabled": "loss2"}, "args": {"skip_background": True}}
    with caplog.at_level("INFO"):
        workflow = workflow_of(tmp_path, {"train": {"loss": [focal, dice]}})
    assert type(workflow.get("train.loss")).__name__ == "Focal"
    assert (
        "train.loss: lists 2 alternatives (an AutoML search space); this run uses the first, Focal, not Dice"
        in (caplog.text)
    )
    caplog.clear()
    with caplog.at_level("INFO"):
        workflow = workflow_of(tmp_path, {"train": {"loss": [{**focal, "disabled": True}, dice]}})
    assert type(workflow.get("train.loss")).__name__ == "DiceLoss" and "alternatives" not in caplog.text
    with pytest.raises(ConfigError, match=r"train\.loss: every component is disabled"):
        workflow_of(tmp_path, {"train": {"loss": [{**dice, "disabled": True}]}})


def test_batch_transforms_and_handlers_are_built_not_read_as_globals(tmp_path: Path) -> None:
    config = {
        "epochs": 2,
        "batch_transforms": [{"name": "MergeBatchDims", "args": {"fields": ["image"]}}],
        "train": {"handlers": [{"name": "StatsHandler#quiet", "args": {"iteration_log": False}}]},
    }
    path = write_json(tmp_path / "config_train.json", config)
    resolved = load_config(path)
    assert resolved.global_names == ["epochs"]
    workflow = build_workflow(resolved)
    merge = workflow.get("batch_transforms")[0]
    assert merge({"image": torch.zeros(2, 3, 1, 4, 4, 4)})["image"].shape == (6, 1, 4, 4, 4)
    assert merge({"image": torch.zeros(2, 1, 4, 4, 4)})["image"].shape == (2, 1, 4, 4, 4)
    handler = workflow.get("train.handlers")[0]
    assert isinstance(handler, StatsHandler) and handler.iteration_log is False


def test_a_keras_callback_is_refused_saying_what_does_its_job(tmp_path: Path) -> None:
    config = {"train": {"handlers": [{"name": "ModelCheckpoint", "args": {"filepath": "m.h5"}}]}}
    with pytest.raises(ConfigError) as info:
        workflow_of(tmp_path, config)
    assert info.value.exit_code == 3
    assert (
        "train.handlers[0].name: handler 'ModelCheckpoint' cannot work in PyTorch; it is a Keras callback"
        in str(info.value)
    )
    assert "saves model.pt (best)" in str(info.value)


def clara31_config(seed_configs: Path) -> dict[str, Any]:
    """The tiny spleen config rewritten in the 3.1 grammar: instances, refs, batch_transforms and handlers."""
    config = tiny_train_config(seed_configs, epochs=1)
    train, validate = config["train"], config["validate"]
    train["pre_transforms"][2]["name"] = "ScaleIntensityRange#ct"
    validate["pre_transforms"] = [
        {"ref": "LoadNifti"},
        {"ref": "ConvertToChannelsFirst"},
        {"ref": "ScaleIntensityRange#ct"},
    ]
    train["image_pipeline"]["args"]["batch_transforms"] = [
        {"name": "MergeBatchDims", "args": {"fields": ["image", "label"]}}
    ]
    train["handlers"] = [{"name": "StatsHandler"}]
    train["lr_policy"] = {"name": "ReduceCosine"}
    return config


def test_a_clara_31_config_dry_runs_and_trains_one_epoch(unet_mmar: Path, seed_configs: Path) -> None:  # noqa: F811
    write_json(unet_mmar / "config" / "config_train.json", clara31_config(seed_configs))
    code, output = invoke(
        "train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--dry-run", "--json"
    )
    assert code == 0, output
    plan = json.loads(output[output.index("{") :])
    kinds = {c["key_path"]: c["kind"] for c in plan["components"]}
    assert kinds["train.image_pipeline.args.batch_transforms"] == "transform"
    assert kinds["train.handlers"] == "handler"
    assert "batch_transforms" not in plan["globals"] and "handlers" not in plan["globals"]
    code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json")
    assert code == 0, output
    assert (unet_mmar / "models" / "model_final.pt").is_file()


CONSTANT = {
    "name": "ScaleIntensityRanged",
    "args": {"keys": "image", "a_min": 0, "a_max": 1, "b_min": 5, "b_max": 5},
}


@pytest.mark.parametrize("where", ["section", "pipeline args"])
def test_batch_transforms_apply_to_every_batch_the_pipeline_yields(
    unet_mmar: Path,  # noqa: F811
    seed_configs: Path,
    where: str,
) -> None:
    config = tiny_train_config(seed_configs)
    if where == "section":
        config["train"]["batch_transforms"] = [CONSTANT]
    else:
        config["train"]["image_pipeline"]["args"]["batch_transforms"] = [CONSTANT]
    write_json(unet_mmar / "config" / "config_train.json", config)
    workflow = build_workflow(
        load_config(
            "config/config_train.json", environment_path="config/environment.json", mmar_root=unet_mmar
        )
    )
    pipeline = workflow.get("train.image_pipeline")
    batch = next(iter(pipeline))
    assert batch["image"].shape[0] == 2 and bool((batch["image"] == 5).all())  # every voxel rescaled to 5
    assert batch["label"].max() > 0  # other fields untouched
    assert len(pipeline) == 2 and workflow.get("train.batch_transforms")[0].keys == ("image",)
    pipeline.close()


def test_batch_transforms_in_both_places_are_refused(tmp_path: Path, seed_configs: Path) -> None:
    config = tiny_train_config(seed_configs, DATASET_JSON="datalist.json", DATA_ROOT=".")
    config["train"]["batch_transforms"] = [CONSTANT]
    config["train"]["image_pipeline"]["args"]["batch_transforms"] = [CONSTANT]
    with pytest.raises(
        ConfigError,
        match=r"train.image_pipeline.args.batch_transforms: batch transforms are also "
        r"given at train.batch_transforms; keep one list",
    ):
        workflow_of(tmp_path, config)
