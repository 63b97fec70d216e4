-- The remote project of a buffer, that a search runs in: its language server's root when a
-- remote client serves it, else the nearest directory above it holding one of its servers' root
-- markers (or .git), found on the host by `locate` as a buffer's root is (remote-lsp/init.lua).
local log = require('remote-lsp.log')
local uri = require('remote-lsp.uri')

local M = {}

--- Where a search runs, and how its finds are named.
---@class remote_lsp.Project
---@field host string
---@field proto string the buffer's protocol: the names found open as it does
---@field root string absolute, on the host

-- host .. '\n' .. dir .. '\n' .. markers -> root, so a directory costs one round trip.
local located = {}

--- The remote buffer name of a path the host gave relative to the project's root.
---@param project remote_lsp.Project
---@param rel string
---@return string
function M.name(project, rel)
  local abs = rel:sub(1, 1) == '/' and rel or (project.root:gsub('/$', '') .. '/' .. rel)
  return uri.make(project.proto, project.host, abs)
end

--- The absolute path on the host of a path relative to the project's root.
---@param project remote_lsp.Project
---@param rel string
---@return string
function M.path(project, rel)
  return rel:sub(1, 1) == '/' and rel or (project.root:gsub('/$', '') .. '/' .. rel)
end

local function markers(buf)
  local seen, out = {}, {}
  local candidates = require('remote-lsp.config').servers_for(vim.bo[buf].filetype)
  for _, cand in ipairs(candidates) do
    for _, m in ipairs(cand.def.root_markers or {}) do
      if not seen[m] then
        seen[m], out[#out + 1] = true, m
      end
    end
  end
  if not seen['.git'] then
    out[#out + 1] = '.git'
  end
  return out
end

--- The project of buf: cb(project) on the main loop, or the user told why there is none (a buffer
--- that is not remote, a host that cannot be reached) and cb never called.
---@param buf integer
---@param cb fun(project: remote_lsp.Project)
---@param what string the command, for the message
function M.of(buf, cb, what)
  local name = vim.api.nvim_buf_get_name(buf)
  local proto, host, path = uri.parse(name)
  if not proto then
    if uri.protocol(name) then
      return log.warn(
        ('%s: %s is relative to the home directory on the host; %s needs an absolute path (PROTO://HOST//path)'):format(
          what,
          name,
          what
        )
      )
    end
    local shown = name == '' and 'this buffer has no name' or (name .. ' is not a remote file')
    return log.warn(('%s searches the project of a remote buffer (scp://HOST//path): %s'):format(what, shown))
  end
  ---@cast host string
  ---@cast path string
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = buf })) do
    local r = client.config.remote
    if r and r.host == host and type(r.root) == 'string' then
      return cb({ host = host, proto = proto, root = r.root })
    end
  end
  -- A remote directory's buffer (files/listing.lua) is its own start; a file starts from its directory.
  local dir = vim.b[buf].remote_lsp_file and vim.b[buf].remote_lsp_file.kind == 'directory' and path
    or vim.fs.dirname(path)
  local found = markers(buf)
  local key = table.concat({ host, dir, table.concat(found, '\0') }, '\n')
  if located[key] then
    return cb({ host = host, proto = proto, root = located[key] })
  end
  local args = { 'locate', dir }
  for _, m in ipairs(found) do
    vim.list_extend(args, { '--marker', m })
  end
  require('remote-lsp.host').run(host, args, function(err, answer)
    if err then
      return log.error(('%s: cannot reach %s: %s'):format(what, host, err))
    end
    local root = type(answer) == 'table' and answer.root
    if type(root) ~= 'string' then
      return log.warn(('%s: %s does not exist on %s'):format(what, dir, host))
    end
    located[key] = root
    cb({ host = host, proto = proto, root = root })
  end, require('remote-lsp.config').options.host_timeout)
end

return M
