"""`list` and `processes` read the process table through psutil where it is
importable (an editor's machine, macOS too) and through /proc on a host (the
standard library only): both give the same rows."""

import json
import subprocess
import sys

from tests.conftest import PROXY, wait_for


def _list(agent, *args, clean=False):
    # -S -I: no site-packages, so no psutil, as on a host.
    python = [sys.executable, "-S", "-I"] if clean else [sys.executable]
    proc = subprocess.run(python + [str(PROXY), *args], env=agent.env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_psutil_and_proc_give_the_same_rows(agent, project):
    import psutil  # noqa: F401  (the venv has it: otherwise both runs would read /proc)

    server = subprocess.Popen(["pylsp"], cwd=str(project), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        wait_for(lambda: [r for r in _list(agent, "list", "--json") if r["pid"] == server.pid], 30,
                 "pylsp to be listed")
        keys = ("pid", "name", "argv", "root", "user", "uid", "stdin", "stdout", "managed", "clients")
        rows = {}
        for clean in (False, True):
            (row,) = [r for r in _list(agent, "list", "--json", clean=clean) if r["pid"] == server.pid]
            rows[clean] = row
            assert row["name"] == "pylsp" and row["root"] == str(project) and row["stdin"] == "pipe"
            assert row["rss_kb"] > 1000
        assert {k: rows[False][k] for k in keys} == {k: rows[True][k] for k in keys}
        assert abs(rows[False]["started"] - rows[True]["started"]) < 2
        for clean in (False, True):
            matched = _list(agent, "processes", "pyl[s]p", "--json", clean=clean)
            assert server.pid in [r["pid"] for r in matched]
            assert all("pylsp" in " ".join(r["argv"]) for r in matched)
    finally:
        server.kill()
        server.wait()
