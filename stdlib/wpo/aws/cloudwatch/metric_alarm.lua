-- aws.cloudwatch.metric_alarm: a CloudWatch alarm on one metric.
--
-- Attributes:
--   name                 force_new
--   description
--   namespace            e.g. "AWS/ApplicationELB"
--   metric_name          e.g. "HTTPCode_ELB_5XX_Count"
--   dimensions           map name -> value, e.g. { LoadBalancer = "app/prod/0123..." }
--   statistic            SampleCount | Average | Sum | Minimum | Maximum
--   extended_statistic   a percentile ("p99"), instead of statistic
--   unit
--   period               seconds: 10, 30 or a multiple of 60 (default 300)
--   evaluation_periods   default 1
--   datapoints_to_alarm  default: evaluation_periods
--   threshold            required
--   comparison_operator  GreaterThanThreshold | GreaterThanOrEqualToThreshold |
--                        LessThanThreshold | LessThanOrEqualToThreshold
--   treat_missing_data   missing (default) | notBreaching | breaching | ignore
--   actions_enabled      default true
--   alarm_actions, ok_actions, insufficient_data_actions   lists of ARNs (SNS topics...)
--   tags
-- Outputs: id (= name), arn.
--
-- PutMetricAlarm creates and replaces an alarm whole (tags apply only when it
-- creates one: later tag changes go through TagResource/UntagResource).
-- Create adopts an alarm of that name already tagged with this resource's
-- address. Delete: an alarm already gone is fine.
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local value = require "wpo.value"
local text = require "wpo.text"

-- An optional setting AWS no longer holds but the script gave reads as ""
-- (a nil in what read returns would mean "unchanged").
local function cleared(v, given)
  if v == nil and given ~= nil then return "" end
  return v
end

local STATISTICS = { "SampleCount", "Average", "Sum", "Minimum", "Maximum" }
local OPERATORS = { "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold",
  "LessThanOrEqualToThreshold" }
local MISSING = { "missing", "notBreaching", "breaching", "ignore" }

local function describe(ctx, name)
  local out = ctx:aws("cloudwatch"):call("DescribeAlarms", { AlarmNames = { name }, AlarmTypes = { "MetricAlarm" } })
  for _, a in ipairs(out.MetricAlarms or {}) do
    if a.AlarmName == name then return a end
  end
  return nil
end

local function tags_of(ctx, arn)
  local out, err = ctx:aws("cloudwatch"):pcall("ListTagsForResource", { ResourceARN = arn })
  if out then return kit.tag_map(out.Tags) end
  if kit.is_code(err, "ResourceNotFoundException") then return {} end
  error(err, 0)
end

local function list(v)
  local out = {}
  for i, x in ipairs(v or {}) do out[i] = x end
  return out
end

local function observe(ctx, a, prior)
  local given = prior and prior.inputs or {}
  local dims = {}
  for _, d in ipairs(a.Dimensions or {}) do dims[d.Name] = d.Value end
  return {
    id = a.AlarmName, name = a.AlarmName, arn = a.AlarmArn,
    description = cleared(a.AlarmDescription, given.description),
    namespace = a.Namespace, metric_name = a.MetricName, dimensions = dims,
    statistic = cleared(a.Statistic, given.statistic),
    extended_statistic = cleared(a.ExtendedStatistic, given.extended_statistic),
    unit = cleared(a.Unit, given.unit), period = a.Period,
    evaluation_periods = a.EvaluationPeriods, datapoints_to_alarm = a.DatapointsToAlarm or a.EvaluationPeriods,
    threshold = a.Threshold, comparison_operator = a.ComparisonOperator,
    treat_missing_data = a.TreatMissingData or "missing", actions_enabled = a.ActionsEnabled ~= false,
    alarm_actions = list(a.AlarmActions), ok_actions = list(a.OKActions),
    insufficient_data_actions = list(a.InsufficientDataActions),
    tags = tags_of(ctx, a.AlarmArn),
  }
end

local function check(ctx, want)
  if (want.statistic == nil) == (want.extended_statistic == nil) then
    ctx:fail("InvalidAttribute", "give statistic or extended_statistic (one of them)")
  end
  local p = want.period
  if p ~= 10 and p ~= 30 and (p < 60 or p % 60 ~= 0) then
    ctx:fail("InvalidAttribute", "period must be 10, 30 or a multiple of 60 seconds (it is %d)", p)
  end
  if want.evaluation_periods < 1 then ctx:fail("InvalidAttribute", "evaluation_periods must be at least 1") end
  local dta = want.datapoints_to_alarm
  if dta and (dta < 1 or dta > want.evaluation_periods) then
    ctx:fail("InvalidAttribute", "datapoints_to_alarm must be 1..evaluation_periods (%d)", want.evaluation_periods)
  end
end

local function put(ctx, want, with_tags)
  check(ctx, want)
  local dims = {}
  for _, k in ipairs(text.sorted_keys(want.dimensions or {})) do
    dims[#dims + 1] = { Name = k, Value = want.dimensions[k] }
  end
  ctx:aws("cloudwatch"):call("PutMetricAlarm", {
    AlarmName = want.name, AlarmDescription = want.description, ActionsEnabled = want.actions_enabled,
    OKActions = want.ok_actions, AlarmActions = want.alarm_actions,
    InsufficientDataActions = want.insufficient_data_actions,
    MetricName = want.metric_name, Namespace = want.namespace, Statistic = want.statistic,
    ExtendedStatistic = want.extended_statistic, Dimensions = dims, Period = want.period, Unit = want.unit,
    EvaluationPeriods = want.evaluation_periods, DatapointsToAlarm = want.datapoints_to_alarm or want.evaluation_periods,
    Threshold = want.threshold, ComparisonOperator = want.comparison_operator,
    TreatMissingData = want.treat_missing_data, Tags = with_tags and kit.tag_list(want.tags) or nil,
  })
end

local function set_tags(ctx, current, want)
  local cw = ctx:aws("cloudwatch")
  local set, remove = kit.tag_changes(current.tags, want.tags)
  if #remove > 0 then cw:call("UntagResource", { ResourceARN = current.arn, TagKeys = remove }) end
  if next(set) then cw:call("TagResource", { ResourceARN = current.arn, Tags = kit.tag_list(set) }) end
end

local function read(ctx, id, prior)
  local a = describe(ctx, id)
  return a and observe(ctx, a, prior)
end

-- Does the alarm (observed) already hold every setting the script gives?
local function same_settings(have, want)
  for k, v in pairs(want) do
    if k ~= "tags" and not value.equal(value.normalize_numbers(v), value.normalize_numbers(have[k])) then
      return false
    end
  end
  return true
end

local function normalized(want)
  if want.datapoints_to_alarm == nil then want.datapoints_to_alarm = want.evaluation_periods end
  return want
end

return resource.define "aws.cloudwatch.metric_alarm" {
  description = "a CloudWatch alarm on one metric",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    description = { type = "string" },
    namespace = { type = "string", required = true },
    metric_name = { type = "string", required = true },
    dimensions = { type = "map", of = "string", default = {} },
    statistic = { type = "string", choices = STATISTICS },
    extended_statistic = { type = "string" },
    unit = { type = "string" },
    period = { type = "integer", default = 300 },
    evaluation_periods = { type = "integer", default = 1 },
    datapoints_to_alarm = { type = "integer", computed = true },
    threshold = { type = "number", required = true },
    comparison_operator = { type = "string", required = true, choices = OPERATORS },
    treat_missing_data = { type = "string", default = "missing", choices = MISSING },
    actions_enabled = { type = "boolean", default = true },
    alarm_actions = { type = "list", of = "string", default = {} },
    ok_actions = { type = "list", of = "string", default = {} },
    insufficient_data_actions = { type = "list", of = "string", default = {} },
    tags = { type = "tags" },
  },
  outputs = { "arn" },

  found_by = "its name (tagged with its wpo:address)",
  find = function(ctx, want)
    local existing = describe(ctx, want.name)
    if not existing then return {} end
    local current = observe(ctx, existing)
    if not kit.owns(ctx, current.tags) then
      ctx:fail("AlreadyExists", "an alarm named %s already exists and is not this resource's (no tag %s=%s): "
        .. "import it with 'wpo import', or choose another name", want.name, resource.TAG_ADDRESS, ctx.address)
    end
    return { current }
  end,

  create = function(ctx, want, found)
    want = normalized(want)
    if found then
      if not same_settings(found, want) then put(ctx, want, false) end
      set_tags(ctx, found, want)
      return read(ctx, want.name)
    end
    put(ctx, want, true)
    local observed = read(ctx, want.name)
    if not observed then ctx:fail("NotFound", "the alarm %s was put but cannot be read back", want.name) end
    return observed
  end,

  read = read,

  update = function(ctx, id, _, new)
    new = normalized(new)
    local current = read(ctx, id)
    if not current then ctx:fail("NotFound", "the alarm %s no longer exists", id) end
    put(ctx, new, false)
    set_tags(ctx, current, new)
    return read(ctx, id)
  end,

  delete = function(ctx, id)
    local out, err = ctx:aws("cloudwatch"):pcall("DeleteAlarms", { AlarmNames = { id } })
    if out or kit.is_code(err, "ResourceNotFound") then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource" },
    create = { "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource" },
    update = { "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource" },
    delete = { "cloudwatch:DeleteAlarms" },
  },
}
