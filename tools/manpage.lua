-- tools/manpage.lua: the wpo(1) manual page, in roff, on standard output,
-- made from the command modules (their summaries, usages, help and options).
-- `make install` installs it as share/man/man1/wpo.1.
local cli = require "wpo.cli"
local text = require "wpo.text"

local function esc(s)
  s = tostring(s or ""):gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("\n%.", "\n\\&."):gsub("^%.", "\\&."):gsub("\n'", "\n\\&'"))
end

local out = {
  '.TH WPO 1 "" "wpo" "User Commands"',
  ".SH NAME",
  "wpo \\- orchestrate AWS with Lua stack scripts",
  ".SH SYNOPSIS",
  ".B wpo",
  "\\fICOMMAND\\fR [\\fIARGS\\fR...] [\\fIoptions\\fR]",
  ".SH DESCRIPTION",
  "wpo plans and applies infrastructure described by Lua stack scripts against AWS. "
    .. "\\fBwpo help\\fR lists the commands, \\fBwpo help\\fR \\fICOMMAND\\fR shows one, "
    .. "\\fBwpo types\\fR lists the resource types and \\fBwpo help\\fR \\fITYPE\\fR shows one.",
  ".SH COMMANDS",
}
for _, name in ipairs(cli.available()) do
  local spec = cli.load_command(name)
  out[#out + 1] = ".TP"
  out[#out + 1] = "\\fB" .. esc(cli.usage(name, spec):gsub("^usage: ", "")) .. "\\fR"
  out[#out + 1] = esc(spec.summary)
  if spec.help then
    out[#out + 1] = ".br"
    out[#out + 1] = esc(spec.help:gsub("\n", " "))
  end
  local options = spec.options or {}
  for _, key in ipairs(text.sorted_keys(options)) do
    local opt = options[key]
    local flag = "\\-\\-" .. esc(key:gsub("_", "-"))
    if (opt.type or "string") ~= "boolean" then flag = flag .. " \\fI" .. esc(opt.metavar or (opt.type or "string"):upper()) .. "\\fR" end
    out[#out + 1] = ".RS"
    out[#out + 1] = ".TP"
    out[#out + 1] = flag
    out[#out + 1] = esc(opt.help)
    out[#out + 1] = ".RE"
  end
end
out[#out + 1] = ".SH EXIT STATUS"
out[#out + 1] = "0 success; 1 failure; 2 usage error (\\fBwpo plan \\-\\-detailed\\-exitcode\\fR: 2 when there are changes); "
  .. "130 and 143 when interrupted by SIGINT and SIGTERM."
out[#out + 1] = ".SH ENVIRONMENT"
out[#out + 1] = "\\fBWPO_LOG\\fR=debug adds tracebacks and request logs (secrets redacted); \\fBNO_COLOR\\fR turns colour off; "
  .. "\\fBWPO_VAR_\\fR\\fINAME\\fR sets a stack variable; the AWS SDKs' variables (\\fBAWS_PROFILE\\fR, "
  .. "\\fBAWS_REGION\\fR, \\fBAWS_ENDPOINT_URL\\fR...) as they document them."
io.stdout:write(table.concat(out, "\n"), "\n")
