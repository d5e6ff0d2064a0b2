"""Help texts and docs say what the code does: their examples run, and they cite Clara's documents by name."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import click
import pytest

from clara_tlt.cli.main import cli
from tests.conftest import REPO
from tests.test_cli import every_command, invoke_streams

SEED_CITATION = re.compile(r"\bseeds?[ -]?\(?0\d\d|\bseeds?'s?\b(?! *=)", re.IGNORECASE)
STAGE_CONFIGS = {
    "train": "config_train.json",
    "evaluate": "config_validation.json",
    "infer": "config_validation.json",
}


def help_text(command: click.Command) -> str:
    return command.get_help(click.Context(command, info_name=command.name))


@pytest.fixture
def example_mmar(tmp_path: Path, synthetic_dataset: Path) -> Path:
    """examples/mmar as shipped, with the data where its environment.json looks (../work/data_1.5mm)."""
    shutil.copytree(REPO / "examples" / "mmar", tmp_path / "mmar")
    shutil.copytree(synthetic_dataset.parent, tmp_path / "work" / "data_1.5mm")
    return tmp_path / "mmar"


@pytest.mark.parametrize("stage", list(STAGE_CONFIGS))
def test_the_set_example_of_the_help_runs_on_the_example_mmar(stage: str, example_mmar: Path) -> None:
    command = cli.get_command(click.Context(cli), stage)
    assert command is not None
    example = re.search(r"--set ((?:[\w.]+=[^\s,]+ ?)+)\.", " ".join(help_text(command).split()))
    assert example, help_text(command)
    items = example.group(1).split()
    code, stdout, stderr = invoke_streams(
        stage,
        "-m",
        str(example_mmar),
        "-c",
        f"config/{STAGE_CONFIGS[stage]}",
        "--dry-run",
        "--json",
        "--set",
        *items,
    )
    assert code == 0, stderr
    plan_globals = json.loads(stdout)["globals"]
    for key, value in (item.split("=", 1) for item in items):
        if key in plan_globals:
            assert plan_globals[key] == json.loads(value)


def test_every_command_with_set_shows_the_example_that_runs() -> None:
    with_set = [c for c in every_command() if any(p.name == "set_items" for p in c.params)]
    assert len(with_set) >= 7  # train, evaluate, infer, export; tlt-train, tlt-evaluate, tlt-infer
    for command in with_set:
        assert "--set epochs=2 learning_rate=1e-4." in " ".join(help_text(command).split()), command.name


def test_no_help_text_cites_a_seed() -> None:
    for command in [cli, *every_command()]:
        text = help_text(command)
        assert not SEED_CITATION.search(text), (command.name, SEED_CITATION.search(text))


def test_no_doc_page_cites_a_seed() -> None:
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            assert not SEED_CITATION.search(line), f"{page.name}:{number}: {line}"
