"""`tlt-dataconvert` / `clara-tlt dataconvert`: seed 003 §5.4's flags; the work is `clara_tlt.engines.dataconvert.convert`."""

from __future__ import annotations

import re
from pathlib import Path

import click

from clara_tlt.cli.options import debug_option, json_option, profile_option, shard_option
from clara_tlt.cli.report import emit
from clara_tlt.errors import UsageError

_NUMBER = re.compile(r"^\d*\.?\d+(e[-+]?\d+)?$", re.IGNORECASE)


class ResolutionCommand(click.Command):
    """Accept `-r 1 1 2.5` (three numbers after one flag) besides `-r 1`, `-r 1,1,2.5` and `-r 1x1x2.5`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        joined: list[str] = []
        index = 0
        while index < len(args):
            arg = args[index]
            joined.append(arg)
            index += 1
            if arg in ("-r", "--resolution") and index < len(args):
                values = [args[index]]
                index += 1
                while len(values) < 3 and index < len(args) and _NUMBER.match(args[index]):
                    values.append(args[index])
                    index += 1
                joined.append(",".join(values))
        return super().parse_args(ctx, joined)


def parse_resolution(text: str | None) -> tuple[float, float, float] | None:
    """`"1"` → (1, 1, 1); `"1,1,2.5"` or `"1x1x2.5"` → (1, 1, 2.5)."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[,x×\s]+", text.strip()) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(
            f"-r {text}: not a number; give one spacing in mm (-r 1) or three (-r 1 1 2.5)"
        ) from None
    if len(values) not in (1, 3) or min(values) <= 0:
        raise UsageError(f"-r {text}: give one positive spacing in mm (-r 1) or three (-r 0.8 0.8 2.5)")
    return (values[0],) * 3 if len(values) == 1 else (values[0], values[1], values[2])


@click.command("dataconvert", cls=ResolutionCommand)
@click.option(
    "-d",
    "--data_dir",
    "data_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Input folder; subfolders are searched too.",
)
@click.option(
    "-r",
    "--resolution",
    metavar="MM",
    help="Target spacing: -r 1 (isotropic) or -r 1 1 2.5 (x y z). Default: keep.",
)
@click.option(
    "-s",
    "--input_format",
    "input_suffix",
    default=".dcm",
    show_default=True,
    help="Input format: .dcm, .nii, .nii.gz, .mha, .mhd, .nrrd.",
)
@click.option(
    "-e",
    "--output_format",
    "output_suffix",
    default=".nii.gz",
    show_default=True,
    help="Output format: .nii, .nii.gz, .mha, .mhd, .nrrd.",
)
@click.option(
    "-o", "--output_dir", "output_dir", required=True, type=click.Path(path_type=Path), help="Output folder."
)
@click.option("-f", "--force", is_flag=True, help="Overwrite files in an output folder that exists.")
@click.option(
    "-l", "--label", is_flag=True, help="Inputs are label masks: nearest-neighbour resampling, dtype kept."
)
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), help="Inputs converted in parallel. Default: every core."
)
@click.option(
    "--no-sidecar", is_flag=True, help="Do not write a JSON sidecar (geometry, series facts) per volume."
)
@click.option(
    "--interpolate_missing_slices",
    is_flag=True,
    help="DICOM: fill a gap of whole missing slices by interpolating its neighbours. Default: such a series "
    "fails with 'missing slices?'.",
)
@click.option(
    "--replace_nonfinite",
    type=float,
    metavar="VALUE",
    help="Float inputs: NaN, +inf and -inf voxels become VALUE (said in the sidecar's notes). Default: such an "
    "input fails.",
)
@shard_option
@json_option
@profile_option
@debug_option
def command(
    data_dir: Path,
    resolution: str | None,
    input_suffix: str,
    output_suffix: str,
    output_dir: Path,
    force: bool,
    label: bool,
    jobs: int | None,
    no_sidecar: bool,
    interpolate_missing_slices: bool,
    replace_nonfinite: float | None,
    shard: tuple[int, int] | None,
    as_json: bool,
) -> None:
    """Convert DICOM series (or volumes) under -d to NIfTI/MetaImage/NRRD in -o, optionally resampled.

    Damaged inputs (a DICOM slice that cannot be read, a file that ends early, NaN voxels) fail instead of
    being filled in. Exit codes: 0 ok, 2 usage (e.g. -o exists without -f, -o not writable), 4 no input
    found, 5 some inputs failed (1 when all did).
    """
    from clara_tlt.engines.dataconvert import ConvertOptions, convert

    options = ConvertOptions(
        data_dir,
        output_dir,
        parse_resolution(resolution),
        input_suffix.lower(),
        output_suffix=output_suffix.lower(),
        force=force,
        label=label,
        jobs=jobs,
        sidecar=not no_sidecar,
        interpolate_missing_slices=interpolate_missing_slices,
        replace_nonfinite=replace_nonfinite,
        shard=shard,
    )
    report = convert(options, progress=None if not as_json else False)
    lines = [f"skipped {note}" for note in report.skipped]
    if shard is not None and not report.converted and not report.failed:
        lines.append(
            f"shard {shard[0]}/{shard[1]} holds no input (fewer inputs than shards); nothing was written."
        )
    else:
        lines.append(
            f"Converted {len(report.converted)} volume(s) into {output_dir} in {report.seconds:.1f} s."
        )
    emit(report.to_dict(), as_json=as_json, lines=lines)
    failure = report.failure()
    if failure is not None:
        raise failure
