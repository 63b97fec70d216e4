-- The :RemoteLsp* commands. Everything that touches a host is asynchronous.
local clients = require('remote-lsp.clients')
local config = require('remote-lsp.config')
local host = require('remote-lsp.host')
local log = require('remote-lsp.log')
local uri = require('remote-lsp.uri')
local valid = require('remote-lsp.validate')

local notify = log.notify

local M = {}
local ERROR, WARN = vim.log.levels.ERROR, vim.log.levels.WARN
-- Lines of each log :RemoteLspLog shows.
local LOG_LINES = 200

local function scratch(title, lines)
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  pcall(vim.api.nvim_buf_set_name, buf, title)
  lines = vim.tbl_map(function(l)
    return (l:gsub('\n', '\\n'))
  end, lines)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'remotelsp'
  return buf
end

local function age(started)
  local s = math.max(0, os.time() - math.floor(started))
  if s >= 86400 then
    return ('%dd%02dh'):format(s / 86400, s % 86400 / 3600)
  end
  if s >= 3600 then
    return ('%dh%02dm'):format(s / 3600, s % 3600 / 60)
  end
  return ('%dm%02ds'):format(s / 60, s % 60)
end

--- The rows as a table whose columns are as wide as their widest cell (a long root included).
local function rows_to_lines(rows)
  local head = { 'PID', 'SERVER', 'ROOT', 'MEMORY', 'AGE', 'MANAGED', 'CLIENTS' }
  local cells = { head }
  for _, r in ipairs(rows) do
    cells[#cells + 1] = {
      tostring(r.pid),
      r.name,
      r.root,
      ('%dMB'):format(math.floor(r.rss_kb / 1024)),
      age(r.started),
      r.managed and 'yes' or 'no',
      tostring(r.clients),
    }
  end
  local widths = {}
  for _, row in ipairs(cells) do
    for i, cell in ipairs(row) do
      widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(cell))
    end
  end
  return vim.tbl_map(function(row)
    local out = {}
    for i, cell in ipairs(row) do
      local pad = (' '):rep(widths[i] - vim.fn.strdisplaywidth(cell))
      -- Numbers to the right, words to the left; the last column unpadded.
      out[i] = i == #row and cell or ((i == 4 or i == 5) and pad .. cell or cell .. pad)
    end
    return table.concat(out, '  ')
  end, cells)
end

-- Validators of command arguments, for vim.validate (the shared ones: validate.lua).

local valid_host, non_empty, absolute, pid_number = valid.host, valid.non_empty, valid.absolute, valid.pid

local function known_server(name)
  return type(name) == 'string' and config.server(name) ~= nil
end

local PID_WORDS = 'pid must be a process id (a whole number from 1 to ' .. valid.PID_MAX .. '), not %q'

local function pid_text(s) -- a pid as typed
  return type(s) == 'string' and s:match('^%d+$') ~= nil and pid_number(tonumber(s))
end

--- A message naming the wrong value: fmt has one %q for it.
local function naming(fmt)
  return function(value)
    return fmt:format(tostring(value))
  end
end

--- vim.validate for a command's argument, with the user told what is wrong instead of a traceback.
---@param msg string|fun(value: any): string what the user reads, as an ERROR, if it fails
---@param name string
---@param value any
---@param validator vim.validate.Validator
---@param optional? boolean nil passes
---@return boolean ok
local function check(msg, name, value, validator, optional)
  if pcall(vim.validate, name, value, validator, optional) then
    return true
  end
  notify(type(msg) == 'function' and msg(value) or msg, ERROR)
  return false
end

--- :RemoteLspList {host}
---@param a vim.api.keyset.create_user_command.command_args
function M.list(a)
  local hostname = a.fargs[1]
  if not check('usage: :RemoteLspList {host}', 'host', hostname, valid_host) then
    return
  end
  host.run(hostname, { 'list', '--json' }, function(err, rows)
    if err then
      return notify(('list on %s failed: %s'):format(hostname, err), ERROR)
    end
    if #rows == 0 then
      return notify(('no language servers on %s'):format(hostname))
    end
    local buf = scratch('remote-lsp://' .. hostname .. '/list', rows_to_lines(rows))
    vim.keymap.set('n', '<CR>', function()
      local row = rows[vim.api.nvim_win_get_cursor(0)[1] - 1]
      if row then
        M.attach_to(row.name, hostname, row.pid, row.root)
      end
    end, { buffer = buf, desc = 'attach to this language server' })
  end, config.options.host_timeout)
end

--- :RemoteLspProcesses {host} {pattern}
---@param a vim.api.keyset.create_user_command.command_args
function M.processes(a)
  local hostname, pattern = a.fargs[1], table.concat(vim.list_slice(a.fargs, 2), ' ')
  local usage = 'usage: :RemoteLspProcesses {host} {pattern}'
  if not (check(usage, 'host', hostname, valid_host) and check(usage, 'pattern', pattern, non_empty)) then
    return
  end
  host.run(hostname, { 'processes', pattern, '--json' }, function(err, rows)
    if err then
      return notify(('processes on %s failed: %s'):format(hostname, err), ERROR)
    end
    local lines = { ('%-8s %-8s %s'):format('PID', 'MEMORY', 'COMMAND') }
    for _, r in ipairs(rows) do
      lines[#lines + 1] = ('%-8d %6dMB %s'):format(r.pid, math.floor(r.rss_kb / 1024), table.concat(r.argv, ' '))
    end
    scratch('remote-lsp://' .. hostname .. '/processes', lines)
  end, config.options.host_timeout)
end

--- The server's definition if attaching to it is allowed; else tell the user why, and nil.
local function attachable(server)
  if not config.options.enable_pid_attachment then
    notify('attaching by PID is off: setup({ enable_pid_attachment = true }) enables it', ERROR)
    return nil
  end
  local function unknown(name)
    return ('unknown server %q (known: %s)'):format(tostring(name), table.concat(config.server_names(), ', '))
  end
  if check(unknown, 'server', server, known_server) then
    return config.server(server)
  end
  return nil
end

--- Attach to pid on host (validated there too), then start a client sharing it.
---@param server string a server name config.server() knows
---@param hostname string
---@param pid integer the server's process on the host
---@param rootdir? string absolute, on the host; default: the server's working directory
---@param force? boolean attach even if the process does not look like server (:RemoteLspAttach!)
function M.attach_to(server, hostname, pid, rootdir, force)
  local o = config.options
  local def = attachable(server)
  if
    not def
    or not check(naming('invalid host %q'), 'host', hostname, valid_host)
    or not check(naming(PID_WORDS), 'pid', pid, pid_number)
    or not check(naming('root must be an absolute path on the host, not %q'), 'root', rootdir, absolute, true)
  then
    return
  end
  notify(('attaching to %s (pid %d) on %s...'):format(server, pid, hostname))
  local args = { 'attach', tostring(pid), '--name', server, '--json', '--timeout', tostring(o.host_timeout / 1000) }
  if rootdir then
    vim.list_extend(args, { '--root', rootdir })
  end
  if force then
    table.insert(args, '--force')
  end
  host.run(hostname, args, function(err, reply)
    if err and not err:find('already managed') then
      if err:find('--force', 1, true) then
        err = err .. ' (:RemoteLspAttach! is --force)'
      end
      return notify(('attach to pid %d on %s failed: %s'):format(pid, hostname, err), ERROR)
    end
    local r = reply and reply.root or rootdir
    if not r then
      return notify('give the root: :RemoteLspAttach ' .. server .. ' ' .. hostname .. ' ' .. pid .. ' {root}', ERROR)
    end
    -- A client per protocol of the buffers it is to serve (a client serves one URI form).
    local protos = vim.tbl_keys(clients.buffers_under(hostname, r, def.filetypes or {}))
    if #protos == 0 then
      protos = { 'scp' }
    end
    table.sort(protos)
    local n, kept = 0, {}
    for _, proto in ipairs(protos) do
      local id = clients.start(nil, { server = server, host = hostname, root = r, pid = pid, def = def, proto = proto })
      if not id then
        return notify('could not start the client', ERROR)
      end
      local moved, by = clients.attach_buffers(id, hostname, r)
      n = n + moved
      for other, count in pairs(by) do
        kept[other] = (kept[other] or 0) + count
      end
    end
    local took = reply and (' in ' .. reply.ms .. ' ms') or ''
    local others = {}
    for other, count in pairs(kept) do
      others[#others + 1] = ('%d kept by %s, which serves them'):format(count, other)
    end
    table.sort(others)
    local also = #others > 0 and ('; ' .. table.concat(others, ', ')) or ''
    notify(('attached to %s (pid %d) on %s, root %s: %d buffer(s)%s%s'):format(server, pid, hostname, r, n, took, also))
  end, o.host_timeout)
end

--- :RemoteLspAttach[!] {server} {host} [{pid} [{root}]]: with !, even a process that does not look like server
---@param a vim.api.keyset.create_user_command.command_args
function M.attach(a)
  local server, hostname, pid, rootdir = unpack(a.fargs)
  local usage = 'usage: :RemoteLspAttach {server} {host} [{pid} [{root}]]'
  if
    not check(usage, 'server', server, 'string')
    or not check(usage, 'host', hostname, 'string')
    or not attachable(server)
    or not check(naming('invalid host %q'), 'host', hostname, valid_host)
    or not check(naming('root must be an absolute path on the host, not %q'), 'root', rootdir, absolute, true)
    or not check(naming(PID_WORDS), 'pid', pid, pid_text, true)
  then
    return
  end
  if pid then
    return M.attach_to(server, hostname, tonumber(pid), rootdir, a.bang)
  end
  -- No pid: discover, then pick by attachment_strategy.
  host.run(hostname, { 'list', '--json' }, function(err, rows)
    if err then
      return notify(('list on %s failed: %s'):format(hostname, err), ERROR)
    end
    local found = vim.tbl_filter(function(r)
      return r.name == server
    end, rows)
    if #found == 0 then
      return notify(('no %s running on %s'):format(server, hostname), WARN)
    end
    local strategy = config.options.attachment_strategy
    -- Newest first.
    table.sort(found, function(x, y)
      return x.started > y.started
    end)
    if strategy == 'newest' or #found == 1 and strategy ~= 'prompt' then
      return M.attach_to(server, hostname, found[1].pid, found[1].root)
    elseif strategy == 'oldest' then
      return M.attach_to(server, hostname, found[#found].pid, found[#found].root)
    end
    vim.ui.select(found, {
      prompt = ('Attach to which %s on %s?'):format(server, hostname),
      format_item = function(r)
        return ('pid %d  %s  %dMB  up %s%s'):format(
          r.pid,
          r.root,
          math.floor(r.rss_kb / 1024),
          age(r.started),
          r.managed and '  (shared)' or ''
        )
      end,
    }, function(choice)
      if choice then
        M.attach_to(server, hostname, choice.pid, choice.root)
      end
    end)
  end, config.options.host_timeout)
end

--- :RemoteLspDetach [{client}]: the editor lets go; the server keeps running.
---@param a vim.api.keyset.create_user_command.command_args
function M.detach(a)
  local arg = a.fargs[1]
  if not check('usage: :RemoteLspDetach [{client}]', 'client', arg, non_empty, true) then
    return
  end
  local mine = clients.list()
  local pick = vim.tbl_filter(function(c)
    if arg then
      return tostring(c.client.id) == arg or c.client.name == arg
    end
    return #vim.lsp.get_clients({ bufnr = 0, id = c.client.id }) > 0
  end, mine)
  if #pick == 0 and not arg and #mine == 1 then
    pick = mine
  end
  if #pick == 0 then
    return notify(arg and ('no remote client %q'):format(arg) or 'no remote client here', ERROR)
  end
  local function go(c)
    local ended = clients.ended(c)
    local down = require('remote-lsp.link').is_down(c.client.id)
    c.client:stop(down) -- while reconnecting, at once: its bridge stops trying
    if ended then
      notify(('detached from %s; its server had ended (%s)'):format(clients.label(c), ended.event or 'exited'))
    elseif down then
      notify(
        ('detached from %s, whose link is down: it stops reconnecting; the server may run on there'):format(
          clients.label(c)
        )
      )
    else
      notify(('detached from %s; the server keeps running'):format(clients.label(c)))
    end
  end
  if #pick == 1 then
    return go(pick[1])
  end
  vim.ui.select(pick, {
    prompt = 'Detach which client?',
    format_item = function(c)
      return ('%d %s (%s)'):format(c.client.id, c.client.name, c.root or 'no root')
    end,
  }, function(c)
    if c then
      go(c)
    end
  end)
end

--- The remote client of buffer buf, if it has one.
---@param buf integer
---@return remote_lsp.RemoteClient|nil
local function client_of(buf)
  for _, c in ipairs(clients.list()) do
    if c.host and c.client.attached_buffers[buf] then
      return c
    end
  end
  return nil
end

--- The servers for buf's filetype that exited at start on hostname.
---@param buf integer
---@param hostname string
---@return string[] names
local function failures_for(buf, hostname)
  local names = {}
  for _, cand in ipairs(config.servers_for(vim.bo[buf].filetype)) do
    if clients.failure(cand.name, hostname) then
      names[#names + 1] = cand.name
    end
  end
  return names
end

--- This Neovim's own log (log.lua), as :RemoteLspLog shows it.
---@return string[]
local function own_log()
  local lines = { ("# this Neovim: remote-lsp's log, %s"):format(log.path()) }
  local tail = log.tail(LOG_LINES)
  vim.list_extend(lines, #tail > 0 and tail or { "(empty: setup's log_level says what goes in)" })
  return lines
end

--- :RemoteLspLog [{host}]: this Neovim's own log, then the agent's log on the host
--- (default: this buffer's) and the stderr of this buffer's server there, in a
--- scratch buffer; with no host (not a remote buffer), this Neovim's log alone.
---@param a vim.api.keyset.create_user_command.command_args
function M.log(a)
  local buf = vim.api.nvim_get_current_buf()
  local _, bufhost = uri.parse(vim.api.nvim_buf_get_name(buf))
  local c = client_of(buf)
  local hostname = a.fargs[1] or (c and c.host) or bufhost
  if hostname == nil then
    scratch('remote-lsp://log', own_log())
    vim.cmd('normal! G')
    return
  end
  if not check("usage: :RemoteLspLog [{host}] (no host: this remote buffer's)", 'host', hostname, valid_host) then
    return
  end
  local args = { 'log', '--json', '--lines', tostring(LOG_LINES) }
  if c and c.host == hostname then
    if c.pid then
      vim.list_extend(args, { '--server', tostring(c.pid) })
    else
      vim.list_extend(args, { '--name', c.server, '--root', c.root })
    end
  elseif bufhost == hostname then
    local name = failures_for(buf, hostname)[1]
    if name then
      vim.list_extend(args, { '--name', name })
    end
  end
  host.run(hostname, args, function(err, out)
    if err then
      return notify(('log on %s failed: %s'):format(hostname, err), ERROR)
    end
    local lines = { ("# %s: the agent's log, %s"):format(hostname, out.agent.path) }
    vim.list_extend(lines, #out.agent.lines > 0 and out.agent.lines or { '(empty)' })
    local s = out.server
    if type(s) == 'table' then
      lines[#lines + 1] = ''
      local who = s.pid ~= vim.NIL and s.pid and ('%s, pid %d'):format(s.name, s.pid) or s.name
      lines[#lines + 1] = ('# %s: the stderr of %s, %s'):format(hostname, who, s.path ~= vim.NIL and s.path or '-')
      if s.note ~= '' then
        lines[#lines + 1] = s.note
      else
        vim.list_extend(lines, #s.lines > 0 and s.lines or { '(it wrote nothing to stderr)' })
      end
    end
    -- This Neovim's log first: the end of the buffer, where the cursor goes, is the host's.
    lines = vim.list_extend(vim.list_extend(own_log(), { '' }), lines)
    scratch('remote-lsp://' .. hostname .. '/log', lines)
    vim.cmd('normal! G')
  end, config.options.host_timeout)
end

--- :RemoteLspRestart: stop this buffer's server on its host and start it again,
--- with every buffer it served; or start again a server that exited at start.
function M.restart()
  local buf = vim.api.nvim_get_current_buf()
  local c = client_of(buf)
  if c then
    return clients.restart_server(c)
  end
  local proto, hostname = uri.parse(vim.api.nvim_buf_get_name(buf))
  local names = proto and failures_for(buf, hostname) or {}
  if #names == 0 then
    return notify('no remote language server for this buffer to restart', ERROR)
  end
  for _, name in ipairs(names) do
    clients.forget_failure(name, hostname)
  end
  notify(('starting %s on %s again'):format(table.concat(names, ', '), hostname))
  -- Every loaded buffer of that host it would serve: they start (or join) it.
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    local bproto, bhost = uri.parse(vim.api.nvim_buf_get_name(b))
    if vim.api.nvim_buf_is_loaded(b) and bproto and bhost == hostname then
      for _, cand in ipairs(config.servers_for(vim.bo[b].filetype)) do
        if vim.tbl_contains(names, cand.name) then
          vim.b[b].remote_lsp_told = nil
          require('remote-lsp').on_remote_buffer(b)
          break
        end
      end
    end
  end
end

--- :RemoteLspStatus: this Neovim's clients, and the agent of each host they use (this machine's
--- for servers shared by share_local).
function M.status()
  local mine = clients.list()
  local lines = { 'Local clients:' }
  local hosts = {}
  for _, c in ipairs(mine) do
    local buffers = vim.tbl_count(c.client.attached_buffers)
    if c.host then
      lines[#lines + 1] = ('  %d %s  root %s  buffers %d%s  link: %s'):format(
        c.client.id,
        c.client.name,
        c.root,
        buffers,
        c.pid and ('  pid ' .. c.pid) or '',
        require('remote-lsp.link').describe(c.client.id)
      )
    else
      lines[#lines + 1] = ('  %d %s  root %s  buffers %d  shared on this machine'):format(
        c.client.id,
        c.client.name,
        c.root or '(its working directory)',
        buffers
      )
    end
    hosts[c.host or ''] = true
  end
  if #mine == 0 then
    lines[#lines + 1] = '  none'
  end
  local buf = scratch('remote-lsp://status', lines)
  for hostname in pairs(hosts) do
    local where = hostname ~= '' and hostname or nil
    host.run(where, { 'status', '--json' }, function(err, st)
      local add = { '', where and ('Agent on ' .. where .. ':') or 'Agent on this machine:' }
      if err then
        add[#add + 1] = '  ' .. err
      elseif st.agent == vim.NIL or not st.agent then
        add[#add + 1] = '  not running'
      else
        add[#add + 1] = ('  version %s, pid %d, %d kB'):format(st.agent.version, st.agent.pid, st.agent.rss_kb)
        for _, i in ipairs(st.instances) do
          add[#add + 1] = ('  %s pid %d  %s  %d client(s)%s'):format(
            i.name,
            i.pid,
            i.root,
            #i.clients,
            i.adopted and '  (attached)' or ''
          )
        end
      end
      if vim.api.nvim_buf_is_valid(buf) then
        vim.bo[buf].modifiable = true
        vim.api.nvim_buf_set_lines(buf, -1, -1, false, add)
        vim.bo[buf].modifiable = false
      end
    end, config.options.host_timeout)
  end
end

-- Completion ----------------------------------------------------------------------------

local function matching(list, lead)
  return vim.tbl_filter(function(x)
    return vim.startswith(x, lead)
  end, list)
end

--- Which argument of its command line is being completed (1 for the first).
local function argument(line)
  return #vim.split(line, '%s+', { trimempty = false }) - 1
end

--- Completion of the {host} of :RemoteLspList, :RemoteLspProcesses and :RemoteLspLog: hosts of
--- the ssh config; nothing for the arguments after it (a pattern is the user's).
---@param lead string
---@param line string the command line so far
---@return string[]
function M.complete_host(lead, line)
  if line and argument(line) > 1 then
    return {}
  end
  return matching(host.ssh_hosts(), lead)
end

--- The pids of server running on hostname, asked of the host (within host_timeout).
local function running(server, hostname)
  if not valid_host(hostname) then
    return {}
  end
  local rows
  host.run(hostname, { 'list', '--json' }, function(err, got)
    rows = err and {} or got
  end, config.options.host_timeout)
  vim.wait(config.options.host_timeout, function()
    return rows ~= nil
  end, 20)
  local pids = {}
  for _, r in ipairs(rows or {}) do
    if r.name == server then
      pids[#pids + 1] = tostring(r.pid)
    end
  end
  return pids
end

--- Completion of :RemoteLspAttach: servers, then hosts, then the pids of that server on that host.
---@param lead string
---@param line string the command line so far
---@return string[]
function M.complete_attach(lead, line)
  local n = argument(line)
  if n == 1 then
    return matching(config.server_names(), lead)
  end
  if n == 2 then
    return matching(host.ssh_hosts(), lead)
  end
  if n == 3 then
    local words = vim.split(vim.trim(line), '%s+')
    return matching(running(words[2], words[3]), lead)
  end
  return {}
end

--- Completion of :RemoteLspDetach: our clients' ids.
---@param lead string
---@return string[]
function M.complete_detach(lead)
  return matching(
    vim.tbl_map(function(c)
      return tostring(c.client.id)
    end, clients.list()),
    lead
  )
end

return M
