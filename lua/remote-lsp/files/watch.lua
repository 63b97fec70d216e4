-- What each host watches for this Neovim: the files of the remote buffers loaded, each with the
-- version it holds (files/watch replaces the whole set). Sent again when the set changes, when the
-- host's session is new (it forgot), and by a new channel; its answer, what changed meanwhile, is
-- handled as a files/changed notification is.
local channel = require('remote-lsp.files.channel')
local reload = require('remote-lsp.files.reload')
local state = require('remote-lsp.files.state')

local M = {}

-- The set last sent to each host, as a string (to send nothing when it is unchanged).
---@type table<string, string>
local sent = {}
---@type table<string, boolean>
local scheduled = {}

local function current(host)
  local set, keys = {}, {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    local st = vim.api.nvim_buf_is_loaded(buf) and state.get(buf)
    if st and st.host == host and st.kind == 'file' and st.name == vim.api.nvim_buf_get_name(buf) then
      if set[st.path] == nil then
        keys[#keys + 1] = st.path
      end
      set[st.path] = st.version
    end
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. '\0' .. tostring(set[k])
  end
  return set, #keys, table.concat(parts, '\n')
end

local function send(host, again)
  local set, n, key = current(host)
  if not again and sent[host] == key then
    return
  end
  if n == 0 and not channel.running(host) then
    sent[host] = nil -- nothing to watch, and no channel to tell
    return
  end
  sent[host] = key
  channel.request(host, 'files/watch', { files = n > 0 and set or vim.empty_dict() }, function(err, res)
    if err then
      if sent[host] == key then
        sent[host] = nil -- the next change of the set sends it again
      end
      return
    end
    if type(res) == 'table' and type(res.changes) == 'table' and #res.changes > 0 then
      reload.changed(host, res.changes)
    end
  end)
end

--- The set host was last sent (path -> version, or vim.NIL), for :checkhealth and tests.
---@param host string
---@return table<string, any>
function M.watched(host)
  vim.validate('host', host, 'string')
  local out = {}
  for line in (sent[host] or ''):gmatch('[^\n]+') do
    local path, version = line:match('^(.*)%z(.*)$')
    out[path] = version
  end
  return out
end

--- Bring host's watch set in step with the buffers loaded, once this event is over.
---@param host string
function M.sync(host)
  vim.validate('host', host, 'string')
  if scheduled[host] then
    return
  end
  scheduled[host] = true
  vim.schedule(function()
    scheduled[host] = nil
    send(host, false)
  end)
end

--- The buffer going away: its host's set without it.
---@param buf integer
function M.buffer_gone(buf)
  local st = state.get(buf)
  reload.forget(buf)
  if st and st.host then
    M.sync(st.host)
  end
end

--- Send host's whole set again (the host forgot it: a new session, a new channel).
---@param host string
function M.resend(host)
  vim.validate('host', host, 'string')
  send(host, true)
end

--- A channel exited: what it watched is forgotten there. A channel that lived a while is started
--- again at once for the buffers still open; one that died young waits for the next use.
---@param host string
---@param lived integer ms
function M.channel_exited(host, lived)
  sent[host] = nil
  if lived > 5000 then
    vim.defer_fn(function()
      local _, n = current(host)
      if n > 0 and not channel.running(host) then
        send(host, true)
      end
    end, 1000)
  end
end

return M
