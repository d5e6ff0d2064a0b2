"""NGC's v2 model registry API: token exchange, models, versions, files (or the whole version as a zip).

Without an API key requests go out anonymously, which is enough for public models. With a key, it is sent once
to `{auth}/token` as HTTP Basic `$oauthtoken:KEY`; the returned token is used as `Authorization: Bearer`.
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from clara_tlt.errors import DownloadError, UsageError
from clara_tlt.hub.http import HttpClient, HttpStatusError, redact
from clara_tlt.hub.registry import (
    ModelInfo,
    Payload,
    RemoteFile,
    VersionInfo,
    registry_identity,
    safe_relative,
    unknown_model,
    unknown_version,
)

KEY_HINT = (
    "the API key was refused or is missing: pass a valid NGC API key with -k or NGC_API_KEY "
    "(create one at ngc.nvidia.com → Setup → Generate API Key)"
)


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


class NgcRegistry:
    """Client of `{api}/v2/…` for one org (and optional team)."""

    def __init__(
        self, api: str, auth_url: str, org: str, team: str | None, api_key: str | None, client: HttpClient
    ) -> None:
        self.api = api.rstrip("/")
        self.auth_url = auth_url.rstrip("/")
        self.org = org
        self.team = team or "-"
        self._team = team
        self._api_key = api_key
        self._token: str | None = None
        self.client = client
        client.key_hint = KEY_HINT
        self.identity = registry_identity(self.api)
        self.location = redact(self.api)
        self.where = f"org {org!r}" + (f" team {team!r}" if team else "") + f" at {redact(self.api)}"

    def __repr__(self) -> str:  # never show the key
        return f"NgcRegistry({redact(self.api)!r}, org={self.org!r}, team={self.team!r})"

    # -- authentication -------------------------------------------------------------------------------------
    def authorization(self, renew: bool = False) -> str | None:
        """`Bearer TOKEN` for the org, fetched once (again with `renew`, when it expired during a long pull);
        None without an API key (anonymous access)."""
        if self._api_key is None:
            return None
        if self._token is None or renew:
            basic = base64.b64encode(f"$oauthtoken:{self._api_key}".encode()).decode()
            url = f"{self.auth_url}/token?service=ngc&scope=group/ngc:{_quote(self.org)}"
            reply = self.client.get_json(url, authorization=f"Basic {basic}", what="NGC sign-in")
            token = reply.get("token") if isinstance(reply, dict) else None
            if not isinstance(token, str) or not token:
                raise DownloadError(f"{redact(self.auth_url)}/token returned no token; check --auth-url")
            self._token = token
        return f"Bearer {self._token}"

    def _get(self, url: str, what: str) -> Any:
        return self.client.get_json(url, authorization=self.authorization(), what=what)

    # -- addresses ------------------------------------------------------------------------------------------
    def _model_url(self, model: str) -> str:
        team = f"/{_quote(self._team)}" if self._team else ""
        return f"{self.api}/v2/models/{_quote(self.org)}{team}/{_quote(model)}"

    def _version_url(self, model: str, version: str) -> str:
        return f"{self._model_url(model)}/versions/{_quote(version)}"

    # -- queries --------------------------------------------------------------------------------------------
    def list_models(self) -> list[ModelInfo]:
        team = f"/team/{_quote(self._team)}" if self._team else ""
        base = f"{self.api}/v2/org/{_quote(self.org)}{team}/models"
        models: list[ModelInfo] = []
        page, pages = 0, 1
        while page < pages:
            reply = self._get(f"{base}?page-number={page}", what=f"listing models of {self.where}")
            for entry in reply.get("models") or []:
                models.append(_model_info(entry))
            pages = int((reply.get("paginationInfo") or {}).get("totalPages") or 1)
            page += 1
        return models

    def _model_not_found(self, model: str) -> UsageError:
        try:
            names = [m.name for m in self.list_models()]
        except DownloadError:
            names = []
        return unknown_model(model, names, self.where)

    def model(self, model: str) -> ModelInfo:
        try:
            reply = self._get(self._model_url(model), what=f"looking up model {model!r}")
        except HttpStatusError as exc:
            if exc.status == 404:
                raise self._model_not_found(model) from None
            raise
        return _model_info(reply.get("model") or {}, default_name=model)

    def latest_version(self, model: str) -> str:
        latest = self.model(model).latest_version
        if not latest:
            raise DownloadError(f"model {model!r} has no versions yet in {self.where}; nothing to download")
        return latest

    def list_versions(self, model: str) -> list[VersionInfo]:
        try:
            reply = self._get(f"{self._model_url(model)}/versions", what=f"listing versions of {model!r}")
        except HttpStatusError as exc:
            if exc.status == 404:
                raise self._model_not_found(model) from None
            raise
        return [
            VersionInfo(str(v.get("versionId")), v.get("createdDate"), _int(v.get("totalSizeInBytes")))
            for v in reply.get("modelVersions") or []
        ]

    def payload(self, model: str, version: str) -> Payload:
        """The version's files from its listing; the whole version as one zip when there is no listing."""
        known = [v.version for v in self.list_versions(model)]
        if version not in known:
            raise unknown_version(model, version, known)
        base = self._version_url(model, version)
        try:
            reply = self._get(f"{base}/files", what="listing files")
        except HttpStatusError as exc:
            if exc.status != 404:
                raise
            reply = {}
        if not isinstance(reply, dict):
            reply = {}
        entries = reply.get("modelFiles") or reply.get("files") or []
        files = []
        for entry in entries:
            path = safe_relative(str(entry.get("path", "")), f"{model} version {version}")
            url = f"{base}/files/{urllib.parse.quote(path, safe='/')}"
            size = _int(entry.get("sizeInBytes", entry.get("size")))
            files.append(RemoteFile(path, url, size, entry.get("sha256") or None))
        if files:
            return Payload(files)
        archive = RemoteFile(f"{model}_v{version}.zip", f"{base}/zip")
        return Payload([archive], archive=True)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _model_info(entry: dict[str, Any], default_name: str = "") -> ModelInfo:
    latest = entry.get("latestVersionIdStr")
    return ModelInfo(
        str(entry.get("name") or default_name),
        str(entry.get("description") or ""),
        str(latest) if latest is not None else None,
    )
