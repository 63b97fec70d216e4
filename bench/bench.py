#!/usr/bin/env python3
"""`make bench`: every figure of docs/benchmarks.md, measured side by side.

Each row is measured against its fair baseline in the same run: locally, the
same scripted server direct, through a bare Python relay and socat (the floor
of any relay process) and through the agent; over SSH, through a plain pipe on
the same sshd and through remote-lsp, per transport. Then the agent's own
figures, surviving its death, attach, resuming after a cut, a profile of
where the time goes, files watched on the host (bench/watch.py), the agent
while a server stops reading (bench/stall.py),
(bench/sharing.py) memory and warm answers with real servers,
(bench/files.py) remote files in Neovim against netrw's scp,
(bench/search.py) find and grep on the host against ripgrep, and
(bench/search_nvim.py) :RemoteLspGrep's quickfix list in Neovim. Prints the
tables and writes docs/benchmarks.md; exits 1 if a goal is missed.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "proxy"),
                str(Path(__file__).resolve().parent.parent)]

from bench import files, local, profile, report, search, search_nvim, ssh, stall, texts, watch  # noqa: E402
from bench import sharing as share  # noqa: E402
from bench.wire import PROXY, Row  # noqa: E402


def main() -> int:
    # Measured as a user's machine runs it: with bytecode cached (this machine's
    # environment may say not to write it, and then every start compiles again).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    work = Path(tempfile.mkdtemp(prefix="rl-bench-"))
    home = work / "state"
    os.environ["REMOTE_LSP_HOME"] = str(home)
    root = str(work)
    rows: List[Row] = []
    sharing: Dict[str, Any] = {}
    profiles: Dict[str, List[str]] = {}
    import subprocess

    try:
        rows += local.overhead_rows(root)
        rows += local.agent_rows(root, home)
        rows += local.survival_rows(root, home)
        rows += texts.rows(root)
        rows += stall.rows(work)
        rows += local.attach_rows(work)
        rows += ssh.rows(work)
        if "--no-watch" not in sys.argv:
            rows += watch.rows(work)
        if "--no-files" not in sys.argv:
            rows += files.rows(work)
        if "--no-search" not in sys.argv:
            rows += search.rows(work)
            rows += search_nvim.rows(work)
        if "--no-profile" not in sys.argv:
            profiles = profile.run(work)
        if "--no-sharing" not in sys.argv:
            sharing = share.run(work)
    finally:
        subprocess.run(PROXY + ["stop", "--agent"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    header = ("measure", "baseline", "through remote-lsp", "goal", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("remote-lsp %s, Python %s" % (__import__("remote_lsp").__version__, sys.version.split()[0]))
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    ok = all(r[-1] == "ok" for r in rows)
    if sharing:
        for title, head, found in (
                ("memory", ("server", "sessions", "separate PSS", "shared PSS", "agent+connects", "ratio",
                            "separate RSS", "shared RSS", ""), report.memory_rows(sharing["memory"])),
                ("warm/cold", ("server", "answer", "cold", "warm", "speed-up", ""),
                 report.warm_cold_rows(sharing["warm_cold"]))):
            print("\n" + title)
            for r in [head, *found]:
                print("  ".join(r))
            ok = ok and all(r[-1] == "ok" for r in found)
    for title, lines in profiles.items():
        print("\nprofile: %s\n%s" % (title, "\n".join(lines)))
    print("\nwrote %s" % report.write(rows, sharing, profiles, "make bench"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
