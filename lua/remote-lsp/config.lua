-- Options, their validation, and the language server definitions. What a user
-- passes (remote_lsp.Options, types.lua) is kept as given; the configuration in
-- force (remote_lsp.Config) is resolved from it and the defaults.
local M = {}

---@type remote_lsp.Config
M.defaults = {
  enable_pid_attachment = false,
  host_timeout = 10000, -- ms, bounds every call to a host: discovery, an attach, a file request
  attachment_strategy = 'prompt', -- 'prompt' | 'newest' | 'oldest'
  transport = 'openssh', -- 'openssh' | 'paramiko'
  python = 'python3', -- runs proxy/proxy.py on this machine
  shared = true, -- keep servers for other clients after this one leaves
  idle_timeout = 600, -- seconds a shared server outlives its last client
  servers = {}, -- name -> definition override (cmd, filetypes, root_markers, settings, ...)
  share_local = false, -- { 'pyright', ... } or true: local servers shared through remote-lsp connect
  files = true, -- scp://, sftp://, rsync:// buffers read and written through the agent (false: netrw's)
  picker = 'auto', -- :RemoteLspFind and live grep: 'auto' | 'telescope' | 'fzf-lua' | 'snacks' | 'select'
  log_level = 'warn', -- 'debug' | 'info' | 'warn' | 'error': what goes into remote-lsp.log (log.lua)
  on_attach = nil,
  capabilities = nil,
}

--- The values of `picker`: 'auto' takes the first of the others that is installed, in this order.
M.pickers = { 'auto', 'telescope', 'fzf-lua', 'snacks', 'select' }

--- Used when neither `servers` nor vim.lsp.config says otherwise.
---@type table<string, remote_lsp.ServerDef>
M.builtin = {
  pylsp = {
    cmd = { 'pylsp' },
    filetypes = { 'python' },
    root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', '.git' },
  },
  pyright = {
    cmd = { 'pyright-langserver', '--stdio' },
    filetypes = { 'python' },
    root_markers = { 'pyrightconfig.json', 'pyproject.toml', 'setup.py', '.git' },
  },
  rust_analyzer = { cmd = { 'rust-analyzer' }, filetypes = { 'rust' }, root_markers = { 'Cargo.toml', '.git' } },
  clangd = {
    cmd = { 'clangd' },
    filetypes = { 'c', 'cpp', 'objc', 'objcpp', 'cuda' },
    root_markers = { 'compile_commands.json', 'compile_flags.txt', '.clangd', '.git' },
  },
  gopls = {
    cmd = { 'gopls' },
    filetypes = { 'go', 'gomod', 'gowork' },
    root_markers = { 'go.work', 'go.mod', '.git' },
  },
  ts_ls = {
    cmd = { 'typescript-language-server', '--stdio' },
    filetypes = { 'javascript', 'javascriptreact', 'typescript', 'typescriptreact' },
    root_markers = { 'tsconfig.json', 'jsconfig.json', 'package.json', '.git' },
  },
  lua_ls = { cmd = { 'lua-language-server' }, filetypes = { 'lua' }, root_markers = { '.luarc.json', '.git' } },
}

--- Old option names, and the name each now goes by (both keep working).
local renamed = { attachment_timeout = 'host_timeout' }

--- The old names read the new ones' values, for code not renamed yet.
---@param o remote_lsp.Config
---@return remote_lsp.Config
local function with_old_names(o)
  for old, new in pairs(renamed) do
    o[old] = o[new]
  end
  return o
end

--- The configuration in force: the defaults until setup() is called.
---@type remote_lsp.Config
M.options = with_old_names(vim.deepcopy(M.defaults))
--- The options setup() was given, as given.
---@type remote_lsp.Options
M.given = {}
--- Whether setup() was called: remote buffers start servers only then.
M.configured = false

local valid = require('remote-lsp.validate')
local one_of, list_of_strings = valid.one_of, valid.list_of_strings

--- share_local: true, false, or names as vim.lsp.config takes them (no wildcard).
local function share_local(v)
  if type(v) == 'boolean' then
    return true
  end
  return list_of_strings(v)
    and #vim.tbl_filter(function(name)
      return name == '' or name:find('*', 1, true) ~= nil
    end, v) == 0
end

--- Check one server definition of `servers`.
---@param name string
---@param def any
local function check_server(name, def)
  local where = 'servers.' .. tostring(name)
  vim.validate(where, def, 'table')
  vim.validate(where .. '.cmd', def.cmd, function(v)
    return list_of_strings(v) and #v > 0
  end, true, 'a non-empty list of strings')
  vim.validate(where .. '.filetypes', def.filetypes, list_of_strings, true, 'a list of strings')
  vim.validate(where .. '.root_markers', def.root_markers, list_of_strings, true, 'a list of strings')
  vim.validate(where .. '.settings', def.settings, 'table', true)
  vim.validate(where .. '.init_options', def.init_options, 'table', true)
end

--- Set the options; unknown ones are reported, wrong ones refused (an error).
---@param opts? remote_lsp.Options
function M.setup(opts)
  vim.validate('opts', opts, 'table', true)
  opts = opts or {}
  local log = require('remote-lsp.log')
  local unknown = vim.tbl_filter(function(k)
    return M.defaults[k] == nil and not renamed[k] and k ~= 'on_attach' and k ~= 'capabilities' -- nil by default
  end, vim.tbl_keys(opts))
  if #unknown > 0 then
    table.sort(unknown)
    log.warn('unknown setup option(s): ' .. table.concat(unknown, ', '))
  end
  ---@type remote_lsp.Config
  local o = vim.tbl_extend('force', vim.deepcopy(M.defaults), opts)
  local timeout_name = 'host_timeout'
  for old, new in pairs(renamed) do
    if opts[old] ~= nil then
      log.warn(('setup option %s is deprecated: it is now %s'):format(old, new))
      if opts[new] == nil then
        o[new], timeout_name = opts[old], old -- an error names the option as the user wrote it
      end
    end
  end
  vim.validate('enable_pid_attachment', o.enable_pid_attachment, 'boolean')
  vim.validate(timeout_name, o.host_timeout, function(v)
    return type(v) == 'number' and v > 0
  end, 'a positive number of ms')
  local strategies = one_of({ 'prompt', 'newest', 'oldest' })
  vim.validate('attachment_strategy', o.attachment_strategy, strategies, "'prompt', 'newest' or 'oldest'")
  vim.validate('transport', o.transport, one_of({ 'openssh', 'paramiko' }), "'openssh' or 'paramiko'")
  vim.validate('python', o.python, 'string')
  vim.validate('shared', o.shared, 'boolean')
  vim.validate('idle_timeout', o.idle_timeout, function(v)
    return type(v) == 'number' and v >= 0
  end, 'a number of seconds, 0 or more')
  vim.validate('servers', o.servers, 'table')
  for name, def in pairs(o.servers) do
    check_server(name, def)
  end
  vim.validate('share_local', o.share_local, share_local, 'true, false or a list of server names')
  vim.validate('files', o.files, 'boolean')
  vim.validate('picker', o.picker, one_of(M.pickers), "'" .. table.concat(M.pickers, "', '") .. "'")
  local log_levels = { 'debug', 'info', 'warn', 'error' }
  vim.validate('log_level', o.log_level, one_of(log_levels), "'debug', 'info', 'warn' or 'error'")
  vim.validate('on_attach', o.on_attach, 'callable', true)
  vim.validate('capabilities', o.capabilities, 'table', true)
  M.given = vim.deepcopy(opts)
  M.options = with_old_names(o)
  M.configured = true
end

--- A server's definition: setup's `servers`, over vim.lsp.config, over the built-ins.
---@param name string
---@return remote_lsp.ServerDef|nil def nil when nothing says how to start it
function M.server(name)
  local def = vim.deepcopy(M.builtin[name] or {})
  -- Reading vim.lsp.config[name] resolves the user's config, which may fail.
  local ok, user = pcall(function()
    return vim.lsp.config[name]
  end)
  if ok and type(user) == 'table' and type(user.cmd) == 'table' then
    def = vim.tbl_deep_extend('force', def, user)
  end
  def = vim.tbl_deep_extend('force', def, M.options.servers[name] or {})
  if type(def.cmd) ~= 'table' or #def.cmd == 0 then
    return nil
  end
  def.root_markers = def.root_markers or { '.git' }
  return def
end

--- Names a server may be known by.
---@return string[] sorted
function M.server_names()
  local names = vim.tbl_keys(M.builtin)
  for name in pairs(M.options.servers) do
    if not M.builtin[name] then
      table.insert(names, name)
    end
  end
  table.sort(names)
  return names
end

--- Servers for a filetype: those in `servers` if any are given, else the built-ins.
---@param ft string
---@return {name: string, def: remote_lsp.ServerDef}[] in name order
function M.servers_for(ft)
  local pool = next(M.options.servers) and vim.tbl_keys(M.options.servers) or vim.tbl_keys(M.builtin)
  table.sort(pool)
  local out = {}
  for _, name in ipairs(pool) do
    local def = M.server(name)
    if def and vim.tbl_contains(def.filetypes or {}, ft) then
      table.insert(out, { name = name, def = def })
    end
  end
  return out
end

return M
