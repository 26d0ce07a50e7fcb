-- wpo.aws.cloudfront.common: what CloudFront's types share. CloudFront is
-- global (one endpoint, signed for us-east-1, whatever the stack's region);
-- its lists travel as { Quantity, Items }; every change of an object names
-- the version it changes (If-Match with the ETag its Get* answered): a
-- version changed meanwhile (PreconditionFailed) is read again and the change
-- tried once more.
--
--   common.client(ctx) -> the CloudFront client of the resource
--   common.items(list) -> { Quantity = n, Items = list } (no Items when empty)
--   common.list(wrapper) -> the Items of a { Quantity, Items } (a list, maybe empty)
--   common.with_etag(ctx, get, change) -> what change returned: get() -> the
--        object's current ETag (nil when gone: change is then not called);
--        change(etag) -> result; a PreconditionFailed runs both once more
--   common.each(ctx, op, list_key, params?) -> iterator over the Items of every
--        page of a CloudFront List* (Marker / NextMarker)
local kit = require "wpo.aws.typekit"

local M = {}

function M.client(ctx)
  return ctx:aws("cloudfront")
end

function M.items(list)
  list = list or {}
  if #list == 0 then return { Quantity = 0 } end
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  return { Quantity = #copy, Items = copy }
end

function M.list(wrapper)
  return (wrapper and wrapper.Items) or {}
end

function M.with_etag(ctx, get, change)
  for attempt = 1, 2 do
    local etag = get()
    if etag == nil then return nil end
    local ok, result = pcall(change, etag)
    if ok then return result end
    if attempt == 2 or not kit.is_code(result, "PreconditionFailed") then error(result, 0) end
    ctx:log("changed by someone else since it was read (PreconditionFailed): reading it again")
  end
end

-- common.getter(op, gone) -> get(ctx, id): op's answer for that id, nil when
-- CloudFront answers the code gone (the object is not there)
function M.getter(op, gone)
  return function(ctx, id)
    local out, err = M.client(ctx):pcall(op, { Id = id })
    if out then return out end
    if kit.is_code(err, gone) then return nil end
    error(err, 0)
  end
end

-- common.delete(ctx, id, get, op, gone, in_use, message): the delete of an
-- object CloudFront guards with an ETag — `op` with its current ETag (read
-- again once when it changed meanwhile); gone (the code of an object that
-- is not there) is done; in_use (the code of one still used) is an error
-- saying so with `message` (a format taking the id).
function M.delete(ctx, id, get, op, gone, in_use, message)
  local cf = M.client(ctx)
  local ok, err = pcall(M.with_etag, ctx, function()
    local got = get(ctx, id)
    return got and got.ETag
  end, function(etag)
    return cf:call(op, { Id = id, IfMatch = etag })
  end)
  if ok or kit.is_code(err, gone) then return end
  if kit.is_code(err, in_use) then ctx:fail(in_use, message, id) end
  error(err, 0)
end

function M.each(ctx, op, list_key, params)
  local cf = M.client(ctx)
  local items, i, marker, done = {}, 0, nil, false
  return function()
    while true do
      i = i + 1
      if items[i] ~= nil then return items[i] end
      if done then return nil end
      local p = {}
      for k, v in pairs(params or {}) do p[k] = v end
      p.Marker = marker
      local page = cf:call(op, p)[list_key] or {}
      items, i = page.Items or {}, 0
      marker = page.NextMarker
      done = marker == nil or marker == ""
    end
  end
end

return M
