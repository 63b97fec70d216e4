-- Files changed on the host (a files/changed notification, or the answer of files/watch): an
-- unmodified buffer is reloaded in place (cursor and views kept), a modified one warned once
-- (until it is read or written again), a deleted file told once.
local channel = require('remote-lsp.files.channel')
local log = require('remote-lsp.log')
local state = require('remote-lsp.files.state')
local text = require('remote-lsp.files.text')

local M = {}

-- Buffers told that their file changed on the host: once, until read or written again.
---@type table<integer, boolean>
local warned = {}

--- Put a new version of its file in buf, keeping the cursor and view of every window on it.
local function reload(buf, e)
  local views = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    views[win] = vim.api.nvim_win_call(win, vim.fn.winsaveview)
  end
  text.load(buf, vim.base64.decode(e.data or ''))
  for win, view in pairs(views) do
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_call(win, function()
        vim.fn.winrestview(view)
      end)
    end
  end
  local st = state.get(buf)
  st.version = e.version or vim.NIL
  state.set(buf, st)
  vim.bo[buf].readonly = state.readonly(e)
end

local function warn_changed(buf, host)
  if warned[buf] then
    return
  end
  warned[buf] = true
  local msg = 'W12: Warning: File "%s" has changed on %s and the buffer was changed in Vim as well'
  log.warn((msg .. ' (:w! overwrites it, :e! reloads it)'):format(vim.api.nvim_buf_get_name(buf), host))
end

--- Files changed on host: reload, warn or tell, as above.
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
    for _, buf in ipairs(state.buffers_of(host, c.path)) do
      local st = state.get(buf)
      local version = c.version ~= vim.NIL and c.version or nil
      if version ~= state.version(st) then
        if c.kind == 'deleted' then
          if state.version(st) then
            st.version = vim.NIL -- :w writes it again
            state.set(buf, st)
            log.warn(('"%s" was deleted on %s (:w writes it again)'):format(st.name, host))
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
      return log.warn(('cannot reload the files changed on %s: %s'):format(host, state.why(err)))
    end
    local names = {}
    for i, e in ipairs(res.files or {}) do
      for _, buf in ipairs(stale[paths[i]] or {}) do
        local st = state.get(buf)
        local newer = e.exists and e.type == 'file' and e.version ~= state.version(st)
        if st and vim.api.nvim_buf_is_loaded(buf) and newer then
          if vim.bo[buf].modified then
            warn_changed(buf, host)
          else
            local ok, lerr = pcall(reload, buf, e)
            if ok then
              names[#names + 1] = st.name
            else
              log.error(state.failure('reload', st.name, lerr))
            end
          end
        end
      end
    end
    if #names > 0 then
      log.notify(('%s changed on %s: reloaded'):format(table.concat(names, ', '), host))
    end
  end)
end

--- Forget the warning given to buf (it was read or written again, or goes away).
---@param buf integer
function M.forget(buf)
  warned[buf] = nil
end

return M
