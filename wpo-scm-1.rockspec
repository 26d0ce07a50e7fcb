rockspec_format = "3.0"
package = "wpo"
version = "scm-1"
source = {
   url = "git+https://example.invalid/wpo.git",
}
description = {
   summary = "A Lua-scriptable orchestration engine for AWS, written in C",
   detailed = [[
      wpo is one small binary: a C host embedding Lua 5.4 with AWS primitives
      (SigV4 over libcurl/OpenSSL, XML via expat, JSON via lua-cjson), a git
      client (libgit2) and a dependency scheduler. Infrastructure stacks are Lua
      scripts, versioned in git.
   ]],
   license = "MIT",
   labels = { "aws", "infrastructure", "orchestration" },
}
dependencies = {
   "lua >= 5.4",
}
-- curl's header is checked by the Makefile: Debian keeps it under the
-- multiarch include directory (/usr/include/<triplet>/curl), where luarocks
-- does not look
external_dependencies = {
   OPENSSL = { header = "openssl/evp.h" },
   EXPAT = { header = "expat.h" },
   LIBGIT2 = { header = "git2.h" },
   ZLIB = { header = "zlib.h" },
}
build = {
   type = "make",
   build_target = "all",
   install_target = "install",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
   },
   install_variables = {
      PREFIX = "$(PREFIX)",
   },
}
