"""`evaluate --shard I/N` then `evaluate --merge-shards N`: the merged reports are one run's reports; a missing
shard (exit 4) or a shard of another config (exit 3) is refused before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from clara_tlt.cli.evaluate import tlt_command as tlt_evaluate
from tests.conftest import write_json
from tests.engines.test_infer import trained_mmar
from tests.test_cli import invoke_streams

__all__ = ["trained_mmar"]  # the session fixture of test_infer.py, used here too

REPORTS = ("metrics.csv", "metrics.json")


def _three_cases(mmar: Path, tmp_path: Path) -> Path:
    """The MMAR's two validation cases and a third (a copy of the first), so shard 0/2 holds cases 0 and 2."""
    datalist = Path(json.loads((mmar / "config" / "environment.json").read_text())["DATASET_JSON"])
    entries = [
        {key: str(datalist.parent / value) for key, value in entry.items()}
        for entry in json.loads(datalist.read_text())["validation"]
    ]
    extra = {}
    for key, source in entries[0].items():
        extra[key] = str(tmp_path / f"extra_{key}" / "case_009.nii.gz")
        Path(extra[key]).parent.mkdir()
        shutil.copy(source, extra[key])
    return write_json(tmp_path / "datalist.json", {"validation": [*entries, extra]})


def _evaluate(mmar: Path, data_file: Path, output: Path, *extra: str, model: Path | None = None):
    return invoke_streams(
        "--model_save_path",
        str(model or mmar / "models" / "model.pt"),
        "--config",
        str(mmar / "config" / "config_validation.json"),
        "--output_path",
        str(output),
        "--data_file",
        str(data_file),
        *extra,
        command=tlt_evaluate,
    )


def test_merged_shards_write_the_reports_of_one_run(trained_mmar: Path, tmp_path: Path) -> None:
    data_file = _three_cases(trained_mmar, tmp_path)
    whole, out = tmp_path / "whole", tmp_path / "out"
    code, _, stderr = _evaluate(trained_mmar, data_file, whole)
    assert code == 0, stderr
    code, _, stderr = _evaluate(trained_mmar, data_file, out, "--shard", "0/2")
    assert code == 0, stderr

    code, _, stderr = _evaluate(trained_mmar, data_file, out, "--merge-shards", "2")
    assert code == 4 and "shard(s) 1/2 of 2 have not finished" in stderr
    assert not any((out / name).exists() for name in REPORTS)
    code, _, stderr = _evaluate(trained_mmar, data_file, out, "--shard", "1/2", "--merge-shards", "2")
    assert code == 2 and "give it alone" in stderr

    code, _, stderr = _evaluate(trained_mmar, data_file, out, "--shard", "1/2")
    assert code == 0, stderr
    code, stdout, stderr = _evaluate(trained_mmar, data_file, out, "--merge-shards", "2", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == 3
    written = sorted(p.name for p in whole.iterdir() if p.is_file())
    assert set(REPORTS) < set(written) and any(name.endswith("_raw_results.txt") for name in written)
    for name in written:  # the same cases in the datalist's order, the same numbers
        assert (out / name).read_text() == (whole / name).read_text(), name


def test_merging_shards_of_another_model_exits_3_naming_it(trained_mmar: Path, tmp_path: Path) -> None:
    data_file = _three_cases(trained_mmar, tmp_path)
    out = tmp_path / "out"
    other = tmp_path / "other" / "model.pt"
    other.parent.mkdir()
    shutil.copy(trained_mmar / "models" / "model.pt", other)
    for index in (0, 1):
        code, _, stderr = _evaluate(trained_mmar, data_file, out, "--shard", f"{index}/2")
        assert code == 0, stderr
    code, _, stderr = _evaluate(trained_mmar, data_file, out, "--merge-shards", "2", model=other)
    assert code == 3 and "shard 0/2 ran another config" in stderr
    assert not any((out / name).exists() for name in REPORTS)
    record = json.loads((out / "shard_1_of_2" / "shard.json").read_text())
    record["model"] = str(other)
    write_json(out / "shard_1_of_2" / "shard.json", record)
    code, _, stderr = _evaluate(trained_mmar, data_file, out, "--merge-shards", "2")
    assert code == 3 and f"shard 1/2 ran model {other}" in stderr
