-- Validators for vim.validate, each defined once: setup's options and the commands' arguments.
local M = {}

-- The largest pid Linux gives (PID_MAX_LIMIT on 64-bit): a larger number is no process.
M.PID_MAX = 4194304

--- An absolute path (on the host: '/' first).
function M.absolute(path)
  return type(path) == 'string' and path:sub(1, 1) == '/'
end

function M.non_empty(s)
  return type(s) == 'string' and s ~= ''
end

--- A host as ssh takes it: [user@]host[:port], nothing ssh would read as an option.
function M.host(name)
  return type(name) == 'string' and name:match('^[%w_.@:%[%]-]+$') ~= nil and name:sub(1, 1) ~= '-'
end

--- A process id: a whole number from 1 to PID_MAX.
function M.pid(n)
  return type(n) == 'number' and n > 0 and n <= M.PID_MAX and n == math.floor(n)
end

function M.list_of_strings(v)
  return vim.islist(v) and #vim.tbl_filter(function(x)
    return type(x) ~= 'string'
  end, v) == 0
end

--- A validator that takes only these values.
---@param values any[]
function M.one_of(values)
  return function(v)
    return vim.tbl_contains(values, v)
  end
end

return M
