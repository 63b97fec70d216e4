-- Whether a write is forced (:w!), which lets it overwrite a change on the host. Neovim tells a
-- BufWriteCmd nothing of the command's bang for a write that has no command of its own (:wall,
-- 'autowrite'), so the command line the user typed is parsed as it is left, and v:cmdbang is
-- trusted only if it changed since Neovim last waited for the user.
local wall = require('remote-lsp.files.wall')

local M = {}

-- The command line the user just typed, parsed, until Neovim waits for the user again.
---@type {cmd: string, bang: boolean}|nil
local typed = nil
-- v:cmdbang when Neovim last waited for the user. Neovim sets v:cmdbang for a write that has a
-- command (:w!) but leaves it as it was for one that has none (:wall, 'autowrite'): a value
-- unchanged since then may be left over from an earlier command (an :e!), and forces nothing.
local idle_bang = 0
-- Commands that write, and whose ! forces a write over a change on the host.
local WRITES = {
  write = true,
  wq = true,
  xit = true,
  exit = true,
  update = true,
  saveas = true,
  wall = true,
  wqall = true,
  xall = true,
  wnext = true,
  wNext = true,
  wprevious = true,
}

--- Whether the write being done was forced (:w!): the bang of the command the user typed if it
--- writes, else v:cmdbang if this command set it; never a v:cmdbang left over from another one.
---@return boolean
function M.forced()
  local batch = wall.forced()
  if batch ~= nil then
    return batch
  end
  if typed and WRITES[typed.cmd] then
    return typed.bang
  end
  return vim.v.cmdbang == 1 and idle_bang ~= 1
end

--- SafeState: Neovim waits for the user; what was typed is over.
function M.on_safe_state()
  idle_bang = vim.v.cmdbang
  typed = nil
  wall.finish()
end

--- CmdlineLeave: the command about to run is known; a :wall, :wqall or :xall has its remote
--- writes batched.
function M.on_cmdline_leave()
  local ev = vim.v.event
  if ev.abort or ev.cmdtype ~= ':' then
    return
  end
  local ok, cmd = pcall(vim.api.nvim_parse_cmd, vim.fn.getcmdline(), {})
  if not ok then
    return
  end
  typed = { cmd = cmd.cmd, bang = cmd.bang == true }
  if cmd.cmd == 'wall' or cmd.cmd == 'wqall' or cmd.cmd == 'xall' then
    wall.begin(cmd.bang == true)
  end
end

return M
