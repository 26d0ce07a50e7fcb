-- aws.ecr.lifecycle_policy: the lifecycle policy of one ECR repository,
-- built from two numbers rather than written as JSON.
--
-- Attributes:
--   repository            the repository's name, force_new
--   keep_last             keep the N most recently pushed images, expire older
--                         ones (default 20; at least 1)
--   untagged_expire_days  expire untagged images D days after their push
--                         (default 14; 0: no such rule)
-- Outputs: id (= repository), policy (the JSON policy text), registry_id.
--
-- The policy (t.build_policy(keep_last, untagged_days) -> JSON text, where t is
-- this type: resource.get "aws.ecr.lifecycle_policy"; t.parse_policy(text) ->
-- keep_last, untagged_days):
-- rule 1 expires untagged images after D days; the last rule (tagStatus
-- "any", which ECR requires to come last) keeps the newest N images. Reading a
-- policy wpo did not write gives keep_last = 0 and untagged_expire_days = 0,
-- so the next plan writes wpo's again. Delete removes the policy (a
-- repository already gone is fine).
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local value = require "wpo.value"
local cjson = require "cjson"

local GONE = { RepositoryNotFoundException = true, LifecyclePolicyNotFoundException = true }

local function rules(keep_last, untagged_days)
  local out = {}
  if untagged_days > 0 then
    out[#out + 1] = {
      rulePriority = #out + 1,
      description = string.format("expire untagged images %d days after push", untagged_days),
      selection = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days",
        countNumber = untagged_days },
      action = { type = "expire" },
    }
  end
  out[#out + 1] = {
    rulePriority = #out + 1,
    description = string.format("keep the last %d images", keep_last),
    selection = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = keep_last },
    action = { type = "expire" },
  }
  return { rules = out }
end

local M = {}

-- policy(keep_last, untagged_days) -> the JSON text ECR receives (keys sorted: stable)
function M.policy(keep_last, untagged_days)
  -- required here: a module of the stack API loads without the AWS protocols
  return require("wpo.aws.protocol.common").to_json(rules(keep_last, untagged_days))
end

-- parse(text) -> keep_last, untagged_days: what a policy wpo wrote says; 0, 0 for any other
function M.parse(text)
  local ok, doc = pcall(cjson.decode, text)
  if not ok or type(doc) ~= "table" or type(doc.rules) ~= "table" then return 0, 0 end
  local keep, days = nil, 0
  for _, r in ipairs(doc.rules) do
    local sel = type(r) == "table" and r.selection or {}
    if sel.tagStatus == "any" and sel.countType == "imageCountMoreThan" then keep = math.tointeger(sel.countNumber) end
    if sel.tagStatus == "untagged" and sel.countType == "sinceImagePushed" then
      days = math.tointeger(sel.countNumber) or 0
    end
  end
  if not keep or keep < 1 or days < 0 or not value.equal(doc, rules(keep, days)) then return 0, 0 end
  return keep, days
end

local function check(ctx, want)
  if want.keep_last < 1 then ctx:fail("InvalidAttribute", "keep_last must be at least 1 (it is %d)", want.keep_last) end
  if want.untagged_expire_days < 0 then
    ctx:fail("InvalidAttribute", "untagged_expire_days must be 0 (no rule) or more (it is %d)",
      want.untagged_expire_days)
  end
end

local function put(ctx, want)
  check(ctx, want)
  local text = M.policy(want.keep_last, want.untagged_expire_days)
  local out = ctx:aws("ecr"):call("PutLifecyclePolicy", { repositoryName = want.repository,
    lifecyclePolicyText = text })
  return { id = want.repository, repository = want.repository, keep_last = want.keep_last,
    untagged_expire_days = want.untagged_expire_days, policy = text, registry_id = out.registryId }
end

local t = resource.define "aws.ecr.lifecycle_policy" {
  description = "an ECR lifecycle policy: keep the last N images, expire untagged ones after D days",
  attributes = {
    repository = { type = "string", required = true, force_new = true },
    keep_last = { type = "integer", default = 20 },
    untagged_expire_days = { type = "integer", default = 14 },
  },
  outputs = { "policy", "registry_id" },

  -- PutLifecyclePolicy is an upsert: the repository's policy, when it is the
  -- wanted one, is this resource's
  found_by = "its repository (holding the wanted policy)",
  find = function(ctx, want)
    check(ctx, want)
    local out, err = ctx:aws("ecr"):pcall("GetLifecyclePolicy", { repositoryName = want.repository })
    if not out then
      if GONE[err.code] then return {} end
      error(err, 0)
    end
    local keep, days = M.parse(out.lifecyclePolicyText)
    if keep ~= want.keep_last or days ~= want.untagged_expire_days then return {} end
    return { { id = want.repository, repository = want.repository, keep_last = keep, untagged_expire_days = days,
      policy = out.lifecyclePolicyText, registry_id = out.registryId } }
  end,

  create = function(ctx, want, found)
    if found then return found end
    return put(ctx, want)
  end,

  read = function(ctx, id)
    local out, err = ctx:aws("ecr"):pcall("GetLifecyclePolicy", { repositoryName = id })
    if not out then
      if GONE[err.code] then return nil end
      error(err, 0)
    end
    local text = aws.required(out, "lifecyclePolicyText")
    local keep, days = M.parse(text)
    return { id = id, repository = id, keep_last = keep, untagged_expire_days = days,
      policy = text, registry_id = out.registryId }
  end,

  update = function(ctx, _, _, new) return put(ctx, new) end,

  delete = function(ctx, id)
    local out, err = ctx:aws("ecr"):pcall("DeleteLifecyclePolicy", { repositoryName = id })
    if out or GONE[err.code] then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ecr:GetLifecyclePolicy" },
    create = { "ecr:PutLifecyclePolicy" },
    update = { "ecr:PutLifecyclePolicy" },
    delete = { "ecr:DeleteLifecyclePolicy" },
  },
}

t.build_policy, t.parse_policy = M.policy, M.parse
return t
