"""dataconvert vs dcm2niix + SimpleITK: a 512×512×48 CT series (written here) to 1 mm isotropic.

Ours: `clara_tlt.engines.dataconvert.convert` (read DICOM, resample to 1 mm, write) — in-process, and the
`tlt-dataconvert` console script as a subprocess. Peer: the `dcm2niix` binary of the PyPI package (DICOM →
NIfTI) followed by a SimpleITK linear resample to the same 1 mm grid and a write. Same input, same output
format. The three alternate for `--rounds` rounds after one warm-up each (benchmarks/harness.py `best_of`); the
best of each is compared, the spread printed as noise. Target (issue 25): time ratio ours ÷ peer ≤ 0.2.

    .venv/bin/python benchmarks/dataconvert.py --slices 4 --rounds 1      # tiny
    .venv/bin/python benchmarks/dataconvert.py [--slices 48] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Measurement, best_of, noise, ratio_table

from clara_tlt.engines.dataconvert import ConvertOptions, convert
from clara_tlt.io.resample import target_grid
from clara_tlt.io.volume import Volume
from clara_tlt.synthetic.dicom import write_dicom_series

BIN = Path(sys.executable).parent
SPACING = (0.7, 0.7, 2.5)
TARGET = (1.0, 1.0, 1.0)


def make_series(folder: Path, slices: int) -> None:
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[0:slices, 0:512, 0:512]
    body = ((y - 256) ** 2 / 200**2 + (x - 256) ** 2 / 230**2) < 1
    hu = np.where(body, 40, -1000) + np.where((y - 300) ** 2 + (x - 200) ** 2 < 900, 800, 0) + z
    write_dicom_series(
        (hu + rng.integers(-15, 15, (slices, 512, 512))).astype(np.int16), folder, spacing=SPACING
    )


def ours(series: Path, out: Path, suffix: str) -> None:
    report = convert(
        ConvertOptions(series, out, TARGET, output_suffix=suffix, force=True, jobs=1), progress=False
    )
    assert not report.failed, report.failed


def ours_cli(series: Path, out: Path, suffix: str) -> None:
    subprocess.run(
        [str(BIN / "tlt-dataconvert"), "-d", str(series), "-r", "1", "-e", suffix, "-o", str(out), "-f"],
        check=True,
        capture_output=True,
    )


def peer(series: Path, out: Path, suffix: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    subprocess.run(
        [str(BIN / "dcm2niix"), "-z", "n", "-b", "n", "-f", "ct", "-o", str(out), str(series)],
        check=True,
        capture_output=True,
    )
    image = sitk.ReadImage(str(out / "ct.nii"))
    volume = Volume(
        np.zeros(image.GetSize()[::-1], np.int8),
        image.GetSpacing(),
        image.GetOrigin(),
        np.array(image.GetDirection()).reshape(3, 3),
    )
    size, origin = target_grid(volume, TARGET)
    resampled = sitk.Resample(
        image,
        size,
        sitk.Transform(),
        sitk.sitkLinear,
        origin,
        TARGET,
        image.GetDirection(),
        -1024.0,
        image.GetPixelID(),
    )
    sitk.WriteImage(resampled, str(out / f"ct_1mm{suffix}"), useCompression=suffix.endswith(".gz"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        series = root / "dicom" / "ct"
        make_series(series, args.slices)
        rows, spread = [], []
        for suffix in (".nii.gz", ".nii"):
            runs = {
                "library": lambda s=suffix: ours(series, root / "ours", s),
                "CLI": lambda s=suffix: ours_cli(series, root / "cli", s),
                "peer": lambda s=suffix: peer(series, root / "peer", s),
            }
            times = best_of(runs, args.rounds, warmup=True)
            for way in ("library", "CLI"):
                case = f"512x512x{args.slices} -> 1 mm {suffix} ({way})"
                rows.append(Measurement(case, min(times[way]), min(times["peer"])))
            spread.append(f"{suffix}: " + ", ".join(f"{k} {noise(v)}" for k, v in times.items()))
        title = "dataconvert: ours vs dcm2niix + SimpleITK resample (target ≤ 0.2)"
        print(ratio_table(title, "dcm2niix+sitk", rows))
        print(f"best of {args.rounds}; noise: " + "; ".join(spread))


if __name__ == "__main__":
    main()
