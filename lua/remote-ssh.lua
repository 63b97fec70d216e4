-- The public entry point: require('remote-ssh').setup({...}).
local M = {}

--- Set the options (see :help remote-lsp-setup); wrong ones are an error, unknown ones a warning.
---@param opts? remote_lsp.Options
function M.setup(opts)
  require('remote-lsp.config').setup(opts)
  require('remote-lsp.share').setup()
  require('remote-lsp.files').setup()
  require('remote-lsp.clients').setup()
end

return M
