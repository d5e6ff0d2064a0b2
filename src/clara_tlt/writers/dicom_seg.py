"""`WriteDicomSeg`: a case's labels as a DICOM Segmentation object (highdicom), for PACS viewers and pipelines.

The case's image must be a DICOM series (a folder, or one multi-frame file): the SEG joins that series' study
and patient, references it and its frame of reference, and lies on the grid the series is read on (labels
computed on a resampled grid are put back with nearest neighbour first), so it overlays the source as the
NIfTI output does. Label value k is segment k; its name and codes come from the config's `labels`
(`segment_specs`), else `label k` coded as SNOMED CT "Tissue". The device is clara_tlt (manufacturer, model
name, software version); the segments' algorithm is clara_tlt, family "Artificial Intelligence".
Output: `<write_path>/<name>/<name>_<field>.dcm`, named as the NIfTI writer names its files (docs/infer.md).

>>> WriteDicomSeg("model", write_path="out", labels=["spleen"])(sample)["model_path"]  # doctest: +SKIP
'out/ct/ct_model.dcm'
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import clara_tlt
from clara_tlt.atomic import atomic_path
from clara_tlt.errors import ClaraError, ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.formats.outputs import DICOM_SEG
from clara_tlt.io.dicom_seg import highdicom_volume, on_grid, series_grid, source_datasets
from clara_tlt.io.dicom_series import file_series, the_series
from clara_tlt.io.outputs import inside, name_of
from clara_tlt.io.volume import Volume
from clara_tlt.transforms.base import FieldsArg, config_factory, get_field, one_field, to_channel_first

log = logging.getLogger(__name__)

TISSUE = ("85756007", "SCT", "Tissue")  # the default segmented property category and type
SEG_SERIES_OFFSET = 1000  # the SEG's SeriesNumber: the source's plus this
SOFTWARE = "clara_tlt"


@dataclass(frozen=True)
class SegmentSpec:
    """One segment: the label `value` it holds, its `label`, and (code, scheme, meaning) of its category and type."""

    value: int
    label: str
    category: tuple[str, str, str] = TISSUE
    kind: tuple[str, str, str] = TISSUE


def segment_specs(labels: Any, *, file: str | None = None) -> list[SegmentSpec]:
    """The config's `labels` as segments: a list (value k = entry k, from 1) of names or of objects
    `{"name", "category": [code, scheme, meaning], "type": [code, scheme, meaning]}`, or a dict from name to
    value (MONAI Label's form; value 0, the background, is left out). None: no names given."""
    if labels is None:
        return []
    if isinstance(labels, dict):
        pairs = [(value, name) for name, value in labels.items()]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v, _ in pairs):
            raise ConfigError(
                'labels: a dict maps each name to its label value, e.g. {"spleen": 1}', file=file
            )
        return [_spec(v, name, file) for v, name in sorted(pairs) if v != 0]
    if isinstance(labels, list):
        return [_spec(value, entry, file) for value, entry in enumerate(labels, start=1)]
    raise ConfigError('labels: give a list of names (value 1 first), e.g. ["spleen"]', file=file)


def _spec(value: int, entry: Any, file: str | None) -> SegmentSpec:
    if isinstance(entry, str) and entry:
        return SegmentSpec(value, entry)
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        codes = {key: _code(entry.get(key), key, file) for key in ("category", "type")}
        return SegmentSpec(value, entry["name"], codes["category"], codes["type"])
    raise ConfigError(
        f"labels: entry for value {value} ({entry!r}) is neither a name nor "
        '{"name": …, "category": [code, scheme, meaning], "type": [code, scheme, meaning]}',
        file=file,
    )


def _code(given: Any, key: str, file: str | None) -> tuple[str, str, str]:
    if given is None:
        return TISSUE
    if isinstance(given, list) and len(given) == 3 and all(isinstance(v, str) and v for v in given):
        return (given[0], given[1], given[2])
    raise ConfigError(
        f'labels: "{key}" is [code, scheme, meaning], e.g. ["123037004", "SCT", "Anatomical Structure"]',
        file=file,
    )


class WriteDicomSeg:
    """Write the labels of field `<key>` (`(1, X, Y, Z)` values, or class scores `(C, X, Y, Z)` whose argmax
    is taken) as a DICOM SEG of the case's source series; see the module docstring."""

    suffix = ".dcm"

    def __init__(self, fields: FieldsArg = "model", write_path: str = ".", labels: Any = None) -> None:
        self.key = one_field(fields)
        self.write_path = Path(write_path)
        self.segments = segment_specs(labels)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        field = get_field(data, self.key, self)
        image_meta = getattr(data.get("image"), "meta", {})  # the case's image: the series the SEG joins
        source = image_meta.get("filename_or_obj") or field.meta.get("filename_or_obj")
        series = dicom_source(source)
        datasets = source_datasets(series)  # first: a series missing slices gets the SEG's own message
        grid = series_grid(series)
        label = on_grid(Volume.from_affine(label_array(field, source), field.affine.numpy()), grid)
        segmentation = build_segmentation(label, datasets, self.segments)
        name = name_of(data, source)
        target = inside(
            self.write_path, self.write_path / name / f"{name}_{self.key}{self.suffix}", source=source
        )
        with atomic_path(target) as tmp:
            segmentation.save_as(tmp)
        return {**data, f"{self.key}_path": str(target)}


def dicom_source(source: Any) -> Any:
    """The DICOM series a case was read from (a folder, or one `.dcm` file); for any other input a per-case
    error that says why no SEG can be written for it."""
    path = Path(str(source)) if source else None
    if path is not None and path.is_dir():
        return the_series(path)
    if path is not None and path.is_file() and path.name.lower().endswith(".dcm"):
        return file_series(path)
    raise ClaraError(
        f"{source}: --output-format {DICOM_SEG} writes a DICOM SEG into the study of a DICOM series, and this "
        "case's image is not one (a SEG needs the source's patient, study and frame of reference; none is "
        "made up). Give the case's DICOM series folder as its image, or write NIfTI (leave out "
        "--output-format)"
    )


def label_array(field: Any, source: Any) -> np.ndarray:
    """`(Z, Y, X)` labels of a field `(1, X, Y, Z)` (or the argmax of `(C > 1, X, Y, Z)` scores); a field of
    fractional values is refused: a SEG holds labels."""
    values, _ = to_channel_first(field)
    array = values.detach().cpu().numpy()
    array = array.argmax(axis=0) if array.shape[0] > 1 else array[0]
    if array.dtype.kind == "f" and not np.array_equal(array, np.rint(array)):
        raise ClaraError(
            f"{source}: the output holds fractional values (probabilities?), and a DICOM SEG holds labels; "
            "end post_transforms with an argmax or threshold (e.g. ArgmaxAcrossChannels)"
        )
    if array.min(initial=0) < 0:
        raise ClaraError(
            f"{source}: the output holds negative labels, and a DICOM SEG holds values 0, 1, 2, …; end "
            "post_transforms with an argmax or threshold (e.g. ArgmaxAcrossChannels) that gives labels from 0"
        )
    return np.ascontiguousarray(array.astype(np.uint16).transpose(2, 1, 0))


def build_segmentation(label: Volume, datasets: list[Any], segments: list[SegmentSpec]) -> Any:
    """The highdicom Segmentation (BINARY, segments 1…N) of `label` on the grid of `datasets`' series."""
    import highdicom as hd

    specs = {spec.value: spec for spec in segments}
    count = max([int(label.array.max(initial=0)), *specs, 1])
    described = [specs.get(value, SegmentSpec(value, f"label {value}")) for value in range(1, count + 1)]
    first = datasets[0]
    number = first.get("SeriesNumber")
    return hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=highdicom_volume(label, str(first.FrameOfReferenceUID)),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(spec) for spec in described],
        omit_empty_frames=bool(label.array.any()),  # an empty label keeps its frames (highdicom needs one)
        series_instance_uid=hd.UID(),
        series_number=(int(number) if number not in (None, "") else 0) + SEG_SERIES_OFFSET,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=SOFTWARE,
        manufacturer_model_name=f"{SOFTWARE} infer",
        software_versions=clara_tlt.__version__,
        device_serial_number="0",
        series_description=f"{SOFTWARE} segmentation",
        content_label="SEGMENTATION",
        content_description=f"labels predicted by {SOFTWARE} {clara_tlt.__version__}",
    )


def _description(spec: SegmentSpec) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.seg.SegmentDescription(
        segment_number=spec.value,
        segment_label=spec.label,
        segmented_property_category=hd.sr.CodedConcept(*spec.category),
        segmented_property_type=hd.sr.CodedConcept(*spec.kind),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=SOFTWARE, version=clara_tlt.__version__, family=codes.DCM.ArtificialIntelligence
        ),
    )


register("writer", "WriteDicomSeg", aliases=("WriteDicomSEG",))(config_factory(WriteDicomSeg))
