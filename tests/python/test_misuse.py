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
from ctypes import CFUNCTYPE, POINTER, Structure, byref, c_bool, c_char, c_char_p, c_int, c_size_t, c_uint32, \
    c_uint64, c_void_p

from ccffi import (INVALID_ARGUMENT, INVALID_HANDLE, INVALID_NUMBER, INTERNAL, NOT_FOUND, OK, PROVIDER, UNSUPPORTED,
                   CallOptions, CallStatus, last_error, lib, new_client, sim_dsn, take_string)

USER = f"test-pymisuse-{os.getpid()}"
DSN = sim_dsn("42call", f"{USER}:secret-{USER}", extra="realm=testRealm")
HUGE = b"1" * (1 << 20)
BAD_UTF8 = b"0171 \xc3\x28\xff"



class Balance(Structure):
    _fields_ = [
        ("amount", c_char * 32),
        ("currency", c_char * 8),
        ("customer_number", c_char * 32),
        ("account_number", c_char * 32),
        ("reserved", c_uint64 * 4),
    ]


LOG_CALLBACK = CFUNCTYPE(None, c_uint32, c_char_p, c_void_p)
OUT = POINTER(c_void_p)
for _name, _args in {
    # c_void_p where tests/python/test_account.py declares its own structure (both files
    # are loaded in one process; c_void_p takes a byref() and a callback too).
    "cc_account_balance": (c_void_p, c_void_p),
    "cc_account_info": (c_void_p, OUT),
    "cc_account_rates": (c_void_p, c_char_p, OUT),
    "cc_account_call_records": (c_void_p, c_char_p, c_char_p, c_uint32, OUT),
    "cc_account_callshop_records": (c_void_p, c_char_p, c_char_p, c_uint32, OUT),
    "cc_account_number_check": (c_void_p, c_char_p, OUT),
    "cc_account_dialin_numbers": (c_void_p, OUT),
    "cc_account_store_callthrough": (c_void_p, c_char_p, c_char_p, OUT),
    "cc_account_voip_lines": (c_void_p, c_bool, OUT),
    "cc_card_create": (c_void_p, c_char_p, c_char_p, c_char_p, c_bool, c_char_p, OUT),
    "cc_card_show": (c_void_p, c_char_p, OUT),
    "cc_card_block": (c_void_p, c_char_p, OUT),
    "cc_card_unblock": (c_void_p, c_char_p, OUT),
    "cc_card_disable": (c_void_p, c_char_p, OUT),
    "cc_card_change_number": (c_void_p, c_char_p, c_char_p, OUT),
    "cc_card_activate": (c_void_p, c_char_p, c_char_p, OUT),
    "cc_event_ingest": (c_void_p, c_char_p, POINTER(c_int)),
    "cc_set_log_callback": (c_uint32, c_void_p, c_void_p),
    "cc_warm_up": (ctypes.c_uint16,),
}.items():
    getattr(lib, _name).restype = c_uint32
    getattr(lib, _name).argtypes = list(_args)

# Argument kinds: C client, L call, D DSN, N number, T text, P PIN, R reference, Q event
# query, M list of numbers (strings), o a string that may be NULL or "" (bad: invalid
# UTF-8 and 1 MB), O out-pointer to a handle or string, S out-pointer to a cc_call_status,
# B out-pointer to a cc_balance, Z out-pointer to a size_t (may be NULL: lowercase z), '-'
# may be NULL or is not a pointer. The good value of an argument is that of its kind, or
# the function's own in GOODS.
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
    "cc_account_balance": "CB",
    "cc_account_info": "CO",
    "cc_account_rates": "CMO",
    "cc_account_call_records": "CTo-O",
    "cc_account_callshop_records": "CTo-O",
    "cc_account_number_check": "CNO",
    "cc_account_dialin_numbers": "CO",
    "cc_account_store_callthrough": "CNN-",
    "cc_account_voip_lines": "C-O",
    "cc_card_create": "CNoT-o-",
    "cc_card_show": "CNO",
    "cc_card_block": "CN-",
    "cc_card_unblock": "CN-",
    "cc_card_disable": "CN-",
    "cc_card_change_number": "CNN-",
    "cc_card_activate": "CNP-",
    "cc_event_ingest": "CQ-",
}
# Good values where a function needs its own (None: a handle or out-pointer, by kind).
NO_CARD = b"0171 5550399"  # a number without a card: the card functions say NOT_FOUND
GOODS = {
    "cc_account_rates": [None, b"0171 1234567|030 1234567", None],
    "cc_account_call_records": [None, b"2014-02-20", b"2014-02-21", 0, None],
    "cc_account_callshop_records": [None, b"2014-02-20", b"2014-02-21", 0, None],
    "cc_account_number_check": [None, b"0179 1234567", None],
    "cc_account_store_callthrough": [None, b"0171 1234567", b"030 1234567", None],
    "cc_account_voip_lines": [None, False, None],
    "cc_card_create": [None, b"0171 5550312", None, b"1.00", False, None, None],
    "cc_card_show": [None, NO_CARD, None],
    "cc_card_block": [None, NO_CARD, None],
    "cc_card_unblock": [None, NO_CARD, None],
    "cc_card_disable": [None, NO_CARD, None],
    "cc_card_change_number": [None, NO_CARD, b"0171 5550398", None],
    "cc_card_activate": [None, NO_CARD, b"111222333", None],
    "cc_event_ingest": [None, b"cc_call=x&cc_token=y&status=1", None],
}
# What good arguments give, where it is not OK.
GOOD_RESULT = {"cc_topup": PROVIDER,  # PIN "12" is refused by the carrier
               "cc_event_ingest": UNSUPPORTED,  # a 42call client takes no events
               **{n: NOT_FOUND for n in ("cc_card_show", "cc_card_block", "cc_card_unblock", "cc_card_disable",
                                         "cc_card_change_number", "cc_card_activate")}}
# The functions that return nothing, or take no pointer: checked in test_the_rest.
OTHERS = ["cc_client_free", "cc_call_free", "cc_string_free", "cc_last_error_message",
          "cc_last_error_carrier_code", "cc_version", "cc_state_name", "cc_reason_name",
          "cc_result_name", "cc_debug_panic", "cc_set_log_callback", "cc_warm_up"]
# What "" gives, by kind: an event query "" is parsed as an event for a client that takes
# none; an empty list of numbers is no number at all (an argument error).
EMPTY = {"D": INVALID_ARGUMENT, "N": INVALID_NUMBER, "T": INVALID_ARGUMENT, "P": INVALID_ARGUMENT,
         "R": INVALID_ARGUMENT, "Q": UNSUPPORTED, "M": INVALID_ARGUMENT}


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
            elif k == "B":
                args.append(byref(Balance()))
            elif name in GOODS and k not in "CL":
                args.append(GOODS[name][j])
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
            want = GOOD_RESULT.get(name, OK)
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
        if kind == "o":
            return [("invalid UTF-8", BAD_UTF8, INVALID_ARGUMENT), ("1 MB", HUGE, INVALID_ARGUMENT)]
        if kind in "OSB":
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
        self.assertEqual(lib.cc_warm_up(999), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_warm_up(2 ** 16 - 1), INVALID_ARGUMENT)
        self.assertEqual([lib.cc_warm_up(0), lib.cc_warm_up(49), lib.cc_warm_up(49)], [0, 0, 0])
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

    def test_set_log_callback(self):
        lines = []
        cb = LOG_CALLBACK(lambda level, message, userdata: lines.append(level))
        self.assertEqual(lib.cc_set_log_callback(5, cb, None), INVALID_ARGUMENT)
        self.assertTrue(last_error())
        self.assertEqual(lib.cc_set_log_callback(2 ** 32 - 1, None, None), INVALID_ARGUMENT)
        self.assertEqual(lib.cc_set_log_callback(4, None, None), OK)  # NULL callback: removed
        self.assertEqual(lib.cc_set_log_callback(4, None, c_void_p(0x1234_5678)), OK)
        self.assertEqual(lib.cc_set_log_callback(4, cb, None), OK)  # NULL userdata
        try:
            out = c_void_p()
            self.assertEqual(lib.cc_account_dialin_numbers(self.client, byref(out)), OK)
            take_string(out)
            self.assertTrue(lines, "the callback got lines")
        finally:
            self.assertEqual(lib.cc_set_log_callback(0, None, None), OK)
        n = len(lines)
        out = c_void_p()
        lib.cc_account_dialin_numbers(self.client, byref(out))
        take_string(out)
        self.assertEqual(len(lines), n, "removed: no more lines")

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
