-- Options, their validation, and the language server definitions.
local M = {}

M.defaults = {
  enable_pid_attachment = false,
  attachment_timeout = 10000, -- ms, bounds discovery plus the attach itself
  attachment_strategy = 'prompt', -- 'prompt' | 'newest' | 'oldest'
  transport = 'openssh', -- 'openssh' | 'paramiko'
  python = 'python3', -- runs proxy/proxy.py on this machine
  shared = true, -- keep servers for other clients after this one leaves
  idle_timeout = 600, -- seconds a shared server outlives its last client
  servers = {}, -- name -> definition override (cmd, filetypes, root_markers, settings, ...)
  on_attach = nil,
  capabilities = nil,
}

-- Used when neither `servers` nor vim.lsp.config says otherwise.
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

M.options = vim.deepcopy(M.defaults)
M.configured = false

local function one_of(values)
  return function(v)
    return vim.tbl_contains(values, v)
  end
end

function M.setup(opts)
  opts = opts or {}
  vim.validate('opts', opts, 'table')
  local unknown = vim.tbl_filter(function(k)
    return M.defaults[k] == nil and k ~= 'on_attach' and k ~= 'capabilities' -- those two default to nil
  end, vim.tbl_keys(opts))
  if #unknown > 0 then
    table.sort(unknown)
    vim.notify('remote-lsp: unknown setup option(s): ' .. table.concat(unknown, ', '), vim.log.levels.WARN)
  end
  local o = vim.tbl_extend('force', vim.deepcopy(M.defaults), opts)
  vim.validate('enable_pid_attachment', o.enable_pid_attachment, 'boolean')
  vim.validate('attachment_timeout', o.attachment_timeout, 'number')
  local strategies = one_of({ 'prompt', 'newest', 'oldest' })
  vim.validate('attachment_strategy', o.attachment_strategy, strategies, "'prompt', 'newest' or 'oldest'")
  vim.validate('transport', o.transport, one_of({ 'openssh', 'paramiko' }), "'openssh' or 'paramiko'")
  vim.validate('python', o.python, 'string')
  vim.validate('shared', o.shared, 'boolean')
  vim.validate('idle_timeout', o.idle_timeout, 'number')
  vim.validate('servers', o.servers, 'table')
  vim.validate('on_attach', o.on_attach, 'function', true)
  vim.validate('capabilities', o.capabilities, 'table', true)
  M.options = o
  M.configured = true
end

--- A server's definition: setup's `servers`, over vim.lsp.config, over the built-ins.
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
