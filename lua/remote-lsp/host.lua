-- Running remote-lsp subcommands on a host, asynchronously: the UI never waits.
-- Through the pynvim remote plugin when the python3 provider has it (one pooled
-- SSH connection per host), else as a job of proxy/proxy.py (vim.system). On
-- this machine (no host: share_local's servers) always as a job.
local M = {}

local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h:h')

--- The proxy executable shipped with this plugin.
---@return string path
function M.proxy()
  return root .. '/proxy/proxy.py'
end

local function options()
  return require('remote-lsp.config').options
end

--- argv for `remote-lsp --host HOST ARGS...`.
---@param host string
---@param args string[] the subcommand and its arguments
---@return string[]
function M.argv(host, args)
  local o = options()
  local argv = { o.python, M.proxy(), '--host', host, '--transport', o.transport }
  vim.list_extend(argv, args)
  return argv
end

--- argv for `remote-lsp ARGS...` on this machine.
---@param args string[] the subcommand and its arguments
---@return string[]
function M.local_argv(args)
  local argv = { options().python, M.proxy() }
  vim.list_extend(argv, args)
  return argv
end

local function error_of(res, decoded)
  if res.code == 124 then
    return 'timed out'
  end
  if type(decoded) == 'table' and type(decoded.error) == 'table' then
    return decoded.error.message
  end
  local err = vim.trim(res.stderr or '')
  err = err:gsub('^remote%-lsp: ', '')
  return err ~= '' and err or ('failed with exit code ' .. res.code)
end

-- Calls waiting for the remote plugin's answer, by id.
---@type table<integer, fun(err: string|nil, result: any)>
local waiting = {}
local counter = 0
-- False once the remote plugin could not be called: jobs from then on.
local rplugin = true

--- Run a subcommand on host (nil: on this machine); cb(err, result) on the main loop. JSON output is decoded.
---@param host string|nil
---@param args string[] the subcommand and its arguments
---@param cb fun(err: string|nil, result: any) err is nil on success
---@param timeout? integer ms
function M.run(host, args, cb, timeout)
  local log = require('remote-lsp.log')
  local what = ('%s: remote-lsp %s'):format(host or 'this machine', table.concat(args, ' '))
  log.debug(what)
  local inner = cb
  cb = function(err, result) -- a bug of ours reaches the user as a message, not a traceback
    log.debug(what .. (err and (' failed: ' .. err) or ': done'))
    local ok, e = xpcall(inner, debug.traceback, err, result)
    if not ok then
      log.error('internal error: ' .. tostring(e))
    end
  end
  if host and rplugin and vim.g.remote_lsp_use_rplugin ~= false then
    -- Remote plugins load on first call (FuncUndefined): just try it, once.
    counter = counter + 1
    local id = counter
    waiting[id] = cb
    rplugin = pcall(vim.fn.RemoteLspRun, id, host, options().transport, args, timeout or 0)
    if rplugin then
      return
    end
    waiting[id] = nil
  end

  local argv = host and M.argv(host, args) or M.local_argv(args)
  local ok, job = pcall(vim.system, argv, { text = true, timeout = timeout }, function(res)
    vim.schedule(function()
      local okj, decoded = pcall(vim.json.decode, res.stdout or '')
      if res.code ~= 0 then
        cb(error_of(res, okj and decoded or nil), nil)
      else
        cb(nil, okj and decoded or res.stdout)
      end
    end)
  end)
  if not ok then
    vim.schedule(function()
      cb('cannot run ' .. options().python .. ': ' .. tostring(job), nil)
    end)
  end
end

--- The remote plugin's answer to call id (rplugin/python3/remote_lsp_rplugin.py calls it).
---@param id integer
---@param err string|vim.NIL
---@param result any
function M._resolve(id, err, result)
  local cb = waiting[id]
  waiting[id] = nil
  if cb then
    cb(err ~= vim.NIL and err or nil, result ~= vim.NIL and result or nil)
  end
end

--- Host names from the ssh config, for completion (no patterns).
---@return string[]
function M.ssh_hosts()
  local path = vim.env.REMOTE_LSP_SSH_CONFIG or vim.fn.expand('~/.ssh/config')
  local hosts = {}
  if vim.fn.filereadable(path) == 1 then
    for _, line in ipairs(vim.fn.readfile(path)) do
      local names = line:match('^%s*[Hh][Oo][Ss][Tt]%s+(.+)$')
      for name in (names or ''):gmatch('%S+') do
        if not name:find('[*?!]') then
          hosts[#hosts + 1] = name
        end
      end
    end
  end
  return hosts
end

return M
