-- The remote project of a buffer, that a search runs in: its language server's root when a
-- remote client serves it, else the nearest directory above it holding one of its servers' root
-- markers (or .git), found on the host as `locate` finds a buffer's root (remote-lsp/init.lua), but
-- through the host's file channel, in one round trip.
local channel = require('remote-lsp.files.channel')
local log = require('remote-lsp.log')
local uri = require('remote-lsp.uri')

local M = {}

--- Where a search runs, and how its finds are named.
---@class remote_lsp.Project
---@field host string
---@field proto string the buffer's protocol: the names found open as it does
---@field root string absolute, on the host

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

--- The nearest directory from dir up holding one of the markers, else dir itself; nil if dir is
--- not on the host. Asked on the host's file channel, every path's stat at once: one round trip
--- (what `locate` answers, without starting a process there).
---@param host string
---@param dir string
---@param found string[] markers
---@param cb fun(root: string|nil, err: string|nil)
local function nearest(host, dir, found, cb)
  local dirs, paths = {}, { dir }
  local d = dir
  repeat
    dirs[#dirs + 1] = d
    for _, m in ipairs(found) do
      paths[#paths + 1] = (d == '/' and '' or d) .. '/' .. m
    end
    local up = vim.fs.dirname(d)
    local top = up == d
    d = up
  until top
  local exists, waiting, failed = {}, #paths, nil
  for _, path in ipairs(paths) do
    channel.request(host, 'files/stat', { path = path }, function(err, entry)
      if err and path == dir then
        failed = tostring(err.message or err) -- a path under a file is an error too: not there
      end
      exists[path] = not err and type(entry) == 'table' and entry.exists == true
      waiting = waiting - 1
      if waiting > 0 then
        return
      end
      if not exists[dir] then
        return cb(nil, failed)
      end
      for _, at in ipairs(dirs) do
        for _, m in ipairs(found) do
          if exists[(at == '/' and '' or at) .. '/' .. m] then
            return cb(at)
          end
        end
      end
      cb(dir)
    end)
  end
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
  -- Asked again for each search (one round trip): a marker made since (`git init`) is seen.
  nearest(host, dir, markers(buf), function(root, err)
    if err then
      return log.error(('%s: cannot reach %s: %s'):format(what, host, err))
    end
    if not root then
      return log.warn(('%s: %s does not exist on %s'):format(what, dir, host))
    end
    cb({ host = host, proto = proto, root = root })
  end)
end

return M
