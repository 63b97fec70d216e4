-- Neovim LSP clients for remote servers, keyed by server + host + root.
local config = require('remote-lsp.config')
local host = require('remote-lsp.host')
local uri = require('remote-lsp.uri')

local M = {}

-- connect's exit code when its agent went away (died, or handed over to a
-- newer one) and the server runs on: connecting again finds it, warm.
local AGENT_GONE = 7
-- When each key was last restarted because its agent went away.
local restarted = {}

--- What clients.start() is to run: a server on a host for a project root.
---@class remote_lsp.ClientSpec
---@field server string the server's name (a key of config.server())
---@field host string as ssh knows it: [user@]host[:port]
---@field root string the project root, an absolute path on the host
---@field proto? 'scp'|'rsync'|'sftp'|'oil-ssh' how the buffers are named (default 'scp')
---@field def? remote_lsp.ServerDef how to start the server; needed unless pid is given
---@field pid? integer share this running server (attached by PID) instead of starting def.cmd

--- One of our clients, with what it runs.
---@class remote_lsp.RemoteClient
---@field client vim.lsp.Client
---@field server string
---@field host? string nil for a server on this machine (share_local)
---@field root? string nil when a local server's root is connect's working directory
---@field pid? integer the server's, when it was attached to by PID

--- The key of a client: one per server, host and root.
---@param server string
---@param hostname string
---@param rootdir string
---@return string
function M.key(server, hostname, rootdir)
  return table.concat({ server, hostname, rootdir }, '\n')
end

--- How the user knows a client: its server, and where it runs.
---@param c {server: string, host?: string}
---@return string
function M.label(c)
  return c.host and ('%s on %s'):format(c.server, c.host) or c.server
end

--- Our clients (remote ones, and local ones shared by share_local), each with its server, host and root.
---@return remote_lsp.RemoteClient[]
function M.list()
  local out = {}
  -- Starting ones too: a second buffer opened meanwhile must join, not duplicate.
  for _, client in ipairs(vim.lsp.get_clients({ _uninitialized = true })) do
    local r = client.config.remote
    if r then
      out[#out + 1] = { client = client, server = r.server, host = r.host, root = r.root, pid = r.pid }
    end
  end
  return out
end

local function absolute(path)
  return type(path) == 'string' and path:sub(1, 1) == '/'
end

--- remote-lsp's own messages go through vim.notify, like the plugin's others
--- (Neovim would echo an Info one); its word on an agent that went away is
--- dropped: ours follows once the client is back.
local LEVELS = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }
local function ours(method, params)
  if method ~= 'window/showMessage' or type(params) ~= 'table' or type(params.message) ~= 'string' then
    return false
  end
  if vim.startswith(params.message, 'remote-lsp: the agent ') then
    return true
  end
  if vim.startswith(params.message, 'remote-lsp: ') then
    vim.notify(params.message, LEVELS[params.type] or vim.log.levels.INFO)
    return true
  end
  return false
end

--- A client's `cmd` that runs argv (a `remote-lsp connect`) so that an agent going away ends in a
--- restart, with one notification of ours, rather than in Neovim's exit warning. Remote clients
--- and local shared ones (share_local) both run so.
---@param argv string[]
---@param restart fun(buffers: integer[], config: vim.lsp.ClientConfig) starts the client again once
---  the old one is gone; buffers are those it served
---@param extra? vim.lsp.rpc.ExtraSpawnParams
---@return fun(dispatchers: vim.lsp.rpc.Dispatchers, config: vim.lsp.ClientConfig): vim.lsp.rpc.PublicClient
function M.command(argv, restart, extra)
  return function(dispatchers, client_config)
    return vim.lsp.rpc.start(
      argv,
      vim.tbl_extend('force', dispatchers, {
        notification = function(method, params)
          if not ours(method, params) then
            return dispatchers.notification(method, params)
          end
        end,
        on_exit = function(code, signal)
          if code ~= AGENT_GONE then
            return dispatchers.on_exit(code, signal)
          end
          local buffers = {}
          for _, client in ipairs(vim.lsp.get_clients({ _uninitialized = true })) do
            if client.config == client_config then
              buffers = vim.tbl_keys(client.attached_buffers)
            end
          end
          dispatchers.on_exit(0, signal)
          vim.schedule(function() -- after Neovim's own clean-up of the client
            restart(buffers, client_config)
          end)
        end,
      }),
      extra
    )
  end
end

--- A client's agent went away while its server ran on: start it again (the
--- server is found, warm) and re-attach the buffers it served. Once per 30 s
--- per key, so an agent that keeps dying is not restarted in a loop.
---@param key string the client's key
---@param label string what the user knows it by (M.label)
---@param start fun(): integer|nil starts the client unattached; its id
---@param buffers integer[]
function M.reconnect(key, label, start, buffers)
  local notify = require('remote-lsp').notify
  local now = vim.uv.now()
  if restarted[key] and now - restarted[key] < 30000 then
    return notify(
      ('%s: the agent went away again; not reconnecting (see :RemoteLspStatus)'):format(label),
      vim.log.levels.ERROR
    )
  end
  restarted[key] = now
  local id = start()
  if not id then
    return notify(('%s: could not reconnect'):format(label), vim.log.levels.ERROR)
  end
  for _, buf in ipairs(buffers) do
    if vim.api.nvim_buf_is_loaded(buf) then
      vim.lsp.buf_attach_client(buf, id)
    end
  end
  notify(('%s: the agent was restarted and the server ran on; reconnected %d buffer(s)'):format(label, #buffers))
end

local function positive_integer(n)
  return type(n) == 'number' and n > 0 and n == math.floor(n)
end

--- Start (or join) the client for server on host at root, and attach buf to it.
---@param buf integer|nil the buffer to attach; nil starts the client unattached
---@param spec remote_lsp.ClientSpec
---@return integer|nil client_id nil if the client could not start
function M.start(buf, spec)
  vim.validate('buf', buf, 'number', true)
  vim.validate('spec', spec, 'table')
  vim.validate('spec.server', spec.server, 'string')
  vim.validate('spec.host', spec.host, 'string')
  vim.validate('spec.root', spec.root, absolute, 'an absolute path')
  vim.validate('spec.proto', spec.proto, function(p)
    return vim.tbl_contains(uri.protocols, p)
  end, true, "'" .. table.concat(uri.protocols, "', '") .. "'")
  vim.validate('spec.pid', spec.pid, positive_integer, true, 'a PID')
  vim.validate('spec.def', spec.def, 'table', spec.pid ~= nil)
  if not spec.pid then
    vim.validate('spec.def.cmd', spec.def.cmd, 'table')
  end

  local o = config.options
  local proto = spec.proto or 'scp'
  local cmd = host.argv(spec.host, {
    'connect',
    '--protocol',
    proto,
    '--root',
    spec.root,
    '--name',
    spec.server,
    '--idle-timeout',
    o.shared and tostring(o.idle_timeout) or '0',
  })
  if spec.pid then
    vim.list_extend(cmd, { '--pid', tostring(spec.pid) })
  else
    table.insert(cmd, '--')
    vim.list_extend(cmd, spec.def.cmd)
  end
  local key = M.key(spec.server, spec.host, spec.root)
  local def = spec.def or {}
  local lsp_config = {
    name = spec.server .. '@' .. spec.host,
    cmd = M.command(cmd, function(buffers)
      M.reconnect(key, M.label(spec), function()
        return M.start(nil, spec)
      end, buffers)
    end),
    handlers = {
      ['$/remote-lsp/link'] = require('remote-lsp.link').handler,
    },
    -- root_dir is a local path to Neovim; the proxy gives the server the remote root.
    workspace_folders = { { uri = uri.make(proto, spec.host, spec.root), name = spec.root } },
    capabilities = o.capabilities,
    on_attach = o.on_attach,
    settings = def.settings,
    init_options = def.init_options,
    remote = { server = spec.server, host = spec.host, root = spec.root, pid = spec.pid, key = key },
  }
  for _, c in ipairs(M.list()) do -- one client per key: this decides, not vim.lsp.start's reuse_client
    if c.client.config.remote.key == key and not c.client:is_stopped() then
      if buf then
        vim.lsp.buf_attach_client(buf, c.client.id)
      end
      return c.client.id
    end
  end
  -- With no buffer yet (attach by PID) it starts unattached.
  return vim.lsp.start(lsp_config, { bufnr = buf, attach = buf ~= nil })
end

--- Attach every loaded buffer of host under root to the client.
---@param client_id integer
---@param hostname string
---@param rootdir string absolute, on the host
---@return integer count of buffers attached
function M.attach_buffers(client_id, hostname, rootdir)
  local n = 0
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      local _, h, path = uri.parse(vim.api.nvim_buf_get_name(buf))
      if h == hostname and (path == rootdir or vim.startswith(path, rootdir:gsub('/$', '') .. '/')) then
        if vim.lsp.buf_attach_client(buf, client_id) then
          n = n + 1
        end
      end
    end
  end
  return n
end

return M
