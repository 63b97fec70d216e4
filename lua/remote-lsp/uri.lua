-- Remote buffer names as netrw and oil.nvim write them: PROTO://[user@]host[:port]//abs/path.
-- netrw (scp://, rsync://, sftp://) hands the part after `host/` to the transfer program as
-- `host:PATH`, so one slash more makes it absolute; oil.nvim (oil-ssh://) names its buffers the
-- same way, once it has resolved the path on the host. A path after one slash only is relative
-- to the login's home directory there.
local M = {}

--- The buffer name schemes of remote files, as `connect --protocol` knows them.
---@type string[]
M.protocols = { 'scp', 'rsync', 'sftp', 'oil-ssh' }

local known = {}
for _, p in ipairs(M.protocols) do
  known[p] = true
end

--- The protocol of a remote buffer name, absolute or not; nil for any other name.
---@param name string a buffer name
---@return string|nil
function M.protocol(name)
  local proto = name:match('^(%a[%w+.-]*)://')
  return known[proto] and proto or nil
end

--- protocol, host, absolute path of a remote buffer name; nil for anything else
--- (a path relative to the home directory on the host included).
---@param name string a buffer name
---@return 'scp'|'rsync'|'sftp'|'oil-ssh'|nil proto
---@return string|nil host
---@return string|nil path absolute, on the host
function M.parse(name)
  local proto, host, path = name:match('^(%a[%w+.-]*)://([^/]+)/(/.*)$')
  if not known[proto] then
    return nil
  end
  return proto, host, path
end

--- protocol, host, path of a remote buffer name, the path as the host takes it: absolute, or
--- relative to the home directory there ('' for the home directory itself); nil for anything else.
---@param name string a buffer name
---@return 'scp'|'rsync'|'sftp'|'oil-ssh'|nil proto
---@return string|nil host
---@return string|nil path
function M.split(name)
  local proto, host, path = name:match('^(%a[%w+.-]*)://([^/]+)/?(.*)$')
  if not known[proto] then
    return nil
  end
  return proto, host, path
end

--- The buffer name (and URI) of path on host: the inverse of parse().
---@param proto 'scp'|'rsync'|'sftp'|'oil-ssh'
---@param host string
---@param path string absolute, on the host
---@return string
function M.make(proto, host, path)
  return ('%s://%s/%s'):format(proto, host, path)
end

return M
