-- wpo.aws.route53.change: waiting for a Route 53 change to reach every
-- Route 53 server (GetChange: PENDING -> INSYNC), as botocore's
-- ResourceRecordSetsChanged waiter does.
--
--   change.wait(ctx, change_info, what)   change_info: a ChangeInfo ({ Id, Status });
--        returns when it is INSYNC; raises WaitTimeout naming `what` and the resource
--   change.settle(ctx, change_info, what, wait_insync): change.wait when
--        wait_insync (the resource's `wait_insync = true`: something needs
--        the change on every Route 53 server, e.g. a client resolving the
--        name right after); otherwise the change id is logged (debug) and
--        not polled: Route 53 accepts further changes, reads and deletes of
--        the zone while a change is PENDING, so nothing in wpo needs INSYNC.
--   change.POLL = { interval, backoff, max_interval, timeout }   (seconds)
--   change.zone_created(zone_id): this process made the zone (empty but for
--        its apex SOA and NS)
--   change.sending(zone_id, name, type): a change to that record set is about
--        to be sent
--   change.known_absent(zone_id, name, type) -> boolean: the record set cannot
--        be there: its zone was made by this process and nothing here has
--        sent a change for it (so a record's create needs no lookup); never for
--        SOA and NS, which a new zone holds at its apex
--
-- botocore polls every 30 s, 60 times. Changes usually settle within a
-- minute, so wpo looks again after typekit.FIRST_POLL (at most POLL.interval)
-- and doubles the pause up to botocore's 30 s, for 30 minutes at most.
-- POLL is a module table so that tests can make it short.
local aws = require "wpo.aws"
local log = require "wpo.log"
local kit = require "wpo.aws.typekit"

local M = {}

M.POLL = { interval = 1, backoff = 2, max_interval = 30, timeout = 1800 }

function M.wait(ctx, change_info, what)
  if not change_info or change_info.Status == "INSYNC" then return end
  local r53 = ctx:aws("route53")
  aws.wait(function()
    local info = aws.required(r53:call("GetChange", { Id = change_info.Id }), "ChangeInfo")
    return info.Status == "INSYNC", info.Status
  end, { what = string.format("%s (%s) to reach every Route 53 server (change %s)", what, ctx.address,
      tostring(change_info.Id)),
    interval = M.POLL.interval, first = math.min(kit.FIRST_POLL, M.POLL.interval),
    backoff = M.POLL.backoff, max_interval = M.POLL.max_interval,
    timeout = M.POLL.timeout })
end

-- zone id -> { ["name type"] = true } for the zones this process made
local fresh = {}

function M.zone_created(zone_id)
  fresh[zone_id] = fresh[zone_id] or {}
end

function M.sending(zone_id, name, rtype)
  local sent = fresh[zone_id]
  if sent then sent[name .. " " .. rtype] = true end
end

function M.known_absent(zone_id, name, rtype)
  local sent = fresh[zone_id]
  if not sent or rtype == "SOA" or rtype == "NS" then return false end
  return not sent[name .. " " .. rtype]
end

function M.settle(ctx, change_info, what, wait_insync)
  if wait_insync then return M.wait(ctx, change_info, what) end
  if change_info and log.enabled("debug") then
    log.debug("%s: %s: change %s %s, not waited for (wait_insync = false)", ctx.address, what,
      tostring(change_info.Id), tostring(change_info.Status))
  end
end

return M
