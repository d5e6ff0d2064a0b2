"""Seconds per 100 cases of the dry run's data check vs decoding every file with nibabel.

The dry run (and train, before its first step) checks that every file of the datalist can be read whole
(header, data length, gzip stream inflated to its checked trailer, NaN scan of float NIfTI) and that each
image and its label lie on one grid (`clara_tlt.data.checks.check_entries`), without decoding voxels into
arrays. The peer decodes every image and label fully with nibabel (`get_fdata`), what a check that
"loads each case" costs. Cases are synthetic gzipped NIfTI pairs (float32 CT-like image, uint8 label) of
random sizes between 32³ and 64³, made here. Both inflate every byte (the check verifies each gzip CRC, as
a decoder must), so the floor is zlib's speed; the check skips building arrays. Target: ≤ 1.0× the peer's
time on one thread, and about a second per 100 such cases.

    .venv/bin/python benchmarks/dry_run.py [--cases 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

from clara_tlt.data import checks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Measurement, median_seconds, ratio_table


def make_cases(folder: Path, cases: int) -> list[dict[str, str]]:
    """`cases` image/label pairs of random sizes between 32³ and 64³, gzipped NIfTI."""
    rng = np.random.default_rng(0)
    entries = []
    for index in range(cases):
        shape = tuple(int(n) for n in rng.integers(32, 65, 3))
        affine = np.diag([0.8, 0.8, 1.5, 1.0])
        image = rng.normal(40, 80, shape).astype(np.float32)
        label = (rng.random(shape) > 0.9).astype(np.uint8)
        nib.save(nib.Nifti1Image(image, affine), folder / f"img{index}.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), folder / f"lab{index}.nii.gz")
        entries.append(
            {"image": str(folder / f"img{index}.nii.gz"), "label": str(folder / f"lab{index}.nii.gz")}
        )
    return entries


def dry_run_check(entries: list[dict[str, str]]) -> None:
    checks.check_entries(
        entries,
        ["image", "label"],
        datalist="datalist.json",
        key="training",
        config_file="c.json",
        loader="l",
    )


def nibabel_decode(entries: list[dict[str, str]]) -> None:
    for entry in entries:
        for path in entry.values():
            nib.load(path).get_fdata()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        entries = make_cases(Path(tmp), args.cases)
        peer = median_seconds(lambda: nibabel_decode(entries), repeats=args.repeats)
        rows = []
        for threads in dict.fromkeys((checks.CHECK_THREADS, 1)):
            checks.CHECK_THREADS = threads
            ours = median_seconds(lambda: dry_run_check(entries), repeats=args.repeats)
            rows.append(Measurement(f"check_entries, {threads} thread(s)", ours, peer))
    per_100 = 100 / args.cases
    print(ratio_table(f"Dry-run data check of {args.cases} cases (image + label)", "nibabel decode", rows))
    for row in rows:
        print(
            f"{row.case}: {row.ours_s * per_100:.3f} s per 100 cases (nibabel decode: {peer * per_100:.3f} s)"
        )


if __name__ == "__main__":
    main()
