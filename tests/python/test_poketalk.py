"""PokeTALK through Python ctypes: a call seen through events (built-in listener), hang-up
by a 412 answer, max_cost, forged and late events, the call-state store between two
processes with each backend (this one starts and polls, tests/python/poketalk_receiver.py
takes the events), a forged final followed by a hang-up, and every result code."""
import base64
import ctypes
import hashlib
import hmac
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from decimal import Decimal
from ctypes import POINTER, byref, c_char_p, c_int, c_uint32, c_void_p

from ccffi import (AUTH, A_ANSWERED, CONNECTED, NETWORK, OUTCOME_UNKNOWN, ENDED, FAILED, INITIATING, INVALID_ARGUMENT, INVALID_HANDLE,
                   RINGING_A, RINGING_B,
                   NOT_FOUND, OK, PROVIDER, STATUS_HANGUP_PENDING, STATUS_LIVE, UNSUPPORTED, CallOptions,
                   CallStatus, last_error, lib, new_client, signed_reference, sim_answer, sim_dsn, sim_stats,
                   take_string)

lib.cc_event_ingest.argtypes = [c_void_p, c_char_p, POINTER(c_int)]
lib.cc_event_ingest.restype = c_uint32

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "event-secret-for-python-0123"
REASON_NONE, CANCELLED, REASON_UNKNOWN = 0, 6, 8
LEG_A, LEG_B = 1, 2


def call_id(call):
    p = c_void_p()
    assert lib.cc_call_id(call, byref(p)) == OK
    return take_string(p)


def sim_call(call):
    return sim_answer(f"/_sim/poketalk/call?custom={call_id(call)}")


def sent(call):
    """The statuses sent and the answers got, once the final one is logged (the receiver
    applies an event before its answer is back at the simulator)."""
    deadline = time.time() + 2
    while True:
        log = [f"{e['status']}:{e['http']}" for e in sim_call(call)["events"]]
        if (log and log[-1][:2] in ("2:", "4:", "6:", "8:")) or time.time() > deadline:
            return log
        time.sleep(0.01)


def event_query(call, status, duration=0, debit="0.000"):
    url = sim_call(call)["eventurl"]
    q = url.split("?", 1)[1]
    for k, v in (("$webcallid", "x"), ("$status", status), ("$duration", str(duration)), ("$debit", debit)):
        q = q.replace(k, v)
    return q


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def genuine_event(call_id_text, status):
    """An event for any call id with a genuine token, signed as the library signs its own
    (src/events/token.rs): base64url(HMAC-SHA1(event_secret, context + id + lim))."""
    mac = hmac.new(SECRET.encode(), f"callconnect-event-v1\n{call_id_text}\n".encode(), hashlib.sha1)
    return f"cc_id={urllib.parse.quote(call_id_text, safe='')}&cc_tok={b64url(mac.digest())}&status={status}"


def ingest(client, query):
    status = c_int(-1)
    r = lib.cc_event_ingest(client, None if query is None else query.encode(), byref(status))
    return r, status.value


def poll(call):
    st = CallStatus()
    r = lib.cc_poll_status(call, byref(st))
    assert r == OK, last_error()
    return st


def follow(call, until=99, limit=10.0):
    """Polls until final (or `until`); returns the states seen and the last status."""
    seen, deadline = [], time.time() + limit
    while True:
        st = poll(call)
        if not seen or seen[-1] != st.state:
            seen.append(st.state)
        if st.state in (ENDED, FAILED) or st.state >= until or time.time() > deadline:
            return seen, st
        time.sleep(0.005)


class PokeTalk(unittest.TestCase):
    def setUp(self):
        sim_answer("/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0")
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            lib.cc_client_free(c)

    def client(self, extra, key="test-py"):
        c = new_client(sim_dsn("poketalk", key, extra=extra))
        self.clients.append(c)
        return c

    def listening(self):
        return self.client(f"event_secret={SECRET}&event_listen=127.0.0.1:0")

    def manual(self):
        return self.client(f"event_secret={SECRET}&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fcb")

    def start(self, client, b="030 1234567", opts=None, expect=OK):
        call = c_void_p()
        r = lib.cc_start_call(client, b"0171 1234567", b.encode(), byref(opts) if opts else None, byref(call))
        self.assertEqual(r, expect, last_error())
        return call

    def attach(self, client, call):
        """The call attached in `client` from its reference (freed with the test)."""
        ref = c_void_p()
        self.assertEqual(lib.cc_call_ref(call, byref(ref)), OK)
        h = c_void_p()
        self.assertEqual(lib.cc_call_attach(client, take_string(ref).encode(), byref(h)), OK, last_error())
        self.addCleanup(lib.cc_call_free, h)
        return h

    def test_forged_ids_create_nothing_outside_the_store(self):
        """Ids of references (signed by the account itself) and of events (with a genuine
        token) are checked before they name a file: `../x`, `../../x` and an absolute
        path are refused for the id, and nothing is created outside the store."""
        base = tempfile.mkdtemp(prefix="cc-outside-py-")
        self.addCleanup(shutil.rmtree, base, True)
        store = os.path.join(base, "a", "store")
        absolute = os.path.join(base, "absolute-x")
        client = self.client(f"event_secret={SECRET}&store={urllib.parse.quote('dir:' + store, safe='')}"
                             "&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fcb", key="test-py-ids")
        # A well-formed id signed the same way attaches: the signature is not what refuses.
        h = c_void_p()
        self.assertEqual(lib.cc_call_attach(client, signed_reference("poketalk", "test-py-ids", "test-py-ids", "0123456789abcdef012").encode(),
                                            byref(h)), OK, last_error())
        lib.cc_call_free(h)
        for forged in ("../x", "../../x", absolute):
            h = c_void_p()
            self.assertEqual(lib.cc_call_attach(client, signed_reference("poketalk", "test-py-ids", "test-py-ids", forged).encode(), byref(h)),
                             INVALID_ARGUMENT, forged)
            self.assertIn("call id", last_error())
            self.assertFalse(h.value)
            for status in ("7", "8"):
                self.assertEqual(ingest(client, genuine_event(forged, status)), (INVALID_ARGUMENT, 400), forged)
                self.assertIn("not a call id", last_error())
        # The same event for a placed call's id is taken.
        call = self.start(client)
        self.assertEqual(ingest(client, genuine_event(call_id(call), "7")), (OK, 200))
        self.assertEqual(poll(call).state, CONNECTED)
        lib.cc_call_free(call)
        made = sorted(os.path.join(d, f) for d in (base, os.path.join(base, "a")) for f in os.listdir(d))
        self.assertEqual(made, [os.path.join(base, "a"), store])
        self.assertEqual(len(os.listdir(store)), 1, os.listdir(store))
        self.assertFalse(os.path.exists(absolute))

    def test_each_event_status_is_its_state_status_5_ringing_b(self):
        client = self.manual()
        call = self.start(client)
        for status, state in (("1", RINGING_A), ("3", A_ANSWERED), ("5", RINGING_B), ("7", CONNECTED)):
            self.assertEqual(ingest(client, event_query(call, status)), (OK, 200), status)
            self.assertEqual(poll(call).state, state, f"after status {status}")
        lib.cc_call_free(call)

    def test_http_401_and_403_without_a_code_are_auth(self):
        client = self.manual()
        placed = sim_stats()["poketalk"]["calls_placed"]
        for status in (401, 403):
            sim_answer(f"/_sim/fault?kind=reply&status={status}&type=text/plain&body=Forbidden&path=click2call")
            self.start(client, expect=AUTH)
        self.assertEqual(sim_stats()["poketalk"]["calls_placed"], placed)

    def test_last_change_ms_is_the_time_of_the_last_change(self):
        client = self.manual()
        now_ms = lambda: int(time.time() * 1000)  # noqa: E731
        before = now_ms()
        call = self.start(client)
        started = poll(call).last_change_ms
        self.assertTrue(before <= started <= now_ms(), started)
        time.sleep(0.03)
        before = now_ms()
        self.assertEqual(ingest(client, event_query(call, "7")), (OK, 200))
        changed = poll(call).last_change_ms
        self.assertTrue(before <= changed <= now_ms(), (before, changed))
        # A repeated event changes nothing: the time stays.
        time.sleep(0.03)
        self.assertEqual(ingest(client, event_query(call, "7")), (OK, 200))
        self.assertEqual(poll(call).last_change_ms, changed)
        lib.cc_call_free(call)

    def test_event_query_cap_is_4096_bytes(self):
        client = self.manual()
        call = self.start(client)
        q = event_query(call, "7")
        pad = lambda total: f"{q}&pad={'x' * (total - len(q) - len('&pad='))}"  # noqa: E731
        self.assertEqual(ingest(client, pad(4097)), (INVALID_ARGUMENT, 400))
        self.assertIn("longer than 4096 bytes", last_error())  # refused for its length, nothing else
        self.assertEqual(poll(call).state, INITIATING)
        self.assertEqual(ingest(client, pad(4096)), (OK, 200))
        self.assertEqual(poll(call).state, CONNECTED)
        lib.cc_call_free(call)

    def test_every_spelling_of_tls_on_means_tls(self):
        placed = sim_stats()["poketalk"]["calls_placed"]
        # Short timeouts: a TLS hello gets no answer from the plain-HTTP simulator.
        plain = sim_dsn("poketalk", "test-py-tls").replace("tls=0&", "")
        plain = plain.replace("timeout_ms=5000", "timeout_ms=1500")
        for on in ("1", "true", "yes", "on"):
            client = new_client(f"{plain}&tls={on}")
            self.clients.append(client)
            call = c_void_p()
            r = lib.cc_start_call(client, b"0171 1234567", b"030 1234567", None, byref(call))
            self.assertIn(r, (NETWORK, OUTCOME_UNKNOWN), f"tls={on}: {last_error()}")
        self.assertEqual(sim_stats()["poketalk"]["calls_placed"], placed, "a TLS hello is no request")
        for off in ("0", "false", "no", "off"):
            client = new_client(f"{plain}&tls={off}")
            self.clients.append(client)
            lib.cc_call_free(self.start(client))
        self.assertEqual(sim_stats()["poketalk"]["calls_placed"], placed + 4)

    def test_a_whole_call_through_the_listener(self):
        client = self.listening()
        caps = lib.cc_capabilities(client)
        self.assertEqual(caps & 0b1_0100_0010_0111, 0b1_0100_0010_0111)  # callback, live, hangup, events, limits
        call = self.start(client, "+49 30 1234567")
        seen, st = follow(call)
        self.assertEqual(st.state, ENDED, seen)
        self.assertEqual(seen, sorted(seen))
        self.assertTrue(st.flags & STATUS_LIVE)
        self.assertEqual((st.duration_s, st.cost, st.raw_status), (20, b"0.040", b"8"))
        self.assertEqual(sent(call), ["1:200", "3:200", "5:200", "7:200", "8:200"])
        stats = sim_stats()["poketalk"]
        self.assertEqual((stats["last_from"], stats["last_to"]), ("491711234567", "49301234567"))
        lib.cc_call_free(call)

    def test_events_before_the_start_returns_keep_their_reason(self):
        """The reply to the start is held back while the call's events go out: they wait
        in the early buffer, and the call read after the start keeps each end's reason
        (a normal end NONE, a failed B leg UNKNOWN with its leg)."""
        sim_answer("/_sim/poketalk/settings?reply_delay_ms=1500")
        self.addCleanup(sim_answer, "/_sim/poketalk/settings?reply_delay_ms=0")
        client = self.listening()
        for b, want in (("030 1234567", (ENDED, REASON_NONE, 0, b"8")),
                        ("030 1234486", (FAILED, REASON_UNKNOWN, LEG_B, b"6"))):
            call = self.start(client, b)
            _, st = follow(call)
            self.assertEqual((st.state, st.reason, st.failed_leg, st.raw_status), want, b)
            self.assertEqual(sent(call)[-1], want[3].decode() + ":200")
            lib.cc_call_free(call)

    def test_failed_leg(self):
        call = self.start(self.listening(), "030 1234486")
        _, st = follow(call)
        self.assertEqual((st.state, st.failed_leg, st.raw_status), (FAILED, LEG_B, b"6"))
        lib.cc_call_free(call)

    def test_hangup_is_a_412_answer(self):
        sim_answer("/_sim/poketalk/settings?event_period_ms=100")
        call = self.start(self.listening(), "030 1234999")
        _, st = follow(call, until=CONNECTED)
        self.assertEqual(st.state, CONNECTED)
        self.assertEqual(lib.cc_hangup(call), OK)
        st = poll(call)
        self.assertTrue(st.flags & STATUS_HANGUP_PENDING)
        _, st = follow(call)
        self.assertEqual((st.state, st.reason), (ENDED, CANCELLED))
        self.assertFalse(st.flags & STATUS_HANGUP_PENDING)
        self.assertIn("7:412", sent(call))
        self.assertTrue(sim_call(call)["hung_up_by_412"])
        lib.cc_call_free(call)

    def test_max_cost(self):
        sim_answer("/_sim/poketalk/settings?event_period_ms=60")
        call = self.start(self.listening(), "030 1234999", CallOptions(max_cost=b"0.05"))
        _, st = follow(call)
        self.assertEqual((st.state, st.reason), (ENDED, CANCELLED))
        self.assertGreaterEqual(Decimal(st.cost.decode()), Decimal("0.05"))
        self.assertIn("7:412", sent(call))
        lib.cc_call_free(call)

    def test_forged_and_late_events(self):
        client = self.manual()
        one, two = self.start(client), self.start(client, "030 7654321")
        q1, q2 = event_query(one, "7", 10, "0.020"), event_query(two, "8", 10, "0.020")
        tok = lambda q: [p for p in q.split("&") if p.startswith("cc_tok=")][0]  # noqa: E731
        for forged in (q1.replace(tok(q1), "cc_tok=AAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                       q1.replace(tok(q1), tok(q2)),
                       q2.replace(tok(q2), tok(q1)),
                       q1.replace("cc_id=", "cc_lim=99999_&cc_id=")):
            self.assertEqual(ingest(client, forged), (AUTH, 403), forged)
            self.assertNotIn(SECRET, last_error())
        self.assertEqual(ingest(client, "status=8"), (INVALID_ARGUMENT, 400))
        self.assertEqual(ingest(client, None), (INVALID_ARGUMENT, 400))
        self.assertEqual(ingest(None, q1), (INVALID_HANDLE, 500))
        self.assertEqual(poll(one).state, INITIATING)
        self.assertEqual(poll(two).state, INITIATING)
        self.assertEqual(ingest(self.manual(), q1), (NOT_FOUND, 404))
        self.assertEqual(ingest(self.client(""), q1), (UNSUPPORTED, 404))

        self.assertEqual(ingest(client, "?" + q1), (OK, 200))
        self.assertEqual((poll(one).state, poll(one).duration_s), (CONNECTED, 10))
        self.assertEqual(ingest(client, event_query(one, "1")), (OK, 200))  # late
        self.assertEqual(ingest(client, event_query(one, "7", 5, "0.010")), (OK, 200))  # repeated, older
        st = poll(one)
        self.assertEqual((st.state, st.duration_s), (CONNECTED, 10))
        self.assertEqual(ingest(client, event_query(one, "8", 42, "0.084")), (OK, 200))
        # After the end nothing changes; an event that shows the call alive is answered
        # 412 (the carrier still runs a call the library took as ended).
        for status, answer in (("7", 412), ("3", 412), ("6", 200), ("1", 412)):
            self.assertEqual(ingest(client, event_query(one, status, 60)), (OK, answer))
        st = poll(one)
        self.assertEqual((st.state, st.reason, st.duration_s), (ENDED, 0, 42))
        self.assertEqual(poll(two).state, INITIATING)
        lib.cc_call_free(one)
        lib.cc_call_free(two)

    def test_dir_store_between_two_processes(self):
        """event_spool=DIR, the older name of store=dir:DIR."""
        spool = tempfile.mkdtemp(prefix="cc-spool-py-")
        self.addCleanup(shutil.rmtree, spool, True)
        self.two_processes(f"event_spool={urllib.parse.quote(spool, safe='')}")
        # One private file per call, nothing else.
        for name in os.listdir(spool):
            self.assertTrue(name.endswith(".json"), name)
            self.assertEqual(os.stat(os.path.join(spool, name)).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(spool).st_mode & 0o777, 0o700)

    def test_redis_store_between_two_processes(self):
        """store=redis://: the receiver and the portal share nothing but Redis (as two
        web servers would)."""
        url = os.environ.get("CC_TEST_REDIS")
        if not url:
            self.skipTest("no redis-server (CC_TEST_REDIS is set by tests/run_all.py)")
        self.two_processes(f"store={urllib.parse.quote(url, safe='')}")

    def two_processes(self, store):
        common = f"event_secret={SECRET}&{store}"
        receiver = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "poketalk_receiver.py"),
             sim_dsn("poketalk", "test-py", extra=common + "&event_url=http%3A%2F%2F127.0.0.1%3A{port}%2Fcb")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ)
        try:
            port = int(receiver.stdout.readline())
            portal_extra = f"{common}&event_url=http%3A%2F%2F127.0.0.1%3A{port}%2Fcb"
            portal = self.client(portal_extra)
            call = self.start(portal)
            seen, st = follow(call)
            self.assertEqual(st.state, ENDED, seen)
            self.assertEqual(seen, sorted(seen))
            self.assertEqual((st.duration_s, st.reason), (20, REASON_NONE))
            self.assertEqual(sent(call), ["1:200", "3:200", "5:200", "7:200", "8:200"])
            # A later request reads the end with its reason: a call that simply ended is
            # not CANCELLED.
            later = self.client(portal_extra)
            st = poll(self.attach(later, call))
            self.assertEqual((st.state, st.reason, st.duration_s), (ENDED, REASON_NONE, 20))
            lib.cc_call_free(call)

            # A failed B leg keeps its reason and leg, in this process and the next.
            call = self.start(portal, "030 1234486")
            _, st = follow(call)
            want = (FAILED, REASON_UNKNOWN, LEG_B, b"6")
            self.assertEqual((st.state, st.reason, st.failed_leg, st.raw_status), want)
            st = poll(self.attach(self.client(portal_extra), call))
            self.assertEqual((st.state, st.reason, st.failed_leg, st.raw_status), want)
            lib.cc_call_free(call)

            # Hang-up asked here reaches the receiver process, which answers 412.
            sim_answer("/_sim/poketalk/settings?event_period_ms=300")
            call = self.start(portal, "030 1234999")
            _, st = follow(call, until=CONNECTED)
            self.assertEqual(st.state, CONNECTED)
            ref = c_void_p()
            self.assertEqual(lib.cc_call_ref(call, byref(ref)), OK)
            ref = take_string(ref)
            lib.cc_call_free(call)
            later = self.client(portal_extra)  # as in a later request
            again = c_void_p()
            self.assertEqual(lib.cc_call_attach(later, ref.encode(), byref(again)), OK)
            self.assertEqual(lib.cc_hangup(again), OK)
            st = poll(again)
            self.assertTrue(st.flags & STATUS_HANGUP_PENDING)
            _, st = follow(again)
            self.assertEqual((st.state, st.reason), (ENDED, CANCELLED))
            self.assertIn("7:412", sent(again))
            # A request that neither asked for the end nor took an event reads CANCELLED.
            st = poll(self.attach(self.client(portal_extra), again))
            self.assertEqual((st.state, st.reason), (ENDED, CANCELLED))
            lib.cc_call_free(again)

            # A forged final (with the call's genuine token) taken in this process: the
            # receiver process, which takes the carrier's next event, still ends the
            # call there with 412; a replayed final changes nothing.
            call = self.start(portal, "030 1234999")
            _, st = follow(call, until=CONNECTED)
            self.assertEqual(st.state, CONNECTED)
            self.assertEqual(ingest(portal, event_query(call, "8", 1, "0.001")), (OK, 200))
            self.assertEqual(lib.cc_hangup(call), OK)
            deadline = time.time() + 10
            while sim_call(call)["stage"] != "hung_up" and time.time() < deadline:
                time.sleep(0.02)
            self.assertTrue(sim_call(call)["hung_up_by_412"])
            self.assertIn("7:412", sent(call))
            self.assertEqual(ingest(portal, event_query(call, "8", 9999, "0.000")), (OK, 200))
            st = poll(call)
            self.assertEqual((st.state, st.duration_s, st.cost), (ENDED, 1, b"0.001"))
            lib.cc_call_free(call)
        finally:
            receiver.stdin.close()
            receiver.wait(timeout=10)
        self.assertEqual(receiver.returncode, 0)

    def test_every_result_code(self):
        client = self.manual()
        for code, result, text in (("10", INVALID_ARGUMENT, "Empty 'api_key'"),
                                   ("20", INVALID_ARGUMENT, "Empty 'from'"),
                                   ("30", INVALID_ARGUMENT, "Empty 'to'"),
                                   ("40", AUTH, "Unknown API user"),
                                   ("50", PROVIDER, "service provider"),
                                   ("60", PROVIDER, "blacklist"),
                                   ("70", PROVIDER, "gateway list"),
                                   ("90", PROVIDER, "calculate timeout"),
                                   ("100", AUTH, "Unknown API IP address")):
            sim_answer(f"/_sim/poketalk/next_code?key=test-py&code={code}")
            self.start(client, expect=result)
            self.assertEqual(lib.cc_last_error_carrier_code(), code.encode())
            self.assertIn(text, last_error())
        self.start(client, "030 1234403", expect=PROVIDER)
        self.assertEqual(lib.cc_last_error_carrier_code(), b"60")
        self.start(self.client("", key="nobody-key"), expect=AUTH)
        self.assertEqual(lib.cc_last_error_carrier_code(), b"40")
        sim_answer("/_sim/poketalk/settings?reply=json")
        lib.cc_call_free(self.start(client))

    def test_without_events(self):
        client = self.client("")
        self.assertEqual(lib.cc_capabilities(client), 1)
        call = self.start(client)
        self.assertEqual(lib.cc_hangup(call), UNSUPPORTED)
        self.assertFalse(poll(call).flags & STATUS_LIVE)
        lib.cc_call_free(call)
        self.start(client, opts=CallOptions(max_duration_s=60), expect=UNSUPPORTED)
        h = c_void_p()
        self.assertEqual(lib.cc_client_new(sim_dsn("poketalk", "k", extra="event_secret=short").encode(), byref(h)),
                         INVALID_ARGUMENT)
        self.assertNotIn("short", last_error())


if __name__ == "__main__":
    unittest.main()
