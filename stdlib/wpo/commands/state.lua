-- wpo state list|show|rm|mv|versions|restore|migrate|rekey STACK ...: look
-- at and edit a stack's state, move it between backends, rotate its key.
local errors = require "wpo.errors"
local resource = require "wpo.resource"
local value = require "wpo.value"
local workflow = require "wpo.workflow"
local cjson = require "cjson"
local textlib = require "wpo.text"
local json = require "wpo.json"
local plan = require "wpo.plan"

local M = {
  summary = "list, show, forget (rm), rename (mv) resources in a stack's state; versions, restore, migrate, rekey",
  args = { "SUBCOMMAND", "STACK", "ARGS..." },
  options = workflow.options({
    to = { type = "string", choices = { "s3", "local" }, metavar = "BACKEND", help = "migrate: where to (s3 or local)" },
    decrypt = { type = "boolean", help = "rekey: write the state unencrypted" },
    limit = { type = "integer", min = 1, default = 20, metavar = "N", help = "versions: show the newest N" },
    json = { type = "boolean", help = "list, show: machine-readable output (secrets left out)" },
  }, workflow.STACK_OPTIONS),
  help = "  wpo state list STACK [--json]      every address in the state\n"
    .. "  wpo state show STACK ADDRESS [--json]  one resource (secrets hidden)\n"
    .. "  wpo state rm STACK ADDRESS...      forget resources (nothing is destroyed)\n"
    .. "  wpo state mv STACK FROM TO         rename a resource (same type)\n"
    .. "  wpo state versions STACK           the S3 object's versions (bucket versioning on)\n"
    .. "  wpo state restore STACK VERSION    make that version the current state (a new serial)\n"
    .. "  wpo state migrate STACK --to s3    copy the local state to the stack's S3 backend, verify, switch\n"
    .. "  wpo state migrate STACK --to local copy the S3 state to the local file, verify, switch\n"
    .. "  wpo state rekey STACK              re-encrypt with the key configured now (WPO_STATE_KEY, with\n"
    .. "                                     the old one in WPO_STATE_KEY_OLD; or a new KMS data key);\n"
    .. "                                     --decrypt writes it in the clear",
}

local SUB = { list = true, show = true, rm = true, mv = true, versions = true, restore = true, migrate = true,
  rekey = true }
local SUB_NAMES = { "list", "show", "rm", "mv", "versions", "restore", "migrate", "rekey" }

local function need(args, n, usage)
  if #args ~= n then workflow.usage("usage: wpo state %s", usage) end
end

local function show(st, address)
  local r = st:get(address)
  if not r then errors.raise { code = "StateError", message = address .. " is not in the state" } end
  local t = resource.get(r.type)
  local lines = {
    address, "  type    " .. r.type, "  id      " .. value.show(r.id), "  where   " .. tostring(r.where),
    "  deps    " .. (#r.deps > 0 and table.concat(r.deps, ", ") or "(none)"),
  }
  if r.prevent_destroy then lines[#lines + 1] = "  lifecycle.prevent_destroy = true" end
  for _, section in ipairs({ "inputs", "outputs" }) do
    local names = textlib.sorted_keys(r[section])
    if #names > 0 then lines[#lines + 1] = "  " .. section .. ":" end
    for _, k in ipairs(names) do
      local spec = t and (section == "inputs" and t.attributes[k] or t.outputs[k])
      -- lazy: `wpo help` loads every command module; the engine loads when the command runs
      local hidden = (spec and spec.sensitive) or require("wpo.plan").was_sensitive({ prior = r }, k)
      lines[#lines + 1] = string.format("    %s = %s", k, value.show(r[section][k], hidden))
    end
  end
  for _, old in ipairs(r.deposed or {}) do lines[#lines + 1] = "  deposed object " .. value.show(old.id) end
  io.stdout:write(table.concat(lines, "\n"), "\n")
end

local function versions(stack, opts)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local backend = require("wpo.state").backend(stack)
  if not backend.versions then
    errors.raise { code = "StateError", message = backend:describe() .. ": the local backend keeps one backup "
      .. "(.backup beside the state); versions are the S3 backend's (with bucket versioning on)" }
  end
  local list = backend:versions(opts.limit)
  if #list == 0 then
    io.stdout:write("No versions of ", backend:describe(), ".\n")
    return 0
  end
  io.stdout:write(string.format("%-34s  %-20s  %6s  %8s\n", "VERSION", "WRITTEN", "SERIAL", "BYTES"))
  for i, v in ipairs(list) do
    if i > opts.limit then break end
    local note = v.delete_marker and "  (deleted here)" or (v.latest and "  (current)" or "")
    io.stdout:write(string.format("%-34s  %-20s  %6s  %8s%s\n", v.version_id, tostring(v.last_modified or "?"),
      v.serial and tostring(v.serial) or "-", v.size and tostring(v.size) or "-", note))
  end
  if #list > opts.limit then io.stdout:write(string.format("(%d older versions not shown)\n", #list - opts.limit)) end
  return 0
end

local function restore(stack, opts, version_id)
  local st <close> = workflow.open_state(stack, opts, "state restore", { restoring = true })
  if not st.backend.load_version then
    errors.raise { code = "StateError", message = st:describe() .. ": versions are the S3 backend's; "
      .. "the local backend's previous version is the .backup file beside the state" }
  end
  local before_lineage, before_serial = st.lineage, st.serial
  st:adopt(st.backend:load_version(version_id), "version " .. version_id .. " of " .. st:describe())
  st:save()
  io.stdout:write(string.format("Restored version %s of %s as serial %d%s.\n", version_id, st:describe(), st.serial,
    before_lineage and before_lineage ~= st.lineage and string.format(
      " (its lineage %s replaces %s)", st.lineage, before_lineage) or
      (before_serial > 0 and string.format(" (the state was at serial %d)", before_serial) or "")))
  return 0
end

-- Every resource, output and counter of two states is the same.
local function same_content(a, b)
  local da, db = cjson.decode(a), cjson.decode(b)
  return da.lineage == db.lineage and da.serial == db.serial and value.equal(da.resources, db.resources)
    and value.equal(da.outputs, db.outputs) and value.equal(da.generations, db.generations)
    and value.equal(da.source, db.source) and value.equal(da.history, db.history)
end

local function migrate(stack, opts)
  local declared = (stack.backend or {}).type or "local"
  if not opts.to then workflow.usage("usage: wpo state migrate STACK --to s3|local") end
  if declared == "local" then
    errors.raise { code = "StateError", message = "the stack declares the local state backend: set its backend "
      .. "(backend = { type = \"s3\", bucket = ..., key = ..., lock_table = ... }) first, then migrate; the state "
      .. "stays where it is until the migration moves it" }
  end
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local local_path = opts.state and require("wpo.stack").absolute(opts.state)
    -- lazy: `wpo help` loads every command module; the engine loads when the command runs
    or require("wpo.state.local").default_path(stack)
  local to_remote = opts.to ~= "local"
  if to_remote and opts.to ~= declared then
    errors.raise { code = "StateError", message = string.format("--to %s, but the stack declares the %s backend",
      opts.to, declared) }
  end
  local plain = { var = opts.var, var_file = opts.var_file, lock_timeout = opts.lock_timeout }
  local src_how = to_remote and { path = local_path } or {}
  local dst_how = to_remote and { migrating = true } or { path = local_path, migrating = true }
  local src <close> = workflow.open_state(stack, plain, "state migrate", src_how)
  local dst <close> = workflow.open_state(stack, plain, "state migrate", dst_how)
  if not src.exists then
    errors.raise { code = "StateError", message = "there is no state at " .. src:describe() .. " to migrate" }
  end
  if dst.exists then
    errors.raise { code = "StateError", message = string.format(
      "%s already holds a state (lineage %s, serial %d): refusing to overwrite it", dst:describe(), dst.lineage,
      dst.serial) }
  end
  if dst.moved and dst.moved.to ~= src:describe() then
    errors.raise { code = "StateError", message = string.format(
      "%s says the state moved to %s, not to %s: refusing to overwrite it", dst:describe(), tostring(dst.moved.to),
      src:describe()) }
  end
  local text = src:text()
  dst:adopt(text, "the state of " .. src:describe())
  dst:save({ keep_serial = true })
  -- verify: read the copy back (decrypting it) before the source is switched
  local stored = dst.backend:load()
  local ok, back = pcall(dst.keyring.open, dst.keyring, stored or "", "the copy at " .. dst:describe())
  if not stored or not ok or not same_content(back, text) then
    errors.raise { code = "StateError", message = string.format("the copy at %s does not read back as the state "
      .. "of %s%s: the source is left as it was", dst:describe(), src:describe(), ok and "" or (": " .. tostring(back))) }
  end
  src:mark_moved(dst:describe())
  io.stdout:write(string.format("Moved the state of stack %s (serial %d, %d resources) from %s to %s, verified.\n",
    stack.name, dst.serial, #dst:addresses(), src:describe(), dst:describe()))
  if to_remote then
    io.stdout:write(src:describe() .. " now says where the state went.\n")
  else
    io.stdout:write(string.format("Now set the stack's backend to local (remove its backend table): until then wpo "
      .. "refuses %s, which now says where the state went.\n", src:describe()))
  end
  return 0
end

local function rekey(stack, opts)
  local st <close> = workflow.open_state(stack, opts, "state rekey")
  if not st.exists then errors.raise { code = "StateError", message = "there is no state at " .. st:describe() } end
  local before = st.keyring.read_header
  st.keyring.mode = opts.decrypt and "decrypt" or "rekey"
  if not opts.decrypt and not st.keyring:write_scheme() then
    errors.raise { code = "StateError", message = "encryption is not configured: set backend.encrypt = true (with "
      .. "WPO_STATE_KEY) or backend.kms_key_id in the stack, then rekey" }
  end
  st.keyring:prepare()
  local text = st:text()
  st.reseal_backup = text                -- the backup this write keeps is sealed with the new key too
  st:save()
  local stored = st.backend:load()
  st.keyring.mode = "config"
  local ok, back = pcall(st.keyring.open, st.keyring, stored or "", "the rekeyed state")
  if not ok or not same_content(back, st:text()) then
    errors.raise { code = "StateError", message = "the rekeyed state does not read back: " .. tostring(back) }
  end
  local now = opts.decrypt and "not encrypted" or st.keyring:describe()
  io.stdout:write(string.format("Rewrote the state of stack %s as serial %d: %s (was %s).\n", stack.name, st.serial,
    now, before and (before.key_source == "kms" and ("a KMS data key of " .. tostring(before.key_id))
      or ("WPO_STATE_KEY " .. tostring(before.key_id))) or "not encrypted"))
  if st.backend.versions then
    io.stdout:write("Earlier versions kept by bucket versioning stay as they were written.\n")
  end
  return 0
end

function M.run(opts, args)
  local sub = args[1]
  if not SUB[sub] then
    local near = textlib.closest(sub, SUB_NAMES)
    workflow.usage("unknown state subcommand '%s'%s (%s)", sub,
      near and (" (did you mean '" .. near .. "'?)") or "", table.concat(SUB_NAMES, ", "))
  end
  if opts.to and sub ~= "migrate" then workflow.usage("--to is for wpo state migrate") end
  if opts.decrypt and sub ~= "rekey" then workflow.usage("--decrypt is for wpo state rekey") end
  if opts.json and sub ~= "list" and sub ~= "show" then workflow.usage("--json is for wpo state list and show") end
  local rest = { table.unpack(args, 3) }
  local stack = workflow.load(opts, args[2])
  if sub == "versions" then
    need(rest, 0, "versions STACK")
    return versions(stack, opts)
  elseif sub == "restore" then
    need(rest, 1, "restore STACK VERSION")
    return restore(stack, opts, rest[1])
  elseif sub == "migrate" then
    need(rest, 0, "migrate STACK --to s3|local")
    return migrate(stack, opts)
  elseif sub == "rekey" then
    need(rest, 0, "rekey STACK [--decrypt]")
    return rekey(stack, opts)
  end
  local writes = sub == "rm" or sub == "mv"
  local st <close> = workflow.open_state(stack, opts, "state " .. sub, { lock = writes })
  if sub == "list" and opts.json then
    need(rest, 0, "list STACK")
    local list = {}
    for _, a in ipairs(st:addresses()) do
      local r = st:get(a)
      list[#list + 1] = { address = a, type = r.type, id = r.id, where = r.where and tostring(r.where) or nil,
        deposed = #(r.deposed or {}) > 0 and #r.deposed or nil, tainted = r.tainted and true or nil }
    end
    io.stdout:write(json.encode(json.array(list)), "\n")
  elseif sub == "show" and opts.json then
    need(rest, 1, "show STACK ADDRESS")
    local r = st:get(rest[1])
    if not r then errors.raise { code = "StateError", message = rest[1] .. " is not in the state" } end
    local doc = plan.state_json({ { address = rest[1], record = r } }, {})
    local one = doc.values.root_module.resources[1]
    one.id, one.where, one.deps = r.id, r.where and tostring(r.where) or nil, json.array(r.deps)
    io.stdout:write(json.encode(one), "\n")
  elseif sub == "list" then
    need(rest, 0, "list STACK")
    for _, a in ipairs(st:addresses()) do
      io.stdout:write(a, "\n")
      for i in ipairs(st:get(a).deposed or {}) do io.stdout:write(a, " (deposed ", i, ")\n") end
    end
  elseif sub == "show" then
    need(rest, 1, "show STACK ADDRESS")
    show(st, rest[1])
  elseif sub == "rm" then
    if #rest == 0 then workflow.usage("usage: wpo state rm STACK ADDRESS...") end
    for _, a in ipairs(rest) do
      if not st:get(a) then errors.raise { code = "StateError", message = a .. " is not in the state" } end
    end
    for _, a in ipairs(rest) do st:remove(a) end
    st:save()
    for _, a in ipairs(rest) do io.stdout:write("Removed ", a, " from the state (the object itself is untouched).\n") end
  else
    need(rest, 2, "mv STACK FROM TO")
    local from, to = rest[1], rest[2]
    local r = st:get(from)
    if not r then errors.raise { code = "StateError", message = from .. " is not in the state" } end
    if st:get(to) then errors.raise { code = "StateError", message = to .. " is already in the state" } end
    local name = to:sub(#r.type + 2)
    if to:sub(1, #r.type + 1) ~= r.type .. "." or not name:match("^[%w_][%w_%-]*$") then
      errors.raise { code = "StateError", message = string.format(
        "%s is a %s: the new address must be %s.<name>", from, r.type, r.type) }
    end
    st:remove(from)
    st:set(to, r)
    st.generations[to], st.generations[from] = st.generations[from], nil
    st:save()
    io.stdout:write(string.format("Moved %s to %s.\n", from, to))
  end
  return 0
end

return M
