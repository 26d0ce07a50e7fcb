-- aws.cloudwatch.metric_alarm against fakeaws: create, read, update (the alarm
-- put again, tags separately), import, drift, delete.

describe("aws.cloudwatch.metric_alarm against fakeaws", function()
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }
  local flow
  before_each(function() flow = suite.flow end)
  local function client(service) return suite:client(service) end
  local raised = typeflow.raised


  describe("aws.cloudwatch.metric_alarm", function()
    local cw
    before_each(function() cw = client("cloudwatch") end)
    local attrs = { name = "prod-alb-5xx", namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_ELB_5XX_Count",
      dimensions = { LoadBalancer = "app/prod/0123456789abcdef" }, statistic = "Sum", period = 60,
      evaluation_periods = 5, datapoints_to_alarm = 3, threshold = 10, comparison_operator = "GreaterThanThreshold",
      treat_missing_data = "notBreaching" }
    local function with(over)
      local a = {}
      for k, v in pairs(attrs) do a[k] = v end
      for k, v in pairs(over) do a[k] = v end
      return a
    end
    local function alarm()
      return cw:call("DescribeAlarms", { AlarmNames = { "prod-alb-5xx" } }).MetricAlarms[1]
    end

    it("puts an alarm with its dimensions and tags, reads it back unchanged", function()
      local rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      local a = alarm()
      assert.are.equal("app/prod/0123456789abcdef", a.Dimensions[1].Value)
      assert.are.equal(3, a.DatapointsToAlarm)
      assert.are.equal("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-alb-5xx", rec.outputs.arn)
      local tags = cw:call("ListTagsForResource", { ResourceARN = rec.outputs.arn }).Tags
      assert.are.equal(2, #tags)
      assert.are.same({}, flow:drift(rec))
    end)

    it("updates by putting the alarm again, tags separately", function()
      local rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      rec = flow:update(rec, with { threshold = 25, description = "5xx from the ALB", tags = { team = "web" } })
      local a = alarm()
      assert.are.equal(25, a.Threshold)
      assert.are.equal("5xx from the ALB", a.AlarmDescription)
      local tags = cw:call("ListTagsForResource", { ResourceARN = rec.outputs.arn }).Tags
      assert.are.equal(3, #tags)
      assert.are.same({}, flow:drift(rec))
      cw:call("PutMetricAlarm", { AlarmName = "prod-alb-5xx", Namespace = "AWS/ApplicationELB",
        MetricName = "HTTPCode_ELB_5XX_Count", Statistic = "Sum", Period = 60, EvaluationPeriods = 5,
        Threshold = 99, ComparisonOperator = "GreaterThanThreshold" })
      local changed = flow:drift(rec)
      assert.are.same({ "datapoints_to_alarm", "description", "dimensions", "threshold", "treat_missing_data" },
        changed)
    end)

    it("checks statistics and periods; imports; deletes, also when gone", function()
      assert.are.equal("InvalidAttribute", raised(function()
        flow:create("aws.cloudwatch.metric_alarm", "x", with { name = "x", period = 45 }) end).code)
      assert.are.equal("InvalidAttribute", raised(function()
        flow:create("aws.cloudwatch.metric_alarm", "x", with { name = "x", extended_statistic = "p99" }) end).code)
      local rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      local imported = flow:import("aws.cloudwatch.metric_alarm", "alb5xx", "prod-alb-5xx")
      assert.are.equal(10, imported.inputs.threshold)
      assert.are.same(attrs.dimensions, imported.inputs.dimensions)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      rec = flow:create("aws.cloudwatch.metric_alarm", "alb5xx", attrs)
      cw:call("DeleteAlarms", { AlarmNames = { "prod-alb-5xx" } })
      assert.is_nil(flow:read(rec))
    end)
  end)
end)
