-- Globex: busier than most — Aurora with a reader, more web capacity, its own domain.
return require("stacks.customer") {
  name     = "globex",
  cidr     = "10.22.0.0/16",
  site     = { domain = "www.globex.example" },
  service  = { desired = 2, min = 2, max = 10 },
  database = { engine = "aurora-mysql", instance_class = "db.r6g.large", readers = { min = 1, max = 2 } },
}
