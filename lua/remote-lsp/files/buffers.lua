-- Remote files in buffers, through the host's file channel: what BufReadCmd, FileReadCmd,
-- BufWriteCmd and FileWriteCmd do for scp://, sftp:// and rsync:// names, and the reload of a
-- buffer whose file changed on the host.
--
-- Vim decodes and encodes, not this code: the bytes pass through a private temporary file that
-- is read with `:read ++edit` and written with `:write`, so 'fileformat', 'fileencoding', 'bomb',
-- a missing final newline ('eol') and binary files round-trip byte for byte.
--
-- Each buffer keeps, in b:remote_lsp_file, the version of its file it last read or wrote
-- ({name, host, path, version, kind}); a write names it, and the host refuses the write if its
-- file is another version now, unless forced (:w!). Nothing is overwritten silently.
local channel = require('remote-lsp.files.channel')
local uri = require('remote-lsp.uri')

local M = {}

--- The buffer names served: netrw's, for the same transfer programs. oil-ssh:// stays oil.nvim's.
M.protocols = { 'scp', 'sftp', 'rsync' }

-- A file read ahead (a workspace edit's batch) waits this long for its BufReadCmd.
local CACHE_MS = 10000
---@type table<string, {entry: table, at: integer}> by host .. '\n' .. path
local cache = {}
-- Buffers told that their file changed on the host: once, until read or written again.
---@type table<integer, boolean>
local warned = {}
-- The :wall (:wqall, :xall) being run: its first remote write writes every buffer it will write.
---@type {done?: boolean, failed: table<integer, boolean>, force: boolean}|nil
local wall = nil
-- The command line the user just typed, parsed, until Neovim waits for the user again.
---@type {cmd: string, bang: boolean}|nil
local typed = nil
-- v:cmdbang when Neovim last waited for the user. Neovim sets v:cmdbang for a write that has a
-- command (:w!) but leaves it as it was for one that has none (:wall, 'autowrite'): a value
-- unchanged since then may be left over from an earlier command (an :e!), and forces nothing.
local idle_bang = 0
-- Commands that write, and whose ! forces a write over a change on the host.
local WRITES = {
  write = true,
  wq = true,
  xit = true,
  exit = true,
  update = true,
  saveas = true,
  wall = true,
  wqall = true,
  xall = true,
  wnext = true,
  wNext = true,
  wprevious = true,
}

local ERROR, WARN, INFO = vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO
-- The largest file the channel carries, as the host's files.MAX_FILE says (one message, base64).
local MAX_FILE = 40 * 1048576

local function notify(msg, level)
  vim.notify('remote-lsp: ' .. msg, level or INFO)
end

local function echo(msg)
  vim.api.nvim_echo({ { msg } }, true, {})
end

-- The last "written" message, shown once Neovim waits for the user again: as Vim keeps only its
-- last one, so a :wall of many files is one line, not a hit-enter prompt.
local written_msg = nil
local function echo_written(msg)
  if not written_msg then
    vim.api.nvim_create_autocmd('SafeState', {
      once = true,
      callback = function()
        local m = written_msg
        written_msg = nil
        if m then
          echo(m)
        end
      end,
    })
  end
  written_msg = msg
end

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
function M.state(buf)
  if not vim.api.nvim_buf_is_valid(buf) then
    return nil
  end
  local st = vim.b[buf].remote_lsp_file
  return type(st) == 'table' and st or nil
end

local function set_state(buf, st)
  vim.b[buf].remote_lsp_file = st
end

local function version_of(st)
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
    local st = vim.api.nvim_buf_is_loaded(buf) and M.state(buf)
    if st and st.host == host and st.path == path and st.kind == 'file' then
      out[#out + 1] = buf
    end
  end
  return out
end

local function fnameescape(name)
  return vim.fn.fnameescape(name)
end

--- `:read` of a private temporary file into the current buffer (Vim decodes it), leaving no
--- buffer behind for the temporary file (:read makes one, keepalt or not).
---@param tmp string
---@param how string the range and ++opt arguments of :read
local function read_tmp(tmp, how)
  local ok, err = pcall(vim.cmd, ('silent lockmarks keepalt keepjumps noautocmd %s %s'):format(how, fnameescape(tmp)))
  local left = vim.fn.bufnr(tmp)
  if left > 0 and vim.api.nvim_buf_get_name(left) == tmp and not vim.api.nvim_buf_is_loaded(left) then
    pcall(vim.api.nvim_buf_delete, left, { force = true })
  end
  if not ok then
    error(err, 0)
  end
end

local function doautocmd(buf, event, name, modeline)
  vim.api.nvim_buf_call(buf, function()
    vim.cmd(('silent doautocmd %s %s %s'):format(modeline and '' or '<nomodeline>', event, fnameescape(name)))
  end)
end

--- An error (the host's {code, message}, a JSON-RPC error, a string) in one line.
local function why(err)
  local msg = type(err) == 'table' and (err.message or err.code) or err
  return (tostring(msg):gsub('^remote%-lsp: ', ''):gsub('\n.*', ''))
end

--- One line naming the host and the path: the host's own words ("cannot write PATH: ...") and the
--- host, or "cannot read NAME: why" for what is not the host's word (no answer, a conversion...).
local function failure(what, name, err)
  if type(err) == 'table' and type(err.code) == 'string' and err.message then
    local host = M.split(name)
    return ('%s (on %s)'):format(why(err), host)
  end
  return ('cannot %s %s: %s'):format(what, name, why(err))
end

--- Entries of paths on host, one files/read for those not read ahead; nil and why if unanswered.
---@param host string
---@param paths string[]
---@return table<string, table>|nil entries by path
---@return string|nil err
local function fetch(host, paths)
  local out, missing = {}, {}
  local now = vim.uv.now()
  for _, path in ipairs(paths) do
    local key = host .. '\n' .. path
    local c = cache[key]
    cache[key] = nil
    if c and now - c.at < CACHE_MS then
      out[path] = c.entry
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

--- Read ahead, in one files/read per host (the hosts at once), the files of names whose buffers
--- are not loaded: their BufReadCmd then takes them from here. For a workspace edit.
---@param names string[] buffer names (URIs of remote files)
function M.prefetch(names)
  vim.validate('names', names, 'table')
  local loaded = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      loaded[vim.api.nvim_buf_get_name(buf)] = true
    end
  end
  local by_host, seen = {}, {}
  for _, name in ipairs(names) do
    local host, path = M.split(name)
    if host and not loaded[name] and not seen[name] then
      seen[name] = true
      by_host[host] = by_host[host] or {}
      table.insert(by_host[host], path)
    end
  end
  local waiting = 0
  for host, paths in pairs(by_host) do
    waiting = waiting + 1
    channel.request(host, 'files/read', { paths = paths }, function(err, res)
      waiting = waiting - 1
      if err or type(res) ~= 'table' then
        return -- each buffer's own read then tries, and says why
      end
      local now = vim.uv.now()
      for i, e in ipairs(res.files or {}) do
        cache[host .. '\n' .. paths[i]] = { entry = e, at = now }
      end
    end)
  end
  if waiting > 0 then
    vim.wait(channel.bound() + 1000, function()
      return waiting == 0
    end, 5)
  end
end

--- Put a file's bytes in buf as Vim reads a file: options detected as for :edit (`:read ++edit`),
--- the cursor on line 1, unmodified. Undoable when the buffer has a history (a reload), else not.
---@param buf integer
---@param data string the file's bytes
---@param cmdarg? string ++opt arguments of the command that reads it (v:cmdarg)
local function load(buf, data, cmdarg)
  local tmp = vim.fn.tempname()
  local f = assert(io.open(tmp, 'wb'))
  f:write(data)
  f:close()
  local ok, err = pcall(vim.api.nvim_buf_call, buf, function()
    local fresh = vim.fn.undotree().seq_last == 0
    local undolevels = vim.api.nvim_get_option_value('undolevels', { scope = 'local' })
    local modifiable = vim.bo.modifiable
    if fresh then
      vim.bo.undolevels = -1
    end
    vim.bo.modifiable = true
    -- The options come back whatever the read does (a failed one leaves undo as it was).
    -- lockmarks: marks and quickfix entries keep their line numbers, as Vim's own read keeps them
    -- (a `:RemoteLspGrep` list pointing into a file not loaded yet stays right once it is).
    local done, rerr = pcall(function()
      if vim.api.nvim_buf_line_count(0) > 1 or vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] ~= '' then
        vim.cmd('silent lockmarks keepjumps %delete _')
      end
      read_tmp(tmp, '0read ++edit ' .. (cmdarg or ''))
      if #data > 0 then
        vim.cmd('silent lockmarks keepjumps $delete _') -- the empty line the buffer had (:help ++edit)
      end
      if not vim.bo.eol then
        vim.bo.fixeol = false -- keep the missing final newline when written
      end
      vim.api.nvim_win_set_cursor(0, { 1, 0 })
      vim.bo.modified = false
    end)
    vim.bo.modifiable = modifiable
    if fresh then
      vim.bo.undolevels = undolevels
    end
    if not done then
      error(rerr, 0)
    end
  end)
  os.remove(tmp)
  if not ok then
    error(err, 0)
  end
end

--- The bytes of buf as `:write` makes them (fileformat, fileencoding, eol, bomb); lines line1 to
--- line2 if given, else the whole buffer. nil and why if Vim cannot (a conversion error...).
---@param buf integer
---@param line1? integer
---@param line2? integer
---@param cmdarg? string ++opt arguments of the command that writes it
---@return string|nil data
---@return string|nil err
local function render(buf, line1, line2, cmdarg)
  local tmp = vim.fn.tempname()
  local ok, err = pcall(vim.api.nvim_buf_call, buf, function()
    local cpo = vim.o.cpoptions
    -- Writing the temporary file must neither mark the buffer written (cpoptions' +) nor name it (F).
    vim.api.nvim_set_option_value('cpoptions', (cpo:gsub('[+F]', '')), {})
    local range = line1 and ('%d,%d'):format(line1, line2) or ''
    local done, e =
      pcall(vim.cmd, ('silent keepalt noautocmd %swrite! %s %s'):format(range, cmdarg or '', fnameescape(tmp)))
    vim.api.nvim_set_option_value('cpoptions', cpo, {})
    if not done then
      error(e, 0)
    end
  end)
  local data
  if ok then
    local f = io.open(tmp, 'rb')
    data = f and f:read('*a') or ''
    if f then
      f:close()
    end
  end
  os.remove(tmp)
  if not ok then
    return nil, (tostring(err):gsub('^Vim%(%a+%):', ''))
  end
  return data
end

--- The host's entry for a remote name: host, path, entry (nil on a failure) and why.
---@param name string
---@return string? host
---@return string? path
---@return table? entry
---@return string? err
local function fetch_one(name)
  local host, path = M.split(name)
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

--- BufReadCmd: read the file (a listing for a directory) into the buffer being edited.
---@param ev {buf: integer, match: string}
function M.read(ev)
  local buf, name = ev.buf, ev.match
  local host, path, e, err = fetch_one(name)
  if not host then
    return
  end
  if not e then
    set_state(buf, { name = name, host = host, path = path, version = vim.NIL, kind = 'unread' })
    return notify(failure('read', name, err or 'no answer'), ERROR)
  end
  if e.type == 'directory' then
    set_state(buf, { name = name, host = host, path = path, version = vim.NIL, kind = 'directory' })
    return require('remote-lsp.files.listing').show(buf, name, e)
  end
  if e.exists and e.type ~= 'file' then
    set_state(buf, { name = name, host = host, path = path, version = vim.NIL, kind = 'unread' })
    return notify(failure('read', name, 'not a regular file'), ERROR)
  end
  warned[buf] = nil
  set_state(buf, { name = name, host = host, path = path, version = e.version or vim.NIL, kind = 'file' })
  -- Written by BufWriteCmd only, as oil.nvim's buffers are; a local server enabled with
  -- vim.lsp.enable() leaves it alone (the remote file's server is on its host).
  vim.bo[buf].buftype = 'acwrite'
  if not e.exists then
    doautocmd(buf, 'BufNewFile', name, true)
    echo(('"%s" [New]'):format(name))
  else
    doautocmd(buf, 'BufReadPre', name, false)
    local ok, lerr = pcall(load, buf, vim.base64.decode(e.data or ''), vim.v.cmdarg)
    if not ok then
      set_state(buf, { name = name, host = host, path = path, version = vim.NIL, kind = 'unread' })
      return notify(failure('read', name, lerr), ERROR)
    end
    vim.bo[buf].readonly = e.writable == false
    doautocmd(buf, 'BufReadPost', name, true)
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
    return notify(failure('read', name, err or 'no answer'), ERROR)
  end
  local tmp = vim.fn.tempname()
  local f = assert(io.open(tmp, 'wb'))
  f:write(vim.base64.decode(e.data or ''))
  f:close()
  doautocmd(buf, 'FileReadPre', name, false)
  local ok, rerr = pcall(vim.api.nvim_buf_call, buf, function()
    local line = vim.fn.line("'[")
    read_tmp(tmp, ('%dread %s'):format(line, vim.v.cmdarg))
  end)
  os.remove(tmp)
  if not ok then
    return notify(failure('read', name, rerr), ERROR)
  end
  doautocmd(buf, 'FileReadPost', name, false)
end

---@class remote_lsp.WriteItem
---@field buf integer
---@field name string where it goes
---@field own boolean the buffer's own file, as a whole
---@field line1? integer a part of the buffer only (FileWriteCmd)
---@field line2? integer
---@field data? string
---@field expect? string|userdata
---@field tick? integer b:changedtick when its bytes were taken
---@field lines? integer

local function told_conflict(item, host, st)
  if not item.own then
    return notify(('"%s": E13: File exists on %s (add ! to override)'):format(item.name, host), ERROR)
  end
  if st and st.kind == 'unread' then
    return notify(
      ('"%s" could not be read from %s, and the file is there: :e reads it, :w! overwrites it'):format(item.name, host),
      ERROR
    )
  end
  local msg = '"%s": WARNING: the file has changed on %s since it was read; not written'
  notify((msg .. ' (:w! overwrites it, :e! reloads it)'):format(item.name, host), ERROR)
end

--- What the host answered for item: the buffer marked written only if the host has its bytes.
local function settle(item, host, path, r, late)
  local buf = item.buf
  if not vim.api.nvim_buf_is_valid(buf) then
    return false
  end
  if not r.ok then
    local code = type(r.error) == 'table' and r.error.code or nil
    if code == 'conflict' then
      told_conflict(item, host, M.state(buf))
    else
      notify(failure('write', item.name, r.error or 'refused'), ERROR)
    end
    return false
  end
  local st = M.state(buf)
  if item.own then
    local new = not version_of(st)
    set_state(buf, { name = item.name, host = host, path = path, version = r.version or vim.NIL, kind = 'file' })
    warned[buf] = nil
    if not item.line1 and vim.api.nvim_buf_get_changedtick(buf) == item.tick then
      vim.bo[buf].modified = false
    end
    echo_written(
      ('"%s" %s%dL, %dB written%s'):format(
        item.name,
        new and '[New] ' or '',
        item.lines,
        #item.data,
        late and ' (after all)' or ''
      )
    )
  else
    if not item.line1 and vim.o.cpoptions:find('+', 1, true) and vim.api.nvim_buf_get_changedtick(buf) == item.tick then
      vim.bo[buf].modified = false
    end
    echo_written(('"%s" %dL, %dB written'):format(item.name, item.lines, #item.data))
  end
  return true
end

--- Write items in one files/write per host; true for each written.
---@param items remote_lsp.WriteItem[]
---@param force boolean :w!
---@param cmdarg string
---@return table<integer, boolean> written, by index in items
local function write_items(items, force, cmdarg)
  local written = {}
  local by_host = {}
  for i, item in ipairs(items) do
    local host, path = M.split(item.name)
    if host then
      doautocmd(item.buf, item.line1 and 'FileWritePre' or 'BufWritePre', item.name, false)
      local data, err = render(item.buf, item.line1, item.line2, cmdarg)
      if data and #data > MAX_FILE then
        data, err = nil, ('more than %d MB: too large for the file channel'):format(MAX_FILE / 1048576)
      end
      if not data then
        notify(failure('write', item.name, err), ERROR)
      else
        local st = M.state(item.buf)
        item.data = data
        item.tick = vim.api.nvim_buf_get_changedtick(item.buf)
        item.lines = item.line1 and (item.line2 - item.line1 + 1) or vim.api.nvim_buf_line_count(item.buf)
        if data == '' then
          item.lines = 0
        end
        item.expect = vim.NIL
        if item.own and st and st.name == item.name and st.kind == 'file' then
          item.expect = st.version
        end
        by_host[host] = by_host[host] or {}
        table.insert(by_host[host], { index = i, path = path })
      end
    end
  end
  for host, group in pairs(by_host) do
    local files = {}
    for _, g in ipairs(group) do
      local item = items[g.index]
      files[#files + 1] = { path = g.path, data = vim.base64.encode(item.data), expect = item.expect, force = force }
    end
    local function answer(res, late)
      for k, g in ipairs(group) do
        local r = type(res) == 'table' and res.files and res.files[k] or { ok = false, error = 'no answer' }
        local item = items[g.index]
        if settle(item, host, g.path, r, late) then
          written[g.index] = true
          if not late then
            doautocmd(item.buf, item.line1 and 'FileWritePost' or 'BufWritePost', item.name, false)
          end
        end
      end
    end
    local res, err = channel.request_sync(host, 'files/write', { files = files }, function(e, r)
      if not e then
        answer(r, true) -- the host did it after the editor stopped waiting: now it is known
      end
    end)
    if not res then
      for _, g in ipairs(group) do
        local item = items[g.index]
        notify(failure('write', item.name, err) .. '; the buffer keeps your changes', ERROR)
      end
    else
      answer(res, false)
    end
  end
  return written
end

--- Whether buf would be written by :wall now (it is, if it is ours, by the batch).
local function wall_writes(buf, force)
  if not vim.api.nvim_buf_is_loaded(buf) or not vim.bo[buf].modified then
    return false
  end
  if vim.bo[buf].buftype ~= '' and vim.bo[buf].buftype ~= 'acwrite' then
    return false
  end
  if vim.bo[buf].readonly and not force then
    return false
  end
  local st = M.state(buf)
  return st ~= nil and st.kind ~= 'directory' and M.split(vim.api.nvim_buf_get_name(buf)) ~= nil
end

--- BufWriteCmd: write the buffer to its file (or to another name: `:w scp://...`).
--- In a :wall, :wqall or :xall, the first one writes every remote buffer the command will write,
--- in one request per host; Vim then skips those written (no longer modified).
---@param ev {buf: integer, match: string}
function M.write(ev)
  local buf, name = ev.buf, ev.match
  local force = M.forced()
  local own = name == vim.api.nvim_buf_get_name(buf)
  if wall and own then
    if wall.failed[buf] then
      return -- told already: it stays modified, so the command fails for it
    end
    if not wall.done then
      wall.done = true
      local items = { { buf = buf, name = name, own = true } }
      for _, b in ipairs(vim.api.nvim_list_bufs()) do
        if b ~= buf and wall_writes(b, force) then
          items[#items + 1] = { buf = b, name = vim.api.nvim_buf_get_name(b), own = true }
        end
      end
      local written = write_items(items, force, vim.v.cmdarg)
      for i, item in ipairs(items) do
        if not written[i] then
          wall.failed[item.buf] = true
        end
      end
      return
    end
  end
  write_items({ { buf = buf, name = name, own = own } }, force, vim.v.cmdarg)
end

--- FileWriteCmd (`:'<,'>w scp://...`): lines '[ to '] of the buffer to the file.
---@param ev {buf: integer, match: string}
function M.write_part(ev)
  local buf, name = ev.buf, ev.match
  local line1 = vim.api.nvim_buf_get_mark(buf, '[')[1]
  local line2 = vim.api.nvim_buf_get_mark(buf, ']')[1]
  write_items({ { buf = buf, name = name, own = false, line1 = line1, line2 = line2 } }, M.forced(), vim.v.cmdarg)
end

--- Whether the write being done was forced (:w!): the bang of the command the user typed if it
--- writes, else v:cmdbang if this command set it; never a v:cmdbang left over from another one.
---@return boolean
function M.forced()
  if wall then
    return wall.force
  end
  if typed and WRITES[typed.cmd] then
    return typed.bang
  end
  return vim.v.cmdbang == 1 and idle_bang ~= 1
end

--- SafeState: Neovim waits for the user; what was typed is over.
function M.on_safe_state()
  idle_bang = vim.v.cmdbang
  typed = nil
  wall = nil
end

--- CmdlineLeave: the command about to run is known; a :wall, :wqall or :xall has its remote
--- writes batched.
function M.on_cmdline_leave()
  local ev = vim.v.event
  if ev.abort or ev.cmdtype ~= ':' then
    return
  end
  local ok, cmd = pcall(vim.api.nvim_parse_cmd, vim.fn.getcmdline(), {})
  if not ok then
    return
  end
  typed = { cmd = cmd.cmd, bang = cmd.bang == true }
  if cmd.cmd == 'wall' or cmd.cmd == 'wqall' or cmd.cmd == 'xall' then
    wall = { failed = {}, force = cmd.bang == true }
  end
end

--- Put a new version of its file in buf, keeping the cursor and view of every window on it.
local function reload(buf, e)
  local views = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    views[win] = vim.api.nvim_win_call(win, vim.fn.winsaveview)
  end
  load(buf, vim.base64.decode(e.data or ''))
  for win, view in pairs(views) do
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_call(win, function()
        vim.fn.winrestview(view)
      end)
    end
  end
  local st = M.state(buf)
  st.version = e.version or vim.NIL
  set_state(buf, st)
  vim.bo[buf].readonly = e.writable == false
end

local function warn_changed(buf, host)
  if warned[buf] then
    return
  end
  warned[buf] = true
  local msg = 'W12: Warning: File "%s" has changed on %s and the buffer was changed in Vim as well'
  notify((msg .. ' (:w! overwrites it, :e! reloads it)'):format(vim.api.nvim_buf_get_name(buf), host), WARN)
end

--- Files changed on host (a files/changed notification, or the answer of files/watch): an
--- unmodified buffer is reloaded, a modified one warned once, a deleted file told once.
---@param host string
---@param changes {path: string, kind: string, version?: string}[]
function M.changed(host, changes)
  vim.validate('host', host, 'string')
  vim.validate('changes', changes, 'table')
  if channel.waiting() then
    -- A read or write is being waited for: the buffers are left alone until it is done.
    return vim.defer_fn(function()
      M.changed(host, changes)
    end, 20)
  end
  local stale, paths = {}, {}
  for _, c in ipairs(changes) do
    for _, buf in ipairs(M.buffers_of(host, c.path)) do
      local st = M.state(buf)
      local version = c.version ~= vim.NIL and c.version or nil
      if version ~= version_of(st) then
        if c.kind == 'deleted' then
          if version_of(st) then
            st.version = vim.NIL -- :w writes it again
            set_state(buf, st)
            notify(('"%s" was deleted on %s (:w writes it again)'):format(st.name, host), WARN)
          end
        elseif vim.bo[buf].modified then
          warn_changed(buf, host)
        else
          if not stale[c.path] then
            stale[c.path] = {}
            paths[#paths + 1] = c.path
          end
          table.insert(stale[c.path], buf)
        end
      end
    end
  end
  if #paths == 0 then
    return
  end
  channel.request(host, 'files/read', { paths = paths }, function(err, res)
    if err or type(res) ~= 'table' then
      return notify(('cannot reload the files changed on %s: %s'):format(host, why(err)), WARN)
    end
    local names = {}
    for i, e in ipairs(res.files or {}) do
      for _, buf in ipairs(stale[paths[i]] or {}) do
        local st = M.state(buf)
        if st and vim.api.nvim_buf_is_loaded(buf) and e.exists and e.type == 'file' and e.version ~= version_of(st) then
          if vim.bo[buf].modified then
            warn_changed(buf, host)
          else
            local ok, lerr = pcall(reload, buf, e)
            if ok then
              names[#names + 1] = st.name
            else
              notify(failure('reload', st.name, lerr), ERROR)
            end
          end
        end
      end
    end
    if #names > 0 then
      notify(('%s changed on %s: reloaded'):format(table.concat(names, ', '), host))
    end
  end)
end

--- Forget what is kept for a buffer that goes away.
---@param buf integer
function M.forget(buf)
  warned[buf] = nil
end

return M
