-- fzf-lua: find files and live grep in the remote project. fzf reads the names and matches as
-- the host finds them; live grep's reload for a new query cancels the search before it on the
-- host; previews are read through the agent; a pick opens the remote name.
local log = require('remote-lsp.log')
local preview = require('remote-lsp.search.preview')
local stream = require('remote-lsp.search.stream')

local M = {}

function M.available()
  return (pcall(require, 'fzf-lua'))
end

--- path, line, column of an fzf line: `path` (find) or `path:line:column:text` (grep).
local function parse(line)
  local rel, lnum, col = line:match('^(.-):(%d+):(%d+):')
  if rel then
    return rel, tonumber(lnum), tonumber(col)
  end
  return line
end

local function previewer(p)
  local Remote = require('fzf-lua.previewer.builtin').base:extend()
  function Remote:new(o, opts)
    Remote.super.new(self, o, opts)
    return self
  end
  function Remote:populate_preview_buf(entry)
    local rel, lnum, col = parse(entry)
    local buf = self:get_tmp_buffer()
    self:set_preview_buf(buf)
    self.win:update_preview_title(' ' .. rel .. ' ')
    preview.show(buf, self.win.preview_winid, p, rel, lnum, col)
  end
  return {
    _ctor = function()
      return Remote
    end,
  }
end

local function actions(p, on_pick)
  local function open_with(cmd)
    return function(selected)
      on_pick()
      if selected and selected[1] then
        local rel, lnum, col = parse(selected[1])
        require('remote-lsp.search').open(p, rel, lnum, col, cmd)
      end
    end
  end
  return {
    ['enter'] = open_with('edit'),
    ['ctrl-s'] = open_with('split'),
    ['ctrl-v'] = open_with('vsplit'),
    ['ctrl-t'] = open_with('tabedit'),
  }
end

local function opts_for(p, what, on_pick)
  return {
    prompt = what .. '> ',
    winopts = { title = (' %s %s:%s '):format(what, p.host, p.root) },
    previewer = previewer(p),
    actions = actions(p, on_pick),
  }
end

--- Write lines to fzf, a batch in one write; a write refused (fzf gone, or reloaded for a newer
--- query) cancels the search.
---@param write fun(data: string, cb: fun(err: any)) fzf-lua's raw writer
local function feeder(write, search_of)
  return function(lines)
    if #lines == 0 then
      return
    end
    write(table.concat(lines, '\n') .. '\n', function(err)
      local s = err and search_of()
      if s then
        s.cancel()
      end
    end)
  end
end

function M.files(p, opts)
  local search = nil
  local function stop()
    if search then
      search.cancel()
    end
  end
  require('fzf-lua').fzf_exec(function(fzf_cb, write)
    local feed = feeder(write, function()
      return search
    end)
    local params = { root = p.root, hidden = opts.hidden, ignored = opts.ignored }
    search = stream.run(p.host, 'search/files', params, 'files', feed, function(err)
      if err then
        log.error(('find in %s on %s: %s'):format(p.root, p.host, err))
      end
      fzf_cb()
    end)
  end, opts_for(p, 'Find', stop))
end

function M.live_grep(p, opts)
  local search = require('remote-lsp.search')
  local live = stream.live(p.host, 'search/grep', 'matches')
  local o = opts_for(p, 'Grep', live.stop)
  o.query = opts.query
  require('fzf-lua').fzf_live(function(items)
    local query = type(items) == 'table' and items[1] or items
    return function(fzf_cb, write)
      if type(query) ~= 'string' or query == '' then
        live.stop()
        return fzf_cb()
      end
      local params = search.grep_params(p, query, opts, search.LIVE_LIMIT)
      local mine = nil
      local feed = feeder(write, function()
        return mine
      end)
      mine = live.query(params, function(matches)
        feed(vim.tbl_map(function(m)
          return ('%s:%d:%d:%s'):format(m.path, m.line, m.column, m.text)
        end, matches))
      end, function(err)
        if err then
          fzf_cb(err) -- a pattern being typed is often not a regex yet: said in the list
        end
        fzf_cb()
      end)
    end
  end, o)
end

return M
