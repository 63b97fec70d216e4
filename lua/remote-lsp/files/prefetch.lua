-- Files read ahead for a workspace edit: the files of the buffers it touches that are not loaded,
-- in one files/read per host (the hosts at once); their BufReadCmd then takes them from here.
local channel = require('remote-lsp.files.channel')
local state = require('remote-lsp.files.state')

local M = {}

-- A file read ahead waits this long for its BufReadCmd.
local CACHE_MS = 10000
---@type table<string, {entry: table, at: integer}> by host .. '\n' .. path
local cache = {}

--- The entry read ahead for path on host, taken (a second read asks the host again); nil if none.
---@param host string
---@param path string
---@return table|nil
function M.take(host, path)
  local key = host .. '\n' .. path
  local c = cache[key]
  cache[key] = nil
  if c and vim.uv.now() - c.at < CACHE_MS then
    return c.entry
  end
  return nil
end

--- Read ahead the files of names whose buffers are not loaded.
---@param names string[] buffer names (URIs of remote files)
function M.prefetch(names)
  vim.validate('names', names, 'table')
  local loaded = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      loaded[vim.api.nvim_buf_get_name(buf)] = true
    end
  end
  local by_host, seen = {}, {}
  for _, name in ipairs(names) do
    local host, path = state.split(name)
    if host and not loaded[name] and not seen[name] then
      seen[name] = true
      by_host[host] = by_host[host] or {}
      table.insert(by_host[host], path)
    end
  end
  local waiting = 0
  for host, paths in pairs(by_host) do
    waiting = waiting + 1
    channel.request(host, 'files/read', { paths = paths }, function(err, res)
      waiting = waiting - 1
      if err or type(res) ~= 'table' then
        return -- each buffer's own read then tries, and says why
      end
      local now = vim.uv.now()
      for i, e in ipairs(res.files or {}) do
        cache[host .. '\n' .. paths[i]] = { entry = e, at = now }
      end
    end)
  end
  if waiting > 0 then
    vim.wait(channel.bound() + 1000, function()
      return waiting == 0
    end, 5)
  end
end

return M
