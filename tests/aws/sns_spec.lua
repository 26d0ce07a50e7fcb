-- aws.sns.topic and aws.sns.subscription against fakeaws: create, read, update,
-- import, drift, delete; e-mail subscriptions pending confirmation.

describe("aws.sns.topic and aws.sns.subscription against fakeaws", function()
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }
  local flow
  before_each(function() flow = suite.flow end)
  local function client(service) return suite:client(service) end
  local raised = typeflow.raised


  describe("aws.sns.topic and aws.sns.subscription", function()
    local sns
    before_each(function() sns = client("sns") end)

    it("creates a topic, updates it in place, sees drift, imports, deletes", function()
      local rec = flow:create("aws.sns.topic", "alarms", { name = "prod-alarms", display_name = "prod" })
      assert.are.equal("arn:aws:sns:eu-west-1:123456789012:prod-alarms", rec.id)
      local attrs = sns:call("GetTopicAttributes", { TopicArn = rec.id }).Attributes
      assert.are.equal("prod", attrs.DisplayName)
      assert.is_nil(attrs.KmsMasterKeyId)
      assert.are.same({}, flow:drift(rec))
      rec = flow:update(rec, { name = "prod-alarms", display_name = "prod alarms", tags = { team = "web" } })
      assert.are.equal("prod alarms", sns:call("GetTopicAttributes", { TopicArn = rec.id }).Attributes.DisplayName)
      assert.are.equal(3, #sns:call("ListTagsForResource", { ResourceArn = rec.id }).Tags)
      sns:call("SetTopicAttributes", { TopicArn = rec.id, AttributeName = "DisplayName", AttributeValue = "" })
      assert.are.same({ "display_name" }, flow:drift(rec))
      assert.are.equal("prod-alarms", flow:import("aws.sns.topic", "alarms", rec.id).inputs.name)
      local again = flow:create("aws.sns.topic", "alarms", { name = "prod-alarms", display_name = "prod alarms",
        tags = { team = "web" } })
      assert.are.equal(rec.id, again.id)
      assert.are.equal(0, #sns:collect("ListSubscriptionsByTopic", { TopicArn = rec.id }).Subscriptions)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
    end)

    it("refuses a topic of that name that is not this resource's", function()
      flow:create("aws.sns.topic", "alarms", { name = "shared" })
      local err = raised(function() flow:create("aws.sns.topic", "other", { name = "shared" }) end)
      assert.are.equal("InvalidParameter", err.code)
    end)

    it("subscribes an e-mail address, pending until confirmed; deleting it leaves it to lapse", function()
      local topic = flow:create("aws.sns.topic", "alarms", { name = "prod-alarms" })
      local rec = flow:create("aws.sns.subscription", "ops", { topic_arn = topic.id, protocol = "email",
        endpoint = "ops@example.com" })
      assert.matches("^arn:aws:sns:eu%-west%-1:123456789012:prod%-alarms:", rec.id)
      assert.is_true(rec.outputs.pending_confirmation)
      assert.matches("email ops@example.com must confirm the subscription", table.concat(flow.logs, "\n"), 1, true)
      assert.are.same({}, flow:drift(rec))
      flow:delete(rec)
      assert.matches("still pending confirmation", table.concat(flow.logs, "\n"), 1, true)
      local queue = flow:create("aws.sns.subscription", "q", { topic_arn = topic.id, protocol = "sqs",
        endpoint = "arn:aws:sqs:eu-west-1:123456789012:q" })
      assert.is_false(queue.outputs.pending_confirmation)
      flow:delete(queue)
      assert.is_nil(flow:read(queue))
      flow:delete(topic)
      assert.is_nil(flow:read(rec))           -- the topic took the pending one with it
    end)
  end)
end)
