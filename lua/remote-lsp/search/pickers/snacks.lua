-- snacks.nvim's picker: find files and live grep in the remote project. Its finder runs as a
-- task that takes what the host finds as it arrives; a new query aborts that task, and its abort
-- cancels the search on the host; previews are read through the agent; a pick opens the remote
-- name.
local log = require('remote-lsp.log')
local preview = require('remote-lsp.search.preview')
local stream = require('remote-lsp.search.stream')

local M = {}

function M.available()
  local ok, snacks = pcall(require, 'snacks')
  return ok and type(snacks) == 'table' and snacks.picker ~= nil
end

--- A finder task: start(on_items, on_done) starts a search; the task hands each item to cb as it
--- comes, and ends with the search, or cancels it when it is aborted.
local function task(ctx, cb, start, to_item)
  local async = ctx.async
  local queue, done = {}, false
  local search = start(function(batch)
    vim.list_extend(queue, batch)
    async:resume()
  end, function(err)
    done = true
    if err then
      queue[#queue + 1] = { error = err }
    end
    async:resume()
  end)
  async:on('abort', search.cancel)
  while true do
    if #queue > 0 then
      local batch = queue
      queue = {}
      for _, x in ipairs(batch) do
        cb(to_item(x))
      end
    elseif done then
      return
    else
      async:suspend()
    end
  end
end

local function preview_of(p)
  return function(ctx)
    local item = ctx.item
    local shown = ctx.preview
    shown:reset()
    if not item.rel then
      return
    end
    shown:set_title(item.rel)
    preview.lines(p, item.rel, function(lines)
      if shown.item ~= item or not shown.win:buf_valid() then
        return -- another item is shown now
      end
      shown:set_lines(lines)
      shown:highlight({ file = item.rel })
      if item.pos then
        shown:loc()
      end
    end)
  end
end

local function confirm_of(p)
  return function(picker, item)
    picker:close()
    if item and item.rel then
      require('remote-lsp.search').open(p, item.rel, item.lnum, item.col)
    end
  end
end

local function error_item(err)
  return { text = err, error = true }
end

function M.files(p, opts)
  require('snacks').picker.pick({
    source = 'remote_lsp_files',
    title = ('Find %s:%s'):format(p.host, p.root),
    format = 'text',
    finder = function(_, ctx)
      return function(cb)
        task(ctx, cb, function(on_items, on_done)
          local params = { root = p.root, hidden = opts.hidden, ignored = opts.ignored }
          return stream.run(p.host, 'search/files', params, 'files', on_items, function(err)
            if err then
              log.error(('find in %s on %s: %s'):format(p.root, p.host, err))
            end
            on_done(nil)
          end)
        end, function(rel)
          return { text = rel, rel = rel }
        end)
      end
    end,
    preview = preview_of(p),
    confirm = confirm_of(p),
  })
end

function M.live_grep(p, opts)
  local search = require('remote-lsp.search')
  require('snacks').picker.pick({
    source = 'remote_lsp_grep',
    title = ('Grep %s:%s'):format(p.host, p.root),
    format = 'text',
    live = true,
    supports_live = true,
    search = opts.query,
    finder = function(_, ctx)
      local query = ctx.filter.search
      if query == '' then
        return {}
      end
      return function(cb)
        task(ctx, cb, function(on_items, on_done)
          local params = search.grep_params(p, query, opts, search.LIVE_LIMIT)
          return stream.run(p.host, 'search/grep', params, 'matches', on_items, on_done)
        end, function(m)
          if m.error then
            return error_item(m.error) -- a pattern being typed is often not a regex yet
          end
          return {
            text = ('%s:%d:%d:%s'):format(m.path, m.line, m.column, m.text),
            rel = m.path,
            lnum = m.line,
            col = m.column,
            pos = { m.line, m.column - 1 },
          }
        end)
      end
    end,
    preview = preview_of(p),
    confirm = confirm_of(p),
  })
end

return M
