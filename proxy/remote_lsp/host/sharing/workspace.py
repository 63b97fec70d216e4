"""Which project a client works on: the root half of an instance's key.

One server per workspace, whatever directory a client was started in: the
root is the client's own workspace from its `initialize` (the first
workspaceFolders entry, else rootUri, else rootPath); only a client that names
none falls back to a marker search up from its working directory, and then to
that directory itself.
"""

import os
from typing import Any, Optional
from urllib.parse import unquote, urlparse

MARKERS = (".git", ".hg", ".jj", "Cargo.toml", "go.work", "go.mod", "pyproject.toml", "setup.py",
           "setup.cfg", "package.json", "deno.json", "compile_commands.json", "compile_flags.txt",
           "build.zig", "gleam.toml", "mix.exs", "pom.xml", "build.gradle", "Gemfile", "composer.json")


def from_initialize(params: Any) -> Optional[str]:
    """The workspace an initialize names, as a real directory; None if none."""
    if not isinstance(params, dict):
        return None
    folders = params.get("workspaceFolders")
    candidates = []
    if isinstance(folders, list) and folders and isinstance(folders[0], dict):
        candidates.append(_path_of(folders[0].get("uri")))
    candidates.append(_path_of(params.get("rootUri")))
    root_path = params.get("rootPath")
    candidates.append(root_path if isinstance(root_path, str) and root_path else None)
    for path in candidates:
        if path and os.path.isdir(path):
            return os.path.realpath(path)
    return None


def by_markers(start: str) -> str:
    """The nearest directory at or above `start` holding a project marker; else `start`."""
    here = os.path.realpath(start)
    while True:
        if any(os.path.exists(os.path.join(here, m)) for m in MARKERS):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return os.path.realpath(start)
        here = parent


def _path_of(uri: Any) -> Optional[str]:
    if not isinstance(uri, str) or not uri.startswith("file://"):
        return None
    return unquote(urlparse(uri).path) or None
