-- Reading remote files: BufReadCmd (the file, or a listing for a directory, into the buffer being
-- edited) and FileReadCmd (`:read scp://...`), one files/read unless the file was read ahead.
local channel = require('remote-lsp.files.channel')
local log = require('remote-lsp.log')
local prefetch = require('remote-lsp.files.prefetch')
local reload = require('remote-lsp.files.reload')
local state = require('remote-lsp.files.state')
local text = require('remote-lsp.files.text')

local M = {}

--- Entries of paths on host, one files/read for those not read ahead; nil and why if unanswered.
---@param host string
---@param paths string[]
---@return table<string, table>|nil entries by path
---@return string|nil err
local function fetch(host, paths)
  local out, missing = {}, {}
  for _, path in ipairs(paths) do
    local e = prefetch.take(host, path)
    if e then
      out[path] = e
    else
      missing[#missing + 1] = path
    end
  end
  if #missing > 0 then
    local res, err = channel.request_sync(host, 'files/read', { paths = missing })
    if not res then
      return nil, err
    end
    for i, e in ipairs(res.files or {}) do
      out[missing[i]] = e
    end
  end
  return out
end

--- The host's entry for a remote name: host, path, entry (nil on a failure) and why.
---@param name string
---@return string? host
---@return string? path
---@return table? entry
---@return string? err
local function fetch_one(name)
  local host, path = state.split(name)
  if not host then
    return nil
  end
  local files, err = fetch(host, { path })
  local e = files and files[path]
  if e and e.error then
    err, e = e.error, nil
  end
  return host, path, e, err
end

--- The buffer's swap file, to be made once the text is in (none while it goes in: a recovery
--- finds it all in the swap file). files/init.lua's second BufReadCmd makes it, in Vim script: an
--- error given inside a Lua call (E325 ATTENTION) becomes an exception, and the :edit would not
--- act on the dialog's answer.
---@param buf integer
---@param swap boolean its 'swapfile'
local function swap_file(buf, swap)
  if swap then
    vim.b[buf].remote_lsp_swap = true
  end
end

--- BufReadCmd: read the file (a listing for a directory) into the buffer being edited.
---@param ev {buf: integer, match: string}
function M.read(ev)
  local buf, name = ev.buf, ev.match
  local host, path, e, err = fetch_one(name)
  if not host then
    return
  end
  -- What b:remote_lsp_file says of this buffer now: a file and its version, a directory, or unread.
  local function mark(kind, version)
    state.set(buf, { name = name, host = host, path = path, version = version or vim.NIL, kind = kind })
  end
  if not e then
    mark('unread')
    return log.error(state.failure('read', name, err or 'no answer'))
  end
  if e.type == 'directory' then
    mark('directory')
    return require('remote-lsp.files.listing').show(buf, name, e)
  end
  if e.exists and e.type ~= 'file' then
    mark('unread')
    return log.error(state.failure('read', name, 'not a regular file'))
  end
  reload.forget(buf)
  mark('file', e.version)
  -- Written by BufWriteCmd only, as oil.nvim's buffers are; a local server enabled with
  -- vim.lsp.enable() leaves it alone (the remote file's server is on its host).
  vim.bo[buf].buftype = 'acwrite'
  if not e.exists then
    state.doautocmd(buf, 'BufNewFile', name, true)
    log.echo(('"%s" [New]'):format(name))
    swap_file(buf, vim.bo[buf].swapfile)
  else
    state.doautocmd(buf, 'BufReadPre', name, false)
    local swap = vim.bo[buf].swapfile
    vim.bo[buf].swapfile = false
    local ok, lerr = pcall(text.load, buf, vim.base64.decode(e.data or ''), vim.v.cmdarg)
    if not ok then
      swap_file(buf, swap)
      mark('unread')
      return log.error(state.failure('read', name, lerr))
    end
    vim.bo[buf].readonly = state.readonly(e)
    swap_file(buf, swap) -- after 'readonly': the dialog's (O)pen Read-Only sets it
    state.doautocmd(buf, 'BufReadPost', name, true)
  end
  require('remote-lsp.files.watch').sync(host)
end

--- FileReadCmd (`:read scp://...`): the file's lines below the line given.
---@param ev {buf: integer, match: string}
function M.read_into(ev)
  local buf, name = ev.buf, ev.match
  local host, _, e, err = fetch_one(name)
  if not host then
    return
  end
  if e and (not e.exists or e.type ~= 'file') then
    err, e = e.exists and 'not a regular file' or 'no such file', nil
  end
  if not e then
    return log.error(state.failure('read', name, err or 'no answer'))
  end
  local tmp = text.tempfile(vim.base64.decode(e.data or ''))
  state.doautocmd(buf, 'FileReadPre', name, false)
  local ok, rerr = pcall(vim.api.nvim_buf_call, buf, function()
    local line = vim.fn.line("'[")
    text.read_tmp(tmp, ('%dread %s'):format(line, vim.v.cmdarg))
  end)
  os.remove(tmp)
  if not ok then
    return log.error(state.failure('read', name, rerr))
  end
  state.doautocmd(buf, 'FileReadPost', name, false)
end

return M
