#!/usr/bin/python3
"""fakeaws: a loopback AWS endpoint for wpo's tests.

    /usr/bin/python3 tests/fakeaws/server.py --port 0

serves every service fakeaws knows on 127.0.0.1 (only); the first line on
stdout is PORT=<n>, the second PID=<pid>. Point a client at it with
AWS_ENDPOINT_URL=http://127.0.0.1:<n>, access key `test`, secret `test`.
The control API (/_fake/state, /_fake/calls, /_fake/reset, /_fake/faults,
/_fake/eventual) is
described in fakeaws/control.py; how to add a service in fakeaws/services/."""
import argparse
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEFAULT_ACCOUNT = "123456789012"


def _watch_parent(parent):
    """Exit when the process that started us is gone (a crashed test run)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main(argv=None):
    ap = argparse.ArgumentParser(description="loopback AWS endpoint for tests (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    ap.add_argument("--access-key", default="test", help="accepted access key id (default test)")
    ap.add_argument("--secret-key", default="test", help="its secret (default test)")
    ap.add_argument("--account", default=DEFAULT_ACCOUNT, help="the account id in ARNs")
    ap.add_argument("--settle", type=int, default=1,
                    help="describes that still show a transitional state (pending, creating...)")
    ap.add_argument("--page-size", type=int, default=5,
                    help="most items any list/describe answers per page (clients must paginate)")
    ap.add_argument("--eventual", type=float, default=0.0, metavar="SECONDS",
                    help="eventual consistency: each new object or change is seen late, by a random delay "
                         "of up to SECONDS (default 0: at once; see fakeaws/eventual.py)")
    ap.add_argument("--eventual-seed", default=None,
                    help="seed of those delays (the same seed and calls draw the same delays)")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="exit when the parent process goes away")
    ap.add_argument("--verbose", action="store_true", help="log every request on stderr")
    ap.add_argument("--enforce-iam", action="store_true",
                    help="hold requests signed by fakeaws IAM users' keys to their policies")
    args = ap.parse_args(argv)
    if args.settle < 0 or args.page_size < 1:
        ap.error("--settle must be >= 0 and --page-size >= 1")
    if not 0 <= args.eventual <= 3600:
        ap.error("--eventual must be from 0 to 3600 seconds")
    if not (args.account.isdigit() and len(args.account) == 12):
        ap.error("--account must be 12 digits")

    from fakeaws.httpd import FakeAWS  # botocore loads here, after the options are checked

    server = FakeAWS(enforce_iam=args.enforce_iam, port=args.port, access_key=args.access_key,
                     secret_key=args.secret_key,
                     account=args.account, settle=args.settle, page_size=args.page_size,
                     verbose=args.verbose, eventual=args.eventual, eventual_seed=args.eventual_seed)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.exit_with_parent:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    sys.stdout.write(f"PORT={server.port}\nPID={os.getpid()}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
