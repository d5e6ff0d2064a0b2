"""ScanWindowInferer: the same numbers as MONAI's sliding_window_inference, labels streamed without whole-volume scores."""

from __future__ import annotations

import math
import warnings
from math import nan

import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference

from clara_tlt.errors import ClaraError
from clara_tlt.inferers import ScanWindowInferer
from clara_tlt.inferers.blending import CellBlender, LabelTarget, argmax_channels
from clara_tlt.inferers.placement import plan_windows


def random_network(seed: int, spatial: int, channels_in: int = 2, classes: int = 5) -> torch.nn.Module:
    """A small random conv net; float scores, so class ties do not happen."""
    torch.manual_seed(seed)
    conv = torch.nn.Conv3d if spatial == 3 else torch.nn.Conv2d
    return torch.nn.Sequential(
        conv(channels_in, 4, 3, padding=1), torch.nn.PReLU(), conv(4, classes, 3, padding=1)
    ).eval()


CASES = [
    # shape (N, C, *spatial), roi, overlap, blend, batch, padding, sigma
    ((1, 2, 24, 20, 18), (8, 8, 8), 0.25, "constant", 1, "constant", 0.125),
    ((2, 2, 21, 17, 23), (10, 8, 6), 0.5, "gaussian", 4, "constant", 0.125),
    ((1, 2, 19, 16, 30), (8, 16, 12), (0.25, 0.0, 0.6), "gaussian", 3, "constant", (0.1, 0.2, 0.3)),
    ((1, 2, 6, 7, 5), (8, 8, 8), 0.25, "gaussian", 2, "reflect", 0.125),  # smaller than the window
    ((2, 2, 5, 20, 13), (8, 8, 8), 0.25, "constant", 3, "replicate", 0.125),  # smaller on one axis
    ((1, 2, 18, 15, 14), (-1, 8, 8), 0.25, "constant", 5, "constant", 0.125),  # whole first axis
    ((2, 2, 40, 33), (16, 12), 0.25, "gaussian", 4, "constant", 0.125),  # 2-D
    ((1, 2, 9, 30), (16, 16), 0.5, "constant", 1, "circular", 0.125),  # 2-D, padded
]


@pytest.mark.parametrize(("shape", "roi", "overlap", "blend", "batch", "padding", "sigma"), CASES)
def test_scores_match_monai_and_labels_are_their_argmax(
    shape: tuple[int, ...],
    roi: tuple[int, ...],
    overlap: float | tuple[float, ...],
    blend: str,
    batch: int,
    padding: str,
    sigma: float | tuple[float, ...],
) -> None:
    network = random_network(seed=sum(shape), spatial=len(shape) - 2)
    volume = torch.randn(shape, generator=torch.Generator().manual_seed(len(CASES)))
    with torch.no_grad():
        expected = sliding_window_inference(
            volume, roi, batch, network, overlap=overlap, mode=blend, sigma_scale=sigma, padding_mode=padding
        )
    inferer = ScanWindowInferer(
        roi, batch_size=batch, overlap=overlap, blend_mode=blend, sigma_scale=sigma, padding_mode=padding
    )
    scores = inferer(volume, network)
    assert scores.shape == (shape[0], 5, *shape[2:])
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)

    inferer.labels = True
    labels = inferer(volume, network)
    assert labels.dtype == torch.uint8 and labels.shape == (shape[0], 1, *shape[2:])
    assert torch.equal(labels.long(), scores.argmax(dim=1, keepdim=True))
    assert torch.equal(labels.long(), expected.argmax(dim=1, keepdim=True))


def test_network_sees_batches_of_windows_of_the_roi_size() -> None:
    calls: list[tuple[int, ...]] = []

    def network(windows: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(windows.shape))
        return torch.cat([windows, -windows], dim=1)

    volume = torch.randn(1, 1, 20, 12, 30)
    out = ScanWindowInferer((8, 8, 8), batch_size=3)(volume, network)
    torch.testing.assert_close(out, torch.cat([volume, -volume], dim=1))
    assert all(s[0] <= 3 and s[2:] == (8, 8, 8) for s in calls) and sum(s[0] for s in calls) == 3 * 2 * 5


def test_label_mode_holds_less_than_one_window_deep_slab_in_floats() -> None:
    """64×16×16 image, 8³ windows 6 apart: MONAI holds scores for all 64 planes; we hold under 8 planes' worth."""
    plan = plan_windows((64, 16, 16), (8, 8, 8), 0.25, cut=True)
    blender = CellBlender(
        plan, LabelTarget(torch.zeros(1, 64, 16, 16, dtype=torch.uint8), torch.float32), None
    )
    peak = 0
    for index in range(len(plan.windows)):
        blender.add(index, torch.rand(3, 8, 8, 8))
        held = [plan.cell(cell) for cell in blender.open]
        peak = max(peak, sum(math.prod(r.stop - r.start for r in region) for region in held))
    assert not blender.open
    assert peak < 8 * 16 * 16


def test_streamed_argmax_breaks_ties_and_nans_as_torch_does() -> None:
    scores = torch.tensor(
        [[0.5, 1.0, 2.0, nan, 0.0], [0.5, 3.0, 2.0, 1.0, nan], [0.1, 3.0, 1.0, nan, nan]]
    ).reshape(3, 5, 1)
    out = torch.empty(5, 1, dtype=torch.uint8)
    argmax_channels(scores, out=out)
    assert out.flatten().tolist() == scores.argmax(dim=0).flatten().tolist() == [0, 1, 0, 0, 1]


def test_more_than_256_classes_give_int16_labels() -> None:
    torch.manual_seed(0)
    network = torch.nn.Conv2d(1, 300, 1)
    volume = torch.randn(1, 1, 12, 12)
    inferer = ScanWindowInferer((8, 8))
    scores = inferer(volume, network)
    inferer.labels = True
    labels = inferer(volume, network)
    assert labels.dtype == torch.int16
    assert torch.equal(labels.long(), scores.argmax(dim=1, keepdim=True))


def test_output_lives_on_device_and_windows_on_the_network_device() -> None:
    """On a CPU-only machine the meta device (shapes, no data) stands in for a second device."""
    meta_network = random_network(seed=1, spatial=3).to("meta")
    out = ScanWindowInferer((8, 8, 8), device="meta")(torch.randn(1, 2, 12, 12, 12), meta_network)
    assert out.device.type == "meta" and out.shape == (1, 5, 12, 12, 12)


def test_out_of_memory_off_the_cpu_falls_back_to_blending_on_the_cpu_once() -> None:
    network = random_network(seed=2, spatial=3)
    failures = iter([True])

    def flaky_network(windows: torch.Tensor) -> torch.Tensor:
        if next(failures, False):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return network(windows)

    volume = torch.randn(1, 2, 16, 12, 20)
    inferer = ScanWindowInferer((8, 8, 8), device="meta")
    with pytest.warns(RuntimeWarning, match="blending on the CPU"):
        out = inferer(volume, flaky_network)
    torch.testing.assert_close(out, ScanWindowInferer((8, 8, 8))(volume, network))
    assert inferer.device == torch.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert inferer(volume, network).device.type == "cpu"


def test_out_of_memory_on_the_cpu_is_not_hidden() -> None:
    def network(windows: torch.Tensor) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("out of memory")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        ScanWindowInferer((8, 8, 8))(torch.randn(1, 1, 8, 8, 8), network)


def test_metadata_of_the_input_is_kept() -> None:
    affine = torch.diag(torch.tensor([0.8, 0.8, 1.5, 1.0], dtype=torch.float64))
    volume = MetaTensor(torch.randn(1, 2, 12, 10, 14), affine=affine, meta={"filename_or_obj": "case.nii.gz"})
    for labels in (False, True):
        out = ScanWindowInferer((8, 8, 8), labels=labels)(volume, random_network(3, 3))
        assert isinstance(out, MetaTensor)
        assert torch.equal(out.affine, affine) and out.meta["filename_or_obj"] == "case.nii.gz"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (lambda w: (w, w), "returned a tuple"),
        (lambda w: {"pred": w}, "returned a dict"),
        (lambda w: w[..., :4], "same batch and spatial size"),
    ],
)
def test_network_outputs_other_than_a_score_tensor_are_refused(output: object, message: str) -> None:
    with pytest.raises(ClaraError, match=message):
        ScanWindowInferer((8, 8, 8))(torch.randn(1, 1, 10, 10, 10), output)  # type: ignore[arg-type]


def test_inputs_must_match_the_window_dimensions() -> None:
    with pytest.raises(ClaraError, match="3 axes"):
        ScanWindowInferer((8, 8, 8))(torch.randn(1, 1, 10, 10), lambda w: w)
