"""Static index registries (air-gapped sites): over HTTP, as file:// and as a plain folder; MMAR zips."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from clara_tlt.errors import DownloadError
from clara_tlt.hub.archive import extract_zip
from tests.hub.loopback_registry import MMAR_FILES, make_zip


@pytest.fixture(params=["http", "file-url", "folder"])
def index_location(request, registry, tmp_path) -> str:
    if request.param == "http":
        return registry.index_url
    folder = registry.write_index_folder(tmp_path / "registry")
    return folder.as_uri() if request.param == "file-url" else str(folder)


def test_list_models_and_versions(index_location, cli):
    result = cli("--registry", index_location, "-lm", "--json")
    assert result.code == 0, result.text
    models = {m["name"]: m for m in result.json()["models"]}
    assert models["clara_pt_spleen_ct_segmentation"]["latest_version"] == "2"
    result = cli("--registry", index_location, "-lv", "-m", "clara_pt_spleen_ct_segmentation", "--json")
    assert [v["version"] for v in result.json()["versions"]] == ["2", "1"]


def test_download_files(index_location, cli, tmp_path):
    dest = tmp_path / "spleen"
    result = cli(
        "--registry", index_location, "-m", "clara_pt_spleen_ct_segmentation", "-d", str(dest), "--json"
    )
    assert result.code == 0, result.text
    assert result.json()["version"] == "2"
    for path, data in MMAR_FILES.items():
        assert (dest / path).read_bytes() == data


def test_single_zip_version_is_extracted_as_an_mmar(index_location, cli, tmp_path):
    dest = tmp_path / "liver"
    result = cli(
        "--registry", index_location, "-m", "clara_pt_liver_and_tumor_ct_segmentation", "-d", str(dest)
    )
    assert result.code == 0, result.text
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(
        MMAR_FILES
    )


def test_index_zip_slip_is_refused(registry, cli, tmp_path):
    result = cli("--registry", registry.index_url, "-m", "evil_model", "-d", str(tmp_path / "x" / "evil"))
    assert result.code == 6 and "zip-slip" in result.stderr
    assert not list(tmp_path.rglob("escaped.txt"))


def test_index_checksum_mismatch_is_refused(registry, cli, tmp_path):
    folder = registry.write_index_folder(tmp_path / "registry")
    (folder / "annotation_spleen" / "1" / "model.ts").write_bytes(b"tampered" * 125)  # same size, other bytes
    result = cli("--registry", str(folder), "-m", "annotation_spleen", "-d", str(tmp_path / "out"))
    assert result.code == 6 and "sha256" in result.stderr
    assert not (tmp_path / "out").exists()


def test_index_path_traversal_in_file_list_is_refused(registry, cli, tmp_path):
    folder = registry.write_index_folder(tmp_path / "registry")
    index = json.loads((folder / "index.json").read_text())
    index["models"]["annotation_spleen"]["versions"]["1"]["files"][0]["path"] = "../../../etc/passwd"
    (folder / "index.json").write_text(json.dumps(index))
    result = cli("--registry", str(folder), "-m", "annotation_spleen")
    assert result.code == 6 and "path traversal" in result.stderr


def test_missing_index_says_how_to_make_one(cli, tmp_path):
    result = cli("--registry", str(tmp_path), "-lm")
    assert result.code == 6 and "index.json" in result.stderr and "docs/pull.md" in result.stderr


def test_malformed_index_names_the_key(cli, tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"models": {"m": {"versions": []}}}))
    result = cli("--registry", str(tmp_path), "-m", "m")
    assert result.code == 3 and "models.m" in result.stderr


def test_downloaded_mmar_is_accepted_by_train(registry, cli, tmp_path, spleen_mmar):
    """The pulled MMAR folder resolves exactly as `clara-tlt train -m DIR -c config/config_train.json` does."""
    from clara_tlt.cli.dialects import load_mmar

    folder = tmp_path / "registry"
    archive = make_zip(
        {
            f"spleen/{p.relative_to(spleen_mmar).as_posix()}": p.read_bytes()
            for p in spleen_mmar.rglob("*")
            if p.is_file()
        }
    )
    (folder / "spleen_mmar" / "1").mkdir(parents=True)
    (folder / "spleen_mmar" / "1" / "spleen_mmar.zip").write_bytes(archive)
    (folder / "index.json").write_text(
        json.dumps(
            {
                "models": {
                    "spleen_mmar": {
                        "versions": {"1": {"files": [{"path": "spleen_mmar.zip", "size": len(archive)}]}}
                    }
                }
            }
        )
    )
    dest = tmp_path / "pulled"
    result = cli("--registry", str(folder), "-m", "spleen_mmar", "-d", str(dest), "--json")
    assert result.code == 0, result.text
    assert result.json()["mmar"] is True
    resolved = load_mmar(str(dest), "config/config_train.json", None, ())
    assert resolved is not None


def write_zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc")
    return path


@pytest.mark.parametrize("name", ["/abs/file", "a/../../up", "C:/windows", "a\\..\\b"])
def test_extract_refuses_escaping_names(tmp_path, name):
    archive = write_zip(tmp_path / "a.zip", {"ok": b"1", name: b"2"})
    with pytest.raises(DownloadError, match="zip-slip"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_refuses_symlinks(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"ok": b"1"}, symlink="link")
    with pytest.raises(DownloadError, match="symbolic link"):
        extract_zip(archive, tmp_path / "out")


def test_extract_keeps_layouts_that_are_not_a_wrapped_mmar(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"weights/model.pt": b"w", "weights/notes.txt": b"n"})
    extract_zip(archive, tmp_path / "out")
    assert (tmp_path / "out" / "weights" / "model.pt").read_bytes() == b"w"


def test_damaged_zip_is_a_download_error(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        extract_zip(archive, tmp_path / "out")
