-- Find in the remote project: file names and text searched on the host by the agent, shown in
-- the user's picker (setup's `picker`) or the quickfix list, named as the buffer is, so what is
-- picked opens through the agent. The project is the current buffer's (search/project.lua).
local config = require('remote-lsp.config')
local project = require('remote-lsp.search.project')

local M = {}

-- Matches a live grep shows for one query, and the quickfix list takes: a search of a common
-- word in a large tree says there were more rather than sending them all.
M.LIVE_LIMIT = 2000
M.QUICKFIX_LIMIT = 20000

-- The picker modules by setup's name, in the order 'auto' tries them.
local MODULES = {
  { 'telescope', 'remote-lsp.search.pickers.telescope' },
  { 'fzf-lua', 'remote-lsp.search.pickers.fzf_lua' },
  { 'snacks', 'remote-lsp.search.pickers.snacks' },
  { 'select', 'remote-lsp.search.select' },
}

--- The picker to use: the one named (default setup's `picker`), or for 'auto' the first installed.
---@param name? string
---@return string chosen its name ('select' when none is installed)
---@return table module with files(project, opts) and live_grep(project, opts)
---@return boolean missing the picker named is not installed
function M.resolve(name)
  name = name or config.options.picker
  for _, m in ipairs(MODULES) do
    if name == 'auto' or name == m[1] then
      local mod = require(m[2])
      if mod.available() then
        return m[1], mod, false
      end
      if name ~= 'auto' then
        return 'select', require('remote-lsp.search.select'), true
      end
    end
  end
  return 'select', require('remote-lsp.search.select'), false
end

--- The picker module to use; a picker named but not installed is said, and vim.ui.select used.
---@param name? string
---@return table module with files(project, opts) and live_grep(project, opts)
function M.picker(name)
  local _, mod, missing = M.resolve(name)
  if missing then
    require('remote-lsp.log').warn(
      ('picker %s is not installed; vim.ui.select instead'):format(name or config.options.picker)
    )
  end
  return mod
end

--- Open a found file (a path relative to the project's root), at a line and column if given.
---@param p remote_lsp.Project
---@param rel string
---@param lnum? integer 1-based
---@param col? integer 1-based, bytes
---@param cmd? string 'edit' (default), 'split', 'vsplit', 'tabedit'
function M.open(p, rel, lnum, col, cmd)
  vim.cmd((cmd or 'edit') .. ' ' .. vim.fn.fnameescape(project.name(p, rel)))
  if lnum then
    local last = vim.api.nvim_buf_line_count(0)
    pcall(vim.api.nvim_win_set_cursor, 0, { math.min(lnum, last), math.max((col or 1) - 1, 0) })
    vim.cmd('normal! zv')
  end
end

local function check_grep_opts(opts)
  vim.validate('opts.fixed', opts.fixed, 'boolean', true)
  vim.validate('opts.case', opts.case, function(v)
    return v == nil or v == 'smart' or v == 'sensitive' or v == 'insensitive'
  end, "'smart', 'sensitive' or 'insensitive'")
  vim.validate('opts.word', opts.word, 'boolean', true)
  vim.validate('opts.globs', opts.globs, function(v)
    return v == nil or (vim.islist(v) and #vim.tbl_filter(function(g)
      return type(g) ~= 'string'
    end, v) == 0)
  end, 'a list of globs')
  vim.validate('opts.hidden', opts.hidden, 'boolean', true)
  vim.validate('opts.ignored', opts.ignored, 'boolean', true)
  vim.validate('opts.buf', opts.buf, 'number', true)
end

--- search/grep's parameters: the pattern in the project's root, with the caller's options.
---@param p {root: string}
---@param pattern string
---@param opts table
---@param limit integer
---@return table
function M.grep_params(p, pattern, opts, limit)
  return {
    root = p.root,
    pattern = pattern,
    fixed = opts.fixed,
    case = opts.case or 'smart',
    word = opts.word,
    globs = opts.globs,
    hidden = opts.hidden,
    ignored = opts.ignored,
    limit = opts.limit or limit,
  }
end

--- Pick a file of the current buffer's remote project (:RemoteLspFind).
---@param opts? {buf?: integer, hidden?: boolean, ignored?: boolean, picker?: string}
function M.files(opts)
  vim.validate('opts', opts, 'table', true)
  opts = opts or {}
  vim.validate('opts.buf', opts.buf, 'number', true)
  vim.validate('opts.hidden', opts.hidden, 'boolean', true)
  vim.validate('opts.ignored', opts.ignored, 'boolean', true)
  vim.validate('opts.picker', opts.picker, 'string', true)
  project.of(opts.buf or 0, function(p)
    M.picker(opts.picker).files(p, { hidden = opts.hidden, ignored = opts.ignored })
  end, ':RemoteLspFind')
end

--- Grep the current buffer's remote project into the quickfix list (:RemoteLspGrep).
---@param opts {pattern: string, fixed?: boolean, case?: string, word?: boolean, globs?: string[],
---  hidden?: boolean, ignored?: boolean, limit?: integer, jump?: boolean, buf?: integer,
---  on_done?: fun(count: integer)}
function M.grep(opts)
  vim.validate('opts', opts, 'table')
  vim.validate('opts.pattern', opts.pattern, function(v)
    return type(v) == 'string' and v ~= ''
  end, 'a non-empty string')
  check_grep_opts(opts)
  vim.validate('opts.limit', opts.limit, 'number', true)
  vim.validate('opts.jump', opts.jump, 'boolean', true)
  vim.validate('opts.on_done', opts.on_done, 'callable', true)
  project.of(opts.buf or 0, function(p)
    local params = M.grep_params(p, opts.pattern, opts, M.QUICKFIX_LIMIT)
    require('remote-lsp.search.quickfix').fill(p, params, {
      jump = opts.jump ~= false,
      title = ':RemoteLspGrep ' .. opts.pattern,
      on_done = opts.on_done,
    })
  end, ':RemoteLspGrep')
end

--- Live grep of the current buffer's remote project in the picker: a search on the host per
--- query, the one before it cancelled there.
---@param opts? {buf?: integer, fixed?: boolean, case?: string, word?: boolean, globs?: string[],
---  hidden?: boolean, ignored?: boolean, picker?: string, query?: string}
function M.live_grep(opts)
  vim.validate('opts', opts, 'table', true)
  opts = opts or {}
  check_grep_opts(opts)
  vim.validate('opts.picker', opts.picker, 'string', true)
  vim.validate('opts.query', opts.query, 'string', true)
  project.of(opts.buf or 0, function(p)
    M.picker(opts.picker).live_grep(p, opts)
  end, 'live grep')
end

--- The command :RemoteLspGrep[!] {pattern}: as :grep, ! does not jump to the first match.
---@param a {args: string, bang: boolean}
function M.command_grep(a)
  M.grep({ pattern = a.args, jump = not a.bang })
end

return M
