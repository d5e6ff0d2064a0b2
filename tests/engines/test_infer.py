"""infer from a user's seat: the seed-004 validation config on a model the train engine wrote, outputs that
overlay their inputs (RAS, LPS, oblique), the model formats, a corrupt case among good ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from clara_tlt.cli.infer import tlt_command as tlt_infer
from clara_tlt.engines.checkpoint import network_from_checkpoint
from tests.conftest import write_json
from tests.engines.conftest import tiny_train_config, write_validation_mmar
from tests.faults import fill_disk, leftovers
from tests.test_cli import invoke_streams


@pytest.fixture(scope="session")
def trained_mmar(tmp_path_factory: pytest.TempPathFactory, seed_configs: Path, train_data: Path) -> Path:
    """An MMAR trained one epoch by the train engine, with the seed's config_validation.json (16³ windows)."""
    from clara_tlt.config import load_config
    from clara_tlt.engines.training import train

    mmar = tmp_path_factory.mktemp("infer") / "mmar"
    write_json(mmar / "config" / "config_train.json", tiny_train_config(seed_configs, epochs=1))
    write_validation_mmar(mmar, seed_configs, train_data, PROCESSING_TASK="segmentation")
    config = load_config(
        "config/config_train.json", environment_path="config/environment.json", mmar_root=mmar
    )
    train(config)
    return mmar


def mmar_run(command: str, mmar: Path, *extra: str) -> tuple[int, str, str]:
    return invoke_streams(command, "-m", str(mmar), "-c", "config/config_validation.json", "--json", *extra)


def test_seed_validation_config_writes_labels_that_match_the_network(
    trained_mmar: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="clara_tlt")
    code, stdout, stderr = mmar_run("infer", trained_mmar)
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["cases"] == 2 and summary["failed"] == []
    # FrozenGraphModelLoader's model.trt.pb stands for the model.pt beside it, and says so
    assert (
        summary["model"].endswith("model.pt") and "model.trt.pb names Clara's TensorFlow model" in caplog.text
    )
    assert "the inferer streams labels instead" in caplog.text  # ArgmaxAcrossChannels comes first
    written = sorted((trained_mmar / "infer").glob("*/*_model.nii.gz"))  # its own folder, not evaluate's
    assert [p.name for p in written] == ["case_002_model.nii.gz", "case_003_model.nii.gz"]
    for name in ("pred_class0", "pred_class1"):
        assert (trained_mmar / "infer" / "case_002" / f"case_002_{name}.nii.gz").is_file()

    # the labels are the argmax of MONAI's sliding-window inference of the network over the scaled image
    network, _ = network_from_checkpoint(trained_mmar / "models" / "model.pt")
    source = nib.load(_image_of(trained_mmar, "case_002"))
    scaled = np.clip((source.get_fdata() + 57) / (164 + 57), 0, 1)
    with torch.no_grad():
        image = torch.as_tensor(scaled, dtype=torch.float32)[None, None]
        scores = sliding_window_inference(image, (16, 16, 16), 3, network, overlap=0.25)
    expected = scores.argmax(dim=1)[0].numpy()
    labels = nib.load(written[0])
    assert labels.get_data_dtype() == np.uint8
    assert (np.asarray(labels.dataobj) == expected).mean() > 0.999


def _image_of(mmar: Path, case: str) -> Path:
    datalist = json.loads((mmar / "config" / "environment.json").read_text())["DATASET_JSON"]
    return Path(datalist).parent / "imagesTr" / f"{case}.nii.gz"


def tlt_run(
    mmar: Path, data_file: Path, output: Path, *extra: str, config: Path | None = None
) -> tuple[int, str, str]:
    """`tlt-infer` with seed 003's flags on the trained model and (by default) the seed's validation config."""
    return invoke_streams(
        "--model_save_path",
        str(mmar / "models" / "model.pt"),
        "--config",
        str(config or mmar / "config" / "config_validation.json"),
        "--output_path",
        str(output),
        "--data_file",
        str(data_file),
        *extra,
        command=tlt_infer,
    )


def _rotation(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


ORIENTATIONS = {
    "ras": np.diag([1.5, 1.5, 3.0]),
    "lps": np.diag([-1.5, -1.5, 3.0]),
    "oblique": _rotation(30) @ np.diag([1.5, 1.2, 3.0]),
}


@pytest.mark.parametrize("resampled", [False, True], ids=["copy-properties", "restore-original-shape"])
def test_outputs_overlay_their_input_in_any_orientation(
    trained_mmar: Path, tmp_path: Path, resampled: bool
) -> None:
    """Labels land on the input's grid: after CopyProperties, or after RestoreOriginalShape when the
    pre-transforms resampled the image to 2 mm."""
    config = json.loads((trained_mmar / "config" / "config_validation.json").read_text())
    if resampled:
        config["pre_transforms"].insert(
            2,
            {"name": "ScaleByResolution", "args": {"fields": "image", "target_resolution": [2.0, 2.0, 2.0]}},
        )
        # RestoreOriginalShape puts `model` back on the file's grid (CopyProperties would copy the 2 mm one)
        argmax, split, _copy_properties = config["post_transforms"]
        restore = {"name": "RestoreOriginalShape", "args": {"field": "model", "is_label": True}}
        config["post_transforms"] = [argmax, restore, split]
    config_file = write_json(tmp_path / "config.json", config)
    rng = np.random.default_rng(0)
    entries = []
    for name, linear in ORIENTATIONS.items():
        affine = np.eye(4)
        affine[:3, :3], affine[:3, 3] = linear, [-20.0, 35.0, 7.5]
        data = rng.normal(0, 80, size=(32, 24, 16)).astype(np.int16)
        nib.save(nib.Nifti1Image(data, affine), tmp_path / f"{name}.nii.gz")
        entries.append({"image": f"{name}.nii.gz"})
    data_file = write_json(tmp_path / "datalist.json", {"validation": entries})
    code, stdout, stderr = tlt_run(trained_mmar, data_file, tmp_path / "out", "--json", config=config_file)
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == len(ORIENTATIONS)
    for name in ORIENTATIONS:
        source = nib.load(tmp_path / f"{name}.nii.gz")
        for field in ("model", "pred_class1"):
            written = nib.load(tmp_path / "out" / name / f"{name}_{field}.nii.gz")
            assert written.shape == source.shape, (name, field)
            np.testing.assert_allclose(written.affine, source.affine, atol=1e-4, err_msg=name)


def test_checkpoint_torchscript_and_onnx_give_the_same_labels(trained_mmar: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(trained_mmar / "models", models)
    network, _ = network_from_checkpoint(models / "model.pt")
    example = torch.zeros(1, 1, 16, 16, 16)
    torch.jit.trace(network, example).save(str(models / "model.ts"))
    torch.onnx.export(
        network,
        (example,),
        str(models / "model.onnx"),
        input_names=["image"],
        output_names=["scores"],
        dynamic_axes={"image": {0: "windows"}, "scores": {0: "windows"}},
        dynamo=False,
    )
    env = json.loads((trained_mmar / "config" / "environment.json").read_text())
    data_file = Path(env["DATASET_JSON"])
    labels = {}
    for model_format in ("checkpoint", "torchscript", "onnx"):
        output = tmp_path / model_format
        code, stdout, stderr = invoke_streams(
            "--model_save_path",
            str(models / "model.pt"),
            "--model_format",
            model_format,
            "--config",
            str(trained_mmar / "config" / "config_validation.json"),
            "--output_path",
            str(output),
            "--data_file",
            str(data_file),
            "--json",
            command=tlt_infer,
        )
        assert code == 0, stderr
        summary = json.loads(stdout)
        suffix = {"checkpoint": ".pt", "torchscript": ".ts", "onnx": ".onnx"}[model_format]
        assert summary["model"] == str(models / f"model{suffix}")
        labels[model_format] = np.asarray(nib.load(output / "case_002" / "case_002_model.nii.gz").dataobj)
    assert np.array_equal(labels["checkpoint"], labels["torchscript"])
    assert (labels["checkpoint"] == labels["onnx"]).mean() > 0.9999


def test_a_corrupt_case_fails_alone_with_exit_5(trained_mmar: Path, tmp_path: Path) -> None:
    env = json.loads((trained_mmar / "config" / "environment.json").read_text())
    images = Path(env["DATASET_JSON"]).parent / "imagesTr"
    # a file that passes the up-front datalist check (read whole; a MetaImage's voxels are not scanned), with a
    # NaN voxel: the case fails when it is read
    from clara_tlt.io import read_image, write_image

    volume = read_image(images / "case_002.nii.gz")
    volume.array = volume.array.astype("float32")
    volume.array[1, 2, 3] = float("nan")
    write_image(volume, tmp_path / "broken.mha")
    entries = [
        {"image": str(images / "case_002.nii.gz")},
        {"image": str(tmp_path / "broken.mha")},
        {"image": str(images / "case_003.nii.gz")},
    ]
    data_file = write_json(tmp_path / "datalist.json", {"validation": entries})
    code, stdout, stderr = tlt_run(trained_mmar, data_file, tmp_path / "out")
    assert code == 5, stderr
    assert "Inferred 2 case(s)" in stdout
    assert "1 of 3 case(s) failed" in stderr and "broken.mha: read" in stderr
    for case in ("case_002", "case_003"):
        assert (tmp_path / "out" / case / f"{case}_model.nii.gz").is_file()
    assert not (tmp_path / "out" / "broken").exists()


def test_metaimage_writer_writes_the_nifti_writers_labels(trained_mmar: Path, tmp_path: Path) -> None:
    from clara_tlt.io import read_array

    config = json.loads((trained_mmar / "config" / "config_validation.json").read_text())
    config["writers"] = [
        {"name": "WriteNifti", "args": {"field": "model", "dtype": "uint8"}},
        {"name": "WriteMhd", "args": {"field": "model", "dtype": "uint8"}},
    ]
    config_file = write_json(tmp_path / "config_validation.json", config)
    env = json.loads((trained_mmar / "config" / "environment.json").read_text())
    code, _, stderr = invoke_streams(
        "--model_save_path",
        str(trained_mmar / "models" / "model.pt"),
        "--config",
        str(config_file),
        "--output_path",
        str(tmp_path / "out"),
        "--data_file",
        env["DATASET_JSON"],
        command=tlt_infer,
    )
    assert code == 0, stderr
    case = tmp_path / "out" / "case_002"
    assert (case / "case_002_model.raw").is_file() or (case / "case_002_model.zraw").is_file()
    mhd, mhd_affine = read_array(case / "case_002_model.mhd")
    nifti, nifti_affine = read_array(case / "case_002_model.nii.gz")
    assert np.array_equal(mhd, nifti)
    np.testing.assert_allclose(mhd_affine, nifti_affine, atol=1e-5)


def test_a_tf_model_file_stands_for_the_first_pytorch_file_beside_it(tmp_path: Path) -> None:
    from clara_tlt.engines.model_loaders import ModelLoader
    from clara_tlt.errors import ConfigError

    loader = ModelLoader(str(tmp_path / "model.trt.pb"))
    with pytest.raises(ConfigError) as raised:
        loader.resolve()
    assert raised.value.exit_code == 3
    for name in ("model.ts", "model.onnx", "model.pt"):
        assert str(tmp_path / name) in str(raised.value)
    (tmp_path / "model.pt").touch()
    (tmp_path / "model.onnx").touch()
    assert loader.resolve() == (tmp_path / "model.onnx", "onnx")
    assert ModelLoader(str(tmp_path / "model.onnx"), model_format="checkpoint").resolve() == (
        tmp_path / "model.pt",
        "checkpoint",
    )


def test_trtis_loader_finds_the_model_of_a_triton_folder_by_its_config_pbtxt(tmp_path: Path) -> None:
    from clara_tlt.factory.registry import build

    spec = {"name": "TRTISModelLoader", "args": {"model_spec_file_name": str(tmp_path / "config.pbtxt")}}
    loader = build(spec, "model_loader", file="config.json", key_path="model_loader")
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.onnx").touch()
    assert loader.resolve() == (tmp_path / "1" / "model.onnx", "onnx")


def test_a_full_disk_fails_the_cases_it_hits_and_never_counts_them_done(
    trained_mmar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [{"image": str(_image_of(trained_mmar, case))} for case in ("case_002", "case_003")]
    data_file = write_json(tmp_path / "datalist.json", {"validation": entries})
    fill_disk(monkeypatch, room=0, where=lambda name: Path(name).name.startswith(".case_003_model."))
    code, stdout, stderr = tlt_run(trained_mmar, data_file, tmp_path / "some")
    assert code == 5, stderr
    assert "Inferred 1 case(s)" in stdout and "1 of 2 case(s) failed" in stderr
    written = tmp_path / "some" / "case_003" / "case_003_model.nii.gz"
    assert f"{written}: not written: no space left on the device holding {written.parent}" in stderr
    assert (tmp_path / "some" / "case_002" / "case_002_model.nii.gz").is_file() and not written.exists()
    assert leftovers(tmp_path / "some") == []

    fill_disk(monkeypatch, room=0)
    code, stdout, stderr = tlt_run(trained_mmar, data_file, tmp_path / "none")
    assert code == 1, stderr
    assert "none of the 2 case(s) was done" in stderr
    for case in ("case_002", "case_003"):
        assert f"- {_image_of(trained_mmar, case)}: write: " in stderr
    assert leftovers(tmp_path / "none") == []


def test_a_config_without_writer_writes_labels_on_the_inputs_grid(
    trained_mmar: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`infer -c config_train.json` (its `validate` section names no writer) writes what config_validation.json
    would: uint8 labels `<case>/<case>_model.nii.gz`, shape and affine of the input, and says so."""
    mmar = shutil.copytree(trained_mmar, tmp_path / "mmar", ignore=shutil.ignore_patterns("infer", "eval*"))
    caplog.set_level("INFO", logger="clara_tlt")
    code, stdout, stderr = invoke_streams(
        "infer", "-m", str(mmar), "-c", "config/config_train.json", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == 2
    assert "the config names no writer: labels go to" in caplog.text
    for case in ("case_002", "case_003"):
        written = nib.load(mmar / "infer" / case / f"{case}_model.nii.gz")
        source = nib.load(_image_of(mmar, case))
        assert written.shape == source.shape and np.allclose(written.affine, source.affine)
        assert written.get_data_dtype() == np.uint8
        assert set(np.unique(np.asarray(written.dataobj))) <= {0, 1}
