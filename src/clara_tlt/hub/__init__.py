"""Model registry client: list models and versions, pull a version with a resumable, checked download, cache.

Registries: NGC's v2 model API (default) and static `index.json` registries (a folder or any web server) for
sites without internet access. See docs/pull.md.
"""

from clara_tlt.hub.api import RegistrySettings, list_models, list_versions, open_registry, pull
from clara_tlt.hub.http import RetryPolicy

__all__ = ["RegistrySettings", "RetryPolicy", "list_models", "list_versions", "open_registry", "pull"]
