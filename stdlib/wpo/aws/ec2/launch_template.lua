-- aws.ec2.launch_template: an EC2 launch template for the instances of an
-- ECS cluster's Auto Scaling group.
--
-- The image defaults to the ECS-optimised Amazon Linux 2023 AMI named through
-- `resolve:ssm:` (EC2 resolves it at launch: nothing is looked up while
-- planning). IMDSv2 is required (HttpTokens=required) with a hop limit of 1,
-- so containers on the docker bridge cannot reach the instance's credentials.
-- The root volume is encrypted gp3. User data: with ecs_cluster (and
-- ecs_config) set, a script appending ECS_CLUSTER=<cluster> (and the other
-- entries) to /etc/ecs/ecs.config, followed by user_data.
--
-- Any change to the launch data makes a new version and makes it the default
-- (an Auto Scaling group using "$Default" launches new instances from it);
-- the name cannot change (a new template). id = lt-...; outputs
-- latest_version and default_version.
local aws = require "wpo.aws"
local resource = require "wpo.resource"
local kit = require "wpo.aws.typekit"
local cjson = require "cjson"
local crypto = require "wpo.core.crypto"

local ECS_AMI = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
local HEADER = "#!/bin/bash\n# wpo: join the ECS cluster\ncat >>/etc/ecs/ecs.config <<'WPO_ECS_CONFIG'\n"
local FOOTER = "WPO_ECS_CONFIG\n"

-- the attributes that live in the launch data (a change makes a version)
local DATA_ATTRS = { "image_id", "instance_type", "instance_profile", "security_group_ids", "ecs_cluster",
  "ecs_config", "user_data", "http_tokens", "http_put_response_hop_limit", "root_device_name",
  "root_volume_size", "root_volume_type", "root_volume_encrypted", "key_name", "detailed_monitoring" }

-- the script the instances run (plain text) | nil
local function compose_user_data(want)
  local cfg = {}
  if want.ecs_cluster then cfg[#cfg + 1] = "ECS_CLUSTER=" .. want.ecs_cluster end
  local keys = {}
  for k in pairs(want.ecs_config or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do cfg[#cfg + 1] = k .. "=" .. tostring(want.ecs_config[k]) end
  if #cfg == 0 then return want.user_data end
  return HEADER .. table.concat(cfg, "\n") .. "\n" .. FOOTER .. (want.user_data or "")
end

-- the inverse: ecs_cluster, ecs_config, user_data from the script
local function parse_user_data(script)
  if not script or script == "" then return nil, nil, nil end
  if script:sub(1, #HEADER) ~= HEADER then return nil, nil, script end
  local body, rest = script:sub(#HEADER + 1):match("^(.-\n?)" .. FOOTER:gsub("%p", "%%%0") .. "(.*)$")
  if not body then return nil, nil, script end
  local cluster, cfg = nil, {}
  for line in body:gmatch("[^\n]+") do
    local k, v = line:match("^([^=]+)=(.*)$")
    if k == "ECS_CLUSTER" then cluster = v elseif k then cfg[k] = v end
  end
  return cluster, next(cfg) and cfg or nil, rest ~= "" and rest or nil
end

local function check(ctx, want)
  if #want.name < 3 or #want.name > 128 or not want.name:match("^[%w().%-/_]+$") then
    kit.fail(ctx, "InvalidParameterValue", "a launch template name is 3 to 128 letters, digits and ( ) . - / _, not %q",
      want.name)
  end
  for _, k in ipairs({ "ecs_cluster", "user_data" }) do
    if type(want[k]) == "string" and #want[k] > 0 and want[k]:find("[\r]") then
      kit.fail(ctx, "InvalidParameterValue", "%s must not contain carriage returns", k)
    end
  end
  if want.ecs_cluster and not want.ecs_cluster:match("^[%w_-]+$") then
    kit.fail(ctx, "InvalidParameterValue", "ecs_cluster must be a cluster name (letters, digits, - and _), not %q",
      want.ecs_cluster)
  end
  for k, v in pairs(want.ecs_config or {}) do
    if not k:match("^ECS_[%u%d_]+$") or tostring(v):find("[\r\n]") then
      kit.fail(ctx, "InvalidParameterValue", "ecs_config: %s is not an ECS agent setting (ECS_NAME = one-line "
        .. "value)", k)
    end
  end
end

local function launch_data(want)
  local d = {
    ImageId = want.image_id,
    InstanceType = want.instance_type,
    MetadataOptions = { HttpTokens = want.http_tokens, HttpEndpoint = "enabled",
      HttpPutResponseHopLimit = want.http_put_response_hop_limit },
    Monitoring = { Enabled = want.detailed_monitoring },
    BlockDeviceMappings = { { DeviceName = want.root_device_name, Ebs = { VolumeSize = want.root_volume_size,
      VolumeType = want.root_volume_type, Encrypted = want.root_volume_encrypted, DeleteOnTermination = true } } },
  }
  if want.instance_profile then
    d.IamInstanceProfile = want.instance_profile:match("^arn:") and { Arn = want.instance_profile }
      or { Name = want.instance_profile }
  end
  if want.security_group_ids and #want.security_group_ids > 0 then d.SecurityGroupIds = want.security_group_ids end
  if want.key_name then d.KeyName = want.key_name end
  local script = compose_user_data(want)
  if script then d.UserData = crypto.base64(script) end
  return d
end

local function from_data(d, prior_inputs)
  prior_inputs = prior_inputs or {}
  local o = {
    image_id = d.ImageId, instance_type = d.InstanceType, key_name = d.KeyName,
    security_group_ids = kit.as_prior_order(d.SecurityGroupIds or {}, prior_inputs.security_group_ids),
    detailed_monitoring = (d.Monitoring and d.Monitoring.Enabled) or false,
  }
  if prior_inputs.security_group_ids == nil and #o.security_group_ids == 0 then o.security_group_ids = nil end
  if d.IamInstanceProfile then o.instance_profile = d.IamInstanceProfile.Arn or d.IamInstanceProfile.Name end
  local md = d.MetadataOptions or {}
  o.http_tokens = md.HttpTokens or "optional"
  o.http_put_response_hop_limit = md.HttpPutResponseHopLimit or 1
  local root = (d.BlockDeviceMappings or {})[1]
  if root and root.Ebs then
    o.root_device_name = root.DeviceName
    o.root_volume_size = root.Ebs.VolumeSize
    o.root_volume_type = root.Ebs.VolumeType
    o.root_volume_encrypted = root.Ebs.Encrypted or false
  else
    o.root_volume_size, o.root_volume_encrypted = 0, false
  end
  local script = d.UserData and crypto.unbase64(d.UserData) or nil
  o.ecs_cluster, o.ecs_config, o.user_data = parse_user_data(script)
  return o
end

local function read(ctx, id, prior)
  local ec2 = ctx:aws("ec2")
  local out, err = kit.try(ec2, "DescribeLaunchTemplates", { LaunchTemplateIds = { id } })
  if not out then
    if kit.is_code(err, "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateId.Malformed",
        "InvalidLaunchTemplateName.NotFoundException") then
      return nil
    end
    error(err, 0)
  end
  local lt = (out.LaunchTemplates or {})[1]
  if not lt then return nil end
  local versions = ec2:call("DescribeLaunchTemplateVersions", { LaunchTemplateId = id, Versions = { "$Default" } })
  local v = (versions.LaunchTemplateVersions or {})[1]
  local o = from_data(v and v.LaunchTemplateData or {}, prior and prior.inputs)
  o.id = lt.LaunchTemplateId
  o.name = lt.LaunchTemplateName
  o.latest_version = lt.LatestVersionNumber
  o.default_version = lt.DefaultVersionNumber
  o.tags = kit.user_tags(kit.tag_map(lt.Tags))
  return o
end

-- The client token of the version an update makes: the same for the same
-- template, the same version it starts from and the same data.
local function version_token(ctx, id, data)
  local function canonical(v)
    if type(v) ~= "table" then return cjson.encode(v) end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. canonical(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local from = ctx.prior and ctx.prior.outputs and ctx.prior.outputs.latest_version
  local seed = table.concat({ ctx:client_token(), id, tostring(math.tointeger(from or 0)),
    canonical(data) }, "\0")
  return crypto.hex(crypto.sha256(seed)):sub(1, 64)
end

local function set_tags(ctx, id, old, new)
  local ec2 = ctx:aws("ec2")
  local set, removed = kit.tag_changes(old, new)
  if #removed > 0 then
    local keys = {}
    for i, k in ipairs(removed) do keys[i] = { Key = k } end
    ec2:call("DeleteTags", { Resources = { id }, Tags = keys })
  end
  if next(set) then ec2:call("CreateTags", { Resources = { id }, Tags = kit.tag_list(set) }) end
end

return resource.define "aws.ec2.launch_template" {
  description = "an EC2 launch template (ECS-optimised AL2023 through resolve:ssm:, IMDSv2 required)",
  attributes = {
    name = { type = "string", required = true, force_new = true },
    image_id = { type = "string", default = ECS_AMI },
    instance_type = { type = "string", required = true },
    instance_profile = { type = "string", description = "instance profile ARN or name" },
    security_group_ids = { type = "list", of = "string" },
    ecs_cluster = { type = "string", description = "the ECS cluster the instances join" },
    ecs_config = { type = "map", of = "string", description = "further /etc/ecs/ecs.config entries" },
    user_data = { type = "string", description = "a script run at boot (after joining the cluster)" },
    http_tokens = { type = "string", default = "required", choices = { "required", "optional" } },
    http_put_response_hop_limit = { type = "integer", default = 1 },
    root_device_name = { type = "string", default = "/dev/xvda" },
    root_volume_size = { type = "integer", default = 30 },
    root_volume_type = { type = "string", default = "gp3" },
    root_volume_encrypted = { type = "boolean", default = true },
    key_name = { type = "string" },
    detailed_monitoring = { type = "boolean", default = false },
    tags = { type = "tags" },
  },
  outputs = { "id", "latest_version", "default_version" },

  found_by = "its wpo:address tag (its versions: their client tokens)",
  find = function(ctx)
    local list = ctx:aws("ec2"):collect("DescribeLaunchTemplates",
      { Filters = { { Name = "tag:" .. resource.TAG_ADDRESS, Values = { ctx.address } } } })
    local out = {}
    for _, lt in ipairs(list.LaunchTemplates or {}) do
      out[#out + 1] = { id = lt.LaunchTemplateId, tags = kit.tag_map(lt.Tags) }
    end
    return out
  end,

  create = function(ctx, want, found)
    check(ctx, want)
    local ec2 = ctx:aws("ec2")
    if found then return read(ctx, found.id, { inputs = want }) end
    local out = ec2:call("CreateLaunchTemplate", {
      ClientToken = ctx:client_token(), LaunchTemplateName = want.name, VersionDescription = "wpo " .. ctx.address,
      LaunchTemplateData = launch_data(want),
      TagSpecifications = { { ResourceType = "launch-template", Tags = kit.tag_list(want.tags) } },
    })
    local lt = aws.required(out, "LaunchTemplate")
    return { id = aws.required(out, "LaunchTemplate", "LaunchTemplateId"), latest_version = lt.LatestVersionNumber,
      default_version = lt.DefaultVersionNumber }
  end,

  read = read,

  update = function(ctx, id, old, new, changed)
    check(ctx, new)
    local ec2 = ctx:aws("ec2")
    local data_changed = false
    for _, name in ipairs(changed) do
      for _, d in ipairs(DATA_ATTRS) do if d == name then data_changed = true end end
    end
    local o = {}
    if data_changed then
      -- A version is found again by its client token, which its description
      -- carries: an update whose answer was lost, run again, takes the version
      -- the first made (and AWS answers a token sent again with that version).
      local data = launch_data(new)
      local token = version_token(ctx, id, data)
      local description = "wpo " .. ctx.address .. " " .. token:sub(1, 16)
      local latest = ec2:call("DescribeLaunchTemplateVersions", { LaunchTemplateId = id,
        Versions = { "$Latest" } }).LaunchTemplateVersions or {}
      local v = latest[1]
      if not v or v.VersionDescription ~= description then
        v = aws.required(ec2:call("CreateLaunchTemplateVersion", { LaunchTemplateId = id, ClientToken = token,
          VersionDescription = description, LaunchTemplateData = data }), "LaunchTemplateVersion")
      end
      local number = math.tointeger(aws.required({ LaunchTemplateVersion = v }, "LaunchTemplateVersion",
        "VersionNumber"))
      local lt = (ec2:call("DescribeLaunchTemplates", { LaunchTemplateIds = { id } }).LaunchTemplates or {})[1]
      if not lt or math.tointeger(lt.DefaultVersionNumber) ~= number then
        lt = aws.required(ec2:call("ModifyLaunchTemplate", { LaunchTemplateId = id,
          DefaultVersion = tostring(number) }), "LaunchTemplate")
        ctx:log("version %d is now the default", number)
      end
      o.latest_version = lt.LatestVersionNumber
      o.default_version = lt.DefaultVersionNumber
    end
    set_tags(ctx, id, old.tags, new.tags)
    return o
  end,

  delete = function(ctx, id)
    local _, err = kit.try(ctx:aws("ec2"), "DeleteLaunchTemplate", { LaunchTemplateId = id })
    if err and not kit.is_code(err, "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateId.Malformed") then
      error(err, 0)
    end
  end,
  -- the IAM actions each phase calls (wpo.iam, `wpo iam-policy`)
  iam = {
    read = { "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeLaunchTemplates" },
    create = { "iam:PassRole", "ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:CreateTags",
      "ec2:ModifyLaunchTemplate" },
    update = { "iam:PassRole", "ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:CreateTags",
      "ec2:ModifyLaunchTemplate" },
    delete = { "ec2:DeleteLaunchTemplate", "ec2:DeleteTags" },
  },
}
