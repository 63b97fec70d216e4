-- `:Telescope remote_lsp find_files` and `:Telescope remote_lsp live_grep`: the remote project of
-- the current buffer, searched on its host (remote-lsp.search).
return require('telescope').register_extension({
  exports = {
    find_files = function(opts)
      require('remote-lsp.search').files(vim.tbl_extend('force', opts or {}, { picker = 'telescope' }))
    end,
    live_grep = function(opts)
      require('remote-lsp.search').live_grep(vim.tbl_extend('force', opts or {}, { picker = 'telescope' }))
    end,
  },
})
