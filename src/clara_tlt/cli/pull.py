"""`tlt-pull` / `clara-tlt pull`: list models (-lm) and versions (-lv -m MODEL), download (-m MODEL -d DIR).

The flags are those of the Clara Train SDK's tlt-pull; the API key comes from -k, NGC_API_KEY or NGC_CLI_API_KEY and is
never printed. Everything else is done by `clara_tlt.hub`.
"""

from __future__ import annotations

import os
from typing import Any

import click

from clara_tlt.cli.options import debug_option, json_option
from clara_tlt.cli.report import emit
from clara_tlt.errors import UsageError
from clara_tlt.hub.cache import LINK_MODES
from clara_tlt.hub.download import human_size
from clara_tlt.hub.registry import DEFAULT_AUTH_URL, DEFAULT_REGISTRY

KEY_VARIABLES = ("NGC_API_KEY", "NGC_CLI_API_KEY")


@click.command("pull")
@click.option(
    "-lm", "--list_models", "list_models_flag", is_flag=True, help="List the models of the org/team."
)
@click.option(
    "-lv", "--list_versions", "list_versions_flag", is_flag=True, help="List the versions of -m MODEL."
)
@click.option("-m", "--model", help="Model name, e.g. clara_pt_spleen_ct_segmentation.")
@click.option("-v", "--version", help="Version to download (default: latest).")
@click.option("-d", "--dest", type=click.Path(file_okay=False), help="Folder to put the model's files in.")
@click.option("-k", "--api_key", help="NGC API key (better: set NGC_API_KEY, so it stays out of `ps`).")
@click.option(
    "-o",
    "--org",
    envvar="NGC_CLI_ORG",
    default="nvidia",
    show_default=True,
    help="NGC org (env NGC_CLI_ORG).",
)
@click.option("-t", "--team", envvar="NGC_CLI_TEAM", help="NGC team (env NGC_CLI_TEAM).")
@click.option(
    "--registry",
    envvar="CLARA_TLT_REGISTRY",
    default=DEFAULT_REGISTRY,
    show_default=True,
    help="NGC API address, or a private index registry: a folder, file:///folder or "
    "https://…/index.json (env CLARA_TLT_REGISTRY).",
)
@click.option(
    "--auth-url",
    envvar="CLARA_TLT_AUTH_URL",
    default=DEFAULT_AUTH_URL,
    show_default=True,
    help="NGC token service (env CLARA_TLT_AUTH_URL).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Model cache (env CLARA_TLT_CACHE; default ~/.cache/clara_tlt).",
)
@click.option(
    "--link-mode",
    type=click.Choice(LINK_MODES),
    default="copy",
    show_default=True,
    help="How -d gets the files from the cache: copies, hard links or symbolic links.",
)
@click.option("--force", is_flag=True, help="Overwrite files in -d that differ from the model's.")
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    help="Send the API key over plain http:// to another machine (refused without this: anyone on the "
    "network path could read it). http:// to this machine (localhost, 127.x.x.x, ::1) needs no flag.",
)
@json_option
@debug_option
def command(
    list_models_flag: bool,
    list_versions_flag: bool,
    model: str | None,
    version: str | None,
    dest: str | None,
    api_key: str | None,
    org: str,
    team: str | None,
    registry: str,
    auth_url: str,
    cache_dir: str | None,
    link_mode: str,
    force: bool,
    allow_insecure_http: bool,
    as_json: bool,
) -> None:
    """List and download pre-trained models (MMARs) from NGC or a private registry.

    \b
    tlt-pull -lm -o nvidia -t med
    tlt-pull -lv -m clara_pt_spleen_ct_segmentation -o nvidia -t med
    tlt-pull -m clara_pt_spleen_ct_segmentation -v 1 -d ./spleen -o nvidia -t med
    """
    from pathlib import Path

    from clara_tlt import hub

    key = api_key or next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
    settings = hub.RegistrySettings(
        registry=registry,
        auth_url=auth_url,
        org=org,
        team=team,
        api_key=key,
        cache_dir=Path(cache_dir) if cache_dir else None,
        allow_insecure_http=allow_insecure_http,
    )
    if list_models_flag:
        result = hub.list_models(settings)
        emit(result, as_json=as_json, lines=_model_lines(result))
    elif list_versions_flag:
        if not model:
            raise UsageError("-lv lists the versions of one model: add -m MODEL (find names with -lm)")
        result = hub.list_versions(settings, model)
        emit(result, as_json=as_json, lines=_version_lines(result))
    elif model:
        result = hub.pull(settings, model, version, dest=dest, link_mode=link_mode, force=force)
        emit(result, as_json=as_json, lines=_pull_lines(result))
    else:
        raise UsageError(
            "nothing to do: use -lm to list models, -lv -m MODEL to list versions, "
            "or -m MODEL [-v VERSION] -d DIR to download"
        )


def _where(result: dict[str, Any]) -> str:
    team = f" team {result['team']}" if result["team"] != "-" else ""
    org = f" org {result['org']}" if result["org"] != "-" else ""
    return f"{result['registry']}{org}{team}"


def _model_lines(result: dict[str, Any]) -> list[str]:
    models = result["models"]
    if not models:
        return [f"No models in {_where(result)}."]
    width = max(len(m["name"]) for m in models)
    lines = [f"{len(models)} models in {_where(result)}:", f"{'NAME':<{width}}  {'LATEST':<8}  DESCRIPTION"]
    lines += [f"{m['name']:<{width}}  {m['latest_version'] or '-':<8}  {m['description']}" for m in models]
    return lines


def _version_lines(result: dict[str, Any]) -> list[str]:
    versions = result["versions"]
    if not versions:
        return [f"Model {result['model']} has no versions in {_where(result)}."]
    lines = [f"Versions of {result['model']}:", f"{'VERSION':<12}  {'CREATED':<26}  SIZE"]
    for v in versions:
        size = human_size(v["size"]) if v["size"] is not None else "-"
        lines.append(f"{v['version']:<12}  {v['created'] or '-':<26}  {size}")
    return lines


def _pull_lines(result: dict[str, Any]) -> list[str]:
    source = " (from the cache)" if result["from_cache"] else ""
    lines = [
        f"Finished downloading version {result['version']} of {result['model']}{source}: "
        f"{len(result['files'])} files, {human_size(result['size'])}.",
        f"Downloaded files are in {result['path']}/.",
    ]
    if result["mmar"]:
        lines.append(f"It is an MMAR: clara-tlt train -m {result['path']} -c config/config_train.json")
    return lines
