-- Previews of found files, read through the agent (files/read on the host's file channel), into
-- a picker's preview buffer: highlighted by filetype, the match's line centred and marked.
local project = require('remote-lsp.search.project')
local stream = require('remote-lsp.search.stream')

local M = {}

-- A preview read again within this long comes from memory (moving up and down a list).
local CACHE_MS = 5000
local CACHE_SIZE = 32
-- The longest a preview gets: the lines a window shows, with room to scroll.
local MAX_LINES = 5000
local ns = vim.api.nvim_create_namespace('remote-lsp-preview')

---@type table<string, {lines: string[], at: integer}>
local cache = {}
local cached = 0
-- What each preview buffer is to show now: a read answered for an earlier entry is dropped.
---@type table<integer, string>
local wanted = {}

local function remember(key, lines)
  if cached >= CACHE_SIZE then
    cache, cached = {}, 0
  end
  cache[key], cached = { lines = lines, at = vim.uv.now() }, cached + 1
end

--- The lines of a found file: cb(lines) on the main loop (a message as its one line if unreadable).
---@param p remote_lsp.Project
---@param rel string
---@param cb fun(lines: string[])
function M.lines(p, rel, cb)
  local path = project.path(p, rel)
  local key = p.host .. '\n' .. path
  local hit = cache[key]
  if hit and vim.uv.now() - hit.at < CACHE_MS then
    return cb(hit.lines)
  end
  stream.read(p.host, path, function(lines, err)
    lines = lines or { ('cannot read %s: %s'):format(path, err) }
    if #lines > MAX_LINES then
      lines = vim.list_slice(lines, 1, MAX_LINES)
    end
    remember(key, lines)
    cb(lines)
  end)
end

--- Show a found file in buf (shown in win), at lnum if given.
---@param buf integer
---@param win integer|nil
---@param p remote_lsp.Project
---@param rel string
---@param lnum? integer 1-based
---@param col? integer 1-based, bytes
function M.show(buf, win, p, rel, lnum, col)
  local key = rel .. ':' .. tostring(lnum)
  wanted[buf] = key
  M.lines(p, rel, function(lines)
    if wanted[buf] ~= key or not vim.api.nvim_buf_is_valid(buf) then
      return
    end
    vim.bo[buf].modifiable = true
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modifiable = false
    local ft = vim.filetype.match({ filename = rel, buf = buf })
    if ft then
      local lang = vim.treesitter.language.get_lang(ft)
      if not (lang and pcall(vim.treesitter.start, buf, lang)) then
        vim.bo[buf].syntax = ft
      end
    end
    vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
    if lnum and lnum <= #lines then
      vim.hl.range(buf, ns, 'Search', { lnum - 1, math.max((col or 1) - 1, 0) }, { lnum - 1, -1 })
      if win and vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_buf(win) == buf then
        vim.api.nvim_win_set_cursor(win, { lnum, 0 })
        vim.api.nvim_win_call(win, function()
          vim.cmd('normal! zz')
        end)
      end
    end
  end)
end

return M
