-- Without a picker: vim.ui.input for what to look for, then vim.ui.select over what the host
-- found (the file names filtered on the host by the query, fuzzily; the matches of a grep).
local log = require('remote-lsp.log')
local stream = require('remote-lsp.search.stream')

local M = {}

-- Names offered at once: a query narrows them on the host.
local FILES_LIMIT = 1000

function M.available()
  return true
end

local function collect(p, method, params, key, cb)
  local found = {}
  stream.run(p.host, method, params, key, function(batch)
    vim.list_extend(found, batch)
  end, function(err, result)
    if err then
      return log.error(('%s in %s on %s: %s'):format(method, p.root, p.host, err))
    end
    cb(found, result and result.truncated)
  end)
end

function M.files(p, opts)
  vim.ui.input({ prompt = ('Find in %s:%s (empty: all) '):format(p.host, p.root) }, function(query)
    if query == nil then
      return
    end
    local params = { root = p.root, hidden = opts.hidden, ignored = opts.ignored, limit = FILES_LIMIT }
    params.query = query ~= '' and query or nil
    collect(p, 'search/files', params, 'files', function(files, truncated)
      if #files == 0 then
        return log.notify(('no file matches %s in %s on %s'):format(query, p.root, p.host))
      end
      local prompt = truncated and ('The first %d files'):format(#files) or 'Files'
      vim.ui.select(files, { prompt = prompt, kind = 'remote-lsp.file' }, function(rel)
        if rel then
          require('remote-lsp.search').open(p, rel)
        end
      end)
    end)
  end)
end

function M.live_grep(p, opts)
  local search = require('remote-lsp.search')
  vim.ui.input({ prompt = ('Grep in %s:%s '):format(p.host, p.root), default = opts.query }, function(pattern)
    if pattern == nil or pattern == '' then
      return
    end
    local params = search.grep_params(p, pattern, opts, search.LIVE_LIMIT)
    collect(p, 'search/grep', params, 'matches', function(matches, truncated)
      if #matches == 0 then
        return log.notify(('no match for %s in %s on %s'):format(pattern, p.root, p.host))
      end
      vim.ui.select(matches, {
        prompt = truncated and ('The first %d matches'):format(#matches) or 'Matches',
        kind = 'remote-lsp.match',
        format_item = function(m)
          return ('%s:%d:%d:%s'):format(m.path, m.line, m.column, m.text)
        end,
      }, function(m)
        if m then
          search.open(p, m.path, m.line, m.column)
        end
      end)
    end)
  end)
end

return M
