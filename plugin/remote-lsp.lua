-- Commands and the remote-buffer hook; cheap at start-up: modules load on use.
if vim.g.loaded_remote_lsp then
  return
end
vim.g.loaded_remote_lsp = true

local function command(name, fn, opts)
  vim.api.nvim_create_user_command(name, function(a)
    require('remote-lsp.commands')[fn](a)
  end, opts)
end

local function complete(fn)
  return function(...)
    return require('remote-lsp.commands')[fn](...)
  end
end

command('RemoteLspList', 'list', {
  nargs = '?',
  complete = complete('complete_host'),
  desc = 'Language servers on a host',
})
command('RemoteLspProcesses', 'processes', {
  nargs = '*',
  complete = complete('complete_host'),
  desc = 'Processes on a host matching a pattern',
})
command('RemoteLspAttach', 'attach', {
  nargs = '*',
  bang = true,
  complete = complete('complete_attach'),
  desc = 'Attach to a running language server by PID',
})
command('RemoteLspDetach', 'detach', {
  nargs = '?',
  complete = complete('complete_detach'),
  desc = 'Stop the Neovim client; the server keeps running',
})
command('RemoteLspStatus', 'status', { nargs = 0, desc = 'Remote clients and agents' })
command('RemoteLspLog', 'log', {
  nargs = '?',
  complete = complete('complete_host'),
  desc = "remote-lsp's log here, the agent's log and this buffer's server stderr from the host",
})
command('RemoteLspRestart', 'restart', { nargs = 0, desc = "Restart this buffer's server on its host" })
vim.api.nvim_create_user_command('RemoteLspFind', function()
  require('remote-lsp.search').files()
end, { nargs = 0, desc = "Pick a file of this buffer's remote project" })
vim.api.nvim_create_user_command('RemoteLspGrep', function(a)
  require('remote-lsp.search').command_grep(a)
end, { nargs = '+', bang = true, desc = "Search this buffer's remote project into the quickfix list" })

vim.api.nvim_create_autocmd('FileType', {
  group = vim.api.nvim_create_augroup('remote-lsp', { clear = true }),
  callback = function(ev)
    -- netrw's scp://, rsync://, sftp:// and oil.nvim's oil-ssh:// buffers.
    if require('remote-lsp.uri').protocol(vim.api.nvim_buf_get_name(ev.buf)) then
      require('remote-lsp').on_remote_buffer(ev.buf)
    end
  end,
})
