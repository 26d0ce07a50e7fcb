-- ACME: the default customer layout on its own network.
return require("stacks.customer") { name = "acme", cidr = "10.21.0.0/16" }
