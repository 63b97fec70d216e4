-- Writing remote files: BufWriteCmd (the buffer to its file, or to another name: `:w scp://...`)
-- and FileWriteCmd (`:'<,'>w scp://...`), in one files/write per host. A buffer is marked written
-- only once the host answered that it holds its bytes; a write the host refuses as a conflict
-- (its file is another version than the buffer's) is told, and changes nothing.
local channel = require('remote-lsp.files.channel')
local force = require('remote-lsp.files.force')
local log = require('remote-lsp.log')
local reload = require('remote-lsp.files.reload')
local state = require('remote-lsp.files.state')
local text = require('remote-lsp.files.text')
local wall = require('remote-lsp.files.wall')

local M = {}

-- The largest file the channel carries, as the host's files.MAX_FILE says (one message, base64).
local MAX_FILE = 40 * 1048576

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
          log.echo(m)
        end
      end,
    })
  end
  written_msg = msg
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
    return log.error(('"%s": E13: File exists on %s (add ! to override)'):format(item.name, host))
  end
  if st and st.kind == 'unread' then
    return log.error(
      ('"%s" could not be read from %s, and the file is there: :e reads it, :w! overwrites it'):format(item.name, host)
    )
  end
  local msg = '"%s": WARNING: the file has changed on %s since it was read; not written'
  log.error((msg .. ' (:w! overwrites it, :e! reloads it)'):format(item.name, host))
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
      told_conflict(item, host, state.get(buf))
    else
      log.error(state.failure('write', item.name, r.error or 'refused'))
    end
    return false
  end
  local st = state.get(buf)
  if item.own then
    local new = not state.version(st)
    state.set(buf, { name = item.name, host = host, path = path, version = r.version or vim.NIL, kind = 'file' })
    reload.forget(buf)
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
---@param forced boolean :w!
---@param cmdarg string
---@return table<integer, boolean> written, by index in items
function M.items(items, forced, cmdarg)
  local written = {}
  local parents = (' ' .. (cmdarg or '') .. ' '):find(' ++p ', 1, true) ~= nil
  local by_host = {}
  for i, item in ipairs(items) do
    local host, path = state.split(item.name)
    if host then
      state.doautocmd(item.buf, item.line1 and 'FileWritePre' or 'BufWritePre', item.name, false)
      local data, err = text.render(item.buf, item.line1, item.line2, cmdarg)
      if data and #data > MAX_FILE then
        data, err = nil, ('more than %d MB: too large for the file channel'):format(MAX_FILE / 1048576)
      end
      if not data then
        log.error(state.failure('write', item.name, err))
      else
        local st = state.get(item.buf)
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
      files[#files + 1] = {
        path = g.path,
        data = vim.base64.encode(item.data),
        expect = item.expect,
        force = forced,
        parents = parents or nil, -- :w ++p: the missing directories made on the host
      }
    end
    local function answer(res, late)
      for k, g in ipairs(group) do
        local r = type(res) == 'table' and res.files and res.files[k] or { ok = false, error = 'no answer' }
        local item = items[g.index]
        if settle(item, host, g.path, r, late) then
          written[g.index] = true
          if not late then
            state.doautocmd(item.buf, item.line1 and 'FileWritePost' or 'BufWritePost', item.name, false)
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
        log.error(state.failure('write', item.name, err) .. '; the buffer keeps your changes')
      end
    else
      answer(res, false)
    end
  end
  return written
end

--- `:w ++p` made, before the write came here, the missing directories of the name as if it were a
--- local path (`scp:/host/...` in the current directory): the empty ones are removed, so that
--- nothing local is left for a remote name.
---@param name string
---@param cmdarg string
local function unmake_local_parents(name, cmdarg)
  if not (' ' .. cmdarg .. ' '):find(' ++p ', 1, true) then
    return
  end
  local dir = name:match('^(.*)/[^/]*$')
  while dir and dir:find('/', 1, true) do
    vim.uv.fs_rmdir(dir) -- fails, and changes nothing, on a directory that is not empty
    dir = dir:gsub('/+$', ''):match('^(.*)/[^/]*$')
  end
end

--- BufWriteCmd: write the buffer to its file (or to another name: `:w scp://...`); in a :wall,
--- the batch (files/wall.lua).
---@param ev {buf: integer, match: string}
function M.write(ev)
  local buf, name = ev.buf, ev.match
  local forced = force.forced()
  local own = name == vim.api.nvim_buf_get_name(buf)
  local cmdarg = vim.v.cmdarg
  unmake_local_parents(name, cmdarg)
  if own and wall.take(buf, name, forced, function(items)
    return M.items(items, forced, cmdarg)
  end) then
    return
  end
  M.items({ { buf = buf, name = name, own = own } }, forced, cmdarg)
end

--- FileWriteCmd (`:'<,'>w scp://...`): lines '[ to '] of the buffer to the file.
---@param ev {buf: integer, match: string}
function M.write_part(ev)
  local buf, name = ev.buf, ev.match
  local line1 = vim.api.nvim_buf_get_mark(buf, '[')[1]
  local line2 = vim.api.nvim_buf_get_mark(buf, ']')[1]
  unmake_local_parents(name, vim.v.cmdarg)
  M.items({ { buf = buf, name = name, own = false, line1 = line1, line2 = line2 } }, force.forced(), vim.v.cmdarg)
end

return M
