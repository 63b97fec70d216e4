-- Neovim LSP clients for remote servers, keyed by server + host + root + protocol.
local config = require('remote-lsp.config')
local host = require('remote-lsp.host')
local notify = require('remote-lsp.log').notify
local exit = require('remote-lsp.exit')
local uri = require('remote-lsp.uri')
local valid = require('remote-lsp.validate')

local M = {}

-- When each key was last restarted because its agent went away.
local restarted = {}
-- Servers that exited at start, by server .. '\n' .. host: what the host said
-- (its `$/remote-lsp/server` notification). Not started again for other buffers
-- until :RemoteLspRestart, or the next Neovim.
---@type table<string, table>
local failed = {}
-- The current client of each key: what its host said of its end, a restart asked for.
---@type table<string, {ended?: table, restart?: {buffers: integer[], pid?: integer}}>
local state_of = {}
-- Buffers a remote client of ours has served: a reload (`:e!`) unloads the buffer, which
-- detaches it, and netrw sets its filetype while the buffer has a temporary local name, so
-- the FileType hook cannot know it; it is attached again once it is read under its own name.
---@type table<integer, true>
local served = {}
---@type integer|nil
local group

--- The autocmds that follow what remote clients serve (called by setup(), and by the first start
--- without it).
function M.setup()
  group = vim.api.nvim_create_augroup('remote-lsp-clients', { clear = true })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.config.remote and client.config.remote.host then
        served[ev.buf] = true
      end
    end,
  })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    callback = function(ev)
      if not served[ev.buf] then
        return
      end
      served[ev.buf] = nil
      -- A client left reconnecting for no buffer at all stops (the buffer is detached by now).
      for _, c in ipairs(M.list()) do
        local others = vim.tbl_filter(function(b)
          return b ~= ev.buf
        end, vim.tbl_keys(c.client.attached_buffers))
        if c.host and #others == 0 and require('remote-lsp.link').is_down(c.client.id) then
          c.client:stop(true)
        end
      end
    end,
  })
  vim.api.nvim_create_autocmd('BufReadPost', {
    group = group,
    callback = function(ev)
      if not served[ev.buf] then
        return
      end
      vim.schedule(function() -- once the read has ended (netrw renames the buffer back first)
        local buf = ev.buf
        if
          vim.api.nvim_buf_is_loaded(buf)
          and uri.parse(vim.api.nvim_buf_get_name(buf))
          and #vim.lsp.get_clients({ bufnr = buf }) == 0
        then
          require('remote-lsp').on_remote_buffer(buf)
        end
      end)
    end,
  })
end

--- The key of a client: one per server, host, root and protocol. A client serves one URI form
--- (its host side names files as `proto://host//path`), so an sftp:// and an scp:// buffer of
--- one project have a client each, sharing one server.
---@param server string
---@param hostname string
---@param rootdir string
---@param proto? string
---@return string
function M.key(server, hostname, rootdir, proto)
  return table.concat({ server, hostname, rootdir, proto or '' }, '\n')
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
  -- Starting ones too: a second buffer opened meanwhile must join, not duplicate. No public filter
  -- lists clients before their initialize is answered; `_uninitialized` is the one get_clients has.
  for _, client in ipairs(vim.lsp.get_clients({ _uninitialized = true })) do
    local r = client.config.remote
    if r then
      out[#out + 1] = { client = client, server = r.server, host = r.host, root = r.root, pid = r.pid, proto = r.proto }
    end
  end
  return out
end

--- remote-lsp's own messages go through log.lua, like the plugin's others
--- (Neovim would echo an Info one); its word on an agent that went away is
--- dropped: ours follows once the client is back; a server stopping for
--- :RemoteLspRestart needs no word at all. `$/remote-lsp/server` (how the
--- server ended, just before the message that says it) is noted in state.
local PREFIX = 'remote-lsp: ' -- how the host's and the bridge's own messages begin (log.notify adds it back)
local LEVELS = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }
--- The buffers the client of this config serves (it may not have initialized yet).
---@param client_config vim.lsp.ClientConfig
---@return integer[]
local function served_by(client_config)
  for _, client in ipairs(vim.lsp.get_clients({ _uninitialized = true })) do -- starting ones too (M.list)
    if client.config == client_config then
      return vim.tbl_keys(client.attached_buffers)
    end
  end
  return {}
end

local function ours(method, params, state, on_server)
  if method == '$/remote-lsp/server' then
    if type(params) == 'table' then
      state.ended = params
      if on_server then
        on_server(params)
      end
    end
    return true
  end
  if method ~= 'window/showMessage' or type(params) ~= 'table' or type(params.message) ~= 'string' then
    return false
  end
  if vim.startswith(params.message, 'remote-lsp: the agent ') then
    return true
  end
  if state.restart and params.message:find(' is stopping: ', 1, true) then
    return true
  end
  if vim.startswith(params.message, PREFIX) then
    state.told = true
    notify(params.message:sub(#PREFIX + 1), LEVELS[params.type] or vim.log.levels.INFO)
    return true
  end
  return false
end

--- A client's `cmd` that runs argv (a `remote-lsp connect`) so that an agent going away ends in a
--- restart, with one notification of ours, rather than in Neovim's exit warning; and a server
--- that ended is told once: by the host's own message, not again by Neovim's warnings of a failed
--- initialize and of a client that quit. Remote clients and local shared ones (share_local) both
--- run so.
---@param spec remote_lsp.CommandSpec
---@return fun(dispatchers: vim.lsp.rpc.Dispatchers, config: vim.lsp.ClientConfig): vim.lsp.rpc.PublicClient
function M.command(spec)
  vim.validate('spec', spec, 'table')
  vim.validate('spec.argv', spec.argv, 'table')
  vim.validate('spec.restart', spec.restart, 'callable')
  local argv, restart, extra, on_server = spec.argv, spec.restart, spec.extra, spec.on_server
  local state = spec.state or {}
  return function(dispatchers, client_config)
    local rpc = vim.lsp.rpc.start(
      argv,
      vim.tbl_extend('force', dispatchers, {
        notification = function(method, params)
          if
            method == '$/remote-lsp/server'
            and type(params) == 'table'
            and params.event == 'restarting'
            and not state.restart
          then
            -- Another editor restarts the server: start again too, with the buffers served.
            state.restart = { buffers = served_by(client_config), pid = params.pid, elsewhere = true }
          end
          if not ours(method, params, state, on_server) then
            return dispatchers.notification(method, params)
          end
        end,
        on_exit = function(code, signal)
          -- Once the messages read before the exit are handled (they are
          -- scheduled): then what the host said of the end is known.
          vim.schedule(function()
            if (code == exit.FAILED and state.ended) or (code == exit.TRANSPORT and state.told) then
              -- The host's own words were shown: not Neovim's "quit with exit code" after them.
              return dispatchers.on_exit(0, signal)
            end
            if code ~= exit.AGENT_GONE then
              return dispatchers.on_exit(code, signal)
            end
            local buffers = served_by(client_config)
            dispatchers.on_exit(0, signal)
            vim.schedule(function() -- after Neovim's own clean-up of the client
              restart(buffers, client_config)
            end)
          end)
        end,
      }),
      extra
    )
    -- The rpc object is our own (a `cmd` function returns it); Neovim has no hook on an initialize's
    -- answer, so its request is wrapped to keep a failed initialize quiet once the host said why.
    local request = rpc.request
    rpc.request = function(method, params, callback, notify_reply_callback)
      if method == 'initialize' and callback then
        local inner = callback
        callback = function(err, result)
          if err and state.ended then
            return -- the server ended before it answered, and its host said why
          end
          return inner(err, result)
        end
      end
      return request(method, params, callback, notify_reply_callback)
    end
    return rpc
  end
end

--- How the server of a client ended, if its host said so (its `$/remote-lsp/server`).
---@param c remote_lsp.RemoteClient
---@return table|nil
function M.ended(c)
  vim.validate('c', c, 'table')
  local state = state_of[c.client.config.remote.key]
  return state and state.ended
end

--- What the host said of server on hostname when it exited at start, if it did.
---@param server string
---@param hostname string
---@return table|nil failure its `$/remote-lsp/server` notification: code, stderr, log, message
function M.failure(server, hostname)
  vim.validate('server', server, 'string')
  vim.validate('hostname', hostname, 'string')
  return failed[server .. '\n' .. hostname]
end

--- Forget that server on hostname failed at start: the next buffer starts it again.
---@param server string
---@param hostname string
function M.forget_failure(server, hostname)
  vim.validate('server', server, 'string')
  vim.validate('hostname', hostname, 'string')
  failed[server .. '\n' .. hostname] = nil
end

--- A client's agent went away while its server ran on: start it again (the
--- server is found, warm) and re-attach the buffers it served. Once per 30 s
--- per key, so an agent that keeps dying is not restarted in a loop.
---@param key string the client's key
---@param label string what the user knows it by (M.label)
---@param start fun(): integer|nil starts the client unattached; its id
---@param buffers integer[]
function M.reconnect(key, label, start, buffers)
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

--- Start (or join) the client for server on host at root, and attach buf to it.
---@param buf integer|nil the buffer to attach; nil starts the client unattached
---@param spec remote_lsp.ClientSpec
---@return integer|nil client_id nil if the client could not start
function M.start(buf, spec)
  vim.validate('buf', buf, 'number', true)
  vim.validate('spec', spec, 'table')
  vim.validate('spec.server', spec.server, 'string')
  vim.validate('spec.host', spec.host, 'string')
  vim.validate('spec.root', spec.root, valid.absolute, 'an absolute path')
  vim.validate('spec.proto', spec.proto, function(p)
    return vim.tbl_contains(uri.protocols, p)
  end, true, "'" .. table.concat(uri.protocols, "', '") .. "'")
  vim.validate('spec.pid', spec.pid, valid.pid, true, 'a PID')
  vim.validate('spec.def', spec.def, 'table', spec.pid ~= nil)
  if not spec.pid then
    vim.validate('spec.def.cmd', spec.def.cmd, 'table')
  end

  if not group then
    M.setup()
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
    if not o.shared then -- a server of its own, stopped when it leaves
      table.insert(cmd, '--isolated')
    end
    table.insert(cmd, '--')
    vim.list_extend(cmd, spec.def.cmd)
  end
  local key = M.key(spec.server, spec.host, spec.root, proto)
  local def = spec.def or {}
  local state = {}
  local lsp_config = {
    name = spec.server .. '@' .. spec.host,
    cmd = M.command({
      argv = cmd,
      restart = function(buffers)
        M.reconnect(key, M.label(spec), function()
          return M.start(nil, spec)
        end, buffers)
      end,
      state = state,
      on_server = function(params)
        if params.atStart == true then
          failed[spec.server .. '\n' .. spec.host] = params
        end
      end,
    }),
    handlers = {
      ['$/remote-lsp/link'] = require('remote-lsp.link').handler,
    },
    on_exit = function()
      if state.restart then
        local again = state.restart
        state.restart = nil
        vim.schedule(function()
          M.start_again(spec, again.buffers, again.pid, again.elsewhere)
        end)
      end
    end,
    -- root_dir is a local path to Neovim; the proxy gives the server the remote root.
    workspace_folders = { { uri = uri.make(proto, spec.host, spec.root), name = spec.root } },
    capabilities = o.capabilities,
    on_attach = o.on_attach,
    settings = def.settings,
    init_options = def.init_options,
    remote = { server = spec.server, host = spec.host, root = spec.root, pid = spec.pid, proto = proto, key = key },
  }
  for _, c in ipairs(M.list()) do -- one client per key: this decides, not vim.lsp.start's reuse_client
    -- A server attached by PID takes the key over from another one: attach_buffers moves the buffers.
    if c.client.config.remote.key == key and not c.client:is_stopped() and (not spec.pid or c.pid == spec.pid) then
      if buf then
        vim.lsp.buf_attach_client(buf, c.client.id)
      end
      return c.client.id
    end
  end
  -- With no buffer yet (attach by PID) it starts unattached.
  local id = vim.lsp.start(lsp_config, {
    bufnr = buf,
    attach = buf ~= nil,
    reuse_client = function()
      return false -- decided above, by key
    end,
  })
  if id then
    state_of[key] = state
  end
  return id
end

--- :RemoteLspRestart of one client: stop its server on the host (shutdown,
--- exit, signals; the host then ends the session), and once the client has
--- exited start it again with every buffer it served. Refused for a server
--- attached by PID: it is the user's own.
---@param c remote_lsp.RemoteClient
function M.restart_server(c)
  vim.validate('c', c, 'table')
  vim.validate('c.client', c.client, 'table')
  if c.pid then
    return notify(
      (
        '%s on %s was attached by PID (pid %d): remote-lsp does not restart a server it did not start; '
        .. ':RemoteLspDetach lets go of it'
      ):format(c.server, c.host, c.pid),
      vim.log.levels.ERROR
    )
  end
  local key = c.client.config.remote.key
  local state = state_of[key]
  if not state or c.client:is_stopped() then
    return notify(('%s on %s is already stopping'):format(c.server, c.host), vim.log.levels.WARN)
  end
  M.forget_failure(c.server, c.host)
  local buffers = vim.tbl_keys(c.client.attached_buffers)
  host.run(c.host, { 'status', '--json' }, function(err, st)
    if err then
      return notify(('restart of %s on %s failed: %s'):format(c.server, c.host, err), vim.log.levels.ERROR)
    end
    local pid
    for _, i in ipairs(st.instances or {}) do
      if i.name == c.server and i.root == c.root and not i.adopted then
        pid = i.pid
      end
    end
    state.restart = { buffers = buffers, pid = pid }
    if not pid then
      -- Not running there (it may still be starting): a new session starts one.
      return c.client:stop()
    end
    -- The host ends our session as the server stops: the client exits, and on_exit starts it again.
    host.run(c.host, { 'stop', tostring(pid), '--restart', '--json' }, function(stop_err)
      if stop_err then
        state.restart = nil
        notify(('stopping %s (pid %d) on %s failed: %s'):format(c.server, pid, c.host, stop_err), vim.log.levels.ERROR)
      end
    end, config.options.host_timeout + 20000)
  end, config.options.host_timeout)
end

--- The second half of a restart: a new client (and server), with the buffers of the old one.
---@param spec remote_lsp.ClientSpec
---@param buffers integer[]
---@param pid? integer the server that was stopped
---@param elsewhere? boolean another editor restarted it
function M.start_again(spec, buffers, pid, elsewhere)
  vim.validate('spec', spec, 'table')
  vim.validate('buffers', buffers, 'table')
  vim.validate('pid', pid, 'number', true)
  vim.validate('elsewhere', elsewhere, 'boolean', true)
  local id = M.start(nil, spec)
  if not id then
    return notify(('%s on %s: could not start it again'):format(spec.server, spec.host), vim.log.levels.ERROR)
  end
  local n = 0
  for _, buf in ipairs(buffers) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.lsp.buf_attach_client(buf, id) then
      n = n + 1
    end
  end
  notify(
    ('%s %s on %s%s; %d buffer(s) attached again'):format(
      elsewhere and 'another client restarted' or 'restarted',
      spec.server,
      spec.host,
      pid and (' (pid %d stopped)'):format(pid) or '',
      n
    )
  )
end

-- How much of a buffer is looked at for a NUL byte, as git and grep tell a binary file.
local BINARY_PROBE = 8000

--- Whether buf's first bytes hold a NUL (or it is edited 'binary').
---@param buf integer
---@return boolean
local function binary(buf)
  if vim.bo[buf].binary then
    return true
  end
  local count, seen, row = vim.api.nvim_buf_line_count(buf), 0, 0
  while row < count and seen < BINARY_PROBE do
    for _, line in ipairs(vim.api.nvim_buf_get_lines(buf, row, math.min(row + 64, count), false)) do
      if line:find('\0', 1, true) then
        return true
      end
      seen = seen + #line + 1
    end
    row = row + 64
  end
  return false
end

--- Whether buf holds a file a language server can take: loaded, a file's text (not a directory
--- listing, nor a buffer whose read failed, nor a binary file) and, if filetypes are given, of one
--- of them.
---@param buf integer
---@param filetypes? string[]
---@return boolean
function M.servable(buf, filetypes)
  vim.validate('buf', buf, 'number')
  vim.validate('filetypes', filetypes, 'table', true)
  if not vim.api.nvim_buf_is_loaded(buf) then
    return false
  end
  local bo = vim.bo[buf]
  if bo.buftype ~= '' and bo.buftype ~= 'acwrite' then
    return false -- a directory listing, a scratch buffer
  end
  if filetypes and not vim.tbl_contains(filetypes, bo.filetype) then
    return false
  end
  local st = require('remote-lsp.files.state').get(buf)
  if st and st.kind ~= 'file' then
    return false -- a directory, a read that failed
  end
  return not binary(buf)
end

--- The loaded buffers of host under root, by protocol; given filetypes, only those a server of
--- them can take (M.servable).
---@param hostname string
---@param rootdir string absolute, on the host
---@param filetypes? string[]
---@return table<string, integer[]>
function M.buffers_under(hostname, rootdir, filetypes)
  vim.validate('hostname', hostname, 'string')
  vim.validate('rootdir', rootdir, valid.absolute, 'an absolute path')
  vim.validate('filetypes', filetypes, 'table', true)
  local out = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      local proto, h, path = uri.parse(vim.api.nvim_buf_get_name(buf))
      if
        proto
        and h == hostname
        and (path == rootdir or vim.startswith(path, rootdir:gsub('/$', '') .. '/'))
        and (not filetypes or M.servable(buf, filetypes))
      then
        out[proto] = out[proto] or {}
        table.insert(out[proto], buf)
      end
    end
  end
  return out
end

--- The filetypes server serves (its definition's), none if nothing defines it.
---@param server string
---@return string[]
function M.filetypes(server)
  local def = config.server(server)
  return def and def.filetypes or {}
end

--- Attach the buffers of host under root named in the client's protocol that its server can take
--- (M.servable: its filetypes, real files) to the client, taking each from any other client of the
--- same server there (a buffer has one server of a kind); a buffer another server of its filetype
--- serves is left to it. A client left with no buffer is stopped (its server runs on, shared, as
--- its idle policy says).
---@param client_id integer
---@param hostname string
---@param rootdir string absolute, on the host
---@return integer count of buffers that were not on this client before
---@return table<string, integer> kept buffers left to another server, by its name
function M.attach_buffers(client_id, hostname, rootdir)
  vim.validate('client_id', client_id, 'number')
  local client = vim.lsp.get_client_by_id(client_id)
  local r = client and client.config.remote
  if not r then
    return 0, {}
  end
  local n, kept = 0, {}
  local left = {}
  local others = vim.tbl_filter(function(c)
    return c.client.id ~= client_id and c.host == hostname
  end, M.list())
  for _, buf in ipairs(M.buffers_under(hostname, rootdir, M.filetypes(r.server))[r.proto or 'scp'] or {}) do
    local by = nil -- another server of the buffer's filetype serving it
    for _, c in ipairs(others) do
      if
        c.server ~= r.server
        and c.client.attached_buffers[buf]
        and vim.tbl_contains(M.filetypes(c.server), vim.bo[buf].filetype)
      then
        by = c.server
      end
    end
    if by then
      kept[by] = (kept[by] or 0) + 1
    else
      for _, c in ipairs(others) do
        if c.server == r.server and c.client.attached_buffers[buf] then
          vim.lsp.buf_detach_client(buf, c.client.id)
          left[c.client.id] = c.client
        end
      end
      if not client.attached_buffers[buf] and vim.lsp.buf_attach_client(buf, client_id) then
        n = n + 1
      end
    end
  end
  for _, c in pairs(left) do
    if vim.tbl_isempty(c.attached_buffers) then
      c:stop()
    end
  end
  return n, kept
end

return M
