"""42call through Python ctypes: callback, hang-up, SMS, top-up, reference, misuse."""
import ctypes
import json
import threading
import unittest
from ctypes import byref, c_size_t, c_void_p

from ccffi import (AUTH, CallOptions, CallStatus, ENDED, INITIATING, INSUFFICIENT_FUNDS, INTERNAL,
                   INVALID_ARGUMENT, INVALID_HANDLE, INVALID_NUMBER, OK, PROVIDER, STATUS_LIVE,
                   UNSUPPORTED, last_error, lib, new_client, sim_dsn, sim_get, sim_stats, take_string)


class Call42(unittest.TestCase):
    def setUp(self):
        self.client = new_client(sim_dsn("42call", "test-py:secret-test-py"))

    def tearDown(self):
        lib.cc_client_free(self.client)

    def start(self, a="0171 1234567", b="030 1234567", opts=None):
        call = c_void_p()
        r = lib.cc_start_call(self.client, a.encode(), b.encode(), byref(opts) if opts else None, byref(call))
        return r, call

    def test_callback_status_hangup(self):
        before = sim_stats()["42call"]["calls_placed"]
        r, call = self.start()
        self.assertEqual(r, OK, last_error())
        self.assertEqual(sim_stats()["42call"]["calls_placed"], before + 1)
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(call, byref(st)), OK)
        self.assertEqual(st.state, INITIATING)
        self.assertFalse(st.flags & STATUS_LIVE)
        self.assertEqual(lib.cc_hangup(call), OK)
        lib.cc_poll_status(call, byref(st))
        self.assertEqual(st.state, ENDED)
        self.assertEqual(lib.cc_reason_name(st.reason), b"CANCELLED")
        # The carrier really stopped it: the simulator names the call by callerId, the
        # only document's word for stopcallback.
        p = c_void_p()
        self.assertEqual(lib.cc_call_id(call, byref(p)), OK)
        call_id = take_string(p)
        self.assertEqual(json.loads(sim_get(f"/_sim/42call/call?user=test-py&id={call_id}"))["stage"], "hung_up")
        lib.cc_call_free(call)

    def test_reference_and_attach(self):
        opts = CallOptions(correlation=b"booth-3")
        r, call = self.start(opts=opts)
        self.assertEqual(r, OK)
        ref = c_void_p()
        self.assertEqual(lib.cc_call_ref(call, byref(ref)), OK)
        ref = take_string(ref)
        self.assertTrue(ref.startswith("cc2."))
        other = new_client(sim_dsn("42call", "test-py:secret-test-py"))
        again = c_void_p()
        self.assertEqual(lib.cc_call_attach(other, ref.encode(), byref(again)), OK)
        ids = []
        for h in (call, again):
            p = c_void_p()
            self.assertEqual(lib.cc_call_id(h, byref(p)), OK)
            ids.append(take_string(p))
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(lib.cc_hangup(again), OK)
        self.assertEqual(lib.cc_call_attach(other, b"cc1.garbage", byref(again)), INVALID_ARGUMENT)
        lib.cc_call_free(again)
        lib.cc_call_free(call)
        lib.cc_client_free(other)

    def test_unsupported_option_and_invalid_number(self):
        r, _ = self.start(opts=CallOptions(max_duration_s=60))
        self.assertEqual(r, UNSUPPORTED)
        r, _ = self.start(a="0171")
        self.assertEqual(r, INVALID_NUMBER)

    def test_numbers_read_as_libphonenumber_reads_them(self):
        # A premium-rate number with a digit too many: refused, nothing placed.
        before = sim_stats()["42call"]["calls_placed"]
        r, _ = self.start(b="0900 1234567 0")
        self.assertEqual(r, INVALID_NUMBER)
        self.assertEqual(sim_stats()["42call"]["calls_placed"], before)
        # A Russian toll-free number keeps its 8 (libphonenumber's reading): placed.
        r, call = self.start(b="+7 800 123 45 67")
        self.assertEqual(r, OK, last_error())
        self.assertEqual(sim_stats()["42call"]["calls_placed"], before + 1)
        self.assertEqual(lib.cc_hangup(call), OK)
        lib.cc_call_free(call)

    def test_sms_and_topup(self):
        mid = c_void_p()
        self.assertEqual(lib.cc_send_sms(self.client, b"0171 1234567|0171 7654321", "Grüße".encode(), byref(mid)), OK)
        self.assertTrue(take_string(mid))
        bal = c_void_p()
        self.assertEqual(lib.cc_topup(self.client, b"9333444555", byref(bal)), OK, last_error())
        self.assertRegex(take_string(bal), r"^\d+\.\d\d EUR$")
        self.assertEqual(lib.cc_topup(self.client, b"9333444555", None), PROVIDER)
        self.assertEqual(lib.cc_last_error_carrier_code(), b"1200")

    def test_auth_and_funds(self):
        bad = new_client(sim_dsn("42call", "demo:hunter2"))
        mid = c_void_p()
        self.assertEqual(lib.cc_send_sms(bad, b"0171 1234567", b"x", byref(mid)), AUTH)
        self.assertNotIn("hunter2", last_error())
        lib.cc_client_free(bad)
        broke = new_client(sim_dsn("42call", "broke:broke-secret"))
        call = c_void_p()
        self.assertEqual(lib.cc_start_call(broke, b"0171 1234567", b"030 1234567", None, byref(call)),
                         INSUFFICIENT_FUNDS)
        lib.cc_client_free(broke)

    def test_threads_share_a_client(self):
        errors = []

        def work():
            for _ in range(5):
                mid = c_void_p()
                r = lib.cc_send_sms(self.client, b"0171 1234567", b"t", byref(mid))
                if r != OK:
                    errors.append(r)
                take_string(mid)
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_misuse(self):
        h = c_void_p()
        self.assertEqual(lib.cc_client_new(None, byref(h)), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_client_new(b"42call://u:hunter2@", byref(h)), INVALID_ARGUMENT)
        self.assertNotIn("hunter2", last_error())
        self.assertEqual(lib.cc_client_new(b"\xff\xfe", byref(h)), INVALID_ARGUMENT)
        self.assertIn("UTF-8", last_error())
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(None, byref(st)), INVALID_HANDLE)
        self.assertEqual(lib.cc_poll_status(self.client, byref(st)), INVALID_HANDLE)  # wrong kind
        self.assertEqual(lib.cc_poll_status(c_void_p(12345), byref(st)), INVALID_HANDLE)  # forged
        r, call = self.start()
        self.assertEqual(r, OK)
        lib.cc_call_free(call)
        self.assertEqual(lib.cc_hangup(call), INVALID_HANDLE)
        lib.cc_call_free(call)  # double free: ignored
        mid = c_void_p()
        huge = b"x" * (1 << 20)
        self.assertEqual(lib.cc_send_sms(self.client, b"0171 1234567", huge, byref(mid)), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_send_sms(self.client, huge, b"x", byref(mid)), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_send_sms(self.client, b"0171 1234567", b"", byref(mid)), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_debug_panic(), INTERNAL)
        lib.cc_string_free(ctypes.cast(ctypes.create_string_buffer(b"not ours"), c_void_p))  # refused
        lib.cc_client_free(None)

    def test_call_of_freed_client(self):
        other = new_client(sim_dsn("42call", "test-py:secret-test-py"))
        call = c_void_p()
        self.assertEqual(lib.cc_start_call(other, b"0171 1234567", b"030 1234567", None, byref(call)), OK)
        lib.cc_client_free(other)
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(call, byref(st)), INVALID_HANDLE)
        lib.cc_client_free(other)
        lib.cc_call_free(call)

    def test_no_handle_leaks(self):
        clients, calls = c_size_t(), c_size_t()
        self.assertEqual(lib.cc_live_handles(byref(clients), byref(calls)), OK)
        self.assertEqual(clients.value, 1)  # this test's own client
        self.assertEqual(calls.value, 0)


if __name__ == "__main__":
    unittest.main()
