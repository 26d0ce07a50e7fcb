local errors = require "wpo.errors"

describe("wpo.errors.describe", function()
  local e = errors.new { where = "stacks/prod.lua:12", address = "aws.ec2.vpc.main", service = "ec2",
    operation = "CreateVpc", code = "VpcLimitExceeded", message = "too many\nVPCs", status = 400, request_id = "r-1" }

  it("says everything but the place, on one line, AWS service, operation, status and request id included", function()
    assert.are.equal("ec2 CreateVpc: VpcLimitExceeded: too many VPCs (HTTP 400, request r-1)", errors.describe(e))
  end)

  it("is what the full form says after the place", function()
    assert.are.equal("stacks/prod.lua:12: aws.ec2.vpc.main: " .. errors.describe(e), tostring(e))
  end)

  it("turns any other value into a string", function()
    assert.are.equal("boom", errors.describe("boom"))
  end)
end)
