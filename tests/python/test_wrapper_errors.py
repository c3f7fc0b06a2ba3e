"""The Python module maps every failure to its own exceptions: a reference altered in its
start time (which once raised ValueError, a date out of range), arguments of the wrong
type (ArgumentTypeError, also a TypeError), a NUL character, options out of range, data
it cannot read (InternalError), a library that cannot be loaded (LibraryLoadError)."""
import base64
import datetime
import json
import os
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import callconnect as cc  # noqa: E402
from ccffi import sim_dsn, sim_stats  # noqa: E402


class WrapperErrors(unittest.TestCase):
    def setUp(self):
        self.client = cc.Client(sim_dsn("42call", "test-py-werr:secret-test-py-werr"))

    def tearDown(self):
        self.client.close()

    def test_a_tampered_reference_raises_the_library_error(self):
        with self.client.start_call("0171 1234567", "030 1234567") as call:
            prefix, body, tag = call.ref().split(".")
            record = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            record["started_ms"] = 10 ** 17
            tampered = ".".join([prefix, base64.urlsafe_b64encode(json.dumps(record).encode()).decode().rstrip("="),
                                 tag])
            with self.assertRaises(cc.InvalidArgumentError) as e:
                self.client.attach(tampered).status()
            self.assertEqual(e.exception.result, cc.Result.INVALID_ARGUMENT)
            call.hangup()

    def test_arguments_the_library_cannot_take(self):
        before = sim_stats()["42call"]["calls_placed"]
        with self.assertRaises(cc.ArgumentTypeError) as e:
            self.client.start_call(171, "030 1234567")
        self.assertIsInstance(e.exception, TypeError)
        self.assertIsInstance(e.exception, cc.CallConnectError)
        with self.assertRaises(cc.InvalidArgumentError):
            self.client.attach("cc2.abc\0def")
        with self.assertRaises(cc.InvalidArgumentError):
            self.client.start_call("0171 1234567", "030 \ud800")
        for options in ({"max_duration": "60"}, {"wait_for_pickup": -1}, {"connect_type": 2 ** 40},
                        {"max_duration": True}):
            with self.assertRaises(cc.InvalidArgumentError, msg=str(options)):
                self.client.start_call("0171 1234567", "030 1234567", **options)
        self.assertEqual(sim_stats()["42call"]["calls_placed"], before)

    def test_data_it_cannot_read_is_an_internal_error(self):
        with self.assertRaises(cc.InternalError) as e:
            cc._from_library("a call status", lambda: datetime.datetime.fromtimestamp(1e20))
        self.assertEqual(e.exception.result, cc.Result.INTERNAL)
        with self.assertRaises(cc.InternalError):
            cc._from_library("a balance", lambda: cc.Money.parse("twelve EUR"))

    def test_a_library_that_cannot_be_loaded(self):
        probe = ("import callconnect as cc\n"
                 "try:\n    cc.load_library('/nonexistent/libcallconnect.so')\n"
                 "except cc.LibraryLoadError as e:\n    print('LibraryLoadError', isinstance(e, OSError))\n")
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
        env.pop("CALLCONNECT_LIB", None)
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(out.stdout.strip(), "LibraryLoadError True", out.stderr)


if __name__ == "__main__":
    unittest.main()
