"""What `pip install` gives: the extras pyproject.toml declares."""

import re

import pytest

from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

# The editor side's third-party imports: the module that imports each (its extra has its name).
EDITOR_IMPORTS = {
    "paramiko": REPO / "proxy" / "remote_lsp" / "editor" / "transport" / "paramiko_ssh.py",
    "pynvim": REPO / "rplugin" / "python3" / "remote_lsp_rplugin.py",
    "psutil": REPO / "proxy" / "remote_lsp" / "host" / "discovery.py",
}


def _names(requirements):
    return [re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requirements]


def test_the_editor_side_packages_are_extras():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    assert project["dependencies"] == []  # the host side is standard library only
    for package, module in EDITOR_IMPORTS.items():
        assert re.search(r"^\s*import %s$" % package, module.read_text(), re.M), module  # imported there
        assert _names(extras.get(package, [])) == [package], extras  # pip install '.[paramiko]', ...
        assert package in _names(extras.get("nvim", [])), extras  # pip install '.[nvim]': all of them
