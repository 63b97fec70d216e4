-- Files read ahead for a workspace edit: the files of the buffers it touches that are not loaded,
-- in one files/read per host (the hosts at once); their BufReadCmd then takes them from here. What
-- cannot be read (or was not, in a buffer loaded) is said, for the edit to be applied whole or not.
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

--- Why a loaded buffer of a remote file cannot take an edit, nil if it can.
---@param buf integer
---@return string|nil
local function unusable(buf)
  local st = state.get(buf)
  if st and st.kind == 'unread' then
    return 'its buffer could not be read (:e reads it again)'
  elseif st and st.kind == 'directory' then
    return 'a directory'
  end
  return nil
end

--- Why the host's entry cannot take an edit, nil if it can.
---@param e table|nil
---@param err any the request's error
---@return string|nil
local function unreadable(e, err)
  if type(e) ~= 'table' then
    return err and state.why(err) or 'no answer'
  elseif e.error then
    return state.why(e.error)
  elseif not e.exists then
    return 'no such file'
  elseif e.type ~= 'file' then
    return 'not a regular file'
  end
  return nil
end

--- Read ahead the files of names whose buffers are not loaded.
---@param names string[] buffer names (URIs of remote files)
---@return {name: string, why: string}[] the files that cannot be read, and why
function M.prefetch(names)
  vim.validate('names', names, 'table')
  local loaded = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      loaded[vim.api.nvim_buf_get_name(buf)] = buf
    end
  end
  local failed = {}
  local by_host, seen = {}, {}
  for _, name in ipairs(names) do
    local host, path = state.split(name)
    if host and not seen[name] then
      seen[name] = true
      if loaded[name] then
        local why = unusable(loaded[name])
        if why then
          failed[#failed + 1] = { name = name, why = why }
        end
      else
        by_host[host] = by_host[host] or {}
        table.insert(by_host[host], { name = name, path = path })
      end
    end
  end
  local waiting, pending = 0, {}
  for host, files in pairs(by_host) do
    waiting = waiting + 1
    pending[host] = true
    local paths = vim.tbl_map(function(f)
      return f.path
    end, files)
    channel.request(host, 'files/read', { paths = paths }, function(err, res)
      waiting = waiting - 1
      if not pending[host] then
        return -- answered after the edit gave up on it
      end
      pending[host] = nil
      local now = vim.uv.now()
      for i, f in ipairs(files) do
        local e = type(res) == 'table' and type(res.files) == 'table' and res.files[i] or nil
        local why = unreadable(e, err)
        if why then
          failed[#failed + 1] = { name = f.name, why = why }
        else
          cache[host .. '\n' .. f.path] = { entry = e, at = now }
        end
      end
    end)
  end
  if waiting > 0 then
    local done = vim.wait(channel.bound() + 1000, function()
      return waiting == 0
    end, 5)
    if not done then
      for host in pairs(pending) do
        pending[host] = nil
        for _, f in ipairs(by_host[host]) do
          failed[#failed + 1] = { name = f.name, why = 'no answer from ' .. host }
        end
      end
    end
  end
  table.sort(failed, function(a, b)
    return a.name < b.name
  end)
  return failed
end

return M
