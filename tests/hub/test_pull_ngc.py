"""NGC v2 API: listing, versions, downloads of files and zips, keys and their errors (loopback server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.hub.loopback_registry import API_KEY, MMAR_FILES, ORG, TEAM, TOKEN


def ngc(registry, *args: str) -> list[str]:
    return ["--registry", registry.api, "--auth-url", registry.auth, "-o", ORG, "-t", TEAM, *args]


def test_list_models_reads_every_page(registry, cli):
    result = cli(*ngc(registry, "-lm", "--json"))
    assert result.code == 0, result.text
    names = [m["name"] for m in result.json()["models"]]
    assert names == sorted(registry.models)  # 5 models over 3 pages of 2
    pages = [p for p in registry.paths() if "/models?page-number=" in p]
    assert [p.rsplit("=", 1)[1] for p in pages] == ["0", "1", "2"]
    assert all(p.startswith(f"/api/v2/org/{ORG}/team/{TEAM}/models") for p in pages)


def test_list_models_text_shows_latest_version(registry, cli):
    result = cli(*ngc(registry, "-lm"))
    assert result.code == 0
    line = next(
        line for line in result.stdout.splitlines() if line.startswith("clara_pt_spleen_ct_segmentation")
    )
    assert line.split()[1] == "2" and "Spleen segmentation MMAR" in line


def test_list_versions_newest_first_with_size(registry, cli):
    result = cli(*ngc(registry, "-lv", "-m", "clara_pt_spleen_ct_segmentation", "--json"))
    assert result.code == 0, result.text
    versions = result.json()["versions"]
    assert [v["version"] for v in versions] == ["2", "1"]
    assert versions[0]["size"] == sum(len(d) for d in MMAR_FILES.values())


def test_download_files_of_a_version(registry, cli, tmp_path):
    dest = tmp_path / "spleen"
    result = cli(
        *ngc(registry, "-m", "clara_pt_spleen_ct_segmentation", "-v", "2", "-d", str(dest), "--json")
    )
    assert result.code == 0, result.text
    for path, data in MMAR_FILES.items():
        assert (dest / path).read_bytes() == data
    report = result.json()
    assert report["version"] == "2" and report["mmar"] is True and report["from_cache"] is False
    assert sorted(report["files"]) == sorted(MMAR_FILES)
    assert not list(dest.rglob("*.incomplete"))


def test_latest_is_the_default_and_the_word(registry, cli, tmp_path):
    for args in ([], ["-v", "latest"]):
        result = cli(*ngc(registry, "-m", "clara_pt_spleen_ct_segmentation", *args, "--json"))
        assert result.code == 0, result.text
        assert result.json()["version"] == "2"
        assert Path(result.json()["path"], "models/model.pt").read_bytes() == MMAR_FILES["models/model.pt"]


def test_zip_version_lands_as_an_mmar_folder(registry, cli, tmp_path):
    dest = tmp_path / "liver"
    result = cli(*ngc(registry, "-m", "clara_pt_liver_and_tumor_ct_segmentation", "-v", "1", "-d", str(dest)))
    assert result.code == 0, result.text
    assert any(p.endswith("/versions/1/zip") for p in registry.paths())
    # the zip wrapped the MMAR in liver_mmar/: unwrapped, so -d itself is the MMAR root
    assert (dest / "config" / "config_train.json").read_bytes() == MMAR_FILES["config/config_train.json"]
    assert not (dest / "liver_mmar").exists() and not list(dest.glob("*.zip"))
    assert "clara-tlt train -m" in result.stdout


def test_zip_slip_is_refused_and_nothing_is_kept(registry, cli, tmp_path):
    dest = tmp_path / "deep" / "evil"
    result = cli(*ngc(registry, "-m", "evil_model", "-v", "1", "-d", str(dest)))
    assert result.code == 6
    assert "zip-slip" in result.stderr and "../../escaped.txt" in result.stderr
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()
    assert not dest.exists()
    cache = Path(registry_cache(tmp_path))
    assert not [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]


def registry_cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_key_is_exchanged_for_a_token_and_never_shown(registry, cli, tmp_path):
    result = cli(
        *ngc(registry, "-k", API_KEY, "-m", "clara_pt_private_model", "-d", str(tmp_path / "p"), "--json")
    )
    assert result.code == 0, result.text
    assert (tmp_path / "p" / "weights.bin").read_bytes() == b"private" * 100
    token_requests = [h for p, h in registry.requests if p.startswith("/auth/token")]
    assert len(token_requests) == 1
    api_requests = [h for p, h in registry.requests if p.startswith("/api/")]
    assert api_requests and all(h["Authorization"].startswith(f"Bearer {TOKEN}") for h in api_requests)
    assert API_KEY not in result.text
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes() and TOKEN.encode() not in path.read_bytes()


def test_key_from_environment(registry, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NGC_CLI_API_KEY", API_KEY)
    result = cli(*ngc(registry, "-m", "clara_pt_private_model", "-v", "3", "--json"))
    assert result.code == 0, result.text
    assert any(p.startswith("/auth/token") for p in registry.paths())


def test_public_models_need_no_key(registry, cli):
    result = cli(*ngc(registry, "-m", "annotation_spleen", "-v", "1", "--json"))
    assert result.code == 0, result.text
    assert not any(p.startswith("/auth/") for p in registry.paths())
    assert all("Authorization" not in h for _, h in registry.requests)


def test_wrong_key_says_what_to_do(registry, cli):
    wrong = "nvapi-WRONG-key-000"
    result = cli(*ngc(registry, "-k", wrong, "-lm"))
    assert result.code == 6
    assert "401" in result.stderr and "API key" in result.stderr and "NGC_API_KEY" in result.stderr
    assert wrong not in result.text


def test_private_model_without_key_says_what_to_do(registry, cli):
    result = cli(*ngc(registry, "-m", "clara_pt_private_model", "-v", "3"))
    assert result.code == 6
    assert "401" in result.stderr and "-k" in result.stderr


def test_unknown_model_suggests_close_names(registry, cli):
    result = cli(*ngc(registry, "-m", "clara_pt_spleen_ct_segmentaton", "-v", "1"))
    assert result.code == 2
    assert "did you mean 'clara_pt_spleen_ct_segmentation'" in result.stderr and "-lm" in result.stderr


def test_unknown_version_lists_the_versions(registry, cli):
    result = cli(*ngc(registry, "-m", "clara_pt_spleen_ct_segmentation", "-v", "7"))
    assert result.code == 2
    assert "no version '7'" in result.stderr and "versions: 1, 2" in result.stderr


def test_files_are_checked_against_the_listed_sha256(registry, cli, tmp_path):
    result = cli(*ngc(registry, "-m", "clara_pt_spleen_ct_segmentation", "-v", "1", "--json"))
    assert result.code == 0
    folder = Path(result.json()["cache_path"])
    for path, data in registry.models["clara_pt_spleen_ct_segmentation"].versions["1"].items():
        assert hashlib.sha256((folder / path).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_redirected_downloads_resume_and_never_get_the_token(registry, cli, tmp_path):
    registry.redirect_files = True
    registry.cut_once.add("clara_pt_spleen_ct_segmentation/2/models/model.pt")
    result = cli(*ngc(registry, "-k", API_KEY, "-m", "clara_pt_spleen_ct_segmentation", "-v", "2", "--json"))
    assert result.code == 0, result.text
    assert Path(result.json()["path"], "models/model.pt").read_bytes() == MMAR_FILES["models/model.pt"]
    storage = [h for p, h in registry.requests if p.startswith("/storage/")]
    assert len(storage) == 4  # 3 files + 1 resume of the cut one
    assert all("Authorization" not in h for h in storage)
    assert sum("Range" in h for h in storage) == 1


def test_a_token_that_expires_midway_is_renewed_once(registry, cli, tmp_path):
    registry.expire_tokens_after_files = 1
    result = cli(*ngc(registry, "-k", API_KEY, "-m", "clara_pt_spleen_ct_segmentation", "-v", "2", "--json"))
    assert result.code == 0, result.text
    assert sum(p.startswith("/auth/token") for p in registry.paths()) == 2
    assert API_KEY not in result.text
