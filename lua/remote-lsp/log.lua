-- The plugin's word to the user: vim.notify, with the plugin's prefix, and Vim's own kind of
-- message (a file read or written) echoed as Vim echoes it. Every module says things through here
-- (nothing reaches into init for it).
local M = {}

--- Tell the user.
---@param msg string
---@param level? integer a vim.log.levels value (default INFO)
function M.notify(msg, level)
  vim.notify('remote-lsp: ' .. msg, level or vim.log.levels.INFO)
end

---@param msg string
function M.warn(msg)
  M.notify(msg, vim.log.levels.WARN)
end

---@param msg string
function M.error(msg)
  M.notify(msg, vim.log.levels.ERROR)
end

--- A message as Vim's own file messages are ('"NAME" 3L, 42B written'): no prefix, kept in
--- :messages.
---@param msg string
function M.echo(msg)
  vim.api.nvim_echo({ { msg } }, true, {})
end

return M
