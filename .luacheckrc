-- luacheck lua plugin (run by `make lint`): Neovim's LuaJIT, and no global but vim.
std = 'luajit'
max_line_length = 120

-- vim is read-only: nothing of its own is replaced. What Neovim means to be written are its
-- variable and option tables (vim.g.x = ..., vim.bo[buf].x = ...).
local writable = { read_only = false, other_fields = true }
read_globals = {
  vim = {
    other_fields = true,
    fields = { g = writable, b = writable, w = writable, t = writable, bo = writable, wo = writable },
  },
}
