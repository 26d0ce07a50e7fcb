-- wpo.aws.route53.change: waiting for a Route 53 change to reach every
-- Route 53 server (GetChange: PENDING -> INSYNC), as botocore's
-- ResourceRecordSetsChanged waiter does.
--
--   change.wait(ctx, change_info, what)   change_info: a ChangeInfo ({ Id, Status });
--        returns when it is INSYNC; raises WaitTimeout naming `what` and the resource
--   change.POLL = { interval, backoff, max_interval, timeout }   (seconds)
--
-- botocore polls every 30 s, 60 times. Changes usually settle within a
-- minute, so wpo looks again after typekit.FIRST_POLL (at most POLL.interval)
-- and doubles the pause up to botocore's 30 s, for 30 minutes at most.
-- POLL is a module table so that tests can make it short.
local aws = require "wpo.aws"

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
    interval = M.POLL.interval, first = math.min(require("wpo.aws.typekit").FIRST_POLL, M.POLL.interval),
    backoff = M.POLL.backoff, max_interval = M.POLL.max_interval,
    timeout = M.POLL.timeout })
end

return M
