"""`WriteClassificationResult`: one CSV row per case with the class scores of its `field`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch

from clara_tlt.atomic import write_text_atomic
from clara_tlt.factory.registry import register
from clara_tlt.transforms.base import FieldsArg, config_factory, one_field


class WriteClassificationResult:
    """Append each case to a CSV file: `image` (the file the image was read from), then one column per value
    of the field (`(K,)` scores: `<field>_0` … `<field>_{K-1}`).

    `write_path` is the CSV file when it ends in `.csv`, else the folder of `classification_result.csv` (the
    workflow gives a writer without `write_path` the evaluation output folder). The whole file is rewritten
    atomically after each case, so an interrupted run leaves the cases done so far; a new writer (a new run)
    starts the file anew. The sample passes on with `<field>_path` set to the CSV.
    """

    def __init__(self, fields: FieldsArg, write_path: str = ".") -> None:
        self.key = one_field(fields)
        path = Path(write_path)
        self.write_path = path if path.suffix.lower() == ".csv" else path / "classification_result.csv"
        self.rows: list[list[str]] = []

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.key not in data:
            raise KeyError(
                f"WriteClassificationResult: the case has no field '{self.key}' (fields: {', '.join(data)})"
            )
        values = torch.as_tensor(data[self.key]).detach().cpu().float().reshape(-1).tolist()
        source = getattr(data.get("image"), "meta", {}).get("filename_or_obj") or ""
        self.rows.append([str(source), *(f"{v:.6g}" for v in values)])
        width = max(len(row) for row in self.rows) - 1
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["image", *(f"{self.key}_{i}" for i in range(width))])
        writer.writerows(self.rows)
        self.write_path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.write_path, text.getvalue())
        return {**data, f"{self.key}_path": str(self.write_path)}


register("writer", "WriteClassificationResult", built_on="csv")(config_factory(WriteClassificationResult))
