"""Raw ctypes declarations of the C ABI, for the Python host tests.

Every function gets argtypes and restype (so a wrong argument is a Python error, not a
crash); functions that return library-owned strings through `char **` are read with
`take_string`, which frees them with cc_string_free.
"""
import ctypes
import os
from ctypes import (POINTER, Structure, byref, c_char, c_char_p, c_int, c_int64,
                    c_size_t, c_uint32, c_uint64, c_void_p)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB_PATH = os.environ.get("CALLCONNECT_LIB", os.path.join(ROOT, "target", "debug", "libcallconnect.so"))
lib = ctypes.CDLL(LIB_PATH)


class CallOptions(Structure):
    _fields_ = [
        ("caller_id", c_char_p),
        ("caller_id_b", c_char_p),
        ("correlation", c_char_p),
        ("max_duration_s", c_uint32),
        ("wait_for_pickup_s", c_uint32),
        ("max_cost", c_char_p),
        ("connect_type", c_uint32),
        ("flags", c_uint32),
        ("reserved", c_uint64 * 4),
    ]


class CallStatus(Structure):
    _fields_ = [
        ("state", c_uint32),
        ("reason", c_uint32),
        ("failed_leg", c_uint32),
        ("flags", c_uint32),
        ("duration_s", c_uint32),
        ("cost", c_char * 32),
        ("currency", c_char * 8),
        ("raw_status", c_char * 32),
        ("last_change_ms", c_int64),
    ]


def declare(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


R = c_uint32  # cc_result
declare("cc_client_new", R, c_char_p, POINTER(c_void_p))
declare("cc_client_free", None, c_void_p)
declare("cc_start_call", R, c_void_p, c_char_p, c_char_p, POINTER(CallOptions), POINTER(c_void_p))
declare("cc_poll_status", R, c_void_p, POINTER(CallStatus))
declare("cc_hangup", R, c_void_p)
declare("cc_call_free", None, c_void_p)
declare("cc_send_sms", R, c_void_p, c_char_p, c_char_p, POINTER(c_void_p))
declare("cc_topup", R, c_void_p, c_char_p, POINTER(c_void_p))
declare("cc_known_balance", R, c_void_p, POINTER(c_void_p))
declare("cc_call_ref", R, c_void_p, POINTER(c_void_p))
declare("cc_call_attach", R, c_void_p, c_char_p, POINTER(c_void_p))
declare("cc_call_id", R, c_void_p, POINTER(c_void_p))
declare("cc_capabilities", c_uint32, c_void_p)
declare("cc_last_error_message", c_char_p)
declare("cc_last_error_carrier_code", c_char_p)
declare("cc_string_free", None, c_void_p)
declare("cc_version", c_char_p)
declare("cc_state_name", c_char_p, c_uint32)
declare("cc_reason_name", c_char_p, c_uint32)
declare("cc_result_name", c_char_p, c_uint32)
declare("cc_debug_panic", R)
declare("cc_live_handles", R, POINTER(c_size_t), POINTER(c_size_t))

# cc_result values
OK, INVALID_ARGUMENT, INVALID_HANDLE, INVALID_NUMBER, UNSUPPORTED, AUTH, INSUFFICIENT_FUNDS, \
    NETWORK, TIMEOUT, PROTOCOL, PROVIDER, OUTCOME_UNKNOWN, INTERNAL, NOT_FOUND, BUSY = range(15)
# cc_call_state values
INITIATING, RINGING_A, A_ANSWERED, RINGING_B, CONNECTED, ENDED, FAILED = range(7)
STATUS_LIVE, STATUS_HANGUP_PENDING, STATUS_TIMED_OUT = 1, 2, 4


def take_string(ptr):
    """Copies a library-owned string and frees it."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        lib.cc_string_free(ptr)


def last_error():
    return lib.cc_last_error_message().decode("utf-8")


def sim_port():
    port = os.environ.get("CC_SIM_PORT")
    if not port:
        raise SystemExit("CC_SIM_PORT is not set: run through tests/run_all.py")
    return port


def sim_dsn(scheme, userinfo, path="", extra=""):
    dsn = f"{scheme}://{userinfo}@127.0.0.1:{sim_port()}{path}?tls=0&default_country=49&timeout_ms=5000"
    return dsn + (f"&{extra}" if extra else "")


def new_client(dsn):
    h = c_void_p()
    r = lib.cc_client_new(dsn.encode(), byref(h))
    if r != OK:
        raise AssertionError(f"cc_client_new: {r} {last_error()}")
    return h


def sim_get(path):
    """GET http://127.0.0.1:$CC_SIM_PORT<path>: the reply's body as text."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{sim_port()}{path}") as resp:
        return resp.read().decode()


def sim_answer(path):
    """sim_get's body, as JSON when it is JSON."""
    import json
    body = sim_get(path)
    try:
        return json.loads(body)
    except ValueError:
        return body


def sim_stats():
    import json
    return json.loads(sim_get("/_sim/stats"))


def signed_reference(scheme, user, secret, call_id_text):
    """A call reference naming any id, signed with the keys of the account `user` at the
    simulator (src/reference.rs: HKDF-SHA256 of the account's secret, the API key where
    there is none, then HMAC-SHA256 over the body; no sealed carrier data), as only a
    client of the account could make one: what attach then checks is the id itself."""
    import base64
    import hashlib
    import hmac
    import json
    import time

    def b64url(raw):
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    prk = hmac.new(b"callconnect call reference v2", secret.encode(), hashlib.sha256).digest()

    def expand(purpose, n):
        info = b"\x00".join((scheme.encode(), b"127.0.0.1", user.encode(), purpose))
        return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:n]
    wire = {"v": 2, "carrier": scheme, "kid": b64url(expand(b"kid", 8)), "id": call_id_text,
            "started_ms": int(time.time() * 1000), "limit_s": 600}
    body = "cc2." + b64url(json.dumps(wire, separators=(",", ":")).encode())
    return body + "." + b64url(hmac.new(expand(b"mac", 32), body.encode(), hashlib.sha256).digest())
