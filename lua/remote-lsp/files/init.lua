-- scp://, sftp:// and rsync:// buffers read and written through the agent (setup's `files`,
-- true by default) instead of netrw, which would start a new scp for every read and write.
-- The four Cmd events of these names are ours; netrw's handlers of them (its `Network` augroup)
-- are removed, whether netrw loaded before setup() or loads after it, and put back by
-- `files = false`. oil-ssh:// stays oil.nvim's.
local log = require('remote-lsp.log')
local state = require('remote-lsp.files.state')

local M = {}

local GROUP = 'remote-lsp-files'
local EVENTS = { 'BufReadCmd', 'FileReadCmd', 'BufWriteCmd', 'FileWriteCmd' }

local function patterns()
  return vim.tbl_map(function(p)
    return p .. '://*'
  end, state.protocols)
end

-- Whether netrw's handlers of our names were removed (to put them back with files = false).
local took_from_netrw = false
-- vim.lsp.util's functions as they were before ours wrapped them, by name.
---@type table<string, function>|nil
local originals = nil

--- netrw's handlers of our names (its Network augroup), if netrw is loaded.
---@return vim.api.keyset.get_autocmds.ret[]
function M.netrw_handlers()
  local ok, found = pcall(vim.api.nvim_get_autocmds, { group = 'Network', event = EVENTS, pattern = patterns() })
  return ok and found or {}
end

local function take_from_netrw()
  if #M.netrw_handlers() > 0 then
    vim.api.nvim_clear_autocmds({ group = 'Network', event = EVENTS, pattern = patterns() })
    took_from_netrw = true
  end
end

local function give_back_to_netrw()
  if took_from_netrw and vim.fn.exists('g:loaded_netrwPlugin') == 1 then
    took_from_netrw = false
    vim.g.loaded_netrwPlugin = nil
    vim.cmd('silent! runtime! plugin/netrwPlugin.vim') -- redefines its Network augroup whole
  end
end

--- The files a workspace edit touches that must be read (their buffer names): those it edits or
--- renames, less those it creates.
---@param edit lsp.WorkspaceEdit
---@return string[]
local function edited(edit)
  local names, created = {}, {}
  for u in pairs(edit.changes or {}) do
    names[#names + 1] = vim.uri_to_fname(u)
  end
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument and change.textDocument.uri then
      names[#names + 1] = vim.uri_to_fname(change.textDocument.uri)
    elseif change.kind == 'rename' and change.oldUri then
      names[#names + 1] = vim.uri_to_fname(change.oldUri)
      created[vim.uri_to_fname(change.newUri)] = true
    elseif change.kind == 'create' and change.uri then
      created[vim.uri_to_fname(change.uri)] = true
    end
  end
  return vim.tbl_filter(function(name)
    return not created[name]
  end, names)
end

--- Read ahead, in one request per host, the remote files of locations whose buffers are not loaded.
---@param uris string[]
local function read_ahead(uris)
  local ok, err = pcall(require('remote-lsp.files.prefetch').prefetch, vim.tbl_map(vim.uri_to_fname, uris))
  if not ok then
    log.error('internal error: ' .. tostring(err))
  end
end

--- The URIs of an LSP location (Location or LocationLink), or of a list of them.
---@param locations any
---@return string[]
local function uris_of(locations)
  local out = {}
  for _, loc in ipairs(vim.islist(locations) and locations or { locations }) do
    local u = type(loc) == 'table' and (loc.uri or loc.targetUri)
    if type(u) == 'string' then
      out[#out + 1] = u
    end
  end
  return out
end

-- Neovim has no public hook before an edit is applied or a location is shown: its vim.lsp.util
-- functions that rename, code actions and jumps call are wrapped.
-- luacheck: push ignore 122 (wrapping them is the point)
local function wrap_lsp_util()
  if originals then
    return
  end
  local util = vim.lsp.util
  originals = {
    apply_workspace_edit = util.apply_workspace_edit,
    locations_to_items = util.locations_to_items,
    show_document = util.show_document,
  }
  -- Whole or not at all: the remote files an edit touches are read first (those not loaded in one
  -- request per host); if one cannot be, nothing is applied and the user is told which and why.
  util.apply_workspace_edit = function(edit, ...)
    if type(edit) == 'table' then
      local ok, failed = pcall(require('remote-lsp.files.prefetch').prefetch, edited(edit))
      if not ok then
        log.error('internal error: ' .. tostring(failed))
      elseif #failed > 0 then
        local why = vim.tbl_map(function(f)
          return ('%s: %s'):format(f.name, f.why)
        end, failed)
        return log.error('the edit was not applied, a file it changes cannot be read: ' .. table.concat(why, '; '))
      end
    end
    return originals.apply_workspace_edit(edit, ...)
  end
  -- A jump (definition...) or a list of locations into remote files not open: read ahead in one
  -- request per host before Neovim loads their buffers one by one (each current while it is read),
  -- so that a buffer is current only with its text and its server, and whatever runs while the
  -- host is waited for (a callback, a remote control) still finds the buffer the user is in.
  util.locations_to_items = function(locations, ...)
    read_ahead(uris_of(locations))
    return originals.locations_to_items(locations, ...)
  end
  util.show_document = function(location, ...)
    read_ahead(uris_of(location))
    return originals.show_document(location, ...)
  end
end

local function unwrap_lsp_util()
  for name, fn in pairs(originals or {}) do
    vim.lsp.util[name] = fn
  end
  originals = nil
end
-- luacheck: pop

--- A bug of ours reaches the user as one message, not a traceback in the middle of a read.
local function guarded(fn)
  return function(ev)
    local ok, err = xpcall(fn, debug.traceback, ev)
    if not ok then
      log.error('internal error: ' .. tostring(err))
    end
  end
end

--- Serve the names (files = true) or leave them to netrw (false), as setup's options say.
function M.setup()
  local enabled = require('remote-lsp.config').options.files
  local group = vim.api.nvim_create_augroup(GROUP, { clear = true })
  if not enabled then
    unwrap_lsp_util()
    give_back_to_netrw()
    return
  end
  local watch = require('remote-lsp.files.watch')
  local channel = require('remote-lsp.files.channel')
  local pats = patterns()
  local read = require('remote-lsp.files.read')
  local write = require('remote-lsp.files.write')
  local force = require('remote-lsp.files.force')
  local handlers = {
    BufReadCmd = read.read,
    FileReadCmd = read.read_into,
    BufWriteCmd = write.write,
    FileWriteCmd = write.write_part,
  }
  for event, fn in pairs(handlers) do
    vim.api.nvim_create_autocmd(event, { group = group, pattern = pats, nested = true, callback = guarded(fn) })
  end
  -- A remote buffer's swap file, made as Vim makes a local file's: with SwapExists, 'shortmess',
  -- the ATTENTION dialog and its answer acted on by the :edit (files/read.lua says why here).
  vim.api.nvim_create_autocmd('BufReadCmd', {
    group = group,
    pattern = pats,
    nested = true,
    command = "if get(b:, 'remote_lsp_swap') | unlet b:remote_lsp_swap | setlocal noswapfile swapfile | endif",
  })
  vim.api.nvim_create_autocmd({ 'BufUnload', 'BufDelete', 'BufWipeout' }, {
    group = group,
    pattern = pats,
    callback = function(ev)
      watch.buffer_gone(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd('CmdlineLeave', { group = group, callback = guarded(force.on_cmdline_leave) })
  vim.api.nvim_create_autocmd('SafeState', { group = group, callback = force.on_safe_state })
  local wall = require('remote-lsp.files.wall')
  wall.on_win_enter()
  vim.api.nvim_create_autocmd('WinEnter', { group = group, callback = wall.on_win_enter })
  -- netrw loading after us (setup() in init.lua runs before plugins load) defines its handlers again.
  vim.api.nvim_create_autocmd(
    'SourcePost',
    { group = group, pattern = '*/netrwPlugin.vim', callback = take_from_netrw }
  )
  take_from_netrw()
  wrap_lsp_util()

  channel.on('files/changed', function(host, params)
    if type(params) == 'table' and type(params.changes) == 'table' then
      require('remote-lsp.files.reload').changed(host, params.changes)
    end
  end)
  channel.on('$/remote-lsp/link', function(host, params)
    if type(params) ~= 'table' then
      return
    end
    if params.state == 'new-session' then
      watch.resend(host) -- the host forgot what this channel watched
    end
    -- Told as a language server's link is, unless one on that host tells it already.
    for _, c in ipairs(require('remote-lsp.clients').list()) do
      if c.host == host then
        return
      end
    end
    require('remote-lsp.link').handler(nil, params, { client_id = 'files:' .. host })
  end)
  channel.on_exit(function(host, _, lived)
    watch.channel_exited(host, lived)
  end)
end

--- Who serves these names now, for :checkhealth: 'remote-lsp', 'netrw', or 'nobody'.
---@return string
function M.served_by()
  if require('remote-lsp.config').options.files and #vim.api.nvim_get_autocmds({ group = GROUP }) > 0 then
    return #M.netrw_handlers() > 0 and 'both' or 'remote-lsp'
  end
  return #M.netrw_handlers() > 0 and 'netrw' or 'nobody'
end

return M
