"""The Python module (bindings/python/callconnect.py) doing the normal jobs against the
simulator: calls, states, hang-up, reference and attach, SMS, top-up, typed exceptions,
handles freed by close/with/GC, and the log through the `logging` module without secrets."""
import datetime
import decimal
import gc
import logging
import os
import subprocess
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import callconnect as cc  # noqa: E402
from ccffi import sim_dsn, sim_stats  # noqa: E402


def dsn(user, password=None):
    return sim_dsn("42call", f"{user}:{password or 'secret-' + user}")


class Records(logging.Handler):
    """Keeps log records (Handler.handle holds the handler's own lock around emit)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def text(self):
        with self.lock:
            return "\n".join(r.getMessage() for r in self.records)


class Wrapper(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.handles_before = cc._live_handles()
        self.client = cc.Client(dsn("test-wrap"))

    def tearDown(self):
        self.client.close()
        gc.collect()
        self.assertEqual(cc._live_handles(), self.handles_before, "a handle leaked")

    def test_library_and_version(self):
        self.assertTrue(cc.version().startswith(f"callconnect {cc.ABI_MAJOR}."))
        self.assertIn("rustls", cc.version())
        self.assertTrue(os.path.exists(cc.library_path()), cc.library_path())
        self.assertIn(cc.Capability.SMS, self.client.capabilities)
        self.assertNotIn(cc.Capability.LIVE_STATUS, self.client.capabilities)

    def test_warm_up(self):
        cc.warm_up(49)
        cc.warm_up()
        with self.assertRaises(cc.InvalidArgumentError):
            cc.warm_up(999)
        with self.assertRaises(ValueError):
            cc.warm_up(70000)

    def test_call_states_and_hangup(self):
        before = sim_stats()["42call"]["calls_placed"]
        call = self.client.start_call("0171 1234567", "030 1234567")
        self.assertEqual(sim_stats()["42call"]["calls_placed"], before + 1)
        st = call.status()
        self.assertIsInstance(st, cc.CallStatus)
        self.assertIs(st.state, cc.State.INITIATING)
        self.assertFalse(st.live)
        self.assertFalse(st.final)
        self.assertIsInstance(st.last_change, datetime.datetime)
        self.assertEqual(len(call.id), 36)
        call.hangup()
        st = call.status()
        self.assertIs(st.state, cc.State.ENDED)
        self.assertIs(st.reason, cc.Reason.CANCELLED)
        self.assertTrue(st.final)
        call.close()
        call.close()  # idempotent
        with self.assertRaises(cc.InvalidHandleError):
            call.status()

    def test_ref_and_attach_in_another_client(self):
        with self.client.start_call("0171 1234567", "030 1234567", correlation="booth-2") as call:
            ref = call.ref()
            first_id = call.id
        self.assertTrue(ref.startswith("cc1."))
        with cc.Client(dsn("test-wrap")) as other:
            again = other.attach(ref)
            self.assertEqual(again.id, first_id)
            again.hangup()
            self.assertIs(again.status().state, cc.State.ENDED)
            with self.assertRaises(cc.InvalidArgumentError) as e:
                other.attach("cc1.garbage")
            self.assertEqual(e.exception.result, cc.Result.INVALID_ARGUMENT)
            again.close()

    def test_exceptions_carry_result_and_carrier_code(self):
        before = sim_stats()["42call"]["calls_placed"]
        with self.assertRaises(cc.UnsupportedError) as e:
            self.client.start_call("0171 1234567", "030 1234567", caller_id="Shop <+4930123456>")
        self.assertEqual(e.exception.result, cc.Result.UNSUPPORTED)
        with self.assertRaises(cc.UnsupportedError):
            self.client.start_call("0171 1234567", "030 1234567", max_duration=60)
        with self.assertRaises(cc.InvalidNumberError) as e:
            self.client.start_call("0171", "030 1234567")
        self.assertIsInstance(e.exception, cc.CallConnectError)
        self.assertIsInstance(e.exception, ValueError)
        self.assertEqual(sim_stats()["42call"]["calls_placed"], before, "nothing was placed")
        pin = "9" + str(os.getpid()).rjust(8, "7")
        fresh = cc.Client(dsn("test-wrap-topup"))
        balance = fresh.topup(pin)
        self.assertIsInstance(balance, cc.Money)
        self.assertEqual(balance, cc.Money(decimal.Decimal("28.40"), "EUR"))
        self.assertEqual(str(balance), "28.40 EUR")
        self.assertEqual(fresh.known_balance(), balance)
        with self.assertRaises(cc.ProviderError) as e:
            fresh.topup(pin)
        fresh.close()
        self.assertEqual(e.exception.carrier_code, "1200")
        self.assertNotIn(pin, str(e.exception))
        with cc.Client(dsn("demo", "hunter2")) as bad:
            with self.assertRaises(cc.AuthError) as e:
                bad.send_sms("0171 1234567", "x")
            self.assertNotIn("hunter2", str(e.exception))
        with cc.Client(dsn("broke", "broke-secret")) as broke:
            with self.assertRaises(cc.InsufficientFundsError):
                broke.start_call("0171 1234567", "030 1234567")
        with self.assertRaises(cc.InvalidArgumentError):
            cc.Client("42call://u:hunter2@")
        with self.assertRaises(TypeError):
            self.client.send_sms(b"0171 1234567", "bytes are refused")

    def test_sms_to_several(self):
        before = sim_stats()["42call"]["sms_sent"]
        mid = self.client.send_sms(["0171 1234567", "+49 171 7654321"], "Grüße aus Python")
        self.assertTrue(mid)
        self.assertGreater(sim_stats()["42call"]["sms_sent"], before)
        self.assertIsNone(cc.Client(dsn("test-fresh")).known_balance())  # nothing heard yet

    def test_handles_freed_by_gc_and_with(self):
        base = cc._live_handles()
        c = cc.Client(dsn("test-wrap"))
        call = c.start_call("0171 1234567", "030 1234567")
        self.assertEqual(cc._live_handles(), (base[0] + 1, base[1] + 1))
        del c  # the call keeps its client alive
        self.assertIs(call.status().state, cc.State.INITIATING)
        call.hangup()
        del call
        gc.collect()
        self.assertEqual(cc._live_handles(), base)
        with cc.Client(dsn("test-wrap")) as c:
            pass
        self.assertTrue(c.closed)
        with self.assertRaises(cc.InvalidHandleError):
            c.send_sms("0171 1234567", "closed")
        # Closing the client first leaves its calls answering InvalidHandleError.
        c = cc.Client(dsn("test-wrap"))
        call = c.start_call("0171 1234567", "030 1234567")
        c.close()
        with self.assertRaises(cc.InvalidHandleError):
            call.status()
        call.close()

    def test_logging_module_gets_lines_without_secrets(self):
        records = Records()
        logger = logging.getLogger("callconnect.test")
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        pin = "9" + str(os.getpid()).rjust(8, "3")
        wrong = "Wr0ng+Pa55/word"
        try:
            cc.enable_logging(logging.DEBUG, logger)
            call = self.client.start_call("0171 1234567", "030 1234567")
            call.hangup()
            call.close()
            self.client.send_sms("0171 1234567", "logged")
            self.client.topup(pin)
            with self.assertRaises(cc.ProviderError):
                self.client.topup(pin)
            with self.assertRaises(cc.ProviderError):
                self.client.topup("BADPIN77")
            with cc.Client(dsn("test-wrap", wrong.replace("+", "%2B").replace("/", "%2F"))) as bad:
                with self.assertRaises(cc.AuthError):
                    bad.send_sms("0171 1234567", "refused")
            # Lines come from every thread that calls into the library.
            threads = [threading.Thread(target=self.client.send_sms, args=("0171 1234567", "t"))
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            cc.disable_logging()
        text = records.text()
        levels = {r.levelno for r in records.records}
        self.assertIn(logging.DEBUG, levels)
        self.assertIn(logging.INFO, levels)
        self.assertIn("-> POST", text)
        self.assertIn("<- HTTP 200", text)
        self.assertIn("x-authorization: ***", text)
        self.assertIn("pin=***", text)
        for secret in ["secret-test-wrap", wrong, pin, "BADPIN77", "test-wrap:"]:
            self.assertNotIn(secret, text)
        self.assertGreaterEqual(len({r.thread for r in records.records}), 2)
        n = len(records.records)
        self.client.send_sms("0171 1234567", "not logged")
        self.assertEqual(len(records.records), n, "disable_logging stops the lines")

    def test_callconnect_log_env_writes_to_stderr(self):
        script = (
            "import callconnect as cc\n"
            f"c = cc.Client({dsn('test-env', 'wr0ng-env-pass')!r})\n"
            "try:\n    c.topup('9876543210')\nexcept cc.AuthError:\n    print('refused')\n"
        )
        env = dict(os.environ, CALLCONNECT_LOG="debug",
                   PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
        p = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.stdout.strip(), "refused", p.stderr)
        self.assertIn("callconnect DEBUG: -> POST", p.stderr)
        self.assertIn("callconnect INFO: POST", p.stderr)
        for secret in ["wr0ng-env-pass", "9876543210"]:
            self.assertNotIn(secret, p.stderr)
        env["CALLCONNECT_LOG"] = "warn"
        p = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.stderr, "", "a refusal by the carrier is no transport failure")


if __name__ == "__main__":
    unittest.main()
