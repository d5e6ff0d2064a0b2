"""A bundle checks itself: its inference config runs through MONAI, without clara_tlt, on a synthetic volume,
and every file it writes is compared with what our predictor (`clara-tlt infer`'s) gives on the same image.

The bundle runs through `monai.bundle.run` (what `python -m monai.bundle run …` calls) in a subprocess whose
`import clara_tlt` fails (`WITHOUT_CLARA_TLT`), so a bundle that still reaches our code cannot pass. Labels must agree on at least
`AGREEMENT` of the voxels: the scanning windows and blending weights are the same, but the two sum the
overlapping windows in a different order, so a voxel whose two classes score almost alike may tip the other way.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.errors import ClaraError

AGREEMENT = 0.999
CASE = "verify_case"
# `python -c` script: MONAI's bundle runner (what `python -m monai.bundle run` calls, without needing `fire`
# for its argument parsing) in a process where importing clara_tlt fails. Arguments: the five paths below.
WITHOUT_CLARA_TLT = (
    "import sys; sys.modules['clara_tlt'] = None; from monai.bundle import run; "
    "run(config_file=sys.argv[1], meta_file=sys.argv[2], bundle_root=sys.argv[3], dataset_dir=sys.argv[4], "
    "output_dir=sys.argv[5])"
)
TAIL_CHARS = 3000


def bundle_command(bundle: Path, dataset_dir: Path, output_dir: Path) -> list[str]:
    """MONAI's bundle run of the bundle's inference config over `dataset_dir`, in a process without clara_tlt."""
    configs = bundle / "configs"
    paths = (configs / "inference.json", configs / "metadata.json", bundle, dataset_dir, output_dir)
    return [sys.executable, "-c", WITHOUT_CLARA_TLT, *(str(p.resolve()) for p in paths)]  # run elsewhere


def verify_bundle(
    bundle: Path, config: ResolvedConfig, *, checkpoint: Path, fields: Sequence[str], shape: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Run the bundle at `bundle` and our predictor (`config` with the model at `checkpoint`) on one synthetic
    volume of `shape`; returns, per written field, the share of voxels that agree. Raises `ClaraError` (exit 1)
    when the bundle fails to run, a file is missing, or a field agrees on less than `AGREEMENT`."""
    with tempfile.TemporaryDirectory(prefix="clara_tlt_bundle_check_") as work:
        image = _synthetic_image(Path(work) / "data", shape)
        ours = _our_prediction(config, checkpoint, image)
        output = Path(work) / "out"
        ran = subprocess.run(
            bundle_command(bundle, image.parent, output),
            capture_output=True,
            text=True,
            cwd=work,
            check=False,
        )
        if ran.returncode != 0:
            tail = (ran.stdout + ran.stderr)[-TAIL_CHARS:]
            raise _failed(
                "the bundle's inference config did not run under MONAI without clara_tlt "
                f"(exit {ran.returncode})",
                config.file,
                output=tail,
            )
        return [
            _compared(field, ours[field], output / CASE / f"{CASE}_{field}.nii.gz", config.file)
            for field in fields
        ]


def _failed(reason: str, file: str, *, output: str = "") -> ClaraError:
    """A failed verification (exit 1): what failed, that nothing was written, and the ways on."""
    ends = f" The bundle's output ends:\n{output}" if output else ""
    return ClaraError(
        f"{file}: verification failed: {reason}; nothing was written. Change what it names in {file}, or "
        "export with --skip_verify (unchecked) and run the bundle yourself to look into it." + ends
    )


def _synthetic_image(folder: Path, shape: tuple[int, ...]) -> Path:
    """A CT-like volume (an organ in a body, HU) of `shape` as `folder/verify_case.nii.gz`."""
    from clara_tlt.synthetic.dataset import write_nifti
    from clara_tlt.synthetic.volumes import make_case

    case = make_case(shape, seed=0)  # type: ignore[arg-type]
    path = folder / f"{CASE}.nii.gz"
    write_nifti(case.image, case.affine, path)
    return path


def _our_prediction(config: ResolvedConfig, checkpoint: Path, image: Path) -> dict[str, Any]:
    """Every field of the case after our predictor's post-transforms (what infer's writers would write)."""
    import torch

    from clara_tlt.engines.assembly import assemble
    from clara_tlt.engines.workflow import build_workflow

    given = {**config.variables, "MODEL_FILE_PATH": str(checkpoint), "MODEL_FORMAT": None}
    workflow = build_workflow(dataclasses.replace(config, variables=given))
    predictor = assemble(workflow, device=torch.device("cpu"), writers=[]).predictor
    sample = predictor.predict({"image": str(image)})
    return {k: v for k, v in sample.items() if isinstance(v, torch.Tensor)}


def _compared(field: str, ours: Any, written: Path, file: str) -> dict[str, Any]:
    """The share of voxels where the bundle's file for `field` agrees with ours, a MetaTensor `(1, *spatial)`
    (a missing file, another grid or too little agreement raises)."""
    from clara_tlt.io.arrays import read_array

    if not written.is_file():
        raise _failed(
            f"the bundle wrote no {written.name} for field '{field}' (looked in {written.parent})", file
        )
    array, affine = read_array(written)
    theirs = np.squeeze(array)
    mine = np.squeeze(np.asarray(ours.detach().cpu()))
    if theirs.shape != mine.shape or not np.allclose(affine, ours.affine.numpy(), atol=1e-4):
        raise _failed(
            f"the bundle's '{field}' lies on another grid than ours (shape {theirs.shape}, ours {mine.shape}; "
            "or another affine)",
            file,
        )
    agreement = float(np.mean(theirs == mine))
    if agreement < AGREEMENT:
        raise _failed(
            f"the bundle's '{field}' agrees with clara-tlt infer on {agreement:.4%} of the voxels (at least "
            f"{AGREEMENT:.1%} needed)",
            file,
        )
    return {"field": field, "voxels": int(mine.size), "agreement": agreement}
