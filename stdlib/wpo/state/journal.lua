-- wpo.state.journal: the format of a state's journal — the changes committed
-- since its snapshot, appended one line per group commit, so that recording
-- one resource costs O(that resource) instead of rewriting the whole state.
-- wpo.state decides when to write it and merges it when reading; the local
-- backend keeps it beside the snapshot (<state>.json.journal, 0600, written
-- only under the state's lock).
--
--   journal.start(fields, keyring) -> w      a new journal over the snapshot
--        fields: stack, lineage, base_serial (the snapshot's serial)
--   w.header                                 its first line (with "\n")
--   w:line(seq, payload) -> text             group seq's line (with "\n")
--   journal.encoding(w) -> "clear" | "encrypted"
--   journal.parse(text, keyring, what) -> j  raises wpo.errors (StateError,
--        StateEncryptionError) on a damaged journal; j = { header = fields,
--        groups = { { seq = n, changes = {...} } }, torn = bytes dropped
--        (a last line cut short: a writer killed mid-append), encrypted }
--
-- The file: line 1 is the header, a JSON object
--   {"wpo_state_journal":1,"stack":..,"lineage":..,"base_serial":n,
--    "id":"<16 hex digits, random per journal>",
--    "encryption":{"scheme","key_source","key_id","stack","data_key"}?}
-- then one line per group commit, seq counting 1, 2, ... without gaps:
--   in the clear:  "<seq> <check> <payload>"   check: the first 32 hex digits
--                  of sha256(header line "\n" seq "\n" payload)
--   encrypted:     "<seq> <base64 of iv .. ciphertext .. tag>"   AES-256-GCM
--                  (wpo.state.crypt) of the payload, with the header line and
--                  seq as additional data
-- so a changed byte anywhere, records reordered, one dropped from the middle
-- or spliced in from another journal fail the check. The payload is a JSON
-- array of changes, applied in order:
--   {"set": address, "resource": {...the snapshot's resource object},
--    "generation": n?}    {"remove": address}    {"outputs": {...}}
-- The state's serial after group seq is base_serial + seq.
--
-- The file may end in zero bytes (it is grown ahead of its data): they are
-- not data. A line that does not end in "\n" can only be the last, cut short
-- by a writer killed while appending it: it was never committed (nothing
-- waited on it) and is dropped. Any complete line that fails its check, wherever it is,
-- is damage: the journal is refused, naming the line.
local cjson = require "cjson.safe"
local crypt = require "wpo.state.crypt"
local crypto = require "wpo.core.crypto"
local errors = require "wpo.errors"

local M = {}

M.VERSION = 1
local MAGIC = "wpo_state_journal"
local AAD_PREFIX = "wpo-state-journal-1\n"
local ZEROS_LEN = 4096
local ZEROS = string.rep("\0", ZEROS_LEN)

local Writer = {}
Writer.__index = Writer

local function check_of(header, seq, payload)
  return crypto.hex(crypto.sha256(header .. seq .. "\n" .. payload)):sub(1, 32)
end

function M.start(fields, keyring)
  local doc = { [MAGIC] = M.VERSION, stack = fields.stack, lineage = fields.lineage,
    base_serial = fields.base_serial, id = crypto.hex(crypto.random(8)) }
  local key
  if keyring then doc.encryption, key = keyring:record_header() end
  local header = assert(cjson.encode(doc)) .. "\n"
  return setmetatable({ header = header, key = key, fields = doc }, Writer)
end

function M.encoding(w) return w.key and "encrypted" or "clear" end

function Writer:line(seq, payload)
  if self.key then
    return string.format("%d %s\n", seq, crypt.seal_record(self.key, payload, AAD_PREFIX .. self.header .. seq))
  end
  return string.format("%d %s %s\n", seq, check_of(self.header, seq, payload), payload)
end

local function refuse(fmt, ...)
  errors.raise { code = "StateError", message = string.format(fmt, ...) }
end

function M.parse(text, keyring, what)
  local eol = text:find("\n", 1, true)
  if not eol then
    refuse("%s has no complete header line: it is damaged; refusing to use the state (move it away to use the "
      .. "snapshot without the changes it records)", what)
  end
  local header = text:sub(1, eol)
  local h = cjson.decode(header)
  if type(h) ~= "table" or h[MAGIC] == nil then
    refuse("%s is not a wpo state journal (its first line is not a journal header); refusing to use the state", what)
  end
  if h[MAGIC] ~= M.VERSION then
    refuse("%s has journal version %s; this wpo reads version %d", what, tostring(h[MAGIC]), M.VERSION)
  end
  h.base_serial = math.type(h.base_serial) and math.tointeger(h.base_serial) or nil
  if type(h.lineage) ~= "string" or not h.base_serial or type(h.id) ~= "string" then
    refuse("%s has a damaged header (lineage, base_serial, id); refusing to use the state", what)
  end
  local key
  if h.encryption ~= nil then
    crypt.check_header(h.encryption, what)
    key = keyring:key_for(h.encryption, what)
  end
  local j = { header = h, groups = {}, torn = 0, encrypted = key ~= nil }
  local pos, lineno, expect = eol + 1, 1, 1
  -- the file is grown ahead of its data with zero bytes (wpo.core.fs's appender)
  local len = #text
  while len - ZEROS_LEN >= eol and text:sub(len - ZEROS_LEN + 1, len) == ZEROS do len = len - ZEROS_LEN end
  while len > eol and text:byte(len) == 0 do len = len - 1 end
  while pos <= len do
    lineno = lineno + 1
    local stop = text:find("\n", pos, true)
    if not stop then
      j.torn = len - pos + 1      -- the last append, cut short
      break
    end
    local line = text:sub(pos, stop - 1)
    pos = stop + 1
    local seq, rest = line:match("^(%d+) (.*)$")
    seq = seq and math.tointeger(tonumber(seq))
    local payload, why
    if seq ~= expect then
      why = seq and string.format("it is group %d where group %d was due (a group is missing or out of order)",
        seq, expect) or "it is not a journal record"
    elseif key then
      local plain, err = crypt.open_record(key, rest, AAD_PREFIX .. header .. seq)
      if plain then payload = plain else why = "it failed authentication (" .. tostring(err) .. ")" end
    else
      local check, body = rest:match("^(%x+) (.*)$")
      if check and check == check_of(header, seq, body) then payload = body else why = "its checksum does not match" end
    end
    local changes = payload and cjson.decode(payload)
    if payload and type(changes) ~= "table" then why = "its changes are not a JSON array" end
    if why then
      refuse("%s is damaged at line %d: %s — it was modified or damaged since wpo wrote it; refusing to use the "
        .. "state (its snapshot without the journal is the state before the changes it records)", what, lineno, why)
    end
    j.groups[#j.groups + 1] = { seq = seq, changes = changes }
    expect = expect + 1
  end
  return j
end

return M
