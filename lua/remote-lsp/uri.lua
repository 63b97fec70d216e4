-- Remote buffer names as netrw writes them: scp://[user@]host[:port]//abs/path.
local M = {}

--- protocol, host, absolute path of a remote buffer name; nil for anything else.
function M.parse(name)
  local proto, host, path = name:match('^(%a+)://([^/]+)/(/.*)$')
  if proto ~= 'scp' and proto ~= 'rsync' then
    return nil
  end
  return proto, host, path
end

function M.make(proto, host, path)
  return ('%s://%s/%s'):format(proto, host, path)
end

return M
