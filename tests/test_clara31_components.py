"""Clara 3.1's `ai4med.components` classes, as docs/data/clara31_api.json records their documentation: each
builds from its documented arguments (or is refused as unavailable, saying what to use), each refused
argument fails saying why, the generated table in docs/configuration.md is current, and where it is cheap a
class does on a tiny input what the documentation promises."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from clara_tlt.learning import optim
from clara_tlt.transforms import set_random_state
from tests.catalogue.test_remaining import write_png_datalist

ROOT = Path(__file__).parents[1]
WHERE = {"file": "config_train.json", "key_path": "train.x"}


def load_script() -> ModuleType:
    """scripts/components_table.py, the generator of the table (not a package module)."""
    spec = importlib.util.spec_from_file_location(
        "components_table", ROOT / "scripts" / "components_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


TABLE = load_script()
FACTS = TABLE.load()
CLASSES = {entry["name"]: entry for entry in FACTS["classes"]}
AVAILABLE = sorted(name for name, entry in CLASSES.items() if "unavailable" not in entry)
REFUSED = [(name, arg) for name, entry in CLASSES.items() for arg in entry.get("refused", {})]
NO_EFFECT = [(name, arg) for name, entry in CLASSES.items() for arg in entry.get("no_effect", {})]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """seg.json (2 cases of an 8³ image and label) and cls.json (4 PNGs with one-hot labels)."""
    root = tmp_path_factory.mktemp("clara31")
    entries = []
    for i in range(2):
        label = np.zeros((8, 8, 8), np.uint8)
        label[2:6, 2:6, 2:6] = 1
        nib.save(nib.Nifti1Image(np.full((8, 8, 8), i, np.float32), np.eye(4)), root / f"i{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, np.eye(4)), root / f"l{i}.nii.gz")
        entries.append({"image": f"i{i}.nii.gz", "label": f"l{i}.nii.gz"})
    (root / "seg.json").write_text(json.dumps({"training": entries}))
    write_png_datalist(root, 4).rename(root / "cls.json")
    return root


def documented_args(name: str, data_root: Path, tmp: Path) -> dict[str, Any]:
    """`name`'s documented arguments with their buildable values, the folders filled in."""
    text = json.dumps(CLASSES[name]["args"]).replace("{DATA_ROOT}", str(data_root)).replace("{TMP}", str(tmp))
    return dict(json.loads(text))


def injected(kind: str) -> dict[str, Any]:
    """What the workflow hands a component of `kind` besides its config args (as `engines.workflow` does)."""
    if kind == "optimizer":
        return {"params": [torch.nn.Parameter(torch.ones(1))]}
    if kind == "lr_policy":
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
        return {"optimizer": optimizer, "epochs": 2, "steps_per_epoch": 2}
    if kind == "metric":  # NegLoss is given the train section's loss
        return {"loss": build({"name": "Dice"}, "loss", **WHERE)}
    return {}


def make(name: str, data_root: Path, tmp: Path, given: dict[str, Any] | None = None) -> Any:
    """Build the documented class `name` from its documented arguments (`given` adds or replaces some)."""
    entry = CLASSES[name]
    kind = TABLE.registry_kind(entry)
    spec = {"name": name, "args": {**documented_args(name, data_root, tmp), **(given or {})}}
    return build(spec, kind, **WHERE, inject=injected(kind))


def image(shape: tuple[int, ...], values: torch.Tensor | None = None) -> MetaTensor:
    """A channel-first float image `(1, *shape)` (values 0, 1, 2, … unless given), identity affine."""
    array = torch.arange(float(math.prod(shape))).reshape(1, *shape) if values is None else values
    return MetaTensor(array, affine=torch.eye(4, dtype=torch.float64), meta={"channel_dim": 0})


def box_sample() -> dict[str, Any]:
    """image `(1, 8, 8, 8)` 0…511 and a uint8 label with a 4³ box of 1."""
    label = torch.zeros(1, 8, 8, 8, dtype=torch.uint8)
    label[:, 2:6, 2:6, 2:6] = 1
    return {"image": image((8, 8, 8)), "label": image((8, 8, 8), label)}


def test_the_generated_table_in_the_docs_is_current() -> None:
    doc = TABLE.DOC.read_text()
    assert TABLE.rendered(doc, TABLE.table(FACTS)) == doc, "run: python scripts/components_table.py"


def test_every_documented_argument_is_taken_by_its_factory() -> None:
    missing = {n: TABLE.unaccepted(e, TABLE.look_up(e)) for n, e in CLASSES.items()}
    assert {n: args for n, args in missing.items() if args} == {}
    statuses = {n: TABLE.look_up(e).status for n, e in CLASSES.items()}
    assert {n for n, s in statuses.items() if s != "registered"} == set(CLASSES) - set(AVAILABLE)


@pytest.mark.parametrize("name", AVAILABLE)
def test_class_builds_with_its_documented_arguments(name: str, data_root: Path, tmp_path: Path) -> None:
    assert make(name, data_root, tmp_path) is not None


@pytest.mark.parametrize("name", sorted(set(CLASSES) - set(AVAILABLE)))
def test_an_unavailable_class_is_refused_saying_what_to_use(name: str) -> None:
    entry = CLASSES[name]
    with pytest.raises(ConfigError, match="cannot work in PyTorch") as caught:
        build({"name": name}, TABLE.registry_kind(entry), **WHERE)
    assert entry["unavailable"] in caught.value.reason


@pytest.mark.parametrize(("name", "arg"), REFUSED, ids=[f"{n}.{a}" for n, a in REFUSED])
def test_a_refused_argument_fails_naming_itself(name: str, arg: str, data_root: Path, tmp_path: Path) -> None:
    value = CLASSES[name]["refused"][arg]["value"]
    with pytest.raises(ConfigError, match=arg):
        make(name, data_root, tmp_path, {arg: value})


@pytest.mark.parametrize(("name", "arg"), NO_EFFECT, ids=[f"{n}.{a}" for n, a in NO_EFFECT])
def test_a_tensorflow_only_argument_is_accepted_and_named_in_the_log(
    name: str,
    arg: str,
    data_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(optim, "_said_no_effect", set())  # said once per process: maybe by an earlier test
    value = CLASSES[name]["no_effect"][arg]["value"]
    with caplog.at_level(logging.DEBUG, logger="clara_tlt"):
        make(name, data_root, tmp_path, {arg: value})
        make(name, data_root, tmp_path, {arg: value})
    said = [r.getMessage() for r in caplog.records if arg in r.getMessage() and "no effect" in r.getMessage()]
    assert said and name in said[0]


def test_an_optimizers_tensorflow_only_argument_is_named_once(
    data_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optim, "_said_no_effect", set())
    with caplog.at_level(logging.INFO, logger="clara_tlt"):
        for _ in range(3):
            make("Adam", data_root, tmp_path, {"use_locking": True})
    assert [r.getMessage() for r in caplog.records] == [
        "Adam: use_locking only reached TensorFlow; it is accepted and has no effect here"
    ]


def scale_intensity_range(t: Any) -> None:
    out = t({"image": image((3,), torch.tensor([[-100.0, 53.5, 300.0]]))})["image"]
    assert out.flatten().tolist() == pytest.approx([0.0, 0.5, 1.0])  # a_min → b_min, a_max → b_max, clipped


def gaussian_noise(t: Any) -> None:
    set_random_state(t, 0)
    changed = [t({"image": image((16, 16, 16), torch.zeros(1, 16, 16, 16))})["image"] for _ in range(20)]
    noisy = [float(c.std()) for c in changed if float(c.abs().max()) > 0]
    assert 0 < len(noisy) < 20  # probability 0.5
    assert noisy == pytest.approx([math.sqrt(0.1)] * len(noisy), rel=0.1)  # std = √variance


def crops_of(count: int, size: tuple[int, ...]) -> Callable[[Any], None]:
    def check(t: Any) -> None:
        set_random_state(t, 0)
        out = t(box_sample())
        assert isinstance(out, list) and len(out) == count
        assert all(tuple(o["image"].shape) == (1, *size) for o in out)

    return check


def centre_crop(t: Any) -> None:
    out = t(box_sample())
    assert torch.equal(out["image"].as_tensor(), image((8, 8, 8)).as_tensor()[:, 2:6, 2:6, 2:6])


def nonzero_normalised(t: Any) -> None:
    values = torch.zeros(1, 8, 8, 8)
    values[:, :4] = torch.arange(256.0).reshape(1, 4, 8, 8)
    out = t({"image": image((8, 8, 8), values)})["image"].as_tensor()
    inside = out[values != 0]
    assert float(inside.mean()) == pytest.approx(0, abs=1e-5) and float(inside.std()) == pytest.approx(
        1, rel=0.01
    )
    assert bool((out[values == 0] == 0).all())


def channels_first(t: Any) -> None:
    loaded = {"channel_dim": "no_channel"}  # what the loaders record for a volume without channels
    out = t({key: MetaTensor(torch.zeros(4, 5, 6), meta=dict(loaded)) for key in ("image", "label")})
    assert tuple(out["image"].shape) == (1, 4, 5, 6)


def loss_of(prediction: list[float], target: list[int], expected: float) -> Callable[[Any], None]:
    """Two classes, voxels along the last axis: `prediction` is the foreground probability."""

    def check(loss: Any) -> None:
        fg = torch.tensor(prediction).reshape(1, 1, 1, 1, -1)
        scores = torch.cat([1 - fg, fg], dim=1)
        labels = torch.tensor(target, dtype=torch.float32).reshape(1, 1, 1, 1, -1)
        assert float(loss(scores, labels)) == pytest.approx(expected, abs=1e-4)

    return check


def weighted_cross_entropy(loss: Any) -> None:
    logits, target = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]]), torch.tensor([1, 2])
    weights = torch.tensor([1.0, 2.0, 1.0])
    expected = torch.nn.functional.cross_entropy(logits, target, weight=weights)
    assert float(loss(logits, target)) == pytest.approx(float(expected))


def rates(expected: list[float]) -> Callable[[Any], None]:
    """The learning rates (from 1.0) after each of `len(expected)` iterations."""

    def check(policy: Any) -> None:
        optimizer = policy.optimizer if hasattr(policy, "optimizer") else policy.scheduler.optimizer
        seen = []
        for _ in expected:
            optimizer.step()
            policy.step(0.5) if getattr(policy, "steps_on_metric", False) else policy.step()
            seen.append(optimizer.param_groups[0]["lr"])
        assert seen == pytest.approx(expected)

    return check


BEHAVIOUR: dict[str, Callable[[Any], None]] = {
    "ScaleIntensityRange": scale_intensity_range,
    "AddGaussianNoise": gaussian_noise,
    "FastPosNegRatioCropROI": crops_of(2, (4, 4, 4)),
    "FastCropByPosNegRatio": crops_of(3, (4, 4, 4)),
    "CropByPosNegRatio": crops_of(3, (4, 4, 4)),
    "ConvertToChannelsFirst": channels_first,
    "CropSubVolumeCenter": centre_crop,
    "NormalizeNonzeroIntensities": nonzero_normalised,
    "VolumeTo4DArray": channels_first,
    "Dice": loss_of([0.0, 1.0, 1.0, 0.0], [0, 1, 1, 0], 0.0),
    "CrossEntropy": loss_of([0.5, 0.5], [0, 1], math.log(2)),
    "WeightedMulticlassClassificationLoss": weighted_cross_entropy,
    "DecayOnStep": rates([1.0, 0.1, 0.1, 0.01]),
    "ReducePoly": rates([0.9**0.9, 0.8**0.9]),
    "ReduceCosine": rates([1.0, 0.5, 0.5]),
    "ReduceOnPlateau": rates([1.0, 1.0, 1.0, 0.5]),
}


@pytest.mark.parametrize("name", sorted(BEHAVIOUR))
def test_class_does_what_its_documentation_promises(name: str, data_root: Path, tmp_path: Path) -> None:
    BEHAVIOUR[name](make(name, data_root, tmp_path))


def test_a_page_missing_the_table_s_end_marker_is_refused_not_cut_short() -> None:
    """Without the end marker the table used to replace everything after the start marker."""
    doc = f"# Page\n{TABLE.START}\nold table\n\n## The rest of the page\n"
    with pytest.raises(SystemExit, match=r"configuration\.md: no '<!-- /catalogue-table -->' marker"):
        TABLE.rendered(doc, "NEW")
    fixed = doc.replace("old table\n", f"old table\n{TABLE.END}\n")  # the fix: the pair around the table
    assert TABLE.rendered(fixed, "NEW") == "# Page\nNEW\n\n## The rest of the page\n"
    assert TABLE.main(["--chek"]) == 2  # a mistyped flag rewrites nothing
