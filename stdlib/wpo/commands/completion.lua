-- wpo completion bash|zsh: a shell completion script for wpo. The script
-- asks wpo itself (`wpo completion complete CWORD WORDS...`), so commands,
-- options, stack files and the addresses in a stack's state are always
-- those of the wpo that runs.
local cli = require "wpo.cli"
local resource = require "wpo.resource"
local workflow = require "wpo.workflow"

local M = {
  summary = "print a shell completion script (bash or zsh)",
  args = { "SHELL", "ARGS..." },
  passthrough = true,
  help = "  source <(wpo completion bash)      in ~/.bashrc\n"
    .. "  source <(wpo completion zsh)       in ~/.zshrc\n"
    .. "'make install' puts the bash script where bash-completion finds it.",
}

local BASH = [[
# wpo completion for bash (wpo completion bash)
_wpo() {
  local cur=${COMP_WORDS[COMP_CWORD]} out
  local IFS=$'\n'
  out=$(command wpo completion complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null) || return 0
  if [ "$out" = "__files__" ]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
  fi
}
complete -F _wpo wpo
]]

local ZSH = [[
# wpo completion for zsh (wpo completion zsh), through zsh's bash completion
autoload -U +X bashcompinit && bashcompinit
]] .. BASH

-- The stack a command line names: its first word ending in .lua
local function stack_of(words)
  for i = 3, #words do
    if words[i]:match("%.lua$") then return words[i] end
  end
end

-- The addresses in that stack's state (nothing when it cannot be read)
local function addresses(words)
  local path = stack_of(words)
  if not path then return {} end
  local ok, list = pcall(function()
    local stack = workflow.load({ var = {}, var_file = {} }, path)
    local st <close> = workflow.open_state(stack, {}, "completion", { lock = false })
    return st:addresses()
  end)
  return ok and list or {}
end

local ADDRESS_OPTIONS = { ["--target"] = true }
local ADDRESS_SUBCOMMANDS = { show = true, rm = true, mv = true }

local function candidates(cword, words)
  local cur, prev = words[cword + 1] or "", words[cword] or ""
  if cword == 1 then return cli.available() end
  local name = words[2]
  local spec = cli.load_command(name)
  if not spec then return {} end
  if ADDRESS_OPTIONS[prev] then return addresses(words) end
  if cur:sub(1, 1) == "-" then
    local out = { "--help", "--no-color" }
    for key, opt in pairs(spec.options or {}) do
      out[#out + 1] = "--" .. key:gsub("_", "-")
      if opt.type == "boolean" and opt.default == true then out[#out + 1] = "--no-" .. key:gsub("_", "-") end
    end
    table.sort(out)
    return out
  end
  if name == "help" then
    local out = cli.available()
    for _, t in ipairs(resource.known_types()) do out[#out + 1] = t end
    return out
  end
  if name == "completion" then return { "bash", "zsh" } end
  if name == "state" then
    if cword == 2 then return { "list", "show", "rm", "mv", "versions", "restore", "migrate", "rekey" } end
    if cword >= 4 and ADDRESS_SUBCOMMANDS[words[3]] then return addresses(words) end
  end
  return "files"
end

function M.run(_, args)
  local shell = args[1]
  if shell == "bash" then io.stdout:write(BASH) return 0 end
  if shell == "zsh" then io.stdout:write(ZSH) return 0 end
  if shell == "complete" then
    local cword = math.tointeger(tonumber(args[2] or ""))
    if not cword then cli.usage_error("completion complete CWORD WORDS...") end
    local words = { table.unpack(args, 3) }
    local out = candidates(cword, words)
    if out == "files" then io.stdout:write("__files__\n") return 0 end
    for _, c in ipairs(out) do io.stdout:write(c, "\n") end
    return 0
  end
  cli.usage_error("completion: a shell, bash or zsh, not '%s'", tostring(shell))
end

return M
