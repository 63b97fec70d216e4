-- :RemoteLspGrep: the quickfix list filled as :grep fills it, with the matches of a search run on
-- the host, named as the buffer is (scp://HOST//path), so each opens through the agent. As :grep
-- does, QuickFixCmdPre and QuickFixCmdPost fire with "grep" (a user's `cwindow` there opens the
-- list) and the first match is jumped to unless the command has a !.
local log = require('remote-lsp.log')
local project = require('remote-lsp.search.project')
local stream = require('remote-lsp.search.stream')

local M = {}

-- The grep filling the list now: a new one replaces it.
---@type remote_lsp.Search|nil
local current = nil

--- The quickfix items of matches.
---@param p remote_lsp.Project
---@param matches table[]
---@return vim.quickfix.entry[]
function M.items(p, matches)
  local items = {}
  for _, m in ipairs(matches) do
    if type(m) == 'table' and type(m.path) == 'string' then
      items[#items + 1] = {
        filename = project.name(p, m.path),
        lnum = tonumber(m.line) or 1,
        col = tonumber(m.column) or 1,
        text = type(m.text) == 'string' and m.text or '',
      }
    end
  end
  return items
end

--- Run a grep in project p and fill the quickfix list with its matches.
---@param p remote_lsp.Project
---@param params table search/grep's parameters (search.grep_params)
---@param opts {jump: boolean, title: string, on_done?: fun(count: integer)}
function M.fill(p, params, opts)
  if current then
    current.cancel()
  end
  -- `parallel`: a live grep in a picker meanwhile does not end this one on the host, nor it that.
  local matches = {}
  local search
  local function on_items(batch)
    vim.list_extend(matches, batch)
  end
  local function on_done(err, result)
    if current == search then
      current = nil
    end
    if err then
      return log.error(('%s: %s'):format(opts.title, err))
    end
    local items = M.items(p, matches)
    vim.api.nvim_exec_autocmds('QuickFixCmdPre', { pattern = 'grep', modeline = false })
    vim.fn.setqflist({}, ' ', { title = opts.title, items = items })
    vim.api.nvim_exec_autocmds('QuickFixCmdPost', { pattern = 'grep', modeline = false })
    if #items == 0 then
      log.notify(('no match for %s in %s on %s'):format(params.pattern, p.root, p.host))
    elseif result and result.truncated then
      log.warn(('the first %d matches only: there are more in %s on %s'):format(#items, p.root, p.host))
    end
    if #items > 0 and opts.jump then
      vim.cmd('cfirst')
    end
    if opts.on_done then
      opts.on_done(#items)
    end
  end
  search = stream.run(
    p.host,
    'search/grep',
    vim.tbl_extend('force', params, { parallel = true }),
    'matches',
    on_items,
    on_done
  )
  current = search
end

return M
