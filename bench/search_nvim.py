"""Find in the remote project from Neovim: `:RemoteLspGrep` filling the quickfix list, against
ripgrep's own time on the host for the same search, on bench/search.py's generated git project
($REMOTE_LSP_BENCH_SEARCH_FILES files, default 100,000), through a link 30 ms away (a delaying
proxy in front of the test sshd: 15 ms each way) and on localhost.

Goal (issue 29): the quickfix list filled within the host's search time + two round trips + 50 ms.
The Neovim figure is timed inside Neovim, from the call to the list set (`grep`'s `on_done`): the
buffer's project root found on the host, then searched (two round trips). The host's time is
`rg --vimgrep -S` run there on the same tree, warm. Two searches: bench/search.py's (one match,
every file read) and one with 100 matches in 100 files (a list to build and 100 names to make).
"""

import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "proxy"), str(REPO)]

from bench.search import EACH_WAY, FILES, PATTERN, _rg_time, project  # noqa: E402
from bench.wire import Row, row  # noqa: E402

MANY = "heaviest00[0-9][0-9]\\("  # 100 matches, one in each of 100 files
RUNS = 7
SLOW_ALIAS = "rlsp-search-nvim-slow"
MARGIN = 0.050

GREP = """
local pattern = ...
_G.bench_done = nil
local t = vim.uv.hrtime()
require('remote-lsp.search').grep({ pattern = pattern, jump = false, on_done = function(count)
  _G.bench_done = { (vim.uv.hrtime() - t) / 1e9, count }
end })
return true
"""


def rows(work: Path) -> List[Row]:
    from tests.support.neovim import Neovim, nvim_path

    if not Path("/usr/sbin/sshd").exists() or nvim_path() is None:
        return [row("search in Neovim", "-", "skipped: needs sshd and nvim", "-", True)]
    if shutil.which("rg") is None:
        return [row("search in Neovim", "-", "skipped: needs ripgrep on the host", "-", True)]
    from tests.support.delay import distant_sshd
    from tests.support.sshd import ALIAS

    root = work / "search-project"
    if not root.exists():  # made by bench/search.py in the same run, else here
        project(root)
    sshd, delay = distant_sshd(work / "search-nvim-ssh", SLOW_ALIAS)
    state = work / "search-nvim-editor-state"
    env = sshd.client_env(state)
    env["REMOTE_LSP_SSH_CONFIG"] = str(sshd.home / ".ssh" / "config")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    scp = "scp -q -F %s" % env["REMOTE_LSP_SSH_CONFIG"]
    out: List[Row] = []
    try:
        for alias, where, rtt in ((SLOW_ALIAS, "30 ms RTT", 2 * EACH_WAY), (ALIAS, "localhost", 0.0)):
            n = Neovim(work, env, "{ python = %r }" % sys.executable, scp)
            try:
                for pattern in (PATTERN, MANY):
                    nvim, rg, count = _measure(n, alias, root, pattern)
                    # The machine may be busy: each Neovim search is paired with ripgrep's run
                    # just before it, and the goal holds for the median of their differences.
                    over = statistics.median(a - b for a, b in zip(nvim, rg))
                    label = "search in Neovim %s: :RemoteLspGrep, %d match%s in %d files, quickfix set" % (
                        where, count, "" if count == 1 else "es", FILES)
                    out.append(row(label, "rg on the host %s" % _ms(statistics.median(rg)),
                                   "%s (rg + %s)" % (_ms(statistics.median(nvim)), _ms(over)),
                                   "<= rg + 2 RTT + 50 ms (rg + %s)" % _ms(2 * rtt + MARGIN),
                                   over <= 2 * rtt + MARGIN))
            finally:
                n.close()
    finally:
        delay.close()
        _stop_masters(env, state, (ALIAS, SLOW_ALIAS))
        sshd.stop()
    return out


def _measure(n, alias: str, root: Path, pattern: str) -> Tuple[List[float], List[float], int]:
    """Seconds to the quickfix list set in Neovim, and ripgrep's own on the host run just before
    each; the matches."""
    rg = [shutil.which("rg") or "rg", "--vimgrep", "-S", "-e", pattern, str(root)]
    n.lua("vim.cmd.edit(vim.fn.fnameescape(...))", "scp://%s/%s" % (alias, root / ".gitignore"))  # no server
    nvim: List[float] = []
    own: List[float] = []
    count = 0
    for i in range(RUNS + 1):  # the first warms the host's page cache
        took_rg = _rg_time(rg)
        n.lua(GREP, pattern)
        took, count = n.wait("return _G.bench_done", "the quickfix list", 300)
        if i:
            nvim.append(took)
            own.append(took_rg)
    return nvim, own, count


def _ms(seconds: float) -> str:
    return "%.0f ms" % (seconds * 1000)


def _stop_masters(env, state: Path, aliases) -> None:
    """End the ssh masters this run's editor side started."""
    from remote_lsp.editor.hosts import parse_host
    from remote_lsp.editor.transport.openssh import OpenSSH

    saved = os.environ.get("HOME")
    os.environ["HOME"] = env["HOME"]
    try:
        if state.exists():
            for alias in aliases:
                OpenSSH(parse_host(alias), state).stop_master()
    finally:
        os.environ["HOME"] = saved or ""


if __name__ == "__main__":
    from bench.wire import alone

    sys.exit(alone(rows, "rl-bench-search-nvim-"))
