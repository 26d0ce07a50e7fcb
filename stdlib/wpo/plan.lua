-- wpo.plan: what would change. Desired (a loaded stack) against actual (the
-- state, refreshed by reading every resource) -> actions, in an order that
-- respects dependencies; rendered for people or as JSON. Planning changes
-- nothing: commands turn on the AWS read-only guard around refresh.
--
--   plan.refresh(stack, st, { addresses?, parallelism, log }) -> drift
--        reads every resource in state in parallel (tasks); updates st's
--        records in memory; drift = { { address, gone = bool, deleting = bool,
--        changed = {names} } }; an object a type reads as deleting (a delete
--        in flight when a run was killed) stays, tainted, so that destroy
--        waits for it and a plan replaces it
--   plan.make(stack, st, { targets = {addresses}, destroy = bool, drift }) -> plan
--   plan.render(p, { color = bool }) -> text
--   plan.json(p) -> table for cjson: { format_version = 1, stack, changes, summary }
--   plan.has_changes(p) -> boolean
--
-- An action: { id (graph node), address, type (name), type_def, action =
-- "create"|"update"|"replace"|"delete"|"no-op", where, decl (desired; nil for
-- delete), prior (state record; nil for create), after (attributes, resolved
-- as far as known: value.UNKNOWN marks "(known after apply)"), changed,
-- forces (the attributes that force a replace), sensitive (attribute names
-- whose values are secret), waits_for (ids), deposed (for deleting an old
-- object left by create_before_destroy), reason, tainted (the error of the
-- create that left the object behind: it is replaced), replace_of (on the
-- delete node of a replace's old object, "ADDRESS (destroy)": the id of the
-- replace, which stands for both in renderings and counts), destroy_node (on
-- such a replace: that delete node's id), deposes (on a create_before_destroy
-- replace: the id of its old object's delete) }.
--
-- Replacement is Terraform's: destroy before create. A replaced resource's
-- old object is deleted after the deletes of its dependents that are
-- replaced or no longer declared; its create waits for that delete and for
-- its dependencies' creates; its dependents' creates wait for it. With
-- lifecycle.create_before_destroy the new object comes first and the old
-- one is deleted (deposed) once every dependent has moved to the new one.
--
-- A type with a check function (see wpo.resource) has it called for each of
-- its create, update and replace actions once the plan is made (concurrently,
-- as tasks); an error it raises refuses the plan, carrying the resource's
-- address and file:line.
local errors = require "wpo.errors"
local check_options = require("wpo.options").check
local resource = require "wpo.resource"
local stackmod = require "wpo.stack"
local value = require "wpo.value"

local M = {}

local function ordered_set(list)
  local s = {}
  for _, x in ipairs(list or {}) do s[x] = true end
  return s
end

-- ---- refresh ----

function M.refresh(stack, st, opts)
  opts = check_options("plan.refresh", opts, { addresses = true, parallelism = true, log = true })
  local task = require "wpo.task"
  local addresses = opts.addresses or st:addresses()
  local sem = task.semaphore(math.max(1, opts.parallelism or 16))
  local drift, failures, tasks = {}, {}, {}
  for _, address in ipairs(addresses) do
    local record = st:get(address)
    local t, terr = resource.get(record.type)
    if not t then
      errors.raise { code = "StateError", address = address, where = record.where,
        message = "the state holds a resource of type " .. record.type .. ": " .. terr }
    end
    tasks[#tasks + 1] = task.spawn(function()
      sem:with(function()
        local region, aws = stackmod.aws_for(stack, record.provider)
        local ctx = resource.context { address = address, type = t, stack = stack.name, region = region, aws_settings = aws,
          where = record.where, prior = record, logger = opts.log, lineage = st.lineage, read_only = true,
          state_view = resource.state_view(st), read_cache = require("wpo.aws.readcache").of(st) }
        local ok, observed = pcall(resource.read, t, ctx, record.id, record)
        if not ok then
          failures[#failures + 1] = { address = address, where = record.where, err = observed }
          return
        end
        if observed == nil then
          drift[#drift + 1] = { address = address, gone = true }
          st:remove(address)
          return
        end
        if observed.deleting then
          -- on its way out: a delete was in flight when wpo stopped. It stays
          -- in the state, tainted: destroy waits for it to go, a plan
          -- replaces it (destroy before create: the wait comes first)
          record.tainted = record.tainted or "it is being deleted (a delete was in flight when wpo stopped)"
          drift[#drift + 1] = { address = address, deleting = true }
          return
        end
        local changed = {}
        for k, v in pairs(value.normalize_numbers(observed)) do
          -- a name made unique by create_before_destroy reads as the script's
          if k == t.unique_name and record.name_suffix then v = resource.base_name(v, record.name_suffix) end
          if t.attributes[k] then
            if not value.equal(record.inputs[k], v) then changed[#changed + 1] = k end
            record.inputs[k] = v
          end
          if t.outputs[k] then record.outputs[k] = v end
        end
        if observed.id ~= nil then record.id = observed.id end
        if #changed > 0 then
          table.sort(changed)
          drift[#drift + 1] = { address = address, changed = changed }
        end
      end)
    end)
  end
  for _, t in ipairs(tasks) do
    local ok, err = task.join(t)
    if not ok then failures[#failures + 1] = { err = err } end
  end
  if #failures > 0 then
    local f = failures[1]
    local e = f.err
    local msg = errors.is(e) and (e.code and e.code ~= "error" and (e.code .. ": ") or "") .. e.message or tostring(e)
    errors.raise { code = "RefreshFailed", where = f.where, address = f.address,
      message = "reading it failed: " .. msg .. (#failures > 1 and string.format(" (and %d more)", #failures - 1) or "") }
  end
  table.sort(drift, function(a, b) return a.address < b.address end)
  return drift
end

-- ---- diff ----

local function sensitive_attr(t, name)
  local a = t.attributes[name]
  return a and a.sensitive or false
end

-- Whether the state recorded this attribute of the resource as sensitive
-- (its value came from a sensitive one: a password, a sensitive variable).
local function was_sensitive(a, name)
  for _, n in ipairs(a and a.prior and a.prior.sensitive or {}) do
    if n == name then return true end
  end
  return false
end
M.was_sensitive = was_sensitive

local function plan_error(where, address, fmt, ...)
  errors.raise { code = "PlanError", where = where, address = address, message = string.format(fmt, ...) }
end

function M.make(stack, st, opts)
  opts = check_options("plan.make", opts, { targets = true, destroy = true, drift = true })
  local p = { stack = stack.name, actions = {}, by_id = {}, drift = opts.drift or {},
    lineage = st.lineage, serial = st.serial, destroy = opts.destroy or false }
  local function add(a)
    a.id = a.id or a.address
    a.waits_for = a.waits_for or {}
    a.sensitive = a.sensitive or {}
    p.actions[#p.actions + 1] = a
    p.by_id[a.id] = a
    return a
  end

  -- targets: validate, then the scope
  local desired_scope, state_scope = nil, nil
  if opts.targets and #opts.targets > 0 then
    local dag = require "wpo.core.dag"
    local known = {}
    for _, d in ipairs(stack.resources) do known[#known + 1] = d.address end
    for _, a in ipairs(st:addresses()) do if not stack.by_address[a] then known[#known + 1] = a end end
    for _, target in ipairs(opts.targets) do
      if not stack.by_address[target] and not st:get(target) then
        local near = require("wpo.text").closest(target, known)
        plan_error(nil, nil, "--target %s: no such resource in the stack or its state%s", target,
          near and (" (did you mean " .. near .. "?)") or "")
      end
    end
    local g <close> = dag.new()
    for _, d in ipairs(stack.resources) do g:add(d.address) end
    for _, a in ipairs(st:addresses()) do if not g:has(a) then g:add(a) end end
    for _, d in ipairs(stack.resources) do for _, dep in ipairs(d.deps) do g:depend(d.address, dep) end end
    for _, a in ipairs(st:addresses()) do
      for _, dep in ipairs(st:get(a).deps) do if g:has(dep) and a ~= dep then g:depend(a, dep) end end
    end
    if opts.destroy then
      state_scope = ordered_set(g:closure(opts.targets, "dependents"))
    else
      desired_scope = ordered_set(g:closure(opts.targets, "deps"))
      state_scope = {}
      for _, target in ipairs(opts.targets) do
        if not stack.by_address[target] then state_scope[target] = true end
      end
    end
  end

  if not opts.destroy then
    for _, d in ipairs(stack.order) do
      if not desired_scope or desired_scope[d.address] then
        local prior = st:get(d.address)
        local t = d.type
        local function lookup(ref_decl, name)
          local a = p.by_id[ref_decl.address]
          local rt = a.type_def
          local sens = (rt.outputs[name] and rt.outputs[name].sensitive) or sensitive_attr(rt, name)
            or a.sensitive[name] or was_sensitive(a, name)
          if rt.attributes[name] and a.after[name] ~= nil then return a.after[name], sens end
          if a.action == "create" or a.action == "replace" then return value.UNKNOWN, sens end
          local v = a.prior.outputs[name]
          if v == nil then v = a.prior.inputs[name] end
          if v == nil then return value.UNKNOWN, sens end
          return v, sens
        end
        local after, sensitive = {}, {}
        for _, name in ipairs(t.attribute_names) do
          local v, s = value.resolve(d.attrs[name], lookup)
          after[name] = v
          if s or sensitive_attr(t, name) then sensitive[name] = true end
          if v ~= nil and not value.has_unknown(v) then
            local err = resource.check(t.attributes[name], v)
            if err then
              if sensitive[name] then
                err = "its value (sensitive, not shown) is not a valid " .. tostring(t.attributes[name].type)
              end
              plan_error(d.where, d.address, "attribute %s: %s", name, err)
            end
          end
        end
        local a = { address = d.address, type = d.type_name, type_def = t, where = d.where, decl = d,
          prior = prior, after = after, sensitive = sensitive, changed = {}, forces = {}, waits_for = {},
          cbd = d.lifecycle.create_before_destroy }
        if not prior then
          a.action = "create"
        elseif prior.type ~= d.type_name then
          a.action, a.forces, a.reason = "replace", {}, "its type changed from " .. prior.type
        elseif prior.provider ~= d.provider then
          a.action, a.forces, a.reason = "replace", {}, string.format("its provider changed from %s to %s",
            prior.provider or "the stack's", d.provider or "the stack's")
        else
          local ic = d.lifecycle.ignore_changes
          local ignored = ic == "all" and setmetatable({}, { __index = function() return true end })
            or ordered_set(ic)
          for _, name in ipairs(t.attribute_names) do
            local want, have = after[name], prior.inputs[name]
            local computed = want == nil and t.attributes[name].computed
            if not ignored[name] and not computed and not value.equal(want, have) then
              a.changed[#a.changed + 1] = name
              if t.attributes[name].force_new or not t.update then a.forces[#a.forces + 1] = name end
            end
          end
          if #a.changed == 0 then a.action = "no-op"
          elseif #a.forces > 0 then a.action = "replace"
          else a.action = "update" end
          if prior.tainted then a.action, a.tainted = "replace", prior.tainted end
        end
        if a.action == "replace" and d.lifecycle.prevent_destroy then
          plan_error(d.where, d.address, "lifecycle.prevent_destroy forbids replacing it (%s)",
            a.reason or (a.tainted and ("tainted: " .. a.tainted))
              or (table.concat(a.forces, ", ") .. " forces replacement"))
        end
        for _, dep in ipairs(d.deps) do a.waits_for[#a.waits_for + 1] = dep end
        add(a)
      end
    end
  end

  -- deletes: resources no longer declared (or everything, for destroy), and
  -- objects deposed by create_before_destroy
  local deletes = {}
  for _, address in ipairs(st:addresses()) do
    local prior = st:get(address)
    local declared = not opts.destroy and stack.by_address[address]
    local in_scope
    if opts.destroy then in_scope = not state_scope or state_scope[address]
    else in_scope = not declared and (not state_scope or state_scope[address]) end
    if in_scope then
      local decl = stack.by_address[address]
      local protected = prior.prevent_destroy or (decl and decl.lifecycle.prevent_destroy)
      if protected then
        if decl then
          plan_error(decl.where, address, "lifecycle.prevent_destroy forbids destroying it")
        end
        plan_error(prior.where, address, "lifecycle.prevent_destroy is recorded in the state: refusing to destroy it "
          .. "though the script no longer declares it (declare it again, or forget it with 'wpo state rm')")
      end
      local t, terr = resource.get(prior.type)
      if not t then plan_error(prior.where, address, "%s", terr) end
      deletes[#deletes + 1] = add({ address = address, type = prior.type, type_def = t, action = "delete",
        where = prior.where, prior = prior, after = {},
        reason = not opts.destroy and "no longer in the stack" or nil })
    end
    for i, old in ipairs(prior.deposed or {}) do
      local t = resource.get(prior.type)
      if t and (not state_scope or state_scope[address] or not desired_scope or desired_scope[address]) then
        deletes[#deletes + 1] = add({ id = address .. " (deposed " .. i .. ")", address = address, type = prior.type,
          type_def = t, action = "delete", where = prior.where, deposed = i,
          prior = { type = prior.type, id = old.id, inputs = old.inputs, outputs = old.outputs, deps = {} },
          after = {}, reason = "deposed by create_before_destroy" })
      end
    end
  end

  -- destroy before create (as Terraform does): a replace that is not
  -- create_before_destroy is two nodes of the apply graph, the old object's
  -- delete ("ADDRESS (destroy)", not shown on its own: the replace stands for
  -- both) and the create, which waits for it. The old object's deposed ones
  -- go first.
  local replaces = {}
  for _, a in ipairs(p.actions) do
    if a.action == "replace" then replaces[#replaces + 1] = a end
  end
  for _, a in ipairs(replaces) do
    if not a.cbd then
      local old_t = resource.get(a.prior.type) or a.type_def
      local d = add({ id = a.address .. " (destroy)", address = a.address, type = a.prior.type, type_def = old_t,
        action = "delete", where = a.where, prior = a.prior, after = {}, replace_of = a.id,
        reason = "replaced" })
      for _, x in ipairs(deletes) do
        if x.deposed and x.address == a.address then d.waits_for[#d.waits_for + 1] = x.id end
      end
      a.destroy_node = d.id
      a.waits_for[#a.waits_for + 1] = d.id
    end
  end
  -- create_before_destroy: the old object goes once the new one exists and
  -- every dependent has moved to it
  for _, a in ipairs(replaces) do
    if a.cbd then
      local old = add({ id = a.address .. " (deposed)", address = a.address, type = a.type, type_def = a.type_def,
        action = "delete", where = a.where, deposed = 0, prior = a.prior, after = {}, waits_for = { a.id },
        reason = "replaced (create before destroy)" })
      a.deposes = old.id
      for _, other in ipairs(p.actions) do
        if other.decl then
          for _, dep in ipairs(other.decl.deps) do
            if dep == a.address then old.waits_for[#old.waits_for + 1] = other.id end
          end
        end
      end
    end
  end

  -- a delete waits for what used the object, by the state's record: a
  -- resource no longer declared, for everything that used it (its deletes
  -- and its updates); the old object of a replace, for the deletes of its
  -- dependents (replaced or no longer declared) only — their creates and
  -- updates come after the new object, which waits for this delete
  local users = {}
  for _, a in ipairs(p.actions) do
    if a.prior and not a.deposed and not a.replace_of then
      for _, dep in ipairs(a.prior.deps or {}) do
        users[dep] = users[dep] or {}
        table.insert(users[dep], a)
      end
    end
  end
  local function wait(del, id)
    if id and id ~= del.id then del.waits_for[#del.waits_for + 1] = id end
  end
  for _, del in ipairs(p.actions) do
    if del.action == "delete" and not del.deposed then
      for _, user in ipairs(users[del.address] or {}) do
        if user.address ~= del.address then
          if del.replace_of then
            if user.action == "delete" then wait(del, user.id) end
            wait(del, user.destroy_node)
          else
            wait(del, user.id)
            wait(del, user.destroy_node)
            wait(del, user.deposes)
          end
        end
      end
    end
  end

  M.run_checks(stack, st, p)

  local add_n, change_n, destroy_n = 0, 0, 0
  for _, a in ipairs(p.actions) do
    if a.replace_of then -- counted with its replace
    elseif a.action == "create" then add_n = add_n + 1
    elseif a.action == "update" then change_n = change_n + 1
    elseif a.action == "replace" then
      add_n = add_n + 1
      if not a.cbd then destroy_n = destroy_n + 1 end
    elseif a.action == "delete" then destroy_n = destroy_n + 1 end
  end
  p.summary = { add = add_n, change = change_n, destroy = destroy_n }
  return p
end

-- The types' plan-time checks (reads only: planning runs under the AWS
-- read-only guard). The first failure, in plan order, is raised.
function M.run_checks(stack, st, p)
  local todo = {}
  for _, a in ipairs(p.actions) do
    if a.type_def.check and (a.action == "create" or a.action == "update" or a.action == "replace") then
      todo[#todo + 1] = a
    end
  end
  if #todo == 0 then return end
  local task = require "wpo.task"
  local failures, tasks = {}, {}
  for i, a in ipairs(todo) do
    tasks[i] = task.spawn(function()
      local region, aws = stackmod.aws_for(stack, a.decl and a.decl.provider)
      local ctx = resource.context { address = a.address, type = a.type_def, stack = stack.name,
        region = region, aws_settings = aws, where = a.where, prior = a.prior, lineage = st.lineage, read_only = true }
      local ok, err = pcall(a.type_def.check, ctx, a.after, a.action)
      if not ok then failures[i] = err end
    end)
  end
  for i, t in ipairs(tasks) do
    local ok, err = task.join(t)
    if not ok and not failures[i] then failures[i] = err end
  end
  for i, a in ipairs(todo) do
    local e = failures[i]
    if e ~= nil then
      if errors.is(e) then
        errors.raise { code = e.code ~= "error" and e.code or "PlanError", where = e.where or a.where,
          address = e.address or a.address, message = e.message }
      end
      plan_error(a.where, a.address, "%s", tostring(e))
    end
  end
end

function M.has_changes(p)
  return p.summary.add + p.summary.change + p.summary.destroy > 0
end

-- ---- rendering ----

local COLORS = { create = "32", update = "33", replace = "35", delete = "31" }
local SYMBOLS = { create = "  +", update = "  ~", replace = "-/+", delete = "  -" }
local VERBS = { create = "will be created", update = "will be updated in place", replace = "will be replaced",
                delete = "will be destroyed" }

local function paint(color, code, s)
  if not color then return s end
  return "\27[" .. code .. "m" .. s .. "\27[0m"
end

local function pad(s, n) return s .. string.rep(" ", math.max(0, n - #s)) end

local function width(names)
  local w = 0
  for _, n in ipairs(names) do w = math.max(w, #n) end
  return w
end

-- old -> new lines of one attribute; maps are compared key by key
local function attr_change(lines, name, old, new, sensitive, forces, w)
  local note = forces and "   # forces replacement" or ""
  if sensitive then
    lines[#lines + 1] = string.format("      %s = (sensitive)%s", pad(name, w), note)
    return
  end
  -- a map that comes or goes shows key by key too
  if old == nil and type(new) == "table" and new ~= value.UNKNOWN and next(new) ~= nil
      and not value.is_array(new) then old = {} end
  if new == nil and type(old) == "table" and next(old) ~= nil and not value.is_array(old) then new = {} end
  if type(old) == "table" and type(new) == "table" and new ~= value.UNKNOWN
      and not value.is_array(old) and (next(new) == nil or not value.is_array(new)) then
    local keys, seen = {}, {}
    for k in pairs(old) do keys[#keys + 1] = k; seen[k] = true end
    for k in pairs(new) do if not seen[k] then keys[#keys + 1] = k end end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      if not value.equal(old[k], new[k]) then
        local label = name .. "[" .. value.show(k) .. "]"
        if old[k] == nil then
          lines[#lines + 1] = string.format("      %s = %s%s", label, value.show(new[k]), note)
        elseif new[k] == nil then
          lines[#lines + 1] = string.format("      %s = %s -> null%s", label, value.show(old[k]), note)
        else
          lines[#lines + 1] = string.format("      %s = %s -> %s%s", label, value.show(old[k]), value.show(new[k]), note)
        end
      end
    end
    return
  end
  lines[#lines + 1] = string.format("      %s = %s -> %s%s", pad(name, w), value.show(old), value.show(new), note)
end

local function render_action(lines, a, color)
  local head = string.format("%s %s", paint(color, COLORS[a.action], SYMBOLS[a.action]), a.address)
  if a.deposed then head = head .. " (deposed object " .. tostring(a.prior.id) .. ")" end
  local why = VERBS[a.action]
  if a.action == "replace" then
    if a.tainted then
      why = why .. " (tainted: " .. a.tainted .. ")"
    else
      why = why .. (a.reason and (": " .. a.reason)
        or (" (" .. table.concat(a.forces, ", ") .. " forces replacement)"))
    end
    if a.cbd then why = why .. ", creating the new one first" end
  elseif a.action == "delete" and a.reason then
    why = why .. " (" .. a.reason .. ")"
  end
  lines[#lines + 1] = string.format("%s  # %s %s", head, a.where or "?", why)
  local t = a.type_def
  if a.action == "create" then
    local names = {}
    for _, n in ipairs(t.attribute_names) do if a.after[n] ~= nil then names[#names + 1] = n end end
    local outs = {}
    for _, n in ipairs(t.output_names) do if not t.attributes[n] then outs[#outs + 1] = n end end
    local w = math.max(width(names), width(outs))
    for _, n in ipairs(names) do
      lines[#lines + 1] = string.format("      %s = %s", pad(n, w), value.show(a.after[n], a.sensitive[n]))
    end
    for _, n in ipairs(outs) do
      lines[#lines + 1] = string.format("      %s = (known after apply)", pad(n, w))
    end
  elseif a.action == "update" or a.action == "replace" then
    local forces = ordered_set(a.forces)
    local w = width(a.changed)
    for _, n in ipairs(a.changed) do
      attr_change(lines, n, a.prior.inputs[n], a.after[n],
        a.sensitive[n] or sensitive_attr(t, n) or was_sensitive(a, n), forces[n], w)
    end
  elseif a.action == "delete" then
    lines[#lines + 1] = string.format("      id = %s", value.show(a.prior.id))
  end
  lines[#lines + 1] = ""
end

function M.render(p, opts)
  opts = opts or {}
  local color = opts.color
  local lines = {}
  if #p.drift > 0 then
    lines[#lines + 1] = "Changed outside wpo since the last run:"
    for _, d in ipairs(p.drift) do
      if d.gone then
        lines[#lines + 1] = "  " .. d.address .. " no longer exists"
      elseif d.deleting then
        lines[#lines + 1] = "  " .. d.address .. " is being deleted"
      else
        lines[#lines + 1] = "  " .. d.address .. ": " .. table.concat(d.changed, ", ")
      end
    end
    lines[#lines + 1] = ""
  end
  if not M.has_changes(p) then
    lines[#lines + 1] = string.format("No changes: stack %s matches its script (%d resources).", p.stack,
      #p.actions)
  else
    lines[#lines + 1] = string.format("Stack %s: wpo will%s:", p.stack, p.destroy and " destroy" or "")
    lines[#lines + 1] = ""
    for _, a in ipairs(p.actions) do
      if a.action ~= "no-op" and not a.replace_of then render_action(lines, a, color) end
    end
  end
  lines[#lines + 1] = string.format("Plan: %d to add, %d to change, %d to destroy.", p.summary.add,
    p.summary.change, p.summary.destroy)
  return table.concat(lines, "\n") .. "\n"
end

-- ---- JSON ----

local function masked_attrs(a, attrs)
  local out = {}
  for k, v in pairs(attrs or {}) do
    out[k] = value.mask(v, a.sensitive[k] or sensitive_attr(a.type_def, k) or was_sensitive(a, k))
  end
  return out
end

function M.json(p)
  local changes = {}
  for _, a in ipairs(p.actions) do
    if a.replace_of then goto continue end
    local c = { address = a.address, type = a.type, action = a.action, where = a.where }
    if a.action ~= "delete" then c.after = masked_attrs(a, a.after) end
    if a.prior then
      c.before = masked_attrs(a, a.prior.inputs)
      c.id = a.prior.id
    end
    if #(a.changed or {}) > 0 then c.changed = a.changed end
    if #(a.forces or {}) > 0 then c.replace_because = a.forces end
    if a.reason then c.reason = a.reason end
    if a.tainted then c.tainted = a.tainted end
    if a.deposed then c.deposed = true end
    local unknown = {}
    for _, n in ipairs(a.type_def.attribute_names) do
      if value.has_unknown(a.after[n]) then unknown[#unknown + 1] = n end
    end
    if a.action == "create" or a.action == "replace" then
      for _, n in ipairs(a.type_def.output_names) do
        if not a.type_def.attributes[n] then unknown[#unknown + 1] = n end
      end
    end
    if #unknown > 0 then c.known_after_apply = unknown end
    changes[#changes + 1] = c
    ::continue::
  end
  local drift = {}
  for _, d in ipairs(p.drift) do drift[#drift + 1] = d end
  local doc = { format_version = 1, stack = p.stack, changes = changes, summary = p.summary }
  if #drift > 0 then doc.drift = drift end
  return doc
end

return M
