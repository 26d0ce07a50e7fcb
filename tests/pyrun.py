"""Runs the Python test suites (unittest) given as directories and prints
"py: N passed, N failed, N skipped". Run with /usr/bin/python3 (it sees
Debian's botocore): /usr/bin/python3 tests/pyrun.py tests/fakeaws"""
import sys
import unittest


def main(dirs):
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for d in dirs:
        suite.addTests(loader.discover(d, pattern="test_*.py", top_level_dir=d))
    result = unittest.TextTestRunner(verbosity=1, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"py: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
