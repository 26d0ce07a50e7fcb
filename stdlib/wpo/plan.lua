-- wpo.plan: what would change. Desired (a loaded stack) against actual (the
-- state, refreshed by reading every resource) -> actions, in an order that
-- respects dependencies; rendered for people or as JSON. Planning changes
-- nothing: commands turn on the AWS read-only guard around refresh.
--
--   plan.refresh(stack, st, { addresses?, parallelism, log,
--                             progress = fn(address, id, done, total) after each read }) -> drift
--        reads every resource in state in parallel (tasks: REFRESH_READS_PER_OPERATION
--        x parallelism at once); updates st's
--        records in memory; drift = { { address, gone = bool, deleting = bool,
--        changed = {names} } }; an object a type reads as deleting (a delete
--        in flight when a run was killed) stays, tainted, so that destroy
--        waits for it and a plan replaces it
--   plan.make(stack, st, { targets = {addresses}, destroy = bool, drift,
--                          checks = false: the types' plan-time checks (AWS reads) not run }) -> plan
--   plan.render(p, { color = bool }) -> text
--   plan.json(p) -> the plan in the shape of Terraform's JSON plan (see M.json)
--   plan.state_json(records, outputs) -> a state in the shape of Terraform's JSON state
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
local text = require "wpo.text"
local dag = require "wpo.core.dag"
local task = require "wpo.task"
local json = require "wpo.json"
local readcache = require "wpo.aws.readcache"

local M = {}

local function ordered_set(list)
  local s = {}
  for _, x in ipairs(list or {}) do s[x] = true end
  return s
end

-- ---- refresh ----

-- A refresh only reads, and each client's rate limiter paces the reads of
-- its service: it reads this many objects at once per operation that
-- --parallelism allows (refresh time is most of a destroy's overhead).
M.REFRESH_READS_PER_OPERATION = 4

function M.refresh(stack, st, opts)
  opts = check_options("plan.refresh", opts, { addresses = true, parallelism = true, log = true, progress = true })
  local addresses = opts.addresses or st:addresses()
  local sem = task.semaphore(math.max(1, opts.parallelism or 16) * M.REFRESH_READS_PER_OPERATION)
  local drift, failures, tasks = {}, {}, {}
  local done = 0
  local function read_one(address, record, t)
    local region, aws = stackmod.aws_for(stack, record.provider)
    local ctx = resource.context { address = address, type = t, stack = stack.name, region = region, aws_settings = aws,
      where = record.where, prior = record, logger = opts.log, lineage = st.lineage, read_only = true,
      state_view = resource.state_view(st), read_cache = readcache.of(st) }
    return pcall(resource.read, t, ctx, record.id, record)
  end
  for _, address in ipairs(addresses) do
    local record = st:get(address)
    local t, terr = resource.get(record.type)
    if not t then
      errors.raise { code = "StateError", address = address, where = record.where,
        message = "the state holds a resource of type " .. record.type .. ": " .. terr }
    end
    tasks[#tasks + 1] = task.spawn(function()
      sem:with(function()
        local ok, observed = read_one(address, record, t)
        done = done + 1
        if opts.progress then opts.progress(address, record.id, done, #addresses) end
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
  local names = a and a.prior and a.prior.sensitive
  if not names then return false end
  for i = 1, #names do
    if names[i] == name then return true end
  end
  return false
end
M.was_sensitive = was_sensitive

local function plan_error(where, address, fmt, ...)
  errors.raise { code = "PlanError", where = where, address = address, message = string.format(fmt, ...) }
end

-- plan.make's stages, in the order it runs them. Each takes the plan p
-- being built; add_action puts an action in it.
local function add_action(p, a)
  a.id = a.id or a.address
  a.waits_for = a.waits_for or {}
  a.sensitive = a.sensitive or {}
  p.actions[#p.actions + 1] = a
  p.by_id[a.id] = a
  return a
end

-- --target: every target must name a resource of the stack or its state;
-- the scope is what the targets need (their dependencies), or for destroy
-- what needs them (their dependents). -> desired_scope, state_scope (sets;
-- nil: everything)
local function target_scope(stack, st, opts)
  if not opts.targets or #opts.targets == 0 then return nil, nil end
  local known = {}
  for _, d in ipairs(stack.resources) do known[#known + 1] = d.address end
  for _, a in ipairs(st:addresses()) do if not stack.by_address[a] then known[#known + 1] = a end end
  for _, target in ipairs(opts.targets) do
    if not stack.by_address[target] and not st:get(target) then
      local near = text.closest(target, known)
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
  if opts.destroy then return nil, ordered_set(g:closure(opts.targets, "dependents")) end
  local state_scope = {}
  for _, target in ipairs(opts.targets) do
    if not stack.by_address[target] then state_scope[target] = true end
  end
  return ordered_set(g:closure(opts.targets, "deps")), state_scope
end

-- A declaration's attributes with references resolved against the actions
-- planned so far (unknown until apply where they come from a create or a
-- replace), each checked against its type. -> after, sensitive (names)
-- A reference's value as planned: a planned action's attribute, unknown
-- where a create or replace makes it, else what the state recorded.
-- -> value, sensitive
local function planned_value(p, ref_decl, name)
  local a = p.by_id[ref_decl.address]
  if not a then return value.UNKNOWN, false end
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

local function resolve_attributes(p, d)
  local t = d.type
  local after, sensitive = {}, {}
  for _, name in ipairs(t.sensitive_names) do sensitive[name] = true end
  -- plain data is copied (it was checked when declared); the lazy values
  -- (references, computed) are resolved and checked in order of name, so an
  -- error names the same attribute every time
  local attrs, lazy, lazy_names = d.attrs, d.lazy, nil
  for name, v in next, attrs do
    if lazy[name] then
      lazy_names = lazy_names or {}
      lazy_names[#lazy_names + 1] = name
    else
      after[name] = value.copy(v)
    end
  end
  if not lazy_names then return after, sensitive end
  table.sort(lazy_names)
  local function lookup(ref_decl, name) return planned_value(p, ref_decl, name) end
  for _, name in ipairs(lazy_names) do
    local v, s = value.resolve(attrs[name], lookup)
    after[name] = v
    if s then sensitive[name] = true end
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
  return after, sensitive
end

-- What a declared resource needs, against its record: create, replace (its
-- type or provider changed, an attribute forces it, it is tainted), update
-- or no-op; a.changed and a.forces name the attributes.
local function decide(a, d, prior)
  local t = d.type
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
      local want, have = a.after[name], prior.inputs[name]
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
end

-- A type's derive (see wpo.resource): computed attributes of after, before
-- the comparison; an error refuses the plan naming the declaration.
local function derive(stack, st, d, after, prior, offline)
  local region, aws = stackmod.aws_for(stack, d.provider)
  local ctx = resource.context { address = d.address, type = d.type, stack = stack.name, region = region,
    aws_settings = aws, where = d.where, prior = prior, lineage = st.lineage, read_only = true,
    source = stack.source, root = stack.root, offline = offline or nil }
  local ok, err = pcall(d.type.derive, ctx, after, prior)
  if ok then return end
  if errors.is(err) then
    errors.raise { code = err.code ~= "error" and err.code or "PlanError", where = err.where or d.where,
      address = err.address or d.address, message = err.message }
  end
  plan_error(d.where, d.address, "%s", tostring(err))
end

-- One action per declared resource in scope, dependencies first.
local function plan_declared(p, stack, st, desired_scope, offline)
  for _, d in ipairs(stack.order) do
    if not desired_scope or desired_scope[d.address] then
      local prior = st:get(d.address)
      local after, sensitive = resolve_attributes(p, d)
      if d.type.derive then derive(stack, st, d, after, prior, offline) end
      local a = { address = d.address, type = d.type_name, type_def = d.type, where = d.where, decl = d,
        prior = prior, after = after, sensitive = sensitive, changed = {}, forces = {}, waits_for = {},
        cbd = d.lifecycle.create_before_destroy }
      decide(a, d, prior)
      for _, dep in ipairs(d.deps) do a.waits_for[#a.waits_for + 1] = dep end
      add_action(p, a)
    end
  end
end

-- Deletes: resources no longer declared (or everything, for destroy), and
-- objects deposed by create_before_destroy. -> the delete actions
local function plan_deletes(p, stack, st, opts, desired_scope, state_scope)
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
      deletes[#deletes + 1] = add_action(p, { address = address, type = prior.type, type_def = t, action = "delete",
        where = prior.where, prior = prior, after = {}, no_config = not opts.destroy or nil,
        reason = not opts.destroy and "no longer in the stack" or nil })
    end
    for i, old in ipairs(prior.deposed or {}) do
      local t = resource.get(prior.type)
      if t and (not state_scope or state_scope[address] or not desired_scope or desired_scope[address]) then
        deletes[#deletes + 1] = add_action(p, { id = address .. " (deposed " .. i .. ")", address = address,
          type = prior.type, type_def = t, action = "delete", where = prior.where, deposed = i,
          prior = { type = prior.type, id = old.id, inputs = old.inputs, outputs = old.outputs, deps = {} },
          after = {}, reason = "deposed by create_before_destroy" })
      end
    end
  end
  return deletes
end

-- Replaces. Destroy before create (as Terraform does): a replace that is not
-- create_before_destroy is two nodes of the apply graph, the old object's
-- delete ("ADDRESS (destroy)", not shown on its own: the replace stands for
-- both) and the create, which waits for it; the old object's deposed ones
-- go first. create_before_destroy: the old object goes once the new one
-- exists and every dependent has moved to it.
local function plan_replaces(p, deletes)
  local replaces = {}
  for _, a in ipairs(p.actions) do
    if a.action == "replace" then replaces[#replaces + 1] = a end
  end
  for _, a in ipairs(replaces) do
    if not a.cbd then
      local old_t = resource.get(a.prior.type) or a.type_def
      local d = add_action(p, { id = a.address .. " (destroy)", address = a.address, type = a.prior.type,
        type_def = old_t, action = "delete", where = a.where, prior = a.prior, after = {}, replace_of = a.id,
        reason = "replaced" })
      for _, x in ipairs(deletes) do
        if x.deposed and x.address == a.address then d.waits_for[#d.waits_for + 1] = x.id end
      end
      a.destroy_node = d.id
      a.waits_for[#a.waits_for + 1] = d.id
    end
  end
  for _, a in ipairs(replaces) do
    if a.cbd then
      local old = add_action(p, { id = a.address .. " (deposed)", address = a.address, type = a.type,
        type_def = a.type_def, action = "delete", where = a.where, deposed = 0, prior = a.prior, after = {},
        waits_for = { a.id }, reason = "replaced (create before destroy)" })
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
end

-- A delete waits for what used the object, by the state's record: a
-- resource no longer declared, for everything that used it (its deletes
-- and its updates); the old object of a replace, for the deletes of its
-- dependents (replaced or no longer declared) only — their creates and
-- updates come after the new object, which waits for this delete.
local function order_deletes(p)
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
end

-- The stack's outputs as the plan leaves them: p.outputs = { { name, before
-- (the state's), after (value.UNKNOWN until apply where a create makes it;
-- nil: removed), sensitive } }, by name.
local function plan_outputs(p, stack, st, destroy)
  local outs, seen = {}, {}
  if not destroy then
    for _, o in ipairs(stack.outputs) do
      seen[o.name] = true
      local ok, v, sens = pcall(value.resolve, o.value, function(ref_decl, name)
        return planned_value(p, ref_decl, name)
      end)
      if not ok then v, sens = value.UNKNOWN, false end
      local prior = st.outputs and st.outputs[o.name]
      outs[#outs + 1] = { name = o.name, before = prior, after = v,
        sensitive = (o.sensitive or sens or (prior and prior.sensitive)) and true or false }
    end
  end
  for name, prior in pairs(st.outputs or {}) do
    if not seen[name] then
      outs[#outs + 1] = { name = name, before = prior, sensitive = prior.sensitive and true or false }
    end
  end
  table.sort(outs, function(x, y) return x.name < y.name end)
  p.outputs = outs
end

-- plan.counts_as(a) -> what a planned action counts as in the summary: "add",
-- "change", "destroy", "read" (an object a lookup type finds: made outside
-- the stack) or "forget" (such an object left alone), and a second kind for
-- a replace ("destroy", unless create_before_destroy, whose old object's
-- delete is not shown); nil for a no-op or the delete half of a replace.
function M.counts_as(a)
  if a.replace_of then return nil end
  local action = a.action
  if a.type_def and a.type_def.lookup then
    if action == "create" or action == "replace" then return "read" end
    if action == "delete" then return "forget" end
  end
  if action == "create" then return "add" end
  if action == "update" then return "change" end
  if action == "replace" then return "add", (not a.cbd) and "destroy" or nil end
  if action == "delete" then return "destroy" end
  return nil
end

-- { add, change, destroy, read, forget } (plan.counts_as)
local function summarise(p)
  local n = { add = 0, change = 0, destroy = 0, read = 0, forget = 0 }
  for _, a in ipairs(p.actions) do
    local first, second = M.counts_as(a)
    if first then n[first] = n[first] + 1 end
    if second then n[second] = n[second] + 1 end
  end
  return n
end

function M.make(stack, st, opts)
  opts = check_options("plan.make", opts, { targets = true, destroy = true, drift = true, checks = true })
  local p = { stack = stack.name, actions = {}, by_id = {}, drift = opts.drift or {},
    lineage = st.lineage, serial = st.serial, destroy = opts.destroy or false }
  local desired_scope, state_scope = target_scope(stack, st, opts)
  if not opts.destroy then plan_declared(p, stack, st, desired_scope, opts.checks == false) end
  local deletes = plan_deletes(p, stack, st, opts, desired_scope, state_scope)
  plan_replaces(p, deletes)
  order_deletes(p)
  plan_outputs(p, stack, st, opts.destroy)
  if opts.checks ~= false then M.run_checks(stack, st, p) end
  p.summary = summarise(p)
  p.prior = {}
  for _, address in ipairs(st:addresses()) do p.prior[#p.prior + 1] = { address = address, record = st:get(address) } end
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

-- plan.count_changes(summary) -> how many actions a summary ({ add, change,
-- destroy, read, forget }; one an older wpo recorded may lack some) counts
function M.count_changes(n)
  return (n.add or 0) + (n.change or 0) + (n.destroy or 0) + (n.read or 0) + (n.forget or 0)
end

function M.has_changes(p)
  return M.count_changes(p.summary) > 0
end

-- plan.summary_line(p) -> "Plan: 2 to add, 0 to change, 0 to destroy." (and
-- ", 1 to look up", ", 1 to forget" when there are such)
function M.summary_line(p)
  local n = p.summary
  return string.format("Plan: %d to add, %d to change, %d to destroy%s%s.", n.add, n.change, n.destroy,
    n.read > 0 and string.format(", %d to look up", n.read) or "",
    n.forget > 0 and string.format(", %d to forget", n.forget) or "")
end

-- ---- rendering ----

local COLORS = { create = "32", update = "33", replace = "35", delete = "31" }
local SYMBOLS = { create = "  +", update = "  ~", replace = "-/+", delete = "  -" }
local VERBS = { create = "will be created", update = "will be updated in place", replace = "will be replaced",
                delete = "will be destroyed" }
-- a type that finds an object made outside the stack (resource.define's lookup)
local LOOKUP_VERBS = { create = "will be looked up (made outside the stack: nothing is created)",
  replace = "will be looked up again (made outside the stack: nothing is destroyed)",
  delete = "will be forgotten (made outside the stack: it is not destroyed)" }

local function paint(color, code, s)
  if not color then return s end
  return "\27[" .. code .. "m" .. s .. "\27[0m"
end

local spaces = {}   -- n -> n spaces
local function pad(s, n)
  local k = n - #s
  if k <= 0 then return s end
  local sp = spaces[k]
  if not sp then
    sp = string.rep(" ", k)
    spaces[k] = sp
  end
  return s .. sp
end

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

-- a type's outputs that are not attributes (shown as known after apply for
-- a create), and the width of the longest: made once per type
local output_only = setmetatable({}, { __mode = "k" })
local function outputs_only(t)
  local o = output_only[t]
  if not o then
    o = { names = {} }
    for _, n in ipairs(t.output_names) do
      if not t.attributes[n] then o.names[#o.names + 1] = n end
    end
    o.width = width(o.names)
    output_only[t] = o
  end
  return o
end

local function render_action(lines, a, color)
  local head = string.format("%s %s", paint(color, COLORS[a.action], SYMBOLS[a.action]), a.address)
  if a.deposed then head = head .. " (deposed object " .. tostring(a.prior.id) .. ")" end
  local t = a.type_def
  local why = t and t.lookup and LOOKUP_VERBS[a.action] or VERBS[a.action]
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
  if a.action == "create" then
    local after, sensitive = a.after, a.sensitive
    local outs = outputs_only(t)
    local names, w = {}, outs.width
    for _, n in ipairs(t.attribute_names) do
      if after[n] ~= nil then
        names[#names + 1] = n
        if #n > w then w = #n end
      end
    end
    for _, n in ipairs(names) do
      lines[#lines + 1] = "      " .. pad(n, w) .. " = " .. value.show(after[n], sensitive[n])
    end
    for _, n in ipairs(outs.names) do
      lines[#lines + 1] = "      " .. pad(n, w) .. " = (known after apply)"
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
    lines[#lines + 1] = string.format("No changes: stack %s matches its script (%s).", p.stack,
      text.count(#p.actions, "resource"))
  else
    lines[#lines + 1] = string.format("Stack %s: wpo will%s:", p.stack, p.destroy and " destroy" or "")
    lines[#lines + 1] = ""
    for _, a in ipairs(p.actions) do
      if a.action ~= "no-op" and not a.replace_of then render_action(lines, a, color) end
    end
  end
  lines[#lines + 1] = M.summary_line(p)
  return table.concat(lines, "\n") .. "\n"
end

-- ---- JSON ----

-- ---- JSON: the shape of Terraform's plan representation ----

M.JSON_FORMAT_VERSION = "1.2"

-- A resource's name within its type: aws.ec2.subnet.private-a -> private-a
local function name_in_type(address, type_name)
  if type_name and address:sub(1, #type_name + 1) == type_name .. "." then return address:sub(#type_name + 2) end
  return address
end

-- v without its unknown parts -> known (nil where wholly unknown), unknown
-- (true, or a table of the unknown parts' paths; nil where none). In a list,
-- as Terraform writes it: null where an element is wholly unknown, and the
-- unknown paths a list too, false for the known elements.
local function split_unknown(v)
  if v == value.UNKNOWN or value.is_lazy(v) then return nil, true end
  if type(v) ~= "table" then return v, nil end
  if #v > 0 and value.is_array(v) then
    local known, unknown, any = {}, {}, false
    for i = 1, #v do
      local kx, ux = split_unknown(v[i])
      if kx == nil then kx = json.null end
      known[i], unknown[i] = kx, ux or false
      any = any or ux ~= nil
    end
    return json.array(known), any and json.array(unknown) or nil
  end
  local known, unknown = {}, nil
  for k, x in pairs(v) do
    local kx, ux = split_unknown(x)
    known[k] = kx
    if ux then unknown = unknown or {}; unknown[k] = ux end
  end
  return known, unknown
end

-- attrs -> values (sensitive ones left out: wpo prints no secret), unknown
-- paths, sensitive names (each true)
-- (an attribute of type list is written as a JSON array even when empty)
local function attribute_values(attrs, t, is_sensitive)
  local values, unknown, sensitive = {}, {}, {}
  for k, v in pairs(attrs or {}) do
    if is_sensitive(k) then
      sensitive[k] = true
      if v == value.UNKNOWN or value.is_lazy(v) then unknown[k] = true end
    else
      local kv, uv = split_unknown(v)
      local spec = t and t.attributes[k]
      if type(kv) == "table" and spec and spec.type == "list" then kv = json.array(kv) end
      values[k] = kv
      unknown[k] = uv
    end
  end
  return values, unknown, sensitive
end

local function prior_values(record, t, is_sensitive)
  local merged = {}
  for k, v in pairs(record.inputs or {}) do merged[k] = v end
  for k, v in pairs(record.outputs or {}) do if merged[k] == nil then merged[k] = v end end
  merged.id = record.id
  local values, _, sensitive = attribute_values(merged, t, is_sensitive)
  return values, sensitive
end

local function actions_of(a)
  if a.action == "replace" then return a.cbd and { "create", "delete" } or { "delete", "create" } end
  return { a.action }
end

local function action_reason(a)
  if a.action == "replace" then
    return a.tainted and "replace_because_tainted" or "replace_because_cannot_update"
  end
  if a.no_config then
    return "delete_because_no_resource_config"
  end
end

-- Whether a type says attribute or output k of its objects is secret
local function secret_in_type(t, k)
  return t ~= nil and (sensitive_attr(t, k) or (t.outputs[k] ~= nil and t.outputs[k].sensitive)) or false
end

local function resource_change(a)
  local function is_sensitive(k)
    return a.sensitive[k] or secret_in_type(a.type_def, k) or was_sensitive(a, k) or false
  end
  local change = { actions = json.array(actions_of(a)), before = json.null, after = json.null,
    after_unknown = {}, before_sensitive = false, after_sensitive = false }
  if a.prior then change.before, change.before_sensitive = prior_values(a.prior, a.type_def, is_sensitive) end
  if a.action ~= "delete" then
    change.after, change.after_unknown, change.after_sensitive = attribute_values(a.after, a.type_def, is_sensitive)
    if a.action == "create" or a.action == "replace" then
      for _, n in ipairs(a.type_def.output_names) do
        if not a.type_def.attributes[n] then change.after_unknown[n] = true end
      end
    end
  end
  if #(a.forces or {}) > 0 then
    local paths = {}
    for i, n in ipairs(a.forces) do paths[i] = json.array { n } end
    change.replace_paths = json.array(paths)
  end
  local rc = { address = a.address, mode = "managed", type = a.type, name = name_in_type(a.address, a.type),
    change = change, action_reason = action_reason(a),
    -- wpo's own: where it is declared, the object's id, why in words
    where = a.where and tostring(a.where) or nil, id = a.prior and a.prior.id or nil,
    reason = a.reason, tainted = a.tainted }
  if a.deposed then rc.deposed = tostring(a.deposed) end
  if a.decl and a.decl.provider then rc.provider_name = a.decl.provider end
  return rc
end

local function output_change(o)
  local before, after = json.null, json.null
  if o.before ~= nil and not o.sensitive then before = o.before.value end
  local unknown = false
  if o.after ~= nil then
    local known, u = split_unknown(o.after)
    if u then unknown = u end
    if not o.sensitive and known ~= nil then after = known end
  end
  local action
  if o.before == nil then action = "create"
  elseif o.after == nil then action = "delete"
  elseif unknown or not value.equal(o.before.value, o.after) then action = "update"
  else action = "no-op" end
  return { actions = json.array { action }, before = before, after = after, after_unknown = unknown,
    before_sensitive = o.before ~= nil and o.sensitive, after_sensitive = o.after ~= nil and o.sensitive }
end

-- plan.json(p) -> the plan as a table for wpo.json.encode, in the shape of
-- Terraform's JSON plan (format_version 1.2), so that tools reading
-- `resource_changes` (OPA/conftest policies) read it unchanged:
--   { format_version, stack, resource_changes = { { address, mode, type,
--     name, deposed?, provider_name?, change = { actions, before, after,
--     after_unknown, before_sensitive, after_sensitive, replace_paths? },
--     action_reason?, where, id?, reason?, tainted? } }, output_changes =
--     { name = change }, prior_state = { format_version, values = {
--     outputs, root_module = { resources } } }, resource_drift, summary }
-- Sensitive values are left out (their *_sensitive entry says they exist);
-- values known only after apply are left out of `after` and marked in
-- after_unknown. A replace is one change ("delete","create", or
-- "create","delete" for create_before_destroy).
function M.json(p)
  local changes = {}
  for _, a in ipairs(p.actions) do
    if not a.replace_of and a.deposed ~= 0 then changes[#changes + 1] = resource_change(a) end
  end
  local output_changes, prior_outputs = {}, {}
  for _, o in ipairs(p.outputs or {}) do
    output_changes[o.name] = output_change(o)
    if o.before ~= nil then prior_outputs[o.name] = { value = o.before.value, sensitive = o.sensitive } end
  end
  local drift = {}
  for _, d in ipairs(p.drift) do drift[#drift + 1] = d end
  return { format_version = M.JSON_FORMAT_VERSION, stack = p.stack, resource_changes = json.array(changes),
    output_changes = output_changes, resource_drift = json.array(drift), summary = p.summary,
    prior_state = M.state_json(p.prior or {}, prior_outputs) }
end

-- plan.state_json(records, outputs) -> a state in the shape of Terraform's
-- JSON state: { format_version, values = { outputs = { name = { value,
-- sensitive } }, root_module = { resources = { { address, mode, type, name,
-- values, sensitive_values } } } } }, secrets left out as in M.json.
-- records: { { address, record } } in order; outputs: the state's outputs.
function M.state_json(records, outputs)
  local resources, outs = {}, {}
  for _, r in ipairs(records) do
    local rec = r.record
    local t = resource.get(rec.type)
    local function is_sensitive(k)
      return secret_in_type(t, k) or was_sensitive({ prior = rec }, k) or false
    end
    local values, sensitive = prior_values(rec, t, is_sensitive)
    resources[#resources + 1] = { address = r.address, mode = "managed", type = rec.type,
      name = name_in_type(r.address, rec.type), values = values, sensitive_values = sensitive }
  end
  for name, o in pairs(outputs or {}) do
    local secret = o.sensitive and true or false
    outs[name] = { sensitive = secret, value = (not secret) and o.value or nil }
  end
  return { format_version = "1.0", values = { outputs = outs, root_module = { resources = json.array(resources) } } }
end

return M
