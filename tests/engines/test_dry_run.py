"""`--dry-run` (and train, before its first epoch) checks each datalist entry against what the config loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from clara_tlt.cli.train import tlt_command
from clara_tlt.config import load_config
from tests.test_cli import invoke, invoke_streams


def dry_run(mmar: Path, *sets: str) -> tuple[int, str]:
    return invoke(
        "train",
        "-m",
        str(mmar),
        "-c",
        "config/config_train.json",
        "--dry-run",
        *(["--set", *sets] if sets else []),
    )


def copy_data(unet_mmar: Path, tmp_path: Path) -> Path:
    """A private copy of the MMAR's data, its environment pointed at it; returns the datalist path."""
    env_file = unet_mmar / "config" / "environment.json"
    env = json.loads(env_file.read_text())
    data = tmp_path / "data"
    shutil.copytree(Path(env["DATA_ROOT"]), data)
    env.update(DATA_ROOT=str(data), DATASET_JSON=str(data / Path(env["DATASET_JSON"]).name))
    env_file.write_text(json.dumps(env))
    return Path(env["DATASET_JSON"])


def test_a_field_the_loader_reads_but_entries_lack_names_entry_and_field(unet_mmar: Path) -> None:
    code, output = dry_run(unet_mmar, 'train.pre_transforms.0.args.fields=["imgae", "label"]')
    assert code == 3, output
    assert "config_train.json: train.pre_transforms: loads field(s) imgae, label" in output
    assert "training[0] has no 'imgae' (its fields: image, label)" in output


def test_an_unreadable_image_is_named_before_any_work(unet_mmar: Path, tmp_path: Path) -> None:
    datalist = copy_data(unet_mmar, tmp_path)
    entries = json.loads(datalist.read_text())
    broken = datalist.parent / entries["training"][1]["image"]
    broken.write_bytes(b"not a NIfTI file at all")
    code, output = dry_run(unet_mmar)
    assert code == 4, output
    assert f"training[1].image: {broken}: the compressed data is damaged" in output
    code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json")
    assert code == 4 and str(broken) in output
    assert not (unet_mmar / "models" / "train_state.pt").exists()


def test_a_folder_must_be_a_dicom_series(unet_mmar: Path, tmp_path: Path) -> None:
    datalist = copy_data(unet_mmar, tmp_path)
    entries = json.loads(datalist.read_text())
    (datalist.parent / "not_dicom").mkdir()
    (datalist.parent / "not_dicom" / "notes.txt").write_text("hello")
    entries["validation"][0]["image"] = "not_dicom"
    datalist.write_text(json.dumps(entries))
    code, output = dry_run(unet_mmar)
    assert code == 4 and "validation[0].image" in output and "a folder without DICOM files" in output


def test_an_empty_list_is_no_input(unet_mmar: Path, tmp_path: Path) -> None:
    datalist = copy_data(unet_mmar, tmp_path)
    entries = json.loads(datalist.read_text())
    entries["validation"] = []
    datalist.write_text(json.dumps(entries))
    code, output = dry_run(unet_mmar)
    assert code == 4 and "the list 'validation'" in output and "is empty" in output


BAD_GLOBALS = [
    ("epochs=0", "epochs: must be a whole number ≥ 1, got 0"),
    ("epochs=2.5", "epochs: must be a whole number ≥ 1, got 2.5"),
    ("epochs=ten", "epochs: must be a whole number ≥ 1, got 'ten'"),
    ("use_amp=yes", "use_amp: must be true or false, got 'yes'"),
]


@pytest.mark.parametrize(("setting", "message"), BAD_GLOBALS)
def test_a_global_the_real_run_refuses_is_refused_by_the_dry_run_in_both_dialects(
    unet_mmar: Path, tmp_path: Path, setting: str, message: str
) -> None:
    code, output = dry_run(unet_mmar, setting)
    assert (code, output) == (3, f"Error: config/config_train.json: {message}\n")
    assert invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--set", setting) == (
        code,
        output,
    )
    env = json.loads((unet_mmar / "config" / "environment.json").read_text())
    config = unet_mmar / "config" / "config_train.json"
    tlt = ["segmentation", "-e", str(config), "-d", env["DATASET_JSON"], "-r", str(tmp_path / "out")]
    code, _, stderr = invoke_streams(*tlt, "--set", setting, "--dry-run", command=tlt_command)
    assert code == 3 and f"{config}: {message}" in stderr
    assert (
        not (unet_mmar / "models").exists() and not (tmp_path / "out").exists()
    )  # the dry run wrote nothing


def test_the_dry_run_judges_the_model_folder_as_the_real_run_does(unet_mmar: Path) -> None:
    models = unet_mmar / "models"
    models.mkdir()
    resolved = load_config(
        "config/config_train.json", environment_path="config/environment.json", mmar_root=unet_mmar
    ).data
    state = {"trainer": {"epoch": 1}, "train_conf": resolved}
    torch.save(state, models / "train_state.pt")
    code, output = dry_run(unet_mmar)
    assert code == 0 and "the run resumes from train_state.pt (1 of 3 epoch(s) done)" in output, output

    torch.save(state | {"train_conf": resolved | {"learning_rate": 0.5}}, models / "train_state.pt")
    code, output = dry_run(unet_mmar)  # a state of a run under another learning rate
    assert code == 3 and "differing keys:\n  learning_rate: 0.5 → 0.01\n" in output, output
    assert invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json") == (code, output)

    (models / "train_state.pt").unlink()
    (models / "model.pt").write_bytes(b"another run's model")
    code, output = dry_run(unet_mmar)
    assert code == 2 and "no train_state.pt to resume from; add --force" in output, output
    code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json", "-f", "--dry-run")
    assert code == 0 and "the run starts over, removing the earlier run's model.pt" in output, output
    assert (models / "model.pt").read_bytes() == b"another run's model"


def test_every_truncated_image_is_listed_by_the_dry_run_and_the_real_run(
    unet_mmar: Path, tmp_path: Path
) -> None:
    datalist = copy_data(unet_mmar, tmp_path)
    entries = json.loads(datalist.read_text())
    cut = [
        datalist.parent / entries["training"][0]["image"],
        datalist.parent / entries["validation"][1]["label"],
    ]
    for path in cut:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 200])  # the header and most voxels are there: ITK reads it today
    code, output = dry_run(unet_mmar)
    assert code == 4, output
    assert f"training[0].image: {cut[0]}: the compressed stream ends early" in output
    assert f"validation[1].label: {cut[1]}: the compressed stream ends early" in output
    code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json")
    assert code == 4 and str(cut[0]) in output and str(cut[1]) in output
    assert not (unet_mmar / "models" / "model.pt").exists()


def test_a_label_on_another_grid_stops_the_dry_run_and_the_real_run(unet_mmar: Path, tmp_path: Path) -> None:
    import nibabel as nib

    datalist = copy_data(unet_mmar, tmp_path)
    entries = json.loads(datalist.read_text())
    label = datalist.parent / entries["training"][1]["label"]
    loaded = nib.load(label)
    affine = loaded.affine.copy()
    affine[2, 3] += 4.0  # the label lies 4 mm further along z
    nib.save(nib.Nifti1Image(np.asarray(loaded.dataobj), affine), label)
    for command in (
        dry_run(unet_mmar),
        invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json"),
    ):
        code, output = command
        assert code == 4, output
        assert "training[1]: origin differs" in output
        assert str(datalist.parent / entries["training"][1]["image"]) in output and str(label) in output
    assert not (unet_mmar / "models" / "model.pt").exists()


def test_a_relative_set_path_is_under_the_mmar_not_the_working_folder(
    unet_mmar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, stdout, stderr = invoke_streams(
        "train",
        "-m",
        str(unet_mmar),
        "-c",
        "config/config_train.json",
        "--dry-run",
        "--json",
        "--set",
        "MMAR_CKPT_DIR=models_b",
    )
    assert code == 0, stderr
    assert json.loads(stdout)["model_dir"] == str(unet_mmar.resolve() / "models_b")


def test_an_automl_config_trains_as_written_and_its_search_space_is_listed(unet_mmar: Path) -> None:
    """The Clara 3.1 AutoML search space: `lr_search`, `search` on components, alternative losses."""
    config_file = unet_mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["lr_search"] = [0.0001, 0.001]
    train = config["train"]
    train["model"]["search"] = [
        {"domain": "net", "type": "enum", "args": ["num_res_units"], "targets": [[0], [1]]}
    ]
    train["pre_transforms"][0]["search"] = [
        {"domain": "transform", "type": "enum", "args": ["@disabled"], "targets": [[False]]}
    ]
    train["loss"] = [
        train["loss"],
        {**train["loss"], "args": {**train["loss"]["args"], "squared_pred": True}},
    ]
    config_file.write_text(json.dumps(config))
    code, stdout, stderr = invoke_streams(
        "train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--dry-run", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["automl"] == [
        "lr_search",
        "train.model.search",
        "train.pre_transforms[0].search",
    ]
    code, output = dry_run(unet_mmar)
    assert (
        "AutoML search space (accepted; this run trains with the values as written, no search): lr_search"
        in output
    )
    code, output = invoke(
        "train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--set", "epochs=1"
    )
    assert code == 0, output
    assert (unet_mmar / "models" / "model_final.pt").is_file()


def test_after_a_disabled_component_every_message_names_the_index_in_the_users_file(unet_mmar: Path) -> None:
    """Loading drops `"disabled": true` components from their lists; a build error or the AutoML listing still
    names the index the user's file has, never the (disabled) one the item moved to."""
    config_file = unet_mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    pre = config["train"]["pre_transforms"]
    assert [t["name"] for t in pre[4:7]] == ["RandomAxisFlip", "RandomRotate3D", "ScaleIntensityOscillation"]
    pre[4]["disabled"] = True
    pre[5]["args"]["anglee"] = 5
    config_file.write_text(json.dumps(config))
    code, output = dry_run(unet_mmar)
    assert code == 3, output
    assert (
        "config_train.json: train.pre_transforms[5].args.anglee: transform 'RandomRotate3D' has no argument"
        in output
    )
    assert "pre_transforms[4]" not in output
    del pre[5]["args"]["anglee"]
    pre[6]["search"] = [{"domain": "transform", "type": "enum", "args": ["@disabled"], "targets": [[False]]}]
    config_file.write_text(json.dumps(config))
    code, stdout, stderr = invoke_streams(
        "train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--dry-run", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["automl"] == ["train.pre_transforms[6].search"]


FL_CLIENT = {  # the orchestration sections of Clara 3.1's config_fed_client.json
    "servers": [
        {
            "name": "spleen_segmentation",
            "service": {
                "target": "localhost:8002",
                "options": [["grpc.max_send_message_length", 1000000000]],
            },
        }
    ],
    "client": {
        "local_epochs": 5,
        "steps_aggregation": 0,
        "exclude_vars": "dummy",
        "privacy": {"name": "PercentileProtocol", "args": {"percentile": 75, "gamma": 1}},
        "retry_timeout": 30,
        "ssl_private_key": "resources/certs/client1.key",
    },
    "pre_processors": [{"name": "ModelEncryptor", "args": {}}, {"name": "DataCompressor", "args": {}}],
    "post_processors": [{"name": "DataDeCompressor", "args": {}}, {"name": "ModelDecryptor", "args": {}}],
    "req_processors": [{"name": "ValidateRequestProcessor", "args": {}}],
}


def test_a_federated_client_config_trains_locally_and_names_orchestration_once(
    unet_mmar: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_file = unet_mmar / "config" / "config_train.json"
    client = unet_mmar / "config" / "config_fed_client.json"
    client.write_text(json.dumps({**json.loads(config_file.read_text()), **FL_CLIENT, "epochs": 1}))
    code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_fed_client.json", "--dry-run")
    assert code == 0, output
    assert "servers =" not in output  # not global variables
    with caplog.at_level("INFO"):
        code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_fed_client.json")
    assert code == 0, output
    assert (unet_mmar / "models" / "model_final.pt").is_file()
    note = (
        "config/config_fed_client.json: federated-learning orchestration (servers, client, pre_processors, "
    )
    assert caplog.text.count(note) == 1, caplog.text


def test_a_federated_client_config_without_training_names_the_config_that_trains(unet_mmar: Path) -> None:
    (unet_mmar / "config" / "config_fed_client.json").write_text(json.dumps(FL_CLIENT))
    code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_fed_client.json", "--dry-run")
    assert (
        code == 3 and "config_fed_client.json: a federated-learning client config with no 'train'" in output
    )
    fix = output.split("run train with ", 1)[1].split(" (", 1)[0].split()
    assert invoke("train", "-m", str(unet_mmar), *fix, "--dry-run")[0] == 0
