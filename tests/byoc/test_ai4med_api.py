"""The `ai4med` layer behaves as Clara's API reference says: images, shape formats, properties, the context."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from ai4med.common.constants import DataElementKey, ImageProperty
from ai4med.common.medical_image import MedicalImage
from ai4med.common.shape_format import ShapeFormat, StdShapeFormat
from ai4med.common.transform_ctx import TransformContext
from ai4med.components.losses.loss import Loss
from ai4med.components.models.model import Model
from ai4med.utils.dtype_utils import str_to_dtype
from clara_tlt.factory.registry import build
from tests.byoc.conftest import docs_block, write_custom


def loaded_sample(tmp_path: Path) -> dict:
    """A case as our pipeline holds it after LoadNifti and ConvertToChannelsFirst: channel-first MetaTensors."""
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    image = np.arange(8 * 8 * 4, dtype=np.float32).reshape(8, 8, 4)
    nib.save(nib.Nifti1Image(image, affine), tmp_path / "case.nii.gz")
    nib.save(nib.Nifti1Image((image > 100).astype(np.uint8), affine), tmp_path / "case_label.nii.gz")
    sample = {"image": str(tmp_path / "case.nii.gz"), "label": str(tmp_path / "case_label.nii.gz")}
    for name in ("LoadNifti", "ConvertToChannelsFirst"):
        transform = build(
            {"name": name, "args": {"fields": ["image", "label"]}}, "transform", file="t", key_path="t"
        )
        sample = transform(sample)
    return sample


def test_the_docs_transform_adds_one_constant_per_field_and_keeps_the_geometry(tmp_path: Path) -> None:
    sample = loaded_sample(tmp_path)
    write_custom(tmp_path / "mmar", "byoc_api_transforms", docs_block("byoc-transform"))
    spec = {
        "path": "byoc_api_transforms.MyAddRandomConstant",
        "args": {"fields": ["image"], "magnitude": 0.5},
    }
    transform = build(
        spec,
        "transform",
        file="config_train.json",
        key_path="train.pre_transforms.2",
        search_dirs=[tmp_path / "mmar" / "custom"],
    )

    out = transform(sample)
    shift = (out["image"] - sample["image"]).numpy()
    assert np.allclose(shift, shift.flat[0], atol=1e-4) and 0 < abs(shift.flat[0]) <= 0.5
    assert torch.equal(out["label"], sample["label"]), "a field not named was changed"
    assert out["image"].shape == sample["image"].shape == (1, 8, 8, 4)
    assert torch.allclose(out["image"].affine, sample["image"].affine)
    assert out["image"].meta["filename_or_obj"] == str(tmp_path / "case.nii.gz")
    assert sample["image"].max() == 8 * 8 * 4 - 1, "the input sample was changed in place"


def test_images_of_a_loaded_sample_answer_their_documented_properties(tmp_path: Path) -> None:
    context = TransformContext(loaded_sample(tmp_path))
    image = context.get_image(DataElementKey.IMAGE)
    assert image.get_shape_format() == StdShapeFormat.CDHW == "CDHW"
    assert image.get_property(ImageProperty.FILENAME) == str(tmp_path / "case.nii.gz")
    assert np.allclose(np.abs(np.diag(image.get_property(ImageProperty.AFFINE)))[:3], [0.8, 0.8, 2.5])
    assert tuple(image.get_property(ImageProperty.ORIGINAL_SHAPE)) == (8, 8, 4)
    assert image.get_property(ImageProperty.SPACING) is None  # set only by code that sets it

    image.set_property(ImageProperty.BACKGROUND_INDEX, 0)
    copy = image.new_image(image.get_data()[0], "DHW")
    assert copy.get_property(ImageProperty.BACKGROUND_INDEX) == 0
    copy.set_property(ImageProperty.BACKGROUND_INDEX, 1)
    assert image.get_property(ImageProperty.BACKGROUND_INDEX) == 0, "new_image shares its properties"

    context.set_image("mask", copy)  # no channel axis: stored without one, geometry kept
    assert context["mask"].shape == (8, 8, 4) and "mask" in context
    assert context.get_image("mask").get_shape_format() == "DHW"


def test_shape_formats_answer_their_axes() -> None:
    channels_last = ShapeFormat("dhwc")
    assert channels_last == "DHWC" and channels_last.get_channel_axis() == 3
    assert channels_last.is_3d() and channels_last.is_channeled() and not channels_last.is_batched()
    assert StdShapeFormat.NCHW.get_batch_axis() == 0 and StdShapeFormat.NCHW.is_2d()
    assert StdShapeFormat.HW.get_channel_axis() is None and StdShapeFormat.HW.get_number_of_dims() == 2
    with pytest.raises(ValueError, match="not a shape format"):
        ShapeFormat("CXY")


def test_an_image_whose_axes_do_not_match_its_format_is_refused() -> None:
    with pytest.raises(ValueError, match=r"2 axes; shape format CDHW has 4"):
        MedicalImage(np.zeros((4, 4)), "CDHW")
    assert MedicalImage(np.zeros((4, 4, 4)), "CDHW").get_shape_format() == "DHW"  # a squeezed channel
    context = TransformContext({"image": torch.zeros(1, 4, 4, 4)})
    with pytest.raises(ValueError, match="batch axis"):
        context.set_image("image", MedicalImage(np.zeros((1, 1, 4, 4, 4)), "NCDHW"))
    with pytest.raises(KeyError, match=r"no image 'label'.*fields: image"):
        context.get_image("label")


def test_a_channels_last_image_is_stored_channels_last() -> None:
    context = TransformContext({"image": torch.zeros(1, 4, 4)})
    context.set_image("rgb", MedicalImage(np.ones((4, 4, 3)), StdShapeFormat.HWC))
    assert context.get_image("rgb").get_shape_format() == "HWC"
    assert context.get_image("rgb").get_data().shape == (4, 4, 3)


def test_loss_and_model_ports_are_called_as_torch_modules() -> None:
    class Mean(Loss):
        def get_loss(self, predictions, targets, build_ctx=None):
            assert build_ctx is None
            return torch.mean((predictions - targets) ** 2)

    class Net(Model):
        def __init__(self) -> None:
            Model.__init__(self)
            self.seen: list[bool] = []

        def get_predictions(self, inputs, is_training, build_ctx=None):
            self.seen.append(is_training)
            return inputs * 2

    assert Mean()(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item() == 1.0
    net = Net()
    net(torch.ones(1))
    net.eval()
    assert net(torch.ones(1)).item() == 2.0 and net.seen == [True, False]


def test_str_to_dtype_names_numpy_types() -> None:
    assert str_to_dtype("float32") is np.float32 and str_to_dtype("uint8") is np.uint8
    with pytest.raises(ValueError, match="unknown dtype 'float33'"):
        str_to_dtype("float33")
