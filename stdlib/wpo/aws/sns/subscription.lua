-- aws.sns.subscription: a subscription of an endpoint to an SNS topic.
--
-- Attributes (all force_new: a subscription changes by being replaced):
--   topic_arn
--   protocol   email | email-json | http | https | sqs | lambda | sms | application | firehose
--   endpoint   the address, URL or ARN
-- Outputs: id (= arn, asked for with ReturnSubscriptionArn, also while pending),
-- arn, pending_confirmation (true until the owner of an e-mail address or URL
-- confirms it).
--
-- Subscribe is idempotent for the same topic, protocol and endpoint. Delete:
-- a subscription still pending confirmation cannot be unsubscribed (SNS drops
-- it after three days, and with its topic): the log says so and the resource
-- is removed from the state; one already gone is fine.
local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

local PROTOCOLS = { "email", "email-json", "http", "https", "sqs", "lambda", "sms", "application", "firehose" }

local function read(ctx, id)
  local out, err = ctx:aws("sns"):pcall("GetSubscriptionAttributes", { SubscriptionArn = id })
  if not out then
    if kit.is_code(err, "NotFound") then return nil end
    error(err, 0)
  end
  local a = out.Attributes or {}
  return { id = id, arn = id, topic_arn = a.TopicArn, protocol = a.Protocol, endpoint = a.Endpoint,
    pending_confirmation = a.PendingConfirmation == "true" }
end

return resource.define "aws.sns.subscription" {
  description = "a subscription to an SNS topic",
  attributes = {
    topic_arn = { type = "string", required = true, force_new = true },
    protocol = { type = "string", required = true, force_new = true, choices = PROTOCOLS },
    endpoint = { type = "string", required = true, force_new = true },
  },
  outputs = { "arn", "pending_confirmation" },

  found_by = "its topic, protocol and endpoint (Subscribe is idempotent for them)",
  find = function(ctx, want)
    for page in ctx:aws("sns"):paginate("ListSubscriptionsByTopic", { TopicArn = want.topic_arn }) do
      for _, sub in ipairs(page.Subscriptions or {}) do
        if sub.Protocol == want.protocol and sub.Endpoint == want.endpoint
            and tostring(sub.SubscriptionArn):match("^arn:") then
          return { read(ctx, sub.SubscriptionArn) }
        end
      end
    end
    return {}
  end,

  create = function(ctx, want, found)
    if found then return found end
    local arn = aws.required(ctx:aws("sns"):call("Subscribe", { TopicArn = want.topic_arn, Protocol = want.protocol,
      Endpoint = want.endpoint, ReturnSubscriptionArn = true }), "SubscriptionArn")
    local observed = read(ctx, arn)
    if not observed then ctx:fail("NotFound", "the subscription %s was made but cannot be read back", arn) end
    if observed.pending_confirmation then
      ctx:log("%s %s must confirm the subscription (SNS sent it a link)", want.protocol, want.endpoint)
    end
    return observed
  end,

  read = read,

  delete = function(ctx, id)
    local current = read(ctx, id)
    if not current then return end
    if current.pending_confirmation then
      ctx:log("subscription %s is still pending confirmation: SNS cannot unsubscribe it; it lapses after "
        .. "three days, or goes with its topic", id)
      return
    end
    local out, err = ctx:aws("sns"):pcall("Unsubscribe", { SubscriptionArn = id })
    if out or kit.is_code(err, "NotFound") then return end
    error(err, 0)
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic" },
    create = { "sns:Subscribe" },
    update = { "sns:Subscribe" },
    delete = { "sns:Unsubscribe" },
  },
}
