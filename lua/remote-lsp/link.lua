-- The link of each remote client: the bridge reports it in `$/remote-lsp/link`
-- notifications (down, up, new-session). Shown in :RemoteLspStatus and by
-- require('remote-lsp').status(); told once when it drops and once when it is
-- back, and no more often than once a minute per client, so a flapping link
-- never makes a storm of messages. A drop is told only once it has lasted
-- TELL_MS: one the bridge mends at once (an agent that was killed and is
-- replaced, a new session) is told by the one message of its end.
local M = {}

local QUIET_MS = 60000
local TELL_MS = 3000
--- How long a drop lasts before it is told (ms).
M.TELL_MS = TELL_MS

---@type table<integer, remote_lsp.Link>
local links = {}

local notify = require('remote-lsp.log').notify

--- The handler for `$/remote-lsp/link` (a notification; see lsp-handler).
function M.handler(_, params, ctx)
  if type(params) ~= 'table' or not ctx or not ctx.client_id then
    return
  end
  local prev = links[ctx.client_id] or {}
  local now = vim.uv.now()
  local link = {
    state = params.state,
    host = params.host,
    since = params.since or prev.since,
    after = params.after,
    reason = params.reason,
    told = prev.told,
  }
  links[ctx.client_id] = link
  if params.state == 'down' then
    link.quiet = true -- until it has lasted TELL_MS
    if not prev.told or now - prev.told > QUIET_MS then
      vim.defer_fn(function()
        if links[ctx.client_id] ~= link or link.state ~= 'down' then
          return -- back, or a new session, meanwhile: that end is told, or nothing
        end
        link.told = vim.uv.now()
        link.quiet = false
        notify(
          ('the link to %s is down (%s); reconnecting, and what you type is kept'):format(params.host, params.reason),
          vim.log.levels.WARN
        )
      end, TELL_MS)
    end
  elseif params.state == 'up' and not prev.quiet then
    notify(('the link to %s is back after %.1f s'):format(params.host, params.after or 0))
  end
  -- A new session is told by the bridge itself (window/showMessage).
end

--- What :RemoteLspStatus says of a client's link.
---@param client_id integer
---@return string
function M.describe(client_id)
  local link = links[client_id]
  if not link or link.state == nil then
    return 'connected'
  end
  if link.state == 'down' then
    return ('reconnecting since %s (%d s)'):format(
      os.date('%H:%M:%S', math.floor(link.since or os.time())),
      os.time() - math.floor(link.since or os.time())
    )
  elseif link.state == 'up' then
    return ('connected; resumed after %.1f s'):format(link.after or 0)
  end
  return ('connected; a new session after %.0f s (%s)'):format(link.after or 0, link.reason or '')
end

--- Is the link of this client down (the bridge reconnecting)?
---@param client_id integer
---@return boolean
function M.is_down(client_id)
  return links[client_id] ~= nil and links[client_id].state == 'down'
end

--- A short string for a statusline: the hosts whose link is down, with how
--- long; '' when every link is up.
---@return string
function M.statusline()
  local down = {}
  for id, link in pairs(links) do
    if link.state == 'down' and vim.lsp.get_client_by_id(id) then
      down[#down + 1] = ('%s: reconnecting %ds'):format(link.host, os.time() - math.floor(link.since or os.time()))
    end
  end
  table.sort(down)
  return table.concat(down, ', ')
end

return M
