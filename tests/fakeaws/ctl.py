#!/usr/bin/python3
"""A tiny client for fakeaws's control API, for callers without an HTTP client
(tests/lua/fakeaws.lua):

    /usr/bin/python3 tests/fakeaws/ctl.py PORT METHOD PATH [JSON-BODY]

prints the JSON answer on stdout; exits 1 with the error on stderr when the
answer is not 200 or the server cannot be reached. Standard library only."""
import http.client
import sys


def main(argv):
    if len(argv) not in (4, 5) or not argv[1].isdigit() or not argv[3].startswith("/_fake/"):
        sys.stderr.write("usage: ctl.py PORT METHOD /_fake/PATH [JSON-BODY]\n")
        return 2
    port, method, path = int(argv[1]), argv[2], argv[3]
    body = argv[4].encode() if len(argv) == 5 else b""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read().decode()
        conn.close()
    except OSError as e:
        sys.stderr.write(f"fakeaws on port {port}: {e}\n")
        return 1
    if resp.status != 200:
        sys.stderr.write(f"HTTP {resp.status}: {data}\n")
        return 1
    sys.stdout.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
