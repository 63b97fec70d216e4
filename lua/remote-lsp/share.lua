-- share_local: servers on this machine run through `remote-lsp connect`, so every Neovim and
-- every AI tool on a project shares one process.
--
-- It works through vim.lsp.config alone: a shared server's `cmd` becomes a function that runs
--   python proxy/proxy.py connect --name NAME --idle-timeout N [--root ROOT] -- CMD...
-- ROOT being the client's root_dir (else its first workspace folder), known only when it starts.
-- The command wrapped is the one the configuration resolves to when it is wrapped: at setup(),
-- and again before any buffer's servers start (a FileType autocmd) for a server configured or
-- enabled later. A cmd that is a Lua function is not a command line and is left alone, said once.
local clients = require('remote-lsp.clients')
local config = require('remote-lsp.config')

local M = {}

-- The cmd functions made here: a configuration whose cmd is one of them is wrapped already.
local wrappers = setmetatable({}, { __mode = 'k' })
-- Server name -> { fn = the cmd function set, cmd = the command it wraps }, to undo it.
local wrapped = {}
-- Servers already told about (a cmd that is a function, a client that started unshared).
local told = {}

local notify = require('remote-lsp.log').warn

--- The servers share_local names now: its list, or (true) every enabled one that has a
--- configuration file on 'runtimepath' (lsp/NAME.lua, as nvim-lspconfig's) or is one of ours.
---@return string[]
function M.names()
  local want = config.options.share_local
  if type(want) == 'table' then
    return want
  end
  if want ~= true or not vim.lsp.is_enabled then
    return {}
  end
  local seen = {}
  for _, file in ipairs(vim.api.nvim_get_runtime_file('lsp/*.lua', true)) do
    seen[vim.fn.fnamemodify(file, ':t:r')] = true
  end
  for name in pairs(config.builtin) do
    seen[name] = true
  end
  for name in pairs(config.options.servers) do
    seen[name] = true
  end
  local out = {}
  for name in pairs(seen) do
    if vim.lsp.is_enabled(name) then
      out[#out + 1] = name
    end
  end
  table.sort(out)
  return out
end

--- The root a starting client runs in: its root_dir, else its first workspace folder.
---@param cfg vim.lsp.ClientConfig
---@return string|nil
local function root_of(cfg)
  if type(cfg.root_dir) == 'string' then
    return cfg.root_dir
  end
  local folder = type(cfg.workspace_folders) == 'table' and cfg.workspace_folders[1]
  return folder and folder.uri and vim.uri_to_fname(folder.uri) or nil
end

--- The cmd function that runs cmd through `remote-lsp connect`.
---@param name string
---@param cmd string[]
---@return function
local function shared(name, cmd)
  local function start(dispatchers, cfg)
    cfg = cfg or {} -- a Neovim that passes no config: no root known, connect's directory is it
    local o = config.options
    local root = root_of(cfg)
    local args = { 'connect', '--name', name, '--idle-timeout', o.shared and tostring(o.idle_timeout) or '0' }
    if root then
      vim.list_extend(args, { '--root', root })
    end
    table.insert(args, '--')
    vim.list_extend(args, cmd)
    local key = clients.key(name, '', root or '')
    -- What :RemoteLspStatus and :RemoteLspDetach know it by (cfg is the client's own config).
    cfg.remote = { server = name, root = root, key = key }
    local argv = require('remote-lsp.host').local_argv(args)
    return clients.command({
      argv = argv,
      restart = function(buffers, old)
        clients.reconnect(key, name, function()
          return vim.lsp.start(old, { attach = false })
        end, buffers)
      end,
      extra = { cwd = cfg.cmd_cwd, env = cfg.cmd_env, detached = cfg.detached },
    })(dispatchers, cfg)
  end
  wrappers[start] = true
  return start
end

--- Make the server's configuration run through `remote-lsp connect`, unless it does already or
--- has no command line to run (nothing configured yet, or a cmd function).
---@param name string a vim.lsp.config name
function M.wrap(name)
  vim.validate('name', name, 'string')
  -- Resolving reads lsp/NAME.lua files, which may fail: that is for vim.lsp.enable to report.
  local ok, resolved = pcall(function()
    return vim.lsp.config[name]
  end)
  local cmd = ok and type(resolved) == 'table' and resolved.cmd or nil
  if cmd == nil or wrappers[cmd] then
    return
  end
  if type(cmd) ~= 'table' then
    if not told[name] then
      told[name] = true
      local msg = '%s is not shared: its cmd is a Lua function, not a command line; give it one with '
        .. "vim.lsp.config('%s', { cmd = { ... } })"
      notify(msg:format(name, name))
    end
    return
  end
  local fn = shared(name, vim.deepcopy(cmd))
  wrapped[name] = { fn = fn, cmd = cmd }
  vim.lsp.config(name, { cmd = fn })
end

--- Give back their own cmd to the servers share_local no longer names (setup() called again).
local function unwrap_others()
  local keep = {}
  for _, name in ipairs(M.names()) do
    keep[name] = true
  end
  for name, w in pairs(wrapped) do
    if not keep[name] then
      wrapped[name] = nil
      local ok, resolved = pcall(function()
        return vim.lsp.config[name]
      end)
      if ok and type(resolved) == 'table' and resolved.cmd == w.fn then
        vim.lsp.config(name, { cmd = w.cmd })
      end
    end
  end
end

--- Apply share_local (called by setup()): wrap the servers it names, now and before buffers start
--- servers, and say so when one started unshared all the same.
function M.setup()
  local group = vim.api.nvim_create_augroup('remote-lsp-share', { clear = true })
  unwrap_others()
  local want = config.options.share_local
  if want == false or type(want) == 'table' and #want == 0 then
    return
  end
  if want == true and not vim.lsp.is_enabled then
    return notify('share_local = true needs vim.lsp.is_enabled(), which this Neovim lacks: name the servers instead')
  end
  for _, name in ipairs(M.names()) do
    M.wrap(name)
  end
  -- Created after vim.lsp.enable's own autocmd only if that was first called before setup(),
  -- and then every server enabled so far is wrapped above.
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    callback = function()
      for _, name in ipairs(M.names()) do
        M.wrap(name)
      end
    end,
  })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and not client.config.remote and not told[client.name] and vim.tbl_contains(M.names(), client.name) then
        told[client.name] = true
        local msg = '%s started before share_local could wrap its cmd, so this client is not shared '
          .. '(see :help remote-lsp-share_local)'
        notify(msg:format(client.name))
      end
    end,
  })
end

return M
