#!/usr/bin/python3
"""A small HTTP/1.1 server for the loop, http and task tests and the http
benchmark. Standard library only; listens on 127.0.0.1 only.

    /usr/bin/python3 tests/servers/http_echo.py [--port N] [--tls CERT KEY]

Prints "PORT=<n> PID=<pid>" as its first stdout line, then serves until it
is killed or its parent process goes away. Keep-alive: every connection gets
an id (1, 2, ...) sent back in the X-Conn-Id header of each response.

Routes (any method):
  /echo...           200, JSON {method, path, headers, body, conn}
  /status/N          status N, Location: /echo (for 3xx), empty body
  /dup               200 with a header repeated (X-Dup: a, X-Dup: b)
  /delay?ms=N&name=X wait N ms then 200; /started?name=X answers once a
                     /delay with that name has arrived (the request is in flight)
  /close             close the connection without answering
  /bench             200, "ok"
  /stats             200, JSON {connections}: how many connections were opened
"""
import argparse
import asyncio
import json
import os
import ssl
import sys
from urllib.parse import parse_qs, urlsplit

started = {}    # name -> asyncio.Event
next_conn = 0


def event(name):
    if name not in started:
        started[name] = asyncio.Event()
    return started[name]


def response(status, body=b"", headers=()):
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
              307: "Temporary Redirect", 404: "Not Found"}.get(status, "Status")
    lines = ["HTTP/1.1 %d %s" % (status, reason), "Content-Length: %d" % len(body)]
    lines += ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def handle(reader, writer):
    global next_conn
    next_conn += 1
    conn = next_conn
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    k = k.strip().lower()
                    headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
            body = b""
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            url = urlsplit(target)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            extra = [("X-Conn-Id", str(conn))]
            path = url.path
            if path.startswith("/echo"):
                out = json.dumps({"method": method, "path": target, "headers": headers,
                                  "body": body.decode("latin-1"), "conn": conn}).encode()
                msg = response(200, out, extra + [("Content-Type", "application/json")])
            elif path.startswith("/status/"):
                msg = response(int(path.split("/")[2]), b"", extra + [("Location", "/echo")])
            elif path == "/dup":
                msg = response(200, b"dup", extra + [("X-Dup", "a"), ("X-Dup", "b")])
            elif path == "/delay":
                event(query.get("name", "")).set()
                await asyncio.sleep(int(query.get("ms", "0")) / 1000)
                msg = response(200, b"late", extra)
            elif path == "/started":
                await event(query.get("name", "")).wait()
                msg = response(200, b"started", extra)
            elif path == "/close":
                return
            elif path == "/cut-headers":     # an answer lost on the way: its headers cut short
                writer.write(response(200, b'{"Id":"x"}', extra)[:30])
                await writer.drain()
                return
            elif path == "/stats":
                msg = response(200, json.dumps({"connections": next_conn}).encode(), extra)
            elif path == "/bench":
                msg = response(200, b"ok", extra)
            else:
                msg = response(404, b"no such route", extra)
            if method == "HEAD":
                msg = msg[:msg.index(b"\r\n\r\n") + 4]
            writer.write(msg)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def watch_parent(parent):
    while os.getppid() == parent:
        await asyncio.sleep(1)
    os._exit(0)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
    # A client that refuses the certificate ends the handshake: not news.
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    server = await asyncio.start_server(handle, "127.0.0.1", args.port, ssl=ctx, backlog=512)
    port = server.sockets[0].getsockname()[1]
    print("PORT=%d PID=%d" % (port, os.getpid()), flush=True)
    asyncio.get_running_loop().create_task(watch_parent(os.getppid()))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
