"""`dataconvert` end to end: the command line (in-process and the real console script), batch safety, naming."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from clara_tlt.cli.dataconvert import parse_resolution
from clara_tlt.cli.main import cli
from clara_tlt.cli.runner import run
from clara_tlt.io import Volume, read_image, write_image
from clara_tlt.synthetic.dicom import write_dicom_series
from tests.faults import fill_disk, leftovers, no_space, short_itk_writes
from tests.io.conftest import CT_SERIES, DAMAGES, damage, sitk_series

BIN = Path(sys.executable).parent


def dataconvert(*args: str) -> tuple[int, str, str]:
    """`clara-tlt dataconvert ARGS` in-process through the console script's runner: (code, stdout, stderr)."""
    with CliRunner().isolation() as (stdout, stderr, _):
        try:
            run(cli, ["dataconvert", *args], prog_name="clara-tlt")
            code: int | str | None = 0
        except SystemExit as exc:
            code = exc.code
    return int(code or 0), stdout.getvalue().decode(), stderr.getvalue().decode()


@pytest.fixture
def dicom_tree(tmp_path, ct_hu) -> Path:
    """patient_a/ct (shuffled, with a scout) and patient_b (two series in one folder)."""
    root = tmp_path / "dicom"
    write_dicom_series(
        ct_hu, root / "patient_a" / "ct", spacing=(0.7, 0.8, 2.5), shuffle_seed=2, localizer=True
    )
    write_dicom_series(ct_hu, root / "patient_b", spacing=(0.7, 0.8, 2.5), series_number=4, prefix="A")
    write_dicom_series(
        ct_hu[:, :16], root / "patient_b", spacing=(0.7, 0.8, 2.5), series_number=7, prefix="B"
    )
    return root


@pytest.fixture
def ct_hu() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-1000, 1500, (12, 32, 32)).astype(np.int16)


def test_converts_every_series_with_names_from_folders_and_no_phi(dicom_tree, tmp_path, ct_hu):
    out = tmp_path / "out"
    code, stdout, stderr = dataconvert(
        "-d", str(dicom_tree), "-r", "1", "-s", ".dcm", "-e", ".nii.gz", "-o", str(out), "-j", "2"
    )
    assert code == 0, stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "patient_a_ct.json",
        "patient_a_ct.nii.gz",
        "patient_b_s4.json",
        "patient_b_s4.nii.gz",
        "patient_b_s7.json",
        "patient_b_s7.nii.gz",
    ]
    image = nib.load(out / "patient_a_ct.nii.gz")
    np.testing.assert_allclose(image.header.get_zooms(), (1.0, 1.0, 1.0))
    assert image.shape == (22, 26, 30)  # 32×0.7, 32×0.8, 12×2.5 mm
    sidecar = json.loads((out / "patient_a_ct.json").read_text())
    assert sidecar["spacing_mm"] == [1.0, 1.0, 1.0] and sidecar["series"]["Modality"] == "CT"
    everything = (
        stdout
        + stderr
        + "".join(p.name + (p.read_text() if p.suffix == ".json" else "") for p in out.iterdir())
    )
    for phi in ("SYNTHETIC^PATIENT", "SYNTHETIC-0001", "19700101"):
        assert phi not in everything
    assert any("localizer" in note for note in sidecar["notes"])


def test_native_resolution_is_voxel_identical_to_simpleitk(tmp_path):
    code, _, stderr = dataconvert("-d", str(CT_SERIES), "-o", str(tmp_path / "out"), "-e", ".mha")
    assert code == 0, stderr
    reference = sitk_series(CT_SERIES)
    ours = sitk.ReadImage(str(tmp_path / "out" / "CT5N.mha"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(reference))
    np.testing.assert_allclose(ours.GetOrigin(), reference.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(ours.GetSpacing(), reference.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(ours.GetDirection(), reference.GetDirection(), atol=1e-6)


def test_existing_output_without_force_exits_2_and_writes_nothing(dicom_tree, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(out))
    assert code == 2 and "-f/--force" in stderr and str(out) in stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(out), "-f")
    assert code == 0, stderr
    assert (out / "keep.txt").read_text() == "mine" and (out / "patient_a_ct.nii.gz").exists()


def test_no_input_exits_4(tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, stderr = dataconvert("-d", str(tmp_path / "empty"), "-o", str(tmp_path / "out"))
    assert code == 4 and "no .dcm images found" in stderr and "-s" in stderr
    assert not (tmp_path / "out").exists()


def test_failures_do_not_stop_the_batch_and_exit_5(dicom_tree, tmp_path, ct_hu):
    (dicom_tree / "patient_c").mkdir()
    (dicom_tree / "patient_c" / "broken.dcm").write_bytes(b"not dicom at all" * 8)
    truncated = write_dicom_series(ct_hu, dicom_tree / "patient_d")
    truncated[3].write_bytes(truncated[3].read_bytes()[:-900])  # header fine, pixel data cut short
    write_dicom_series(ct_hu, dicom_tree / "patient_e", series_uid="1.2.3.77", prefix="A")
    write_dicom_series(
        ct_hu[:2, :16], dicom_tree / "patient_e", series_uid="1.2.3.77", prefix="B", origin=(0, 0, 90)
    )
    out = tmp_path / "out"
    code, stdout, stderr = dataconvert("-d", str(dicom_tree), "-o", str(out), "--json")
    assert code == 5
    report = json.loads(stdout)
    assert len(report["converted"]) == 3
    reasons = {Path(f["input"].split(" ")[0]).name: f["reason"] for f in report["failed"]}
    assert "not a readable DICOM file" in reasons["broken.dcm"] and "move it out" in reasons["broken.dcm"]
    assert "cannot decode pixel data" in reasons["patient_d"] and "IM0003.dcm" in reasons["patient_d"]
    assert "mixed image sizes" in reasons["patient_e"]
    assert "3 of 6 inputs failed" in stderr
    assert not (out / "patient_d.nii.gz").exists()


def test_label_mode_keeps_dtype_and_values(tmp_path):
    labels = np.zeros((12, 32, 32), np.uint8)
    labels[3:9, 8:20, 10:24] = 1
    labels[5:7, 12:16, 14:18] = 3
    write_image(Volume(labels, spacing=(0.7, 0.8, 2.5)), tmp_path / "in" / "case1" / "label.nii.gz")
    code, _, stderr = dataconvert(
        "-d",
        str(tmp_path / "in"),
        "-s",
        ".nii.gz",
        "-e",
        ".nrrd",
        "-o",
        str(tmp_path / "out"),
        "-l",
        "-r",
        "1",
    )
    assert code == 0, stderr
    out = read_image(tmp_path / "out" / "case1" / "label.nrrd")
    assert out.array.dtype == np.uint8 and set(np.unique(out.array)) == {0, 1, 3}
    assert out.spacing == (1.0, 1.0, 1.0)


def test_anisotropic_resolution_three_ways():
    assert parse_resolution("1") == (1.0, 1.0, 1.0) == parse_resolution("1.0")
    assert parse_resolution("1,1,2.5") == (1.0, 1.0, 2.5) == parse_resolution("1x1x2.5")


def test_r_takes_three_numbers_after_one_flag(tmp_path):
    write_image(Volume(np.zeros((4, 8, 8), np.int16)), tmp_path / "in" / "a.mha")
    code, stdout, stderr = dataconvert(
        "-d", str(tmp_path / "in"), "-s", ".mha", "-o", str(tmp_path / "out"), "-r", "0.5", "1", "2", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["converted"][0]["spacing_mm"] == [0.5, 1.0, 2.0]
    code, _, stderr = dataconvert("-d", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "-r", "1", "2")
    assert code == 2 and "one positive spacing" in stderr


def test_bad_output_format_is_a_usage_error(tmp_path):
    (tmp_path / "in").mkdir()
    code, _, stderr = dataconvert("-d", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-e", ".png")
    assert code == 2 and ".nii.gz" in stderr


def test_tlt_dataconvert_console_script(dicom_tree, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [
            str(BIN / "tlt-dataconvert"),
            "-d",
            str(dicom_tree),
            "-r",
            "1",
            "-s",
            ".dcm",
            "-e",
            ".nii.gz",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Converted 3 volume(s)" in done.stdout
    assert (
        done.stderr.count("INFO clara_tlt.engines.dataconvert: converted") == 3
    )  # one log line per volume off a terminal
    again = subprocess.run(
        [str(BIN / "tlt-dataconvert"), "-d", str(dicom_tree), "-o", str(out)], capture_output=True, text=True
    )
    assert again.returncode == 2


@pytest.fixture
def damaged_tree(tmp_path, ct_hu) -> tuple[Path, Path]:
    """good/ (a whole synthetic series) and CT5N/ (a copy of pydicom's real CT): returns (root, CT5N)."""
    root = tmp_path / "dicom"
    write_dicom_series(ct_hu, root / "good")
    return root, Path(shutil.copytree(CT_SERIES, root / "CT5N"))


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_dicom_slice_fails_its_series_only_and_exits_5(damaged_tree, tmp_path, how):
    root, real = damaged_tree
    victim = sorted(real.iterdir())[1]
    damage(victim, how)
    out = tmp_path / "out"
    code, stdout, stderr = dataconvert("-d", str(root), "-o", str(out), "-j", "1", "--json")
    assert code == 5
    report = json.loads(stdout)
    assert [Path(r["output"]).name for r in report["converted"]] == ["good.nii.gz"]
    assert len(report["failed"]) == 1 and str(victim) in report["failed"][0]["reason"]
    assert "1 of 2 inputs failed" in stderr and str(victim) in stderr
    assert sorted(p.name for p in out.iterdir()) == ["good.json", "good.nii.gz"]  # nothing for CT5N


def test_missing_slices_fail_unless_interpolation_is_asked_for(damaged_tree, tmp_path):
    root, real = damaged_tree
    sorted(real.iterdir())[2].unlink()
    code, _, stderr = dataconvert("-d", str(root), "-o", str(tmp_path / "out"), "-j", "1")
    assert code == 5 and "missing slices? 1 slice(s)" in stderr and "--interpolate_missing_slices" in stderr
    assert not (tmp_path / "out" / "CT5N.nii.gz").exists()
    code, _, stderr = dataconvert("-d", str(root), "-o", str(tmp_path / "o2"), "--interpolate_missing_slices")
    assert code == 0, stderr
    notes = json.loads((tmp_path / "o2" / "CT5N.json").read_text())["notes"]
    assert any("missing slices?" in note and "interpolated" in note for note in notes)
    assert nib.load(tmp_path / "o2" / "CT5N.nii.gz").shape[2] == 5


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_a_compressed_volume_that_ends_early_fails_and_exits_5(tmp_path, suffix):
    array = (np.arange(12 * 32 * 32).reshape(12, 32, 32) % 700 + 1).astype(np.int16)  # no zeros anywhere
    for name in ("whole", "cut"):
        write_image(Volume(array), tmp_path / "in" / f"{name}{suffix}")
    cut = tmp_path / "in" / f"cut{suffix}"
    cut.write_bytes(cut.read_bytes()[:-300])
    out = tmp_path / "out"
    code, stdout, stderr = dataconvert("-d", str(tmp_path / "in"), "-s", suffix, "-o", str(out), "--json")
    assert code == 5 and str(cut) in stderr
    assert [Path(r["output"]).name for r in json.loads(stdout)["converted"]] == ["whole.nii.gz"]
    assert not (out / "cut.nii.gz").exists()


def test_nan_voxels_fail_unless_a_replacement_is_given(tmp_path):
    array = np.zeros((4, 16, 16), np.float32)
    array[1, 2, 3], array[2, 0, 0] = np.nan, np.inf
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(array.T, np.eye(4)), tmp_path / "in" / "prob.nii.gz")
    code, _, stderr = dataconvert("-d", str(tmp_path / "in"), "-s", ".nii.gz", "-o", str(tmp_path / "out"))
    assert (
        code == 1  # the only input failed: none was done
        and "none of the 1 inputs was done" in stderr
        and "prob.nii.gz: 2 voxel(s) are NaN or infinite" in stderr
        and "--replace_nonfinite" in stderr
    )
    assert not (tmp_path / "out" / "prob.nii.gz").exists()
    args = (
        "-d",
        str(tmp_path / "in"),
        "-s",
        ".nii.gz",
        "-o",
        str(tmp_path / "o2"),
        "--replace_nonfinite",
        "-5",
    )
    code, _, stderr = dataconvert(*args)
    assert code == 0, stderr
    converted = np.asarray(nib.load(tmp_path / "o2" / "prob.nii.gz").dataobj).T
    assert converted[1, 2, 3] == converted[2, 0, 0] == -5 and np.isfinite(converted).all()
    notes = json.loads((tmp_path / "o2" / "prob.json").read_text())["notes"]
    assert notes == ["2 NaN/infinite voxel(s) replaced by -5 (replace_nonfinite)"]


def test_output_that_is_a_file_or_cannot_be_written_is_one_usage_error(dicom_tree, tmp_path):
    (tmp_path / "taken").write_text("mine")
    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(tmp_path / "taken"))
    assert code == 2 and "is a file, not a folder" in stderr
    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(tmp_path / "taken" / "sub"))
    assert code == 2 and "taken is a file" in stderr
    assert (tmp_path / "taken").read_text() == "mine"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs a read-only /sys (Linux)")
def test_unwritable_output_folder_is_one_error_before_any_conversion(dicom_tree):
    code, stdout, stderr = dataconvert("-d", str(dicom_tree), "-o", "/sys/kernel/clara_tlt_out")
    assert code == 2 and stderr.count("cannot write there") == 1 and "Converted" not in stdout


def test_each_volume_and_each_failure_is_printed_once(damaged_tree, tmp_path):
    root, real = damaged_tree
    victim = sorted(real.iterdir())[3]
    damage(victim, "pixel data missing")
    out = tmp_path / "out"
    done = subprocess.run(
        [str(BIN / "tlt-dataconvert"), "-d", str(root), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 5
    printed = done.stdout + done.stderr
    assert printed.count(str(out / "good.nii.gz")) == 1 and printed.count(str(victim)) == 1
    assert "Converted 1 volume(s)" in done.stdout and "1 of 2 inputs failed" in done.stderr


def test_a_4d_nifti_fails_with_what_to_do_and_the_rest_converts(tmp_path):
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4, 2), np.float32), np.eye(4)), tmp_path / "in" / "brats.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.float32), np.eye(4)), tmp_path / "in" / "t1.nii.gz")
    code, stdout, stderr = dataconvert(
        "-d", str(tmp_path / "in"), "-s", ".nii.gz", "-o", str(tmp_path / "out"), "--json"
    )
    assert code == 5
    assert "brats.nii.gz: 2 channels of 8 × 8 × 4 voxels" in stderr and "split it into one file per" in stderr
    assert [Path(r["output"]).name for r in json.loads(stdout)["converted"]] == ["t1.nii.gz"]
    assert not (tmp_path / "out" / "brats.nii.gz").exists()


def test_a_full_disk_fails_the_inputs_it_hits_keeps_older_outputs_and_never_counts_them_done(
    tmp_path, monkeypatch
):
    (tmp_path / "in").mkdir()
    for name, value in (("a", 1), ("b", 2)):
        write_image(
            Volume(np.full((8, 16, 16), value, np.int16), (1.0, 1.0, 2.0)), tmp_path / "in" / f"{name}.nii.gz"
        )
    out = tmp_path / "out"
    args = ("-d", str(tmp_path / "in"), "-s", ".nii.gz", "-o", str(out), "-f", "-j", "1", "--json")
    assert dataconvert(*args)[0] == 0
    older = {path.name: path.read_bytes() for path in out.iterdir()}
    (tmp_path / "in" / "a.nii.gz").write_bytes((tmp_path / "in" / "b.nii.gz").read_bytes())  # new outputs

    with monkeypatch.context() as patch:  # Python's writes of b's output hit a full disk
        fill_disk(patch, room=0, where=lambda name: Path(name).name.startswith(".b."))
        code, stdout, stderr = dataconvert(*args)
    assert code == 5 and "1 of 2 inputs failed" in stderr
    assert f"{out / 'b.nii.gz'}: not written: no space left on the device holding {out}" in stderr
    report = json.loads(stdout)
    assert [Path(r["output"]).name for r in report["converted"]] == ["a.nii.gz"]
    assert [Path(f["input"]).name for f in report["failed"]] == ["b.nii.gz"]
    assert (out / "b.nii.gz").read_bytes() == older["b.nii.gz"] and (out / "b.json").read_bytes() == older[
        "b.json"
    ]
    assert (out / "a.nii.gz").read_bytes() != older["a.nii.gz"] and leftovers(out) == []

    short_itk_writes(monkeypatch)  # ITK leaves short files without an error, on a full device
    no_space(monkeypatch)
    code, stdout, stderr = dataconvert(*args)
    assert code == 1 and "none of the 2 inputs was done" in stderr
    for name in ("a", "b"):
        assert f"- {tmp_path / 'in' / name}.nii.gz: {out / name}.nii.gz: not written: no space left" in stderr
    assert json.loads(stdout)["converted"] == [] and leftovers(out) == []
    assert (out / "b.nii.gz").read_bytes() == older["b.nii.gz"]
