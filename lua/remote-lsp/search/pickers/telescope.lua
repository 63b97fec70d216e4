-- Telescope (with plenary.nvim): find files and live grep in the remote project. The finders
-- are fed by searches on the host as their results arrive; a new prompt cancels the live grep
-- before it there; previews are read through the agent; a pick opens the remote name.
local log = require('remote-lsp.log')
local preview = require('remote-lsp.search.preview')
local stream = require('remote-lsp.search.stream')

local M = {}

function M.available()
  return (pcall(require, 'telescope.pickers'))
end

local function entry_of_file(rel)
  return { value = rel, rel = rel, display = rel, ordinal = rel }
end

local function entry_of_match(m)
  local line = ('%s:%d:%d:%s'):format(m.path, m.line, m.column, m.text)
  return { value = line, rel = m.path, lnum = m.line, col = m.column, display = line, ordinal = line }
end

local function previewer(p)
  return require('telescope.previewers').new_buffer_previewer({
    title = 'Preview',
    define_preview = function(self, entry)
      if entry.rel then
        preview.show(self.state.bufnr, self.state.winid, p, entry.rel, entry.lnum, entry.col)
      end
    end,
  })
end

local function attach_mappings(p)
  return function(prompt_bufnr)
    local actions = require('telescope.actions')
    local state = require('telescope.actions.state')
    local function open_with(cmd)
      return function()
        local entry = state.get_selected_entry()
        actions.close(prompt_bufnr)
        if entry and entry.rel then
          require('remote-lsp.search').open(p, entry.rel, entry.lnum, entry.col, cmd)
        end
      end
    end
    actions.select_default:replace(open_with('edit'))
    actions.select_horizontal:replace(open_with('split'))
    actions.select_vertical:replace(open_with('vsplit'))
    actions.select_tab:replace(open_with('tabedit'))
    return true
  end
end

--- The project's files, listed once by the host and filtered here as the prompt changes.
local function files_finder(p, opts)
  local async = require('plenary.async')
  local results, done, sink, search = {}, false, nil, nil
  local function start()
    local params = { root = p.root, hidden = opts.hidden, ignored = opts.ignored }
    search = stream.run(p.host, 'search/files', params, 'files', function(batch)
      for _, rel in ipairs(batch) do
        local entry = entry_of_file(rel)
        results[#results + 1] = entry
        if sink and sink.result(entry) then
          sink = nil
        end
      end
    end, function(err)
      done = true
      if err then
        log.error(('find in %s on %s: %s'):format(p.root, p.host, err))
      end
      local s = sink
      sink = nil
      if s then
        s.complete()
      end
    end)
  end
  return setmetatable({
    close = function()
      if search then
        search.cancel()
      end
    end,
  }, {
    -- Called in telescope's coroutine for each prompt: what came so far, then what comes.
    __call = function(_, _, process_result, process_complete)
      sink = nil
      if not search then
        start()
      end
      local i = 1
      while i <= #results do
        if i % 1000 == 0 then
          async.util.scheduler()
        end
        if process_result(results[i]) then
          return
        end
        i = i + 1
      end
      if done then
        process_complete()
      else
        sink = { result = process_result, complete = process_complete }
      end
    end,
  })
end

--- A search on the host per prompt, the one before it cancelled there.
local function grep_finder(p, opts)
  local search = require('remote-lsp.search')
  local live = stream.live(p.host, 'search/grep', 'matches')
  return setmetatable({ close = live.stop }, {
    __call = function(_, prompt, process_result, process_complete)
      if prompt == '' then
        live.stop()
        return process_complete()
      end
      local params = search.grep_params(p, prompt, opts, search.LIVE_LIMIT)
      local stale = false
      live.query(params, function(batch)
        for _, m in ipairs(batch) do
          if stale or process_result(entry_of_match(m)) then
            stale = true
            return
          end
        end
      end, function(err)
        if err and not stale then
          -- A pattern being typed is often not a regex yet: said in the list, not as a message.
          process_result({ value = err, display = err, ordinal = prompt })
        end
        process_complete()
      end)
    end,
  })
end

local function title(p, what)
  return ('%s %s:%s'):format(what, p.host, p.root)
end

function M.files(p, opts)
  local conf = require('telescope.config').values
  require('telescope.pickers')
    .new({}, {
      prompt_title = title(p, 'Find'),
      finder = files_finder(p, opts),
      sorter = conf.file_sorter({}),
      previewer = previewer(p),
      attach_mappings = attach_mappings(p),
    })
    :find()
end

function M.live_grep(p, opts)
  require('telescope.pickers')
    .new({}, {
      prompt_title = title(p, 'Grep'),
      default_text = opts.query,
      finder = grep_finder(p, opts),
      sorter = require('telescope.sorters').highlighter_only({}),
      previewer = previewer(p),
      attach_mappings = attach_mappings(p),
    })
    :find()
end

return M
