"""Runs the Python ctypes host tests (tests/python/test_*.py) with unittest and prints
`# python: N passed, M failed` for tests/run_all.py."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py", top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
# A skipped test is not a passed one; under CC_STRICT it is a failure.
if os.environ.get("CC_STRICT") == "1":
    failed += skipped
print(f"# python: {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
