-- The plugin's word to the user, and its own log. Every module says things through
-- here (nothing reaches into init for it): notify/info/warn/error tell the user
-- (vim.notify, with the plugin's prefix); echo says Vim's own kind of message (a file
-- read or written) as Vim does; debug tells no one. Each line at or above the
-- `log_level` option also goes into remote-lsp.log under stdpath('log'), which
-- :RemoteLspLog shows beside the host's logs.
local M = {}

local levels = vim.log.levels
local NAMES = { [levels.DEBUG] = 'DEBUG', [levels.INFO] = 'INFO', [levels.WARN] = 'WARN', [levels.ERROR] = 'ERROR' }
-- Past this size the log starts again; the one before is kept as remote-lsp.log.old.
local MAX_BYTES = 1024 * 1024

-- Known once, here: stdpath() cannot be called from a callback of the event loop.
local path = vim.fn.stdpath('log') .. '/remote-lsp.log'

--- The log file: remote-lsp.log under stdpath('log').
---@return string
function M.path()
  return path
end

--- The lowest level that goes into the log file (the `log_level` option; WARN before setup()).
---@return integer
local function threshold()
  local name = (package.loaded['remote-lsp.config'] or { options = {} }).options.log_level or 'warn'
  return levels[name:upper()] or levels.WARN
end

--- Append one line to the log file; never fails (a log that cannot be written is no reason to).
---@param level integer
---@param msg string
local function write(level, msg)
  if level < threshold() then
    return
  end
  pcall(function()
    local stat = vim.uv.fs_stat(path)
    if not stat then
      vim.uv.fs_mkdir(vim.fs.dirname(path), 448) -- 0700, as Neovim makes it
    elseif stat.size > MAX_BYTES then
      vim.uv.fs_rename(path, path .. '.old')
    end
    local f = io.open(path, 'a')
    if f then
      f:write(('%s %-5s %s\n'):format(os.date('%Y-%m-%d %H:%M:%S'), NAMES[level] or level, msg))
      f:close()
    end
  end)
end

--- Tell the user, at a level (and log it).
---@param msg string
---@param level? integer a vim.log.levels value (default INFO)
function M.notify(msg, level)
  level = level or levels.INFO
  write(level, msg)
  vim.notify('remote-lsp: ' .. msg, level)
end

--- Into the log file only, when log_level is 'debug': what happened, for whoever looks into a problem.
---@param msg string
function M.debug(msg)
  write(levels.DEBUG, msg)
end

---@param msg string
function M.info(msg)
  M.notify(msg, levels.INFO)
end

---@param msg string
function M.warn(msg)
  M.notify(msg, levels.WARN)
end

---@param msg string
function M.error(msg)
  M.notify(msg, levels.ERROR)
end

--- The log file's last lines (none when there is none).
---@param count integer
---@return string[]
function M.tail(count)
  local ok, lines = pcall(vim.fn.readfile, path, '', -count)
  return ok and lines or {}
end

--- A message as Vim's own file messages are ('"NAME" 3L, 42B written'): no prefix, kept in
--- :messages.
---@param msg string
function M.echo(msg)
  vim.api.nvim_echo({ { msg } }, true, {})
end

return M
