"""The host bundle: built by folder, standard library only, no editor code, and
complete: every module imports, and the agent, `list` and `status` run from it
in a clean interpreter (`-I -S`: no site-packages, nothing from this checkout)."""

import ast
import json
import os
import subprocess
import sys
import zipfile
from io import BytesIO

import pytest
from remote_lsp import __version__
from remote_lsp.editor import bundle
from remote_lsp.version import digest

from tests.conftest import wait_for


def _install(tmp_path):
    d, data = bundle.build()
    assert d == digest()
    names = zipfile.ZipFile(BytesIO(data[data.index(b"PK"):])).namelist()
    pyz = tmp_path / ("remote-lsp-%s.pyz" % d)
    pyz.write_bytes(data)
    subprocess.run([sys.executable, "-S", "-I", str(pyz), "--install"], check=True)
    return names, tmp_path / ("remote-lsp-%s" % d)


def test_bundle_holds_wire_and_host_only(tmp_path):
    names, _ = _install(tmp_path)
    package = [n for n in names if n.startswith("remote_lsp/")]
    assert {n.split("/")[1] for n in package if n.count("/") > 1} == {"wire", "host"}
    assert not [n for n in names if "/editor/" in n]
    assert "remote_lsp/host/attach/ptrace.py" in names and "remote_lsp/wire/control.py" in names


def test_every_bundled_module_imports_in_a_clean_interpreter(tmp_path):
    names, unpacked = _install(tmp_path)
    modules = [n[:-3].replace("/", ".").replace(".__init__", "")
               for n in names if n.startswith("remote_lsp/")]
    code = ("import sys; sys.path.insert(0, %r)\nfor m in %r: __import__(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith('remote_lsp')))"
            % (str(unpacked), modules))
    proc = subprocess.run([sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    imported = ast.literal_eval(proc.stdout)
    assert set(modules) <= set(imported)  # every one, from the bundle
    assert not [m for m in imported if m.startswith("remote_lsp.editor")]  # and nothing of the editor's


@pytest.mark.system  # runs an agent from the bundle
def test_agent_list_and_status_run_from_the_bundle(tmp_path, project):
    _, unpacked = _install(tmp_path)
    home = tmp_path / "state"
    env = {"PATH": os.environ["PATH"], "REMOTE_LSP_HOME": str(home)}

    def run(*args):
        return subprocess.run([sys.executable, "-S", "-I", str(unpacked), *args], env=env,
                              capture_output=True, text=True, timeout=60, cwd=str(tmp_path))

    assert run("--version").stdout.strip() == "remote-lsp %s" % __version__
    assert "--host is for the editor's machine" in run("--host", "h", "status").stderr
    agent = subprocess.Popen([sys.executable, "-S", "-I", str(unpacked), "agent", "--foreground"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(tmp_path))
    try:
        wait_for(lambda: (home / "agent.sock").exists(), 30, "the bundled agent to listen")
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        started = run("run", "--root", str(project), "--", *sleeper)
        assert started.returncode == 0, started.stderr
        status = json.loads(run("status", "--json").stdout)
        assert status["agent"]["pid"] == agent.pid
        assert status["agent"]["build"] == digest() and status["agent"]["version"] == __version__
        assert [i["pid"] for i in status["instances"]] == [int(started.stdout)]
        listed = json.loads(run("list", "--json").stdout)
        assert [r["managed"] for r in listed if r["pid"] == int(started.stdout)] == [True]
        assert run("stop", "--agent").returncode == 0
        assert agent.wait(30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
