"""Convert a folder of DICOM series or volumes to NIfTI/MetaImage/NRRD, optionally resampled (seed 003 §5.4).

`convert(ConvertOptions(...))` is what `tlt-dataconvert` / `clara-tlt dataconvert` run: it finds the inputs
(DICOM series grouped by SeriesInstanceUID anywhere under the folder, or files of the input suffix), converts
them in parallel, writes each output and its JSON sidecar atomically, and returns a `ConvertReport`. One
failing input never stops the others; the report lists each failure with its reason.

>>> report = convert(ConvertOptions(Path("dicom"), Path("nifti"), resolution=(1.0, 1.0, 1.0)))  # doctest: +SKIP
>>> report.failed  # doctest: +SKIP
[]
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clara_tlt.atomic import write_text_atomic
from clara_tlt.engines import profile
from clara_tlt.errors import ClaraError, NoInputError, UsageError, batch_failure
from clara_tlt.io.image import ITK_SUFFIXES, VOLUME_SUFFIXES
from clara_tlt.io.outputs import check_output_folder as check_writable
from clara_tlt.io.outputs import inside, safe_name

logger = logging.getLogger(__name__)

INPUT_SUFFIXES = VOLUME_SUFFIXES
OUTPUT_SUFFIXES = ITK_SUFFIXES
STAGE_TIMES = "stage_times"  # a worker process's `--profile` times, in its record until the parent takes them


@dataclass(frozen=True)
class ConvertOptions:
    """What to convert: `-d input_dir -o output_dir [-r resolution] -s input_suffix -e output_suffix [-f] [-l]`."""

    input_dir: Path
    output_dir: Path
    resolution: tuple[float, float, float] | None = None
    input_suffix: str = ".dcm"
    output_suffix: str = ".nii.gz"
    force: bool = False
    label: bool = False
    jobs: int | None = None  # None: every core
    sidecar: bool = True
    interpolate_missing_slices: bool = False  # DICOM gaps of whole slices: interpolate instead of failing
    replace_nonfinite: float | None = None  # NaN/±inf voxels: this value instead of failing the input
    shard: tuple[int, int] | None = None  # `--shard I/N`: only shard I of N of the inputs (docs/scale-out.md)


@dataclass
class ConvertItem:
    """One input volume and where it goes: `source` is a DicomSeries or a file path."""

    name: str
    display: str
    source: Any


@dataclass
class ConvertReport:
    input_dir: str
    output_dir: str
    converted: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def failure(self) -> ClaraError | None:
        """PartialFailure (exit 5) when some inputs failed, NothingDone (exit 1) when all did; else None."""
        lines = [f"{f['input']}: {f['reason']}" for f in self.failed]
        return batch_failure(len(self.failed) + len(self.converted), lines, items="inputs")


def check_options(options: ConvertOptions) -> None:
    """Usage errors before anything is read or written (exit code 2)."""
    for flag, value, accepted in (
        ("-s", options.input_suffix, INPUT_SUFFIXES),
        ("-e", options.output_suffix, OUTPUT_SUFFIXES),
    ):
        if value not in accepted:
            raise UsageError(f"{flag} {value}: unsupported format; use one of {', '.join(accepted)}")
    if not options.input_dir.is_dir():
        raise NoInputError(f"-d {options.input_dir}: no such folder; give the folder holding your images")
    if options.resolution is not None and (len(options.resolution) != 3 or min(options.resolution) <= 0):
        raise UsageError(f"-r {options.resolution}: give one positive spacing in mm (isotropic) or three")
    if options.output_dir.resolve() == options.input_dir.resolve():
        raise UsageError(f"-o {options.output_dir}: the output folder is the input folder; choose another -o")
    check_output_folder(options.output_dir, force=options.force or options.shard is not None)


def take_shard(items: list[ConvertItem], report: ConvertReport, options: ConvertOptions) -> list[ConvertItem]:
    """Shard I of N of the inputs, named over every input already: the items in the order of their output names
    and the unreadable files in path order, every N-th from I; refuses (exit 2) when a file this shard would
    write exists and `-f` is not given (other shards' files in the folder are no reason to refuse)."""
    if options.shard is None:
        return items
    from clara_tlt.data.datalist import shard_entries

    index, count = options.shard
    report.failed = sorted(report.failed, key=lambda f: f["input"])[index::count]
    mine = shard_entries(sorted(items, key=lambda item: item.name), index, count, pad=False)
    suffixes = (options.output_suffix, ".json") if options.sidecar else (options.output_suffix,)
    existing = [
        str(path)
        for item in mine
        for path in (options.output_dir / f"{item.name}{suffix}" for suffix in suffixes)
        if path.exists()
    ]
    if existing and not options.force:
        raise UsageError(
            f"-o {options.output_dir}: shard {index}/{count} would overwrite {len(existing)} file(s) there "
            f"(first: {existing[0]}); nothing was written. Pass -f/--force to overwrite, or choose another -o"
        )
    return mine


def check_output_folder(output_dir: Path, *, force: bool) -> None:
    """UsageError unless `output_dir` is, or can become, a folder we may write into, and is empty or `force`
    is set; touches nothing (`clara_tlt.io.outputs.check_output_folder`)."""
    check_writable(output_dir, flag="-o")
    if output_dir.is_dir() and not force and any(output_dir.iterdir()):
        raise UsageError(
            f"-o {output_dir}: output folder exists and is not empty; nothing was written. "
            "Pass -f/--force to overwrite, or choose another output folder"
        )


def _unique(names: list[str]) -> list[str]:
    """Names made distinct before any work: the first of a repeated name keeps it, the next ones get `_2`,
    `_3`, … (the first suffix no other input's name has)."""
    taken, seen, unique = set(names), set(), []
    for name in names:
        if name in seen:
            number = 2
            while f"{name}_{number}" in taken:
                number += 1
            name = f"{name}_{number}"
            taken.add(name)
        seen.add(name)
        unique.append(name)
    return unique


def _dicom_items(options: ConvertOptions, report: ConvertReport) -> list[ConvertItem]:
    from clara_tlt.io.dicom_scan import scan_dicom_folder

    scan = scan_dicom_folder(options.input_dir, exclude=options.output_dir)
    report.failed += [{"input": path, "reason": reason} for path, reason in scan.unreadable.items()]
    report.skipped += scan.skipped
    bases = []
    for series in scan.series:
        common = Path(os.path.commonpath([str(f) for f in series.folders]))
        relative = common.relative_to(options.input_dir)
        bases.append(
            safe_name(
                "_".join(relative.parts) if relative.parts else options.input_dir.resolve().name,
                ascii_only=True,
                fallback="volume",
            )
        )
    names = []
    for base, series in zip(bases, scan.series, strict=True):
        shared = bases.count(base) > 1
        number = series.meta.get("SeriesNumber")
        names.append(f"{base}_s{int(number)}" if shared and isinstance(number, (int, float)) else base)
    items = [
        ConvertItem(name, _series_display(series), series)
        for name, series in zip(_unique(names), scan.series, strict=True)
    ]
    return _seg_items(items, options, report) if options.label else items


def _seg_items(items: list[ConvertItem], options: ConvertOptions, report: ConvertReport) -> list[ConvertItem]:
    """Under `-l`, each DICOM SEG is an input named after the series it references, which then serves as its
    geometry only (a SEG without its series: named after its file); image series no SEG references stay."""
    from clara_tlt.io.dicom_seg import SegSource, find_segs
    from clara_tlt.io.image import suffix_of

    segs = find_segs(options.input_dir, exclude=options.output_dir)
    seg_notes = tuple(f"{seg.path.name}: skipped" for seg in segs)
    report.skipped = [note for note in report.skipped if not note.startswith(seg_notes)]
    by_uid = {item.source.uid: item for item in items}
    referenced = {seg.series_uid for seg in segs}
    kept = [item for item in items if item.source.uid not in referenced]
    names = [
        by_uid[seg.series_uid].name
        if seg.series_uid in by_uid
        else _relative_name(seg.path.relative_to(options.input_dir), suffix_of(seg.path, (".dcm",)))
        for seg in segs
    ]
    sources = [
        SegSource(seg.path, by_uid[seg.series_uid].source if seg.series_uid in by_uid else None)
        for seg in segs
    ]
    unique = _unique([*(item.name for item in kept), *names])[len(kept) :]
    return kept + [
        ConvertItem(name, f"{source.path} (DICOM SEG)", source)
        for name, source in zip(unique, sources, strict=True)
    ]


def _series_display(series: Any) -> str:
    return f"{series.folders[0]} (series {series.meta.get('SeriesNumber', '?')}, {len(series.slices)} slices)"


def _file_items(options: ConvertOptions) -> list[ConvertItem]:
    from clara_tlt.io.image import suffix_of

    output = options.output_dir.resolve()
    candidates = options.input_dir.rglob(f"*{options.input_suffix}")
    files = sorted(
        p
        for p in candidates
        if p.is_file() and suffix_of(p) == options.input_suffix and output not in p.resolve().parents
    )
    names = [_relative_name(p.relative_to(options.input_dir), options.input_suffix) for p in files]
    return [ConvertItem(name, str(path), path) for name, path in zip(_unique(names), files, strict=True)]


def _relative_name(relative: Path, suffix: str) -> str:
    """`sub/ct.nii.gz` → `sub/ct`: the input's place under -d kept, each part a safe name."""
    parts = [*relative.parts[:-1], relative.name[: len(relative.name) - len(suffix)]]
    return "/".join(safe_name(part) for part in parts)


def _sidecar(volume: Any, source: str, resampled: bool) -> dict[str, Any]:
    return {
        "source": source,
        "shape_zyx": list(volume.shape),
        "spacing_mm": list(volume.spacing),
        "origin_lps_mm": list(volume.origin),
        "direction_lps": volume.direction.round(8).tolist(),
        "affine_ras": volume.affine.round(6).tolist(),
        "dtype": str(volume.array.dtype),
        "resampled": resampled,
        "notes": volume.notes,
        "series": volume.meta,
    }


def convert_item(item: ConvertItem, options: ConvertOptions) -> dict[str, Any]:
    """Read, regularise/resample and write one input; returns its summary record. Raises on failure."""
    from clara_tlt.io import check_finite, read_image, read_series, resample_volume, write_image
    from clara_tlt.io.dicom_seg import SegSource

    timer = profile.current()
    dicom = {"label": options.label, "interpolate_missing_slices": options.interpolate_missing_slices}
    with timer.stage(profile.READ):
        if isinstance(item.source, Path):
            volume = read_image(item.source, replace_nonfinite=options.replace_nonfinite, **dicom)
        elif isinstance(item.source, SegSource):
            volume = item.source.read(interpolate_missing_slices=options.interpolate_missing_slices)
        else:
            volume = read_series(item.source, **dicom)
            volume = check_finite(volume, item.display, replace=options.replace_nonfinite)
    if options.resolution is not None:
        with timer.stage(profile.RESAMPLE):
            volume = resample_volume(volume, options.resolution, label=options.label)
    target = inside(
        options.output_dir, options.output_dir / f"{item.name}{options.output_suffix}", source=item.display
    )
    with timer.stage(profile.WRITE):
        write_image(volume, target)
        if options.sidecar:
            sidecar = _sidecar(volume, item.display, options.resolution is not None)
            write_text_atomic(options.output_dir / f"{item.name}.json", json.dumps(sidecar, indent=2))
    return {
        "input": item.display,
        "output": str(target),
        "shape_zyx": list(volume.shape),
        "spacing_mm": [round(s, 6) for s in volume.spacing],
        "notes": volume.notes,
    }


def _worker_init(threads: int) -> None:
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _safe_convert(item: ConvertItem, options: ConvertOptions, timed: bool = False) -> dict[str, Any]:
    """`convert_item`, its failure as a record; `timed` (a worker process under `--profile`): its stage times
    under `STAGE_TIMES`, for the parent's table."""
    try:
        if not timed:
            return convert_item(item, options)
        with profile.profiling() as timer:
            record = convert_item(item, options)
        return {**record, STAGE_TIMES: timer.stage_times()}
    except Exception as exc:  # one failing input must not stop the batch; the report names it
        logger.debug("conversion of %s failed", item.display, exc_info=True)
        return {"input": item.display, "reason": f"{exc}" or type(exc).__name__, "failed": True}


def _progress(total: int, enabled: bool | None) -> Any:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="volume", desc="dataconvert")


def convert(options: ConvertOptions, *, progress: bool | None = None) -> ConvertReport:
    """Convert every input volume under `options.input_dir`; see the module docstring.

    Raises UsageError (bad options, output exists without force) or NoInputError (nothing to convert);
    per-input failures land in `report.failed` (`report.failure()`: exit 5 when some failed, 1 when all did).
    """
    started, timer = time.perf_counter(), profile.current()
    check_options(options)
    report = ConvertReport(str(options.input_dir), str(options.output_dir))
    timer.expect(profile.SCAN, profile.READ, profile.RESAMPLE, profile.WRITE)
    with timer.stage(profile.SCAN):
        items = _dicom_items(options, report) if options.input_suffix == ".dcm" else _file_items(options)
    if not items and not report.failed:
        raise NoInputError(
            f"-d {options.input_dir}: no {options.input_suffix} images found (subfolders included); "
            "check -d and -s (e.g. -s .nii.gz for NIfTI inputs)"
        )
    items = take_shard(items, report, options)
    jobs = max(1, min(options.jobs or os.cpu_count() or 1, len(items) or 1))
    bar = _progress(len(items), progress)
    if jobs == 1:
        records = [_report(_safe_convert(item, options), bar) for item in items]
    else:
        records = _convert_in_processes(items, options, jobs, bar)
    if bar is not None:
        bar.close()
    for record in sorted(records, key=lambda r: r["input"]):
        if record.pop("failed", False):
            report.failed.append(record)
        else:
            report.converted.append(record)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _convert_in_processes(
    items: list[ConvertItem], options: ConvertOptions, jobs: int, bar: Any
) -> list[dict[str, Any]]:
    """Convert `items` in `jobs` worker processes; under `--profile` their stage times join the table, the
    rest of the time waited on them (start-up, idle ends) stays the "worker processes" row."""
    timer = profile.current()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with (
        timer.stage(profile.WORKERS),
        ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(threads,)) as pool,
    ):
        futures: list[Future[dict[str, Any]]] = [
            pool.submit(_safe_convert, item, options, timer.on) for item in items
        ]
        records = [_report(future.result(), bar) for future in as_completed(futures)]
    stages: dict[str, tuple[float, int]] = {}
    for record in records:
        for name, (seconds, calls) in record.pop(STAGE_TIMES, {}).items():
            summed = stages.get(name, (0.0, 0))
            stages[name] = (summed[0] + seconds, summed[1] + calls)
    timer.absorb(stages, within=profile.WORKERS, workers=jobs)
    return records


def _report(record: dict[str, Any], bar: Any) -> dict[str, Any]:
    """One line per input as it finishes (above the bar on a terminal); the reason of a failure is printed
    once, in the summary."""
    if record.get("failed"):
        line = f"failed {record['input']} (reason in the summary)"
    else:
        line = f"converted {record['input']} -> {record['output']}" + "".join(
            f"\n    note: {note}" for note in record["notes"]
        )
    if bar is None:
        (logger.error if record.get("failed") else logger.info)("%s", line)
    else:
        bar.write(line, file=sys.stderr)
        bar.update(1)
    return record
