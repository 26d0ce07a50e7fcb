"""fakeaws — a loopback AWS endpoint for wpo's tests (never part of wpo itself).

Layout:
  httpd.py       the HTTP server: reads a request, runs the pipeline, writes the answer
  sigv4check.py  recomputes every SigV4 signature with botocore's own signer
  protocols/     one generic parser/serialiser per wire protocol, driven by botocore shapes
  validate.py    required members, enums, lengths and ranges, against the input shape
  faults.py      latency, throttling, 5xx and dropped connections, seedable
  state.py       the in-memory store (objects by service and type), ids, tags, pagination
  control.py     the /_fake/ control API
  services/      one module per AWS service: one plain-dict handler per operation
"""
