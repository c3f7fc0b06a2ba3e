"""The misuse matrix from Python ctypes: every pointer argument of every function in
callconnect.h gets every bad value of its kind, one at a time, the other arguments being
good (NULL, freed, double-freed, wrong-kind and forged handles; invalid UTF-8, "" and
1 MB strings; NULL out-pointers). None may crash; each returns its error code. Then: a
call used after its client was freed, and 16 threads on one client at once.

A new function joins by one line in FUNCS (the kinds of its arguments as letters, as in
tests/c/test_misuse.c); tests/misuse_coverage.rs fails while a function of the header is
missing here."""
import ctypes
import os
import threading
import unittest
from ctypes import byref, c_size_t, c_void_p

from ccffi import (INVALID_ARGUMENT, INVALID_HANDLE, INVALID_NUMBER, INTERNAL, NOT_FOUND, OK, PROVIDER,
                   CallOptions, CallStatus, last_error, lib, new_client, sim_dsn, take_string)

USER = f"test-pymisuse-{os.getpid()}"
DSN = sim_dsn("42call", f"{USER}:secret-{USER}")
HUGE = b"1" * (1 << 20)
BAD_UTF8 = b"0171 \xc3\x28\xff"

# Argument kinds: C client, L call, D DSN, N number, T text, P PIN, R reference (strings),
# O out-pointer to a handle or string, S out-pointer to a cc_call_status, Z out-pointer to
# a size_t (may be NULL: lowercase z), '-' may be NULL or is not a pointer.
FUNCS = {
    "cc_client_new": "DO",
    "cc_start_call": "CNN-O",
    "cc_poll_status": "LS",
    "cc_hangup": "L",
    "cc_send_sms": "CNTO",
    "cc_topup": "CP-",
    "cc_known_balance": "CO",
    "cc_call_ref": "LO",
    "cc_call_attach": "CRO",
    "cc_call_id": "LO",
    "cc_capabilities": "C",
    "cc_live_handles": "zz",
}
# The functions that return nothing, or take no pointer: checked in test_the_rest.
OTHERS = ["cc_client_free", "cc_call_free", "cc_string_free", "cc_last_error_message",
          "cc_last_error_carrier_code", "cc_version", "cc_state_name", "cc_reason_name",
          "cc_result_name", "cc_debug_panic"]
EMPTY = {"D": INVALID_ARGUMENT, "N": INVALID_NUMBER, "T": INVALID_ARGUMENT, "P": INVALID_ARGUMENT,
         "R": INVALID_ARGUMENT}


class Misuse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = new_client(DSN)
        cls.call = c_void_p()
        assert lib.cc_start_call(cls.client, b"0171 1234567", b"030 1234567", None, byref(cls.call)) == OK
        ref = c_void_p()
        assert lib.cc_call_ref(cls.call, byref(ref)) == OK
        cls.ref = take_string(ref).encode()
        cls.freed_client = new_client(DSN)
        lib.cc_client_free(cls.freed_client)
        cls.twice_client = new_client(DSN)
        lib.cc_client_free(cls.twice_client)
        lib.cc_client_free(cls.twice_client)
        cls.freed_call, cls.twice_call = c_void_p(), c_void_p()
        for h, frees in ((cls.freed_call, 1), (cls.twice_call, 2)):
            assert lib.cc_start_call(cls.client, b"0171 1234567", b"030 1234567", None, byref(h)) == OK
            for _ in range(frees):
                lib.cc_call_free(h)
        mid = c_void_p()
        assert lib.cc_send_sms(cls.client, b"0171 1234567", b"hello", byref(mid)) == OK  # a balance is known
        take_string(mid)

    @classmethod
    def tearDownClass(cls):
        lib.cc_hangup(cls.call)
        lib.cc_call_free(cls.call)
        lib.cc_client_free(cls.client)

    def good(self, kind):
        """A good value of a kind, and what to release after a success."""
        return {
            "C": self.client, "L": self.call, "D": DSN.encode(), "N": b"0171 1234567", "T": b"misuse",
            "P": b"12", "R": self.ref, "-": None,
        }.get(kind)

    def invoke(self, name, i=None, bad=None):
        """Calls `name` with argument i replaced by `bad`; frees what it returned."""
        kinds = FUNCS[name]
        args, outs = [], []
        for j, k in enumerate(kinds):
            if j == i:
                args.append(bad)
                continue
            if k == "O":
                o = c_void_p()
                outs.append((name, o))
                args.append(byref(o))
            elif k == "S":
                args.append(byref(CallStatus()))
            elif k in "Zz":
                args.append(byref(c_size_t()))
            else:
                args.append(self.good(k))
        r = getattr(lib, name)(*args)
        if name == "cc_capabilities":  # says "invalid" by returning 0
            return INVALID_HANDLE if r == 0 else OK
        for fn, o in outs:
            if r == OK and o.value:
                if fn == "cc_client_new":
                    lib.cc_client_free(o)
                elif fn in ("cc_start_call", "cc_call_attach"):
                    lib.cc_hangup(o)
                    lib.cc_call_free(o)
                else:
                    lib.cc_string_free(o)
        return r

    def test_every_wrapper_succeeds_with_good_arguments(self):
        for name in FUNCS:
            want = PROVIDER if name == "cc_topup" else OK  # PIN "12" is refused by the carrier
            self.assertEqual(self.invoke(name), want, f"{name}: {last_error()}")

    def bad_values(self, kind):
        if kind == "C":
            return [("NULL", None, INVALID_HANDLE), ("freed", self.freed_client, INVALID_HANDLE),
                    ("double-freed", self.twice_client, INVALID_HANDLE), ("a call", self.call, INVALID_HANDLE),
                    ("forged", c_void_p(0x1234_5678), INVALID_HANDLE),
                    ("all ones", c_void_p(2 ** 64 - 1), INVALID_HANDLE)]
        if kind == "L":
            return [("NULL", None, INVALID_HANDLE), ("freed", self.freed_call, INVALID_HANDLE),
                    ("double-freed", self.twice_call, INVALID_HANDLE), ("a client", self.client, INVALID_HANDLE),
                    ("forged", c_void_p(0x1234_5678), INVALID_HANDLE),
                    ("all ones", c_void_p(2 ** 64 - 1), INVALID_HANDLE)]
        if kind in EMPTY:
            return [("NULL", None, INVALID_ARGUMENT), ("invalid UTF-8", BAD_UTF8, INVALID_ARGUMENT),
                    ("1 MB", HUGE, INVALID_ARGUMENT), ("empty", b"", EMPTY[kind])]
        if kind in "OS":
            return [("NULL out-pointer", None, INVALID_ARGUMENT)]
        if kind == "z":
            return [("NULL (allowed)", None, OK)]
        return []

    def test_matrix(self):
        cases = 0
        for name, kinds in FUNCS.items():
            for i, kind in enumerate(kinds):
                for what, bad, want in self.bad_values(kind):
                    with self.subTest(fn=name, arg=i, value=what):
                        got = self.invoke(name, i, bad)
                        self.assertEqual(got, want, f"{name} arg {i} {what}: {lib.cc_result_name(got)}")
                        if want != OK and name != "cc_capabilities":
                            self.assertTrue(last_error(), "an error comes with a message")
                        cases += 1
        self.assertGreater(cases, 90)

    def test_the_rest(self):
        clients0, calls0 = c_size_t(), c_size_t()
        lib.cc_live_handles(byref(clients0), byref(calls0))
        for h in (None, self.freed_client, self.twice_client, self.call, c_void_p(0x1234_5678)):
            lib.cc_client_free(h)
        for h in (None, self.freed_call, self.client, c_void_p(0x1234_5678)):
            lib.cc_call_free(h)
        lib.cc_string_free(None)
        lib.cc_string_free(ctypes.cast(ctypes.create_string_buffer(b"not ours"), c_void_p))
        lib.cc_string_free(c_void_p(0x1234_5678))
        clients1, calls1 = c_size_t(), c_size_t()
        lib.cc_live_handles(byref(clients1), byref(calls1))
        self.assertEqual((clients0.value, calls0.value), (clients1.value, calls1.value))
        self.assertNotEqual(lib.cc_capabilities(self.client), 0)
        self.assertEqual(lib.cc_state_name(99), b"?")
        self.assertEqual(lib.cc_reason_name(2 ** 32 - 1), b"?")
        self.assertEqual(lib.cc_result_name(1000), b"?")
        self.assertTrue(lib.cc_version())
        self.assertIsNotNone(lib.cc_last_error_carrier_code())
        self.assertEqual(lib.cc_debug_panic(), INTERNAL)
        self.assertIn("panic", last_error())
        # Options: malformed fields and strings.
        out = c_void_p()
        for opts in (CallOptions(reserved=(0, 0, 1, 0)), CallOptions(flags=0x8000_0000),
                     CallOptions(correlation=BAD_UTF8), CallOptions(correlation=HUGE),
                     CallOptions(max_cost=HUGE)):
            self.assertEqual(lib.cc_start_call(self.client, b"0171 1234567", b"030 1234567", byref(opts),
                                               byref(out)), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_start_call(self.client, b"0171 1234567", b"030 1234567",
                                           byref(CallOptions(correlation=b"", caller_id=b"")), byref(out)), OK)
        lib.cc_hangup(out)
        lib.cc_call_free(out)
        self.assertEqual(set(FUNCS) | set(OTHERS), declared_functions())

    def test_call_after_client_free(self):
        c = new_client(DSN)
        call = c_void_p()
        self.assertEqual(lib.cc_start_call(c, b"0171 1234567", b"030 1234567", None, byref(call)), OK)
        lib.cc_client_free(c)
        self.assertEqual(lib.cc_poll_status(call, byref(CallStatus())), INVALID_HANDLE)
        self.assertEqual(lib.cc_hangup(call), INVALID_HANDLE)
        p = c_void_p()
        self.assertEqual(lib.cc_call_id(call, byref(p)), OK)  # what the call knows itself
        self.assertTrue(take_string(p))
        self.assertEqual(lib.cc_call_ref(call, byref(p)), OK)
        ref = take_string(p).encode()
        again = c_void_p()
        self.assertEqual(lib.cc_call_attach(c, ref, byref(again)), INVALID_HANDLE)
        self.assertEqual(lib.cc_call_attach(self.client, ref, byref(again)), OK)
        self.assertEqual(lib.cc_hangup(again), OK)
        lib.cc_call_free(again)
        lib.cc_call_free(call)
        lib.cc_call_free(call)
        self.assertEqual(lib.cc_hangup(call), INVALID_HANDLE)

    def test_16_threads_on_one_client(self):
        shared = new_client(DSN)
        mid = c_void_p()
        self.assertEqual(lib.cc_send_sms(shared, b"0171 1234567", b"warm-up", byref(mid)), OK)
        take_string(mid)
        failures = []

        def work():
            for n in range(6):
                call, again = c_void_p(), c_void_p()
                if lib.cc_start_call(shared, b"0171 1234567", b"030 1234567", None, byref(call)) != OK:
                    failures.append(("start", last_error()))
                    continue
                st = CallStatus()
                p = c_void_p()
                results = [lib.cc_poll_status(call, byref(st)), lib.cc_call_ref(call, byref(p))]
                ref = take_string(p)
                results.append(lib.cc_call_attach(shared, ref.encode() if ref else b"", byref(again)))
                results.append(lib.cc_hangup(again))
                results.append(lib.cc_call_id(call, byref(p)))
                take_string(p)
                results.append(lib.cc_known_balance(shared, byref(p)))
                take_string(p)
                if n == 0:
                    results.append(lib.cc_send_sms(shared, b"0171 1234567", b"threads", byref(p)))
                    take_string(p)
                if lib.cc_poll_status(shared, byref(st)) != INVALID_HANDLE:
                    failures.append("wrong kind accepted")
                failures.extend((r, last_error()) for r in results if r != OK)
                lib.cc_call_free(again)
                lib.cc_call_free(call)
                lib.cc_call_free(call)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        # Freed while 16 threads use it: OK or INVALID_HANDLE, never anything else.
        odd, stop = [], threading.Event()

        def race():
            while not stop.is_set():
                p = c_void_p()
                r = lib.cc_known_balance(shared, byref(p))
                if r == OK:
                    take_string(p)
                elif r not in (INVALID_HANDLE, NOT_FOUND):
                    odd.append(r)
                r = lib.cc_topup(shared, b"12", None)
                if r not in (PROVIDER, INVALID_HANDLE):
                    odd.append(r)
        threads = [threading.Thread(target=race) for _ in range(16)]
        for t in threads:
            t.start()
        threading.Event().wait(0.05)
        lib.cc_client_free(shared)
        threading.Event().wait(0.05)
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(odd, [])


def declared_functions():
    """Every function the C header declares."""
    import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "include", "callconnect.h")) as f:
        return set(re.findall(r"^[a-z][\w\s\*]*?\b(cc_\w+)\(", f.read(), re.M))


if __name__ == "__main__":
    unittest.main()
