-- Remote buffer names as netrw writes them: scp://[user@]host[:port]//abs/path.
local M = {}

--- protocol, host, absolute path of a remote buffer name; nil for anything else.
---@param name string a buffer name
---@return 'scp'|'rsync'|nil proto
---@return string|nil host
---@return string|nil path absolute, on the host
function M.parse(name)
  local proto, host, path = name:match('^(%a+)://([^/]+)/(/.*)$')
  if proto ~= 'scp' and proto ~= 'rsync' then
    return nil
  end
  return proto, host, path
end

--- The buffer name (and URI) of path on host: the inverse of parse().
---@param proto 'scp'|'rsync'
---@param host string
---@param path string absolute, on the host
---@return string
function M.make(proto, host, path)
  return ('%s://%s/%s'):format(proto, host, path)
end

return M
