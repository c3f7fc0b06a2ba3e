"""VoipNow through Python ctypes: a ring group followed to the end with one token, token
renewal, every documented 400 code, hang-up by id only, the look for the nonce after a cut
(the simulator, like the sources, does not de-duplicate), BUSY and NO ANSWER from the
call records, A_ANSWERED from the answer date."""
import base64
import json
import os
import time
import unittest
from ctypes import byref, c_size_t, c_void_p

from ccffi import (AUTH, A_ANSWERED, CONNECTED, CallOptions, CallStatus, ENDED, FAILED, INVALID_ARGUMENT,
                   INVALID_NUMBER, OK, OUTCOME_UNKNOWN, PROTOCOL, PROVIDER, RINGING_A, RINGING_B, STATUS_LIVE,
                   last_error, lib, new_client, signed_reference, sim_dsn, sim_get, sim_stats, take_string)

CAP_CALLBACK, CAP_LIVE_STATUS, CAP_HANGUP, CAP_RING_GROUP, CAP_CALLER_ID = 1, 2, 4, 64, 128
CAP_IDEMPOTENT_START, CAP_MAX_DURATION, CAP_WAIT_FOR_PICKUP, CAP_CALL_FLAGS = 512, 1024, 2048, 16384
OPT_ALLOW_PUBLIC_TRANSFER, OPT_VIDEO = 1, 2
REASON_NONE, REASON_CANCELLED = 0, 6
REASON_BUSY, REASON_NO_ANSWER = 1, 2

CODES = [
    ("extension_invalid", INVALID_ARGUMENT), ("pc_duration_invalid", INVALID_ARGUMENT),
    ("pc_source_invalid", INVALID_NUMBER), ("pc_destination_invalid", INVALID_NUMBER),
    ("pc_timeout_invalid", INVALID_ARGUMENT), ("pc_callerid_invalid", INVALID_ARGUMENT),
    ("pc_transfer_invalid", INVALID_ARGUMENT), ("pc_nonce_invalid", INVALID_ARGUMENT),
]


def control(action):
    assert sim_get(f"/_sim/voipnow/{action}") == "ok", action


def arm(query):
    """Arms a simulator fault (sim/src/faults.rs) for the next matching requests."""
    assert json.loads(sim_get(f"/_sim/fault?{query}"))["armed"] > 0, query


def faults():
    """How many faults are still armed and how many have fired, simulator-wide."""
    f = sim_stats()["_faults"]
    return f["armed"], f["fired"]


def counters(app):
    return json.loads(sim_get(f"/_sim/voipnow/client?id={app}"))


def app_name(what):
    return f"test-vn-py-{what}-{os.getpid()}"


def voipnow_client(app, extra=""):
    return new_client(sim_dsn("voipnow", f"{app}:secret-{app}", extra="extension=210" + extra))


def call_id(call):
    p = c_void_p()
    assert lib.cc_call_id(call, byref(p)) == OK
    return take_string(p)


def sim_call(call):
    return json.loads(sim_get(f"/_sim/voipnow/call?id={call_id(call)}"))


def reference(call_id_text):
    record = {"v": 1, "carrier": "voipnow", "id": call_id_text, "started_ms": int(time.time() * 1000),
              "limit_s": 600, "extra": {"user": "@me", "ext": "210", "b": "+49301234567"}}
    body = base64.urlsafe_b64encode(json.dumps(record).encode()).decode().rstrip("=")
    return "cc1." + body


class VoipNow(unittest.TestCase):
    def setUp(self):
        # The tests that arm faults count them simulator-wide: none is left from before.
        sim_get("/_sim/fault/clear")

    def start(self, client, a, b="030 1234567", opts=None):
        call = c_void_p()
        r = lib.cc_start_call(client, a.encode(), b.encode(), byref(opts) if opts else None, byref(call))
        return r, call

    def held_at(self, call, stage):
        """The simulator holds the call at `stage` (every stage is seen, however slow the
        machine); returns what one poll says then."""
        control(f"hold?id={call_id(call)}&stage={stage}")
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(call, byref(st)), OK, last_error())
        return st

    def release(self, call):
        control(f"release?id={call_id(call)}")

    def follow(self, call):
        seen, st = [], CallStatus()
        deadline = time.time() + 20
        while time.time() < deadline:
            self.assertEqual(lib.cc_poll_status(call, byref(st)), OK, last_error())
            if not seen or seen[-1] != st.state:
                seen.append(st.state)
            if st.state in (ENDED, FAILED):
                return seen, st
            time.sleep(0.01)
        self.fail(f"the call never ended: {seen}")

    def test_ring_group_followed_to_the_end_with_one_token(self):
        app = app_name("ring")
        control(f"step-ms?client={app}&ms=200")
        client = voipnow_client(app)
        want = (CAP_CALLBACK | CAP_LIVE_STATUS | CAP_HANGUP | CAP_RING_GROUP | CAP_CALLER_ID | CAP_IDEMPOTENT_START
                | CAP_MAX_DURATION | CAP_WAIT_FOR_PICKUP | CAP_CALL_FLAGS)
        self.assertEqual(lib.cc_capabilities(client) & want, want)
        opts = CallOptions(caller_id=b"Booth 7 <+4930123456>", caller_id_b=b"Callshop <+4930999999>",
                           wait_for_pickup_s=30, max_duration_s=600, flags=OPT_ALLOW_PUBLIC_TRANSFER | OPT_VIDEO)
        r, call = self.start(client, "0171 1234486|0171 1234567", opts=opts)
        self.assertEqual(r, OK, last_error())
        asked = sim_call(call)
        self.assertEqual(asked["source"], ["+491711234486", "+491711234567"])
        self.assertEqual(asked["winner"], "+491711234567")
        self.assertEqual((asked["callerId"], asked["callerIdDestination"]),
                         ("Booth 7 <+4930123456>", "Callshop <+4930999999>"))
        self.assertEqual((asked["waitForPickup"], asked["callDuration"]), ("30", "600"))
        self.assertEqual((asked["allowPublicTransfer"], asked["video"]), ("true", "true"))
        for stage, state in (("ringing_a", RINGING_A), ("a_answered", A_ANSWERED), ("ringing_b", RINGING_B),
                             ("connected", CONNECTED)):
            self.assertEqual(self.held_at(call, stage).state, state, stage)
        self.release(call)
        seen, st = self.follow(call)
        self.assertEqual(seen[-1], ENDED)
        self.assertEqual(st.reason, REASON_NONE)
        self.assertTrue(st.flags & STATUS_LIVE)
        # No public call record shows a cost: none is made up.
        self.assertEqual((st.duration_s, st.cost, st.raw_status), (20, b"", b"disposition:0"))
        lib.cc_call_free(call)
        n = counters(app)
        self.assertEqual(n["token_fetches"], 1)
        self.assertEqual(n["calls_placed"], 1)
        self.assertGreaterEqual(n["requests"], 5)
        lib.cc_client_free(client)

    def test_hangup_by_id_only(self):
        app = app_name("hangup")
        control(f"step-ms?client={app}&ms=200")
        client = voipnow_client(app)
        r, call = self.start(client, "0171 1234567|0171 7654321")
        self.assertEqual(r, OK)
        r, other = self.start(client, "0171 2345678")
        self.assertEqual(r, OK)
        st = CallStatus()
        self.assertEqual(lib.cc_hangup(call), OK, last_error())
        self.assertEqual(lib.cc_poll_status(call, byref(st)), OK)
        self.assertEqual((st.state, st.reason), (ENDED, REASON_CANCELLED))
        self.assertEqual(sim_call(call)["stage"], "hung_up")
        self.assertNotEqual(sim_call(other)["stage"], "hung_up")
        for forged in (" ", ".", ".."):
            h = c_void_p()
            self.assertEqual(lib.cc_call_attach(client, reference(forged).encode(), byref(h)), INVALID_ARGUMENT)
            self.assertIn("unsigned", last_error())
            self.assertFalse(h.value)
        # Signed by the account itself, so that the id is what is checked: an id that
        # would make the DELETE address the whole extension, or leave its path segment,
        # is refused at attach; a well-formed one attaches.
        h = c_void_p()
        good = signed_reference("voipnow", app, f"secret-{app}", "c3e92a04ff422a7a0b9f")
        self.assertEqual(lib.cc_call_attach(client, good.encode(), byref(h)), OK, last_error())
        lib.cc_call_free(h)
        for forged in (" ", ".", "..", "", "../210"):
            h = c_void_p()
            ref = signed_reference("voipnow", app, f"secret-{app}", forged)
            self.assertEqual(lib.cc_call_attach(client, ref.encode(), byref(h)), INVALID_ARGUMENT, repr(forged))
            self.assertIn("call id", last_error())
            self.assertFalse(h.value)
        self.assertEqual(lib.cc_hangup(other), OK)
        n = counters(app)
        self.assertEqual((n["hangups"], n["delete_all"]), (2, 0))
        lib.cc_call_free(call)
        lib.cc_call_free(other)
        lib.cc_client_free(client)

    def test_every_documented_400_code(self):
        app = app_name("codes")
        client = voipnow_client(app)
        for code, result in CODES:
            control(f"fail-next-start?client={app}&code={code}")
            r, _ = self.start(client, "0171 1234567")
            self.assertEqual(r, result, code)
            self.assertEqual(lib.cc_last_error_carrier_code().decode(), code)
            self.assertIn("is missing or invalid", last_error())
        r, _ = self.start(client, "0171 1234567", b="030 1234404")
        self.assertEqual((r, lib.cc_last_error_carrier_code()), (INVALID_NUMBER, b"pc_destination_invalid"))
        r, _ = self.start(client, "0171 1234567", opts=CallOptions(caller_id_b=b"Shop <+49 30 1234>"))
        self.assertEqual(r, INVALID_ARGUMENT)
        self.assertIn("Name <+number>", last_error())
        self.assertEqual(counters(app)["calls_placed"], 0)
        lib.cc_client_free(client)

    def test_a_cut_start_is_found_by_its_nonce_not_placed_twice(self):
        app = app_name("cut")
        client = voipnow_client(app)
        control(f"cut-next-start?client={app}")
        r, call = self.start(client, "0171 1234486|0171 1234567")
        self.assertEqual(r, OK, last_error())
        n = counters(app)
        self.assertEqual((n["cut_starts"], n["duplicate_starts"], n["nonce_reuses"], n["calls_placed"]),
                         (1, 0, 0, 1))
        self.assertEqual(len(sim_call(call)["nonce"]), 32)
        self.assertEqual(self.held_at(call, "connected").state, CONNECTED)
        self.release(call)
        _, st = self.follow(call)
        self.assertEqual(st.state, ENDED)
        lib.cc_call_free(call)
        lib.cc_client_free(client)

    def test_busy_and_no_answer_from_the_call_record(self):
        app = app_name("disp")
        control(f"step-ms?client={app}&ms=100")
        client = voipnow_client(app)
        for a, b, reason, raw in (("0171 1234486", "030 1234567", REASON_BUSY, b"disposition:1"),
                                  ("0171 1234567", "030 1234408", REASON_NO_ANSWER, b"disposition:3")):
            r, call = self.start(client, a, b=b)
            self.assertEqual(r, OK, last_error())
            _, st = self.follow(call)
            self.assertEqual((st.state, st.reason, st.raw_status), (FAILED, reason, raw), (a, b))
            lib.cc_call_free(call)
        lib.cc_client_free(client)

    def test_token_renewed_before_expiry_and_on_401(self):
        app = app_name("ttl")
        control(f"token-ttl?client={app}&seconds=2")
        control(f"step-ms?client={app}&ms=1000")
        client = voipnow_client(app)
        r, call = self.start(client, "0171 1234567")
        self.assertEqual(r, OK)
        self.assertEqual(counters(app)["token_fetches"], 1)
        time.sleep(2.1)
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(call, byref(st)), OK)
        n = counters(app)
        self.assertEqual((n["token_fetches"], n["auth_failures"]), (2, 0))
        control(f"revoke?client={app}")
        self.assertEqual(lib.cc_poll_status(call, byref(st)), OK)
        n = counters(app)
        self.assertEqual((n["token_fetches"], n["auth_failures"]), (3, 1))
        self.assertEqual(lib.cc_hangup(call), OK)
        lib.cc_call_free(call)
        lib.cc_client_free(client)

    def test_wrong_secret_and_host_managed_token(self):
        bad = new_client(sim_dsn("voipnow", "test-vn-py-bad:hunter2-wrong", extra="extension=210"))
        r, _ = self.start(bad, "0171 1234567")
        self.assertEqual(r, AUTH)
        self.assertNotIn("hunter2", last_error())
        lib.cc_client_free(bad)
        app = app_name("own")
        token = json.loads(sim_get(f"/_sim/voipnow/issue-token?client={app}"))["access_token"]
        own = new_client(sim_dsn("voipnow", "", extra=f"extension=210&token={token}").replace("://@", "://"))
        r, call = self.start(own, "0171 1234567")
        self.assertEqual(r, OK, last_error())
        self.assertEqual(counters(app)["token_fetches"], 0)
        control(f"revoke?client={app}")
        st = CallStatus()
        self.assertEqual(lib.cc_poll_status(call, byref(st)), AUTH)
        self.assertNotIn(token, last_error())
        lib.cc_call_free(call)
        lib.cc_client_free(own)

    def test_a_lost_start_is_sent_at_most_three_times(self):
        """A start that never reached the carrier is looked for among the live calls, then
        sent again: placed once when a repeat arrives; after three lost attempts the host
        hears OUTCOME_UNKNOWN, and nothing was placed twice."""
        app = app_name("lost")
        client = voipnow_client(app)
        r, call = self.start(client, "0171 1234567")  # the token, so that faults hit the start
        self.assertEqual((r, lib.cc_hangup(call)), (OK, OK))
        lib.cc_call_free(call)
        arm("kind=reset_before&path=/simple&count=1&ms=0")
        r, call = self.start(client, "0171 1234567")
        self.assertEqual(r, OK, last_error())
        self.assertEqual(faults()[0], 0)
        n = counters(app)
        self.assertEqual((n["calls_placed"], n["nonce_reuses"], n["duplicate_starts"]), (2, 0, 0))
        self.assertEqual(lib.cc_hangup(call), OK)
        lib.cc_call_free(call)
        # Four armed: the library sends three attempts and leaves the fourth.
        _, fired = faults()
        arm("kind=reset_before&path=/simple&count=4&ms=0")
        r, call = self.start(client, "0171 1234567")
        self.assertEqual(r, OUTCOME_UNKNOWN)
        self.assertIn("after 3 attempt(s)", last_error())
        self.assertFalse(call.value)
        armed, fired_now = faults()
        self.assertEqual((armed, fired_now - fired), (1, 3))
        sim_get("/_sim/fault/clear")
        self.assertEqual(counters(app)["calls_placed"], 2)
        lib.cc_client_free(client)

    def test_pc_nonce_invalid_on_a_repeat_is_outcome_unknown(self):
        """The repeat of a lost start refused for its nonce: the first attempt may have
        placed the call, so the host hears OUTCOME_UNKNOWN (on a first attempt the same
        code is INVALID_ARGUMENT, test_every_documented_400_code)."""
        app = app_name("nonce")
        client = voipnow_client(app)
        r, call = self.start(client, "0171 1234567")
        self.assertEqual((r, lib.cc_hangup(call)), (OK, OK))
        lib.cc_call_free(call)
        arm("kind=reset_before&path=/simple&count=1&ms=0")
        control(f"fail-next-start?client={app}&code=pc_nonce_invalid")
        r, call = self.start(client, "0171 1234567")
        self.assertEqual(r, OUTCOME_UNKNOWN, last_error())
        self.assertEqual(lib.cc_last_error_carrier_code(), b"pc_nonce_invalid")
        self.assertIn("repeated call start", last_error())
        self.assertEqual(faults()[0], 0)
        self.assertEqual(counters(app)["calls_placed"], 1)
        lib.cc_client_free(client)

    def test_a_start_answered_204_is_outcome_unknown_and_not_repeated(self):
        app = app_name("204")
        client = voipnow_client(app)
        arm("kind=reply&status=204&path=/simple&count=2&type=application/json")
        r, call = self.start(client, "0171 1234567")
        self.assertEqual(r, OUTCOME_UNKNOWN)
        self.assertIn("HTTP 204", last_error())
        self.assertEqual(faults()[0], 1, "sent once: a repeat would have met the second 204")
        sim_get("/_sim/fault/clear")
        self.assertEqual(counters(app)["calls_placed"], 0)
        lib.cc_client_free(client)

    def test_call_record_lookup_errors_are_errors_not_ends(self):
        """A call gone from the live list is settled from its call record; a lookup that
        fails is an error of that poll, never an end (FAILED would invite a second call).
        The next lookup that works settles it."""
        app = app_name("cdrerr")
        client = voipnow_client(app)
        r, call = self.start(client, "0171 1234567")
        self.assertEqual(r, OK, last_error())
        self.assertEqual(self.held_at(call, "connected").state, CONNECTED)
        self.release(call)
        deadline = time.time() + 10
        while sim_call(call)["stage"] != "ended":
            self.assertLess(time.time(), deadline, sim_call(call))
            time.sleep(0.01)
        st = CallStatus()
        for query, result in (("status=500&type=text/plain&body=oops", PROVIDER),
                              ("status=503&type=text/plain&body=busy", PROVIDER),
                              ("status=401&body=%7B%22error%22%3A%22invalid_token%22%7D", AUTH),
                              ("status=200&type=text/html&body=%3Chtml%3Emaintenance%3C%2Fhtml%3E", PROTOCOL)):
            arm(f"kind=reply&path=/uapi/cdr/&count=10&{query}")
            self.assertEqual(lib.cc_poll_status(call, byref(st)), result, query)
            sim_get("/_sim/fault/clear")
        self.assertEqual(lib.cc_poll_status(call, byref(st)), OK, last_error())
        self.assertEqual((st.state, st.reason, st.raw_status), (ENDED, REASON_NONE, b"disposition:0"))
        self.assertEqual(counters(app)["calls_placed"], 1)
        lib.cc_call_free(call)
        lib.cc_client_free(client)

    def test_z_no_handle_leaks(self):
        clients, calls = c_size_t(), c_size_t()
        self.assertEqual(lib.cc_live_handles(byref(clients), byref(calls)), OK)
        self.assertEqual((clients.value, calls.value), (0, 0))


if __name__ == "__main__":
    unittest.main()
