-- Remote buffers start (or join) their language server on their host.
local clients = require('remote-lsp.clients')
local config = require('remote-lsp.config')
local host = require('remote-lsp.host')
local notify = require('remote-lsp.log').notify
local uri = require('remote-lsp.uri')

local M = {}

-- host .. dir -> the answer of `locate`, so a directory costs one round trip.
local located = {}

--- For a statusline: the hosts whose link is down, with how long ('' when all are up).
---@return string
function M.status()
  return require('remote-lsp.link').statusline()
end

--- Called for every remote buffer once its filetype is known: start or join its server.
---@param buf integer
function M.on_remote_buffer(buf)
  if not config.configured or not vim.api.nvim_buf_is_valid(buf) or not clients.servable(buf) then
    return -- not a file's text: a listing, a read that failed, a binary file
  end
  local name = vim.api.nvim_buf_get_name(buf)
  local proto, hostname, path = uri.parse(name)
  local candidates = config.servers_for(vim.bo[buf].filetype)
  if #candidates == 0 then
    return
  end
  if not proto then
    -- scp://host/src/a.py: relative to a home directory only the host knows, so the server's
    -- file:// names could not be turned back into this buffer's.
    local p, h, rel = name:match('^([^:]+)://([^/]+)/(.*)$')
    if p and not vim.b[buf].remote_lsp_told then
      vim.b[buf].remote_lsp_told = true
      local msg = '%s is relative to your home directory on %s; a language server needs the absolute path: %s'
      notify(msg:format(name, h, ('%s://%s//.../%s'):format(p, h, rel)), vim.log.levels.WARN)
    end
    return
  end
  -- A client already covering this file takes it in, with no round trip.
  for _, c in ipairs(clients.list()) do
    if c.host == hostname and c.proto == proto and vim.startswith(path, c.root:gsub('/$', '') .. '/') then
      for _, cand in ipairs(candidates) do
        if cand.name == c.server then
          vim.lsp.buf_attach_client(buf, c.client.id)
          return
        end
      end
    end
  end
  local dir = vim.fs.dirname(path)
  local function start(found)
    if found.root == vim.NIL or found.root == nil then
      -- A new file in a directory not on the host, and no project above it: nothing to serve it.
      if vim.api.nvim_buf_is_valid(buf) and not vim.b[buf].remote_lsp_told then
        vim.b[buf].remote_lsp_told = true
        local msg = '%s does not exist on %s, and no project holds it: no language server for %s'
        notify(msg:format(dir, hostname, name))
      end
      return
    end
    for _, cand in ipairs(candidates) do
      if found.commands[cand.def.cmd[1]] ~= nil and found.commands[cand.def.cmd[1]] ~= vim.NIL then
        if clients.failure(cand.name, hostname) then
          -- It exited at start on this host, and the user was told: not again for every buffer.
          if vim.api.nvim_buf_is_valid(buf) and not vim.b[buf].remote_lsp_told then
            vim.b[buf].remote_lsp_told = true
            notify(
              ('%s exited at start on %s; not started again (:RemoteLspLog: why; :RemoteLspRestart: retry)'):format(
                cand.name,
                hostname
              )
            )
          end
          return
        end
        if vim.api.nvim_buf_is_valid(buf) then
          clients.start(buf, {
            server = cand.name,
            host = hostname,
            root = found.root,
            proto = proto,
            def = cand.def,
          })
        end
        return
      end
    end
    local looked = vim.tbl_map(function(c)
      return c.def.cmd[1]
    end, candidates)
    local msg = 'no language server for %s found on %s (looked for %s)'
    notify(msg:format(vim.bo[buf].filetype, hostname, table.concat(looked, ', ')), vim.log.levels.WARN)
  end
  local cache_key = hostname .. '\n' .. dir
  if located[cache_key] then
    return start(located[cache_key])
  end
  local markers, commands = {}, {}
  local seen = {}
  for _, cand in ipairs(candidates) do
    for _, marker in ipairs(cand.def.root_markers) do
      if not seen[marker] then
        seen[marker] = true
        table.insert(markers, marker)
      end
    end
    table.insert(commands, cand.def.cmd[1])
  end
  local function located_by(err, found)
    if err then
      return notify(('cannot start a language server on %s: %s'):format(hostname, err), vim.log.levels.ERROR)
    end
    located[cache_key] = found
    start(found)
  end
  -- `remote-lsp locate` on the host, a process of its own (for an agent without files/locate,
  -- or with the file channel off).
  local function run_locate()
    local args = { 'locate', path }
    for _, marker in ipairs(markers) do
      vim.list_extend(args, { '--marker', marker })
    end
    for _, command in ipairs(commands) do
      vim.list_extend(args, { '--command', command })
    end
    host.run(hostname, args, located_by, config.options.host_timeout)
  end
  if not config.options.files then
    return run_locate()
  end
  -- The file channel that read the buffer is up: one round trip, no process started.
  local params = { path = path, markers = markers, commands = commands }
  require('remote-lsp.files.channel').request(hostname, 'files/locate', params, function(err, found)
    if err or type(found) ~= 'table' then
      return run_locate()
    end
    located_by(nil, found)
  end)
end

return M
