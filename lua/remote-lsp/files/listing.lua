-- A remote directory's buffer: its entries, one a line (directories end in /), `<CR>` opens the
-- entry under the cursor, `-` the parent directory. The first line, ../, is the parent too.
local M = {}

--- The name of the parent directory of a directory's buffer name (it ends in /).
---@param name string
---@return string
function M.parent(name)
  local head, path = name:match('^(%a[%w+.-]*://[^/]+/)(.*)$')
  path = path:gsub('/$', '')
  if path == '' or path == '.' then
    return head .. '../' -- the home directory's parent, relative to it
  end
  if path:match('^%.%.$') or path:match('/%.%.$') then
    return head .. path .. '/../'
  end
  local up = path:match('^(.*/)[^/]*$') or ''
  return head .. up
end

--- Show directory entry e (a files/read or files/list answer) in buf, named name.
---@param buf integer
---@param name string
---@param e {entries?: {name: string, type?: string, link?: boolean}[], truncated?: boolean, count?: integer}
function M.show(buf, name, e)
  vim.validate('buf', buf, 'number')
  vim.validate('name', name, 'string')
  vim.validate('e', e, 'table')
  local base = name:match('/$') and name or (name .. '/')
  local entries = e.entries or {}
  local lines = { '../' }
  for _, entry in ipairs(entries) do
    lines[#lines + 1] = entry.name .. (entry.type == 'directory' and '/' or '') .. (entry.link and ' @' or '')
  end
  if e.truncated then -- the host lists what fits in one message: say how many more there are
    lines[#lines + 1] = ('" ... and %d more, not listed (:RemoteLspFind finds them)'):format(
      math.max((tonumber(e.count) or #entries) - #entries, 0)
    )
  end
  local bo = vim.bo[buf]
  bo.buftype = 'nofile'
  bo.bufhidden = 'hide'
  bo.swapfile = false
  bo.modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  bo.modifiable = false
  bo.modified = false
  bo.filetype = 'remotelspdir'
  local function open(target)
    vim.cmd.edit(vim.fn.fnameescape(target))
  end
  vim.keymap.set('n', '<CR>', function()
    local row = vim.api.nvim_win_get_cursor(0)[1]
    local entry = entries[row - 1]
    if row == 1 then
      return open(M.parent(base))
    end
    if entry then
      open(base .. entry.name .. (entry.type == 'directory' and '/' or ''))
    end
  end, { buffer = buf, desc = 'Open the entry under the cursor' })
  vim.keymap.set('n', '-', function()
    open(M.parent(base))
  end, { buffer = buf, desc = 'Open the parent directory' })
end

return M
