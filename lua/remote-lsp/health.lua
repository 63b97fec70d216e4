-- :checkhealth remote-lsp
local M = {}

--- Run argv to its end (a check may wait); nil and why if it cannot start.
---@param argv string[]
---@param timeout? integer ms (default 15000)
---@return vim.SystemCompleted|nil
---@return string|nil err
local function run(argv, timeout)
  local ok, res = pcall(function()
    return vim.system(argv, { text = true }):wait(timeout or 15000)
  end)
  if not ok then
    return nil, tostring(res)
  end
  return res
end

--- The servers a host is checked for: those of `servers` if any are given, else the built-ins.
---@return string[]
local function server_pool()
  local config = require('remote-lsp.config')
  local pool = next(config.options.servers) and vim.tbl_keys(config.options.servers) or vim.tbl_keys(config.builtin)
  table.sort(pool)
  return pool
end

--- One host, in one call there (`remote-lsp doctor`): ssh in BatchMode, python3,
--- the agent, which servers exist and whether each runs, ptrace.
---@param h table vim.health
---@param name string the host
local function check_host(h, name)
  local config = require('remote-lsp.config')
  local host = require('remote-lsp.host')
  h.start('remote-lsp: host ' .. name)
  local args = { 'doctor', '--json' }
  for _, server in ipairs(server_pool()) do
    local def = config.server(server)
    if def then
      vim.list_extend(args, { '--server', server, vim.json.encode(def.cmd) })
    end
  end
  local r = run(host.argv(name, args), 60000)
  local ok, st = pcall(vim.json.decode, r and r.stdout or '')
  if not r or r.code ~= 0 or not ok or type(st) ~= 'table' or st.error then
    local msg = ok and type(st) == 'table' and type(st.error) == 'table' and st.error.message
      or vim.trim(r and (r.stderr ~= '' and r.stderr or r.stdout) or 'did not run')
    if msg:find('never prompts', 1, true) then
      h.error('ssh (BatchMode) cannot log in: ' .. msg, {
        'put your key in ssh-agent: ssh-add (and make the host accept it: ssh-copy-id ' .. name .. ')',
        'or add ControlMaster auto, ControlPath and ControlPersist for '
          .. name
          .. ' to your ssh config and run `ssh '
          .. name
          .. '` once: remote-lsp rides that connection (transport openssh)',
      })
    else
      h.error('unreachable: ' .. msg)
    end
    return
  end
  h.ok(('ssh: reachable in BatchMode (transport %s)'):format(config.options.transport))
  local major, minor = tostring(st.host.python):match('^(%d+)%.(%d+)')
  if tonumber(major) == 3 and tonumber(minor) >= 8 then
    h.ok(('reachable; Python %s on %s'):format(st.host.python, st.host.machine))
  else
    h.error(('python3 there is %s; remote-lsp needs 3.8 or newer'):format(st.host.python))
  end
  if st.agent and st.agent ~= vim.NIL then
    h.ok(('agent %s running (pid %d), %d server(s)'):format(st.agent.version, st.agent.pid, st.instances))
  elseif st.agent_problem and st.agent_problem ~= vim.NIL then
    h.error(st.agent_problem)
  else
    h.ok('agent not running (it starts on first use), version ' .. st.host.version .. ' installed')
  end
  for _, s in ipairs(st.servers) do
    local argv = table.concat(s.argv, ' ')
    if s.state == 'ok' then
      local version = s.version ~= vim.NIL and s.version and (' (' .. s.version .. ')') or ''
      h.ok(('%s runs: %s%s'):format(s.name, s.path, version))
    elseif s.state == 'missing' then
      h.info(('%s: not installed (%s)'):format(s.name, s.detail))
    elseif s.state == 'silent' then
      h.warn(('%s: %s'):format(s.name, s.detail), { 'try `' .. argv .. '` on ' .. name })
    else
      local said = #s.stderr > 0 and (': ' .. table.concat(s.stderr, ' / ')) or ''
      h.error(('%s is broken: %s%s'):format(s.name, s.detail, said), {
        'run `' .. argv .. '` on ' .. name .. ' to see it fail; :RemoteLspLog shows a failed start',
      })
    end
  end
  local watches = st.host.max_user_watches
  local watcher = st.agent ~= vim.NIL and st.agent and st.agent.watcher
  if watcher and watcher ~= vim.NIL and watcher.problem ~= '' then
    local advice = watcher.problem:find('max_user_watches', 1, true)
        and {
          'servers still see files changed on disk, later (polling)',
          'raise the limit: sysctl fs.inotify.max_user_watches=524288',
        }
      or { 'a directory removed is watched again once it is made' }
    h.warn('file watching: ' .. watcher.problem, advice)
  elseif watches == vim.NIL or watches == nil then
    h.info('file watching: no inotify on ' .. name .. ': the agent polls for the servers')
  else
    h.ok(('file watching: inotify (fs.inotify.max_user_watches = %d)'):format(watches))
  end
  local scope = st.host.ptrace_scope
  if scope == vim.NIL or scope == nil or scope == 0 then
    h.ok('ptrace allowed (Yama ptrace_scope ' .. (scope == vim.NIL and 'absent' or tostring(scope)) .. ')')
  else
    h.warn(
      ('Yama ptrace_scope = %d: attaching by PID to servers not started by the agent is refused'):format(scope),
      { 'start servers with `remote-lsp run`', 'or sysctl kernel.yama.ptrace_scope=0' }
    )
  end
end

--- :checkhealth remote-lsp: Neovim, Python and its packages, ssh, and each host in use.
function M.check()
  local h = vim.health
  local config = require('remote-lsp.config')
  local host = require('remote-lsp.host')
  local o = config.options

  h.start('remote-lsp: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    h.ok('Neovim ' .. tostring(vim.version()))
  else
    h.error('Neovim 0.11 or newer is needed, this is ' .. tostring(vim.version()))
  end
  if config.configured then
    h.ok("require('remote-ssh').setup() was called")
  else
    h.warn("require('remote-ssh').setup() has not been called: remote buffers start no server")
  end

  h.start('remote-lsp: Python (' .. o.python .. ')')
  local res, err = run({ o.python, '-c', 'import sys; print(".".join(map(str, sys.version_info[:3])))' })
  if not res or res.code ~= 0 then
    h.error(
      ('%s does not run: %s'):format(o.python, err or vim.trim(res.stderr or '')),
      { 'set the `python` option to a Python 3.8+ interpreter' }
    )
  else
    local v = vim.trim(res.stdout)
    local major, minor = v:match('^(%d+)%.(%d+)')
    if tonumber(major) == 3 and tonumber(minor) >= 8 then
      h.ok('Python ' .. v)
    else
      h.error('Python 3.8 or newer is needed, found ' .. v)
    end
    for _, pkg in ipairs({ 'paramiko', 'pynvim' }) do
      local r = run({ o.python, '-c', 'import ' .. pkg })
      local needed = pkg == 'paramiko' and o.transport == 'paramiko'
      if r and r.code == 0 then
        h.ok(pkg .. ' is installed')
      elseif needed then
        h.error(pkg .. ' is not installed, and transport = "paramiko" needs it', { 'pip install ' .. pkg })
      else
        h.info(pkg .. ' is not installed (optional)')
      end
    end
  end
  if vim.fn.filereadable(host.proxy()) == 1 then
    h.ok('proxy: ' .. host.proxy())
  else
    h.error('proxy not found at ' .. host.proxy())
  end

  h.start('remote-lsp: search')
  local chosen, _, missing = require('remote-lsp.search').resolve()
  if missing then
    h.warn(("picker = '%s' is not installed: vim.ui.select is used"):format(o.picker))
  else
    h.ok(("picker: %s (picker = '%s')"):format(chosen, o.picker))
  end

  h.start('remote-lsp: files')
  local files = require('remote-lsp.files')
  local by = files.served_by()
  if by == 'remote-lsp' then
    h.ok('scp://, sftp://, rsync:// buffers are read and written by remote-lsp, through the agent (files = true)')
    for _, name in ipairs(require('remote-lsp.files.channel').hosts()) do
      h.info(
        ('file channel to %s: %d file(s) watched'):format(
          name,
          vim.tbl_count(require('remote-lsp.files.watch').watched(name))
        )
      )
    end
  elseif by == 'both' then
    h.error('netrw and remote-lsp both handle scp://, sftp://, rsync:// buffers', {
      "netrw's Network autocommands came back after setup(): call setup() again, or report this",
    })
  elseif by == 'netrw' then
    h.info('scp://, sftp://, rsync:// buffers are read and written by netrw (files = false)')
  elseif config.configured then
    h.info('scp://, sftp://, rsync:// buffers: files = false and netrw is not loaded: nothing reads them')
  else
    h.info('scp://, sftp://, rsync:// buffers: setup() not called, so netrw (if loaded) reads them')
  end

  h.start('remote-lsp: ssh')
  local ssh = run({ 'ssh', '-V' })
  if ssh and ssh.code == 0 then
    h.ok(vim.trim(ssh.stderr ~= '' and ssh.stderr or ssh.stdout))
  elseif o.transport == 'openssh' then
    h.error('ssh is not installed; install OpenSSH, or use transport = "paramiko"')
  else
    h.info('ssh is not installed (transport is paramiko)')
  end
  if vim.fn.has('python3') == 1 then
    h.ok('python3 provider: available (the remote plugin can pool connections)')
  else
    h.info('python3 provider: not set up; host calls run as jobs of the proxy instead')
  end

  local hosts = {}
  for _, c in ipairs(require('remote-lsp.clients').list()) do
    if c.host then -- a share_local client runs on this machine: no host to check
      hosts[c.host] = true
    end
  end
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    local _, name = require('remote-lsp.uri').parse(vim.api.nvim_buf_get_name(buf))
    if name then
      hosts[name] = true
    end
  end
  for _, name in ipairs(vim.g.remote_lsp_health_hosts or {}) do
    hosts[name] = true
  end
  if next(hosts) == nil then
    h.start('remote-lsp: hosts')
    h.info('no remote host in use (set g:remote_lsp_health_hosts to check some)')
  end
  for name in pairs(hosts) do
    check_host(h, name)
  end
end

return M
