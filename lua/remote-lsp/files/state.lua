-- What a remote file's buffer holds, and what every job on it shares: the names served, the
-- buffer's file state (b:remote_lsp_file), a failure in one line, the autocmds of a file.
--
-- Each buffer keeps, in b:remote_lsp_file, the version of its file it last read or wrote
-- ({name, host, path, version, kind}); a write names it, and the host refuses the write if its
-- file is another version now, unless forced (:w!). Nothing is overwritten silently.
local uri = require('remote-lsp.uri')

local M = {}

--- The buffer names served: netrw's, for the same transfer programs. oil-ssh:// stays oil.nvim's.
M.protocols = { 'scp', 'sftp', 'rsync' }

--- What a file's buffer keeps: the name it was read or written under, where it is, the version
--- it holds (vim.NIL: none, the file did not exist), and what it is.
---@class remote_lsp.FileState
---@field name string
---@field host string
---@field path string on the host, absolute or relative to the home directory there
---@field version string|userdata a version, or vim.NIL
---@field kind 'file'|'directory'|'unread' unread: the read failed

--- The file state of buf, nil if it is not a remote file's buffer.
---@param buf integer
---@return remote_lsp.FileState|nil
function M.get(buf)
  if not vim.api.nvim_buf_is_valid(buf) then
    return nil
  end
  local st = vim.b[buf].remote_lsp_file
  return type(st) == 'table' and st or nil
end

---@param buf integer
---@param st remote_lsp.FileState
function M.set(buf, st)
  vim.b[buf].remote_lsp_file = st
end

--- The version st holds, nil for none.
---@param st remote_lsp.FileState|nil
---@return string|nil
function M.version(st)
  return st and st.version ~= vim.NIL and st.version or nil
end

--- Host and path of a served buffer name (the path as the host takes it), nil for another name.
---@param name string
---@return string|nil host
---@return string|nil path
function M.split(name)
  local proto, host, path = uri.split(name)
  if not proto or not vim.tbl_contains(M.protocols, proto) then
    return nil
  end
  return host, path == '' and '.' or path
end

--- The loaded buffers of file path on host (several names may reach one file).
---@param host string
---@param path string
---@return integer[]
function M.buffers_of(host, path)
  local out = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    local st = vim.api.nvim_buf_is_loaded(buf) and M.get(buf)
    if st and st.host == host and st.path == path and st.kind == 'file' then
      out[#out + 1] = buf
    end
  end
  return out
end

--- Whether a file opens 'readonly', as Vim decides it for a local file: you cannot write it, or
--- no one may (no write bit: root, who can, is warned all the same).
---@param e table the host's entry of the file
---@return boolean
function M.readonly(e)
  return e.writable == false or (type(e.mode) == 'number' and require('bit').band(e.mode, 146) == 0) -- 0222
end

--- Do event for name in buf, as Vim does it for a file read or written.
---@param buf integer
---@param event string
---@param name string
---@param modeline boolean whether modelines apply after it
function M.doautocmd(buf, event, name, modeline)
  vim.api.nvim_buf_call(buf, function()
    vim.cmd(('silent doautocmd %s %s %s'):format(modeline and '' or '<nomodeline>', event, vim.fn.fnameescape(name)))
  end)
end

--- An error (the host's {code, message}, a JSON-RPC error, a string) in one line.
---@param err any
---@return string
function M.why(err)
  local msg = type(err) == 'table' and (err.message or err.code) or err
  return (tostring(msg):gsub('^remote%-lsp: ', ''):gsub('\n.*', ''))
end

--- One line naming the host and the path: the host's own words ("cannot write PATH: ...") and the
--- host, or "cannot read NAME: why" for what is not the host's word (no answer, a conversion...).
---@param what string read, write, reload
---@param name string
---@param err any
---@return string
function M.failure(what, name, err)
  if type(err) == 'table' and type(err.code) == 'string' and err.message then
    local host = M.split(name)
    return ('%s (on %s)'):format(M.why(err), host)
  end
  return ('cannot %s %s: %s'):format(what, name, M.why(err))
end

return M
