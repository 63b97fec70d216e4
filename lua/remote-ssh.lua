-- The public entry point: require('remote-ssh').setup({...}).
local M = {}

---@param opts table|nil see :help remote-lsp-setup
function M.setup(opts)
  require('remote-lsp.config').setup(opts)
end

return M
