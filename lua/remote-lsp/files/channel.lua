-- The file channel of each host: one `remote-lsp --host HOST files` process (JSON-RPC with LSP
-- framing on its stdio, driven by vim.lsp.rpc), started on first use, kept for the session, and
-- started again on the next use once it has exited. Behind it is the resumable link of an LSP
-- session: a cut is waited out there, and a request is answered within the request bound.
local M = {}

-- How long the editor waits past the channel's own request bound before it gives up on an answer
-- (the channel answers every request within its bound; this covers a channel that cannot).
local MARGIN_MS = 5000
-- JSON-RPC's RequestCancelled: the answer to a request the host ended.
local CANCELLED = -32800
-- The file data (base64) one request carries, unless it carries one file alone, as the host's
-- service.MAX_BATCH says: no message over a frame's limit, in either direction.
local MAX_BATCH = 48 * 1048576

---@class remote_lsp.FileChannel
---@field host string
---@field rpc vim.lsp.rpc.PublicClient
---@field pending table<integer, fun(err: table|nil, result: any)> callbacks by our own id
---@field started integer vim.uv.now() at its start
---@field link? string the link's state as the channel last said: 'down', 'up', 'new-session'

---@type table<string, remote_lsp.FileChannel>
local channels = {}
-- Notification handlers: method -> fun(host, params).
---@type table<string, fun(host: string, params: any)>
local handlers = {}
-- Requests sent, by host and method: what a round trip costs is counted, not guessed.
---@type table<string, table<string, integer>>
local sent = {}
local counter = 0
---@type fun(host: string, code: integer, lived: integer)|nil
local exit_handler
-- Answers being waited for (request_sync): the editor is inside a read or a write.
local waits = 0

--- The request bound: what the channel is told (--request-timeout), in ms.
---@return integer
function M.bound()
  return require('remote-lsp.config').options.host_timeout
end

--- argv of the channel of host.
---@param host string
---@return string[]
function M.argv(host)
  local seconds = ('%g'):format(M.bound() / 1000)
  return require('remote-lsp.host').argv(host, { 'files', '--request-timeout', seconds })
end

--- Handle a notification from every host's channel.
---@param method string
---@param fn fun(host: string, params: any)
function M.on(method, fn)
  vim.validate('method', method, 'string')
  vim.validate('fn', fn, 'callable')
  handlers[method] = fn
end

--- Be told when a host's channel exits: fn(host, exit code, ms it lived).
---@param fn fun(host: string, code: integer, lived: integer)
function M.on_exit(fn)
  vim.validate('fn', fn, 'callable')
  exit_handler = fn
end

local function fail_pending(ch, message)
  local pending = ch.pending
  ch.pending = {}
  for _, cb in pairs(pending) do
    cb({ message = message }, nil)
  end
end

--- The channel of host, started if need be; nil and why if it cannot start.
---@param host string
---@return remote_lsp.FileChannel|nil
---@return string|nil err
local function get(host)
  local ch = channels[host]
  if ch and not ch.rpc.is_closing() then
    return ch
  end
  ch = { host = host, pending = {}, started = vim.uv.now() }
  local ok, rpc = pcall(vim.lsp.rpc.start, M.argv(host), {
    notification = function(method, params)
      local fn = handlers[method]
      if method == '$/remote-lsp/link' and type(params) == 'table' then
        ch.link = params.state
      end
      if fn then
        fn(host, params)
      end
    end,
    on_exit = function(code)
      vim.schedule(function()
        if channels[host] == ch then
          channels[host] = nil
        end
        fail_pending(ch, ('the file channel to %s exited (code %d)'):format(host, code))
        if exit_handler then
          exit_handler(host, code, vim.uv.now() - ch.started)
        end
      end)
    end,
  })
  if not ok then
    return nil, ('cannot start the file channel to %s: %s'):format(host, tostring(rpc))
  end
  ch.rpc = rpc
  channels[host] = ch
  return ch
end

--- One request on host's channel; cb(err, result) on the main loop, exactly once, unless
--- cancelled: the function returned sends `$/cancelRequest` and cb is never called then.
---@param host string
---@param method string
---@param params table
---@param cb fun(err: table|nil, result: any)
---@return fun() cancel
local function send(host, method, params, cb)
  local cancelled = false
  local ch, err = get(host)
  if not ch then
    vim.schedule(function()
      if not cancelled then
        cb({ message = err }, nil)
      end
    end)
    return function()
      cancelled = true
    end
  end
  counter = counter + 1
  local id = counter
  ch.pending[id] = cb
  sent[host] = sent[host] or {}
  sent[host][method] = (sent[host][method] or 0) + 1
  local ok, rpc_id = ch.rpc.request(method, params, function(e, result)
    local waiting = ch.pending[id]
    ch.pending[id] = nil
    if waiting then
      waiting(e, result)
    end
  end, function()
    -- Told of every answer, before its callback runs; vim.lsp.rpc runs none for an answer of
    -- RequestCancelled (the host ended the request itself): the caller is told that instead.
    vim.schedule(function()
      local waiting = ch.pending[id]
      ch.pending[id] = nil
      if waiting then
        waiting({ code = CANCELLED, message = 'cancelled on the host' }, nil)
      end
    end)
  end)
  if not ok then
    ch.pending[id] = nil
    vim.schedule(function()
      if not cancelled then
        cb({ message = ('the file channel to %s is closed'):format(host) }, nil)
      end
    end)
  end
  return function()
    cancelled = true
    -- vim.lsp.rpc drops the callback of a request answered RequestCancelled: ours goes now.
    if ch.pending[id] then
      ch.pending[id] = nil
      sent[host]['$/cancelRequest'] = (sent[host]['$/cancelRequest'] or 0) + 1
      ch.rpc.notify('$/cancelRequest', { id = rpc_id })
    end
  end
end

--- A files/read in as many requests as the host needs: it answers what fits in one message and
--- names the rest in `more`. The files come back together, in the order asked.
---@param host string
---@param params table
---@param cb fun(err: table|nil, result: any)
local function read_in_turns(host, params, cb)
  local files = {}
  local function ask(paths)
    send(host, 'files/read', vim.tbl_extend('force', params, { paths = paths }), function(err, res)
      if err or type(res) ~= 'table' or type(res.files) ~= 'table' then
        return cb(err, res)
      end
      vim.list_extend(files, res.files)
      if type(res.more) == 'table' and #res.more > 0 and #res.files > 0 then
        return ask(res.more)
      end
      cb(nil, { files = files })
    end)
  end
  ask(params.paths)
end

--- A files/write's files in groups of at most MAX_BATCH bytes of data, or one file alone.
---@param files table[]
---@return table[][]
local function by_size(files)
  local groups, group, used = {}, {}, 0
  for _, f in ipairs(files) do
    local size = (type(f.data) == 'string' and #f.data or 0) + 512
    if #group > 0 and used + size > MAX_BATCH then
      groups[#groups + 1], group, used = group, {}, 0
    end
    group[#group + 1] = f
    used = used + size
  end
  groups[#groups + 1] = group
  return groups
end

--- A files/write too large for one message, as one request per group (sent together): the answers
--- put back together in the order of the files; a group that failed answers each of its files so.
---@param host string
---@param params table
---@param groups table[][]
---@param cb fun(err: table|nil, result: any)
local function write_in_groups(host, params, groups, cb)
  local answers, left = {}, #groups
  for g, group in ipairs(groups) do
    send(host, 'files/write', vim.tbl_extend('force', params, { files = group }), function(err, res)
      answers[g] = { err = err, files = type(res) == 'table' and res.files or nil }
      left = left - 1
      if left > 0 then
        return
      end
      local files, failed = {}, 0
      for k, grp in ipairs(groups) do
        local a = answers[k]
        failed = failed + ((a.err or type(a.files) ~= 'table') and 1 or 0)
        for i, f in ipairs(grp) do
          local why = a.err and tostring(a.err.message or a.err) or 'no answer'
          files[#files + 1] = type(a.files) == 'table' and a.files[i]
            or { path = f.path, ok = false, error = { code = 'failed', message = why } }
        end
      end
      if failed == #groups then
        return cb(answers[1].err or { message = 'no answer' }, nil)
      end
      cb(nil, { files = files })
    end)
  end
end

--- Send a request on host's channel; cb(err, result) on the main loop, exactly once, unless
--- cancelled (the function returned; only a request that goes as one message can be).
--- err is a table with a `message` (a JSON-RPC error, or the channel's end). A files/read or
--- files/write too large for one message goes as several, answered as one.
---@param host string
---@param method string
---@param params table
---@param cb fun(err: table|nil, result: any)
---@return fun()|nil cancel
function M.request(host, method, params, cb)
  vim.validate('host', host, 'string')
  vim.validate('method', method, 'string')
  vim.validate('params', params, 'table')
  vim.validate('cb', cb, 'callable')
  if method == 'files/read' and type(params.paths) == 'table' then
    return read_in_turns(host, params, cb)
  end
  if method == 'files/write' and type(params.files) == 'table' then
    local groups = by_size(params.files)
    if #groups > 1 then
      return write_in_groups(host, params, groups, cb)
    end
  end
  return send(host, method, params, cb)
end

--- request(), waited for: result, or nil and a message. Waits at most the request bound and a
--- margin; an answer coming later still reaches `late` (a write must know that it was done).
---@param host string
---@param method string
---@param params table
---@param late? fun(err: table|nil, result: any) called instead when the answer comes after the wait
---@return any result
---@return string|nil err
function M.request_sync(host, method, params, late)
  local done, err, result = false, nil, nil
  local gave_up = false
  M.request(host, method, params, function(e, r)
    if gave_up then
      if late then
        late(e, r)
      end
      return
    end
    done, err, result = true, e, r
  end)
  waits = waits + 1
  local ok, why = vim.wait(M.bound() + MARGIN_MS, function()
    return done
  end, 5)
  waits = waits - 1
  if not ok then
    gave_up = true
    if why == -2 then
      return nil, 'interrupted'
    end
    return nil, ('no answer from %s in %d s'):format(host, math.floor((M.bound() + MARGIN_MS) / 1000))
  end
  if err then
    local message = tostring(err.message or err):gsub('^remote%-lsp: ', '')
    return nil, message
  end
  return result
end

--- Whether an answer is being waited for (the editor is inside a read or a write).
---@return boolean
function M.waiting()
  return waits > 0
end

--- Whether host has a channel running now.
---@param host string
---@return boolean
function M.running(host)
  local ch = channels[host]
  return ch ~= nil and not ch.rpc.is_closing()
end

--- The link's state as host's channel last said it ('down', 'up', 'new-session'), nil if never.
---@param host string
---@return string|nil
function M.link(host)
  return channels[host] and channels[host].link
end

--- Hosts with a channel running.
---@return string[] sorted
function M.hosts()
  local out = {}
  for h, ch in pairs(channels) do
    if not ch.rpc.is_closing() then
      out[#out + 1] = h
    end
  end
  table.sort(out)
  return out
end

--- Requests sent to host so far, by method (what a batch costs is measured by this).
---@param host string
---@return table<string, integer>
function M.sent(host)
  return vim.deepcopy(sent[host] or {})
end

return M
