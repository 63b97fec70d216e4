-- One search on a host, through its file channel (`search/files`, `search/grep`): what the host
-- finds arrives in `$/progress` notifications on the request's partialResultToken, as it is
-- found, and the rest in the answer. A search cancelled (a new query, a picker closed) is ended
-- on the host at once by `$/cancelRequest`, and nothing of it reaches the caller afterwards.
local channel = require('remote-lsp.files.channel')

local M = {}

-- Running searches by token: what their `$/progress` notifications are handed to.
---@type table<string, fun(value: table)>
local running = {}
local counter = 0
local listening = false
-- The last searches started: what ran and whether it is over (a test waits for the last query).
local RECENT = 32
---@type {method: string, what?: string, search: remote_lsp.Search}[]
local recent = {}

local function listen()
  if listening then
    return
  end
  listening = true
  channel.on('$/progress', function(_, params)
    local fn = type(params) == 'table' and running[params.token]
    if fn and type(params.value) == 'table' then
      fn(params.value)
    end
  end)
end

--- A search running on the host: `cancel()` ends it there; `done` once it has ended.
---@class remote_lsp.Search
---@field cancel fun()
---@field done boolean

--- Run `method` on host. on_items(items) is called with each batch as it comes (`key` names the
--- list in the progress values and the answer: 'files' or 'matches'), then on_done(err, result)
--- once, unless the search was cancelled first. err is a message.
---@param host string
---@param method 'search/files'|'search/grep'
---@param params table
---@param key 'files'|'matches'
---@param on_items fun(items: table[])
---@param on_done fun(err: string|nil, result: table|nil)
---@return remote_lsp.Search
function M.run(host, method, params, key, on_items, on_done)
  vim.validate('host', host, 'string')
  vim.validate('params', params, 'table')
  vim.validate('on_items', on_items, 'callable')
  vim.validate('on_done', on_done, 'callable')
  listen()
  counter = counter + 1
  local token = ('remote-lsp-search-%d'):format(counter)
  ---@type remote_lsp.Search
  local search = { done = false, cancel = function() end }
  running[token] = function(value)
    if type(value[key]) == 'table' and #value[key] > 0 then
      on_items(value[key])
    end
  end
  local cancel = channel.request(
    host,
    method,
    vim.tbl_extend('force', params, { partialResultToken = token }),
    function(err, result)
      running[token] = nil
      search.done = true
      if err then
        local message = tostring(err.message or err):gsub('^remote%-lsp: ', '')
        return on_done(message, nil)
      end
      if type(result) == 'table' and type(result[key]) == 'table' and #result[key] > 0 then
        on_items(result[key])
      end
      on_done(nil, type(result) == 'table' and result or {})
    end
  )
  table.insert(recent, { method = method, what = params.pattern or params.query, search = search })
  if #recent > RECENT then
    table.remove(recent, 1)
  end
  search.cancel = function()
    if not search.done then
      search.done = true
      running[token] = nil
      cancel()
    end
  end
  return search
end

--- The last searches started, oldest first: method, pattern or query, and whether each has ended
--- (answered or cancelled).
---@return {method: string, what?: string, done: boolean}[]
function M.recent()
  return vim.tbl_map(function(r)
    return { method = r.method, what = r.what, done = r.search.done }
  end, recent)
end

--- A live search: each query cancels the one before it on the host.
---@class remote_lsp.LiveSearch
---@field query fun(params: table, on_items: fun(items: table[]), on_done: fun(err?: string, result?: table)):
---  remote_lsp.Search run(), the search before it cancelled
---@field stop fun()

--- A live search of `method` on host.
---@param host string
---@param method 'search/files'|'search/grep'
---@param key 'files'|'matches'
---@return remote_lsp.LiveSearch
function M.live(host, method, key)
  local current = nil
  local self = {}
  function self.stop()
    if current then
      current.cancel()
      current = nil
    end
  end
  function self.query(params, on_items, on_done)
    self.stop()
    current = M.run(host, method, params, key, on_items, on_done)
    return current
  end
  return self
end

--- The text of a file on host, for a preview: cb(lines) or cb(nil, message), on the main loop.
---@param host string
---@param path string absolute
---@param cb fun(lines: string[]|nil, err: string|nil)
function M.read(host, path, cb)
  channel.request(host, 'files/read', { paths = { path } }, function(err, result)
    local entry = not err and type(result) == 'table' and type(result.files) == 'table' and result.files[1]
    if not entry then
      return cb(nil, err and tostring(err.message or err) or 'no answer')
    end
    if type(entry.error) == 'table' then
      return cb(nil, tostring(entry.error.message))
    end
    if type(entry.data) ~= 'string' then
      return cb(nil, ('%s is not a file'):format(path))
    end
    local data = vim.base64.decode(entry.data)
    if data:find('\0', 1, true) then
      return cb({ ('[binary file, %d bytes]'):format(#data) })
    end
    local lines = vim.split(data, '\n', { plain = true })
    if lines[#lines] == '' then
      lines[#lines] = nil
    end
    for i, l in ipairs(lines) do
      if l:sub(-1) == '\r' then
        lines[i] = l:sub(1, -2)
      end
    end
    cb(lines)
  end)
end

return M
