"""business-isp Connect Call through Python ctypes: every state, two calls in one session,
BUSY, every status code's mapping, hang-up, an expired session, a reference attached in
another client, and a password that never shows."""
import json
import os
import time
import unittest
import urllib.parse
from ctypes import byref, c_void_p

from ccffi import (AUTH, BUSY, A_ANSWERED, CONNECTED, CallOptions, CallStatus, ENDED, FAILED,
                   INITIATING, INVALID_ARGUMENT, OK, OUTCOME_UNKNOWN, PROTOCOL, RINGING_A,
                   RINGING_B, STATUS_LIVE, last_error, lib, new_client, sim_dsn, sim_get,
                   take_string)

LEAK_PASSWORD = "Pä$$ w&rd=1%+?"
LEAK_IN_DSN = urllib.parse.quote(LEAK_PASSWORD, safe="")

# cc_fail_reason values
R_NONE, R_BUSY, R_NO_ANSWER, R_REJECTED, R_FUNDS, R_INVALID, R_CANCELLED = range(7)


def control(action, **params):
    return sim_get(f"/_sim/connectcall/{action}?" + urllib.parse.urlencode(params))


def account(login):
    return json.loads(control("account", login=login))


def sim_stat(name):
    return json.loads(sim_get("/_sim/stats"))["connectcall"][name]


def expected(code):
    return {
        27: (RINGING_A, R_NONE), 28: (A_ANSWERED, R_NONE), 26: (RINGING_B, R_NONE),
        9: (CONNECTED, R_NONE), 29: (CONNECTED, R_NONE),
        4: (ENDED, R_NONE), 30: (ENDED, R_NONE), 31: (ENDED, R_NONE), 7: (ENDED, R_FUNDS),
        10: (FAILED, R_BUSY), 11: (FAILED, R_NO_ANSWER), 12: (FAILED, R_REJECTED),
        16: (FAILED, R_FUNDS), 32: (FAILED, R_FUNDS), 33: (FAILED, R_FUNDS),
        24: (FAILED, R_INVALID), 25: (FAILED, R_INVALID),
    }.get(code, (INITIATING, R_NONE))  # 3 Unknown, 5 Account State, undocumented codes


class ConnectCall(unittest.TestCase):
    def setUp(self):
        self.login = f"test-py-cc-{os.getpid()}-{self._testMethodName[-12:]}"
        self.dsn = sim_dsn("connectcall", f"{self.login}:secret-{self.login}", "/api/")
        self.client = new_client(self.dsn)
        self.calls = []

    def tearDown(self):
        for call in self.calls:
            lib.cc_call_free(call)
        lib.cc_client_free(self.client)

    def start(self, a="0171 1234567", b="030 1234567", opts=None, client=None):
        call = c_void_p()
        r = lib.cc_start_call(client or self.client, a.encode(), b.encode(),
                              byref(opts) if opts else None, byref(call))
        if r == OK:
            self.calls.append(call)
        return r, call

    def poll(self, call):
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(call, byref(st)), OK, last_error())
        return st

    def watch(self, call):
        """Polls to the end; returns the states seen (in order) and the last status."""
        seen, deadline = [], time.time() + 20
        while time.time() < deadline:
            st = self.poll(call)
            if not seen or seen[-1][0] != st.state:
                seen.append((st.state, st.raw_status.decode()))
            if st.state in (ENDED, FAILED):
                return seen, st
            time.sleep(0.005)
        self.fail(f"no end: {seen}")

    def test_every_state_two_calls_one_session(self):
        self.assertTrue(lib.cc_capabilities(self.client) & 2)  # CC_CAP_LIVE_STATUS
        # Call 1, its timeline held, stepped through every state by the simulator.
        control("pace", login=self.login, step_ms=600000)
        r, call = self.start()
        self.assertEqual(r, OK, last_error())
        self.assertEqual(self.poll(call).state, INITIATING)
        for code, state in [(27, RINGING_A), (28, A_ANSWERED), (26, RINGING_B), (29, CONNECTED)]:
            control("force", login=self.login, code=code)
            st = self.poll(call)
            self.assertEqual((st.state, st.raw_status), (state, str(code).encode()))
            self.assertTrue(st.flags & STATUS_LIVE)
        self.assertEqual(lib.cc_hangup(call), OK)
        st = self.poll(call)
        self.assertEqual((st.state, st.reason, st.raw_status), (ENDED, R_CANCELLED, b"4"))
        # Call 2 in the same session, played by the simulator at 100 ms a stage.
        control("pace", login=self.login, step_ms=100)
        r, second = self.start("0171 7654321", "+49 30 7654321")
        self.assertEqual(r, OK, last_error())
        seen, st = self.watch(second)
        states = [s for s, _ in seen]
        # Which stages a poll lands in depends on the load: only their order is checked
        # (30 is the end after the bridge, so the call was connected).
        self.assertEqual(states, sorted(states), seen)
        self.assertEqual((st.state, st.raw_status), (ENDED, b"30"))
        acct = account(self.login)
        self.assertEqual((acct["logins"], acct["connects"], acct["calls_placed"]), (1, 1, 2), acct)
        # The first call's handle still reads its own end.
        self.assertEqual(self.poll(call).raw_status, b"4")

    def test_busy_while_a_call_is_up(self):
        control("pace", login=self.login, step_ms=600000)
        r, first = self.start(opts=CallOptions(connect_type=2))
        self.assertEqual(r, OK)
        self.assertEqual(json.loads(control("session", login=self.login))["type"], 2)
        r, _ = self.start()
        self.assertEqual(r, BUSY)
        self.assertEqual(account(self.login)["calls_placed"], 1)
        self.assertEqual(lib.cc_hangup(first), OK)
        r, _ = self.start()
        self.assertEqual(r, OK, last_error())
        self.assertEqual(account(self.login)["logins"], 1)

    def test_every_status_code(self):
        control("pace", login=self.login, step_ms=600000)
        for code in range(3, 34):
            client = new_client(self.dsn)
            r, call = self.start(client=client)
            self.assertEqual(r, OK, last_error())
            control("force", login=self.login, code=code)
            st = self.poll(call)
            self.assertEqual((st.state, st.reason), expected(code), f"code {code}")
            self.assertEqual(st.raw_status, str(code).encode())
            if st.state not in (ENDED, FAILED):
                self.assertEqual(lib.cc_hangup(call), OK)
            lib.cc_client_free(client)

    def test_magic_numbers(self):
        control("pace", login=self.login, step_ms=200)  # every stage long enough to be seen
        for a, b, reason, leg, raw in [("0171 1234486", "030 1234567", R_BUSY, 0, b"10"),
                                       ("0171 1234567", "030 1234408", R_NO_ANSWER, 2, b"11"),
                                       ("0171 1234567", "030 1234404", R_INVALID, 2, b"25"),
                                       ("0171 1234402", "030 1234567", R_FUNDS, 1, b"32")]:
            r, call = self.start(a, b)
            self.assertEqual(r, OK, last_error())
            _, st = self.watch(call)
            self.assertEqual((st.state, st.reason, st.failed_leg, st.raw_status), (FAILED, reason, leg, raw))
        self.assertEqual(account(self.login)["logins"], 1)

    def test_expired_session_one_fresh_login(self):
        r, call = self.start()
        self.assertEqual(lib.cc_hangup(call), OK)
        control("expire", login=self.login)
        unknown = sim_stat("unknown_guid")
        r, _ = self.start()
        self.assertEqual(r, OK, last_error())
        self.assertEqual(sim_stat("unknown_guid"), unknown + 1)
        acct = account(self.login)
        self.assertEqual((acct["logins"], acct["calls_placed"], acct["connects"]), (2, 2, 0), acct)

    def test_reference_in_another_client(self):
        control("pace", login=self.login, step_ms=600000)
        r, call = self.start(opts=CallOptions(correlation=b"booth-9"))
        ref = c_void_p()
        self.assertEqual(lib.cc_call_ref(call, byref(ref)), OK)
        ref = take_string(ref)
        self.assertNotIn("secret", ref)
        other = new_client(self.dsn)
        again = c_void_p()
        self.assertEqual(lib.cc_call_attach(other, ref.encode(), byref(again)), OK)
        control("force", login=self.login, code=28)
        self.assertEqual(self.poll(again).state, A_ANSWERED)
        self.assertEqual(lib.cc_hangup(again), OK)
        self.assertEqual(account(self.login)["hangups"], 1)
        self.assertEqual(self.poll(call).state, ENDED)
        lib.cc_call_free(again)
        lib.cc_client_free(other)

    def test_password_never_leaks(self):
        texts = []

        def keep():
            texts.append(last_error())
            texts.append(lib.cc_last_error_carrier_code().decode())

        dsn = sim_dsn("connectcall", f"leak:{LEAK_IN_DSN}x", "/api/")
        bad = new_client(dsn)
        r, _ = self.start(client=bad)
        self.assertEqual(r, AUTH)
        self.assertEqual(lib.cc_last_error_carrier_code(), b"102")
        keep()
        lib.cc_client_free(bad)
        good = new_client(sim_dsn("connectcall", f"leak:{LEAK_IN_DSN}", "/api/"))
        for mode in ("garbage", "http500"):
            control("fault", login="leak", mode=mode, count=1)
            r, _ = self.start(client=good)
            self.assertEqual(r, OUTCOME_UNKNOWN, mode)
            keep()
        r, call = self.start(client=good)
        self.assertEqual(r, OK, last_error())
        control("fault", login="leak", mode="nocode", count=1)
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(call, byref(st)), PROTOCOL)
        keep()
        texts.append(self.poll(call).raw_status.decode())
        for fn in (lib.cc_call_ref, lib.cc_call_id):
            p = c_void_p()
            self.assertEqual(fn(call, byref(p)), OK)
            texts.append(take_string(p))
        lib.cc_hangup(call)
        lib.cc_client_free(good)
        h = c_void_p()
        self.assertEqual(lib.cc_client_new(sim_dsn("connectcall", f"leak:{LEAK_IN_DSN}", "/api/", "type=7").encode(),
                                           byref(h)), INVALID_ARGUMENT)
        keep()
        self.assertGreater(len(texts), 8)
        forms = [LEAK_PASSWORD, LEAK_IN_DSN, urllib.parse.quote_plus(LEAK_PASSWORD), "Pä$$", "w&rd"]
        for t in texts:
            for form in forms:
                self.assertNotIn(form, t)


if __name__ == "__main__":
    unittest.main()
