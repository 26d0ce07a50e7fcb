-- wpo unlock STACK LOCK_ID: remove by hand a state lock whose holder is gone.
local errors = require "wpo.errors"
local workflow = require "wpo.workflow"

local M = {
  summary = "remove a stack's remote state lock left by a process that is gone (by its lock ID)",
  args = { "STACK", "LOCK_ID" },
  options = workflow.options({}, { var = workflow.STACK_OPTIONS.var, var_file = workflow.STACK_OPTIONS.var_file }),
  help = "LOCK_ID is the ID the 'state is locked' error shows; any other ID is refused, so a lock taken\n"
    .. "since by someone else is never removed. A lock whose holder stopped renewing its lease is taken over\n"
    .. "by the next wpo on its own once the lease has expired: unlock is for not waiting that long.\n"
    .. "The local backend's lock is an flock the system releases when its holder ends: nothing to remove.",
}

function M.run(opts, args)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local lease = require "wpo.state.lease"
  local stack = workflow.load(opts, args[1])
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local backend = require("wpo.state").backend(stack)
  if not backend.force_unlock then
    errors.raise { code = "UnlockError", message = string.format(
      "%s: the local backend's lock is an flock, released by the system when its holder ends; "
      .. "there is no lock to remove by hand", backend:describe()) }
  end
  local record = backend:force_unlock(args[2])
  io.stdout:write(string.format("Removed the state lock of %s: %s.\n", backend:describe(),
    lease.describe(record, os.time())))
  if math.type(record.Expires) == "integer" and os.time() <= record.Expires then
    io.stdout:write("Its lease had not expired: if that process is still running, it will find its lock gone "
      .. "at its next renewal and refuse to write the state.\n")
  end
  return 0
end

return M
