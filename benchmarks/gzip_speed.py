"""`.nii.gz` write and read: our `write_image`/`read_image` with ISA-L (the `isal` package) vs with zlib, and
nibabel's save/load, the peer a user would write.

A CT-sized int16 volume (default 192×192×96, noise around body-like values) and a uint8 label volume of the same
grid are written (`write_image`: verified, atomic) and read back (`read_image`: every gzip trailer checked)
by ours with `clara_tlt.written.DEFLATE` as installed (ISA-L when `isal` is there), by ours forced to zlib, and
by nibabel (`nib.save` at its default level, `get_fdata` of what it reads). In-process, one warm-up call each,
then `--rounds` alternating rounds; the best is compared, the spread printed as noise.

    .venv/bin/python benchmarks/gzip_speed.py [--shape 192 192 96] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

import clara_tlt.io.image as image_module
import clara_tlt.written as written_module
from clara_tlt.io.image import read_image, write_image
from clara_tlt.io.volume import Volume

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Measurement, best_of, noise, ratio_table

INSTALLED = written_module.DEFLATE


def use(module: object) -> None:
    """Make our writers and readers deflate/inflate with `module` (zlib or ISA-L's isal_zlib)."""
    image_module.DEFLATE = written_module.DEFLATE = module
    written_module.DEFLATE_ERRORS = (zlib.error, module.error)  # type: ignore[attr-defined]


def ours(array: np.ndarray, path: Path, module: object) -> Callable[[], object]:
    volume = Volume(array, spacing=(1.5, 1.5, 3.0))

    def run() -> object:
        use(module)
        write_image(volume, path)
        return read_image(path)

    return run


def peer(array: np.ndarray, path: Path) -> Callable[[], object]:
    def run() -> object:
        nib.save(nib.Nifti1Image(array, np.diag([1.5, 1.5, 3.0, 1.0])), path)
        return nib.load(path).get_fdata()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(192, 192, 96))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ct = (rng.normal(40, 120, size=args.shape[::-1])).astype(np.int16)
    label = (ct > 100).astype(np.uint8)
    rows, spread = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name, array in (("CT int16", ct), ("label uint8", label)):
            runs = {
                "installed": ours(array, Path(folder) / "a.nii.gz", INSTALLED),
                "zlib": ours(array, Path(folder) / "b.nii.gz", zlib),
                "nibabel": peer(array, Path(folder) / "c.nii.gz"),
            }
            seconds = best_of(runs, args.rounds, warmup=True)
            use(INSTALLED)
            case = f"{name} {'×'.join(map(str, args.shape))} write+read"
            rows.append(
                Measurement(f"{case}, vs ours on zlib", min(seconds["installed"]), min(seconds["zlib"]))
            )
            rows.append(
                Measurement(f"{case}, vs nibabel", min(seconds["installed"]), min(seconds["nibabel"]))
            )
            spread.append(f"{name}: " + ", ".join(f"{k} {noise(v)}" for k, v in seconds.items()))
    print(ratio_table(f".nii.gz write + read, ours with {INSTALLED.__name__}", "peer", rows))
    print("noise: " + "; ".join(spread))


if __name__ == "__main__":
    main()
