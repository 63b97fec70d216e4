-- :wall, :wqall and :xall in one request per host: the command's first remote write writes every
-- remote buffer the command will write; Vim then skips those written (no longer modified), and
-- those that failed stay modified, so that the command fails for them as for a local file.
--
-- Neovim tells a BufWriteCmd nothing of the command it is part of. A :wall is known when typed
-- (CmdlineLeave); one run from a mapping's <Cmd>, a script or an autosave plugin, by its first
-- write of a buffer that is not in the window the user is in (Neovim makes it current in the
-- autocmd window, or in a window of its own, without entering it), unless a Lua nvim_buf_call or
-- nvim_win_call is writing that one buffer. If the current buffer is written first, it is written
-- alone, the rest together. (ExitPre would not do: it comes before a :wq's write as well.)
local state = require('remote-lsp.files.state')

local M = {}

-- The :wall (:wqall, :xall) being run.
---@type {done?: boolean, failed: table<integer, boolean>, force: boolean, guessed?: boolean}|nil
local wall = nil
-- The window the user last entered (WinEnter).
---@type integer|nil
local entered = nil

--- A :wall (force: :wall!) is about to run.
---@param force boolean
function M.begin(force)
  wall = { failed = {}, force = force }
end

--- WinEnter: the window the user is in.
function M.on_win_enter()
  entered = vim.api.nvim_get_current_win()
end

--- Whether the buffer being written is not in the window the user is in, nor written by a Lua
--- call made for that buffer alone.
---@return boolean
local function elsewhere()
  local current = vim.api.nvim_get_current_win()
  if vim.fn.win_gettype() ~= 'autocmd' and (entered == nil or current == entered) then
    return false
  end
  for level = 3, 100 do
    local info = debug.getinfo(level, 'n')
    if not info then
      break
    end
    if info.name == 'nvim_buf_call' or info.name == 'nvim_win_call' then
      return false
    end
  end
  return true
end

--- The command is over.
function M.finish()
  wall = nil
end

--- Whether the :wall being run is forced; nil if none is.
---@return boolean|nil
function M.forced()
  return wall and wall.force
end

--- Whether buf would be written by :wall now (it is, if it is ours, by the batch).
local function writes(buf, force)
  if not vim.api.nvim_buf_is_loaded(buf) or not vim.bo[buf].modified then
    return false
  end
  if vim.bo[buf].buftype ~= '' and vim.bo[buf].buftype ~= 'acwrite' then
    return false
  end
  if vim.bo[buf].readonly and not force then
    return false
  end
  local st = state.get(buf)
  return st ~= nil and st.kind ~= 'directory' and state.split(vim.api.nvim_buf_get_name(buf)) ~= nil
end

--- The write of buf to its own name, in a :wall: the batch written by its first one (through
--- write_items, which answers which were written); true if nothing more is to be done for buf.
---@param buf integer
---@param name string
---@param force boolean
---@param write_items fun(items: remote_lsp.WriteItem[]): table<integer, boolean>
---@return boolean
function M.take(buf, name, force, write_items)
  if not wall then
    if not elsewhere() then
      return false
    end
    -- Guessed: over with the command, and a buffer it failed to write is tried again if written
    -- again (the command may be a script's, which goes on).
    wall = { failed = {}, force = force, guessed = true }
    local this = wall
    vim.schedule(function()
      if wall == this then
        wall = nil
      end
    end)
  end
  if wall.failed[buf] and not wall.guessed then
    return true -- told already: it stays modified, so the command fails for it
  end
  if wall.done then
    return false
  end
  wall.done = true
  local items = { { buf = buf, name = name, own = true } }
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if b > buf and writes(b, force) then -- :wall writes in buffer order: those before are done
      items[#items + 1] = { buf = b, name = vim.api.nvim_buf_get_name(b), own = true }
    end
  end
  local written = write_items(items)
  for i, item in ipairs(items) do
    if not written[i] then
      wall.failed[item.buf] = true
    end
  end
  return true
end

return M
