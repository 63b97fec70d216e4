-- A buffer's text to and from a file's bytes, Vim decoding and encoding, not this code: the bytes
-- pass through a private temporary file that is read with `:read ++edit` and written with
-- `:write`, so 'fileformat', 'fileencoding', 'bomb', a missing final newline ('eol') and binary
-- files round-trip byte for byte.
local M = {}

local function fnameescape(name)
  return vim.fn.fnameescape(name)
end

--- A private temporary file holding data.
---@param data string
---@return string path
function M.tempfile(data)
  local tmp = vim.fn.tempname()
  local f = assert(io.open(tmp, 'wb'))
  f:write(data)
  f:close()
  return tmp
end

--- `:read` of a private temporary file into the current buffer (Vim decodes it), leaving no
--- buffer behind for the temporary file (:read makes one, keepalt or not).
---@param tmp string
---@param how string the range and ++opt arguments of :read
function M.read_tmp(tmp, how)
  local ok, err = pcall(vim.cmd, ('silent lockmarks keepalt keepjumps noautocmd %s %s'):format(how, fnameescape(tmp)))
  local left = vim.fn.bufnr(tmp)
  if left > 0 and vim.api.nvim_buf_get_name(left) == tmp and not vim.api.nvim_buf_is_loaded(left) then
    pcall(vim.api.nvim_buf_delete, left, { force = true })
  end
  if not ok then
    error(err, 0)
  end
end

--- Put a file's bytes in buf as Vim reads a file: options detected as for :edit (`:read ++edit`),
--- the cursor on line 1, unmodified. Undoable when the buffer has a history (a reload), else not.
---@param buf integer
---@param data string the file's bytes
---@param cmdarg? string ++opt arguments of the command that reads it (v:cmdarg)
function M.load(buf, data, cmdarg)
  local tmp = M.tempfile(data)
  local ok, err = pcall(vim.api.nvim_buf_call, buf, function()
    local fresh = vim.fn.undotree().seq_last == 0
    local undolevels = vim.api.nvim_get_option_value('undolevels', { scope = 'local' })
    local modifiable = vim.bo.modifiable
    if fresh then
      vim.bo.undolevels = -1
    end
    vim.bo.modifiable = true
    -- The options come back whatever the read does (a failed one leaves undo as it was).
    -- lockmarks: marks and quickfix entries keep their line numbers, as Vim's own read keeps them
    -- (a `:RemoteLspGrep` list pointing into a file not loaded yet stays right once it is).
    local done, rerr = pcall(function()
      if vim.api.nvim_buf_line_count(0) > 1 or vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] ~= '' then
        vim.cmd('silent lockmarks keepjumps %delete _')
      end
      M.read_tmp(tmp, '0read ++edit ' .. (cmdarg or ''))
      if #data > 0 then
        vim.cmd('silent lockmarks keepjumps $delete _') -- the empty line the buffer had (:help ++edit)
      end
      if not vim.bo.eol then
        vim.bo.fixeol = false -- keep the missing final newline when written
      end
      vim.api.nvim_win_set_cursor(0, { 1, 0 })
      vim.bo.modified = false
    end)
    vim.bo.modifiable = modifiable
    if fresh then
      vim.bo.undolevels = undolevels
    end
    if not done then
      error(rerr, 0)
    end
  end)
  os.remove(tmp)
  if not ok then
    error(err, 0)
  end
end

--- The bytes of buf as `:write` makes them (fileformat, fileencoding, eol, bomb); lines line1 to
--- line2 if given, else the whole buffer. nil and why if Vim cannot (a conversion error...).
---@param buf integer
---@param line1? integer
---@param line2? integer
---@param cmdarg? string ++opt arguments of the command that writes it
---@return string|nil data
---@return string|nil err
function M.render(buf, line1, line2, cmdarg)
  local tmp = vim.fn.tempname()
  local ok, err = pcall(vim.api.nvim_buf_call, buf, function()
    local cpo, fsync = vim.o.cpoptions, vim.o.fsync
    -- Writing the temporary file must neither mark the buffer written (cpoptions' +) nor name it (F),
    -- nor wait for the disk: it is read back at once and removed ('fsync' costs tens of ms each).
    vim.api.nvim_set_option_value('cpoptions', (cpo:gsub('[+F]', '')), {})
    vim.api.nvim_set_option_value('fsync', false, {})
    local range = line1 and ('%d,%d'):format(line1, line2) or ''
    local done, e =
      pcall(vim.cmd, ('silent keepalt noautocmd %swrite! %s %s'):format(range, cmdarg or '', fnameescape(tmp)))
    vim.api.nvim_set_option_value('cpoptions', cpo, {})
    vim.api.nvim_set_option_value('fsync', fsync, {})
    if not done then
      error(e, 0)
    end
  end)
  local data
  if ok then
    local f = io.open(tmp, 'rb')
    data = f and f:read('*a') or ''
    if f then
      f:close()
    end
  end
  os.remove(tmp)
  if not ok then
    return nil, (tostring(err):gsub('^Vim%(%a+%):', ''))
  end
  return data
end

return M
