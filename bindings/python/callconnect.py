"""callconnect for Python: two-leg callback calls, SMS and PIN top-up over several
carriers' HTTP APIs, through the library's C ABI (standard library only: ctypes).

    import callconnect

    with callconnect.Client("42call://USER:PASSWORD@login.42call.com?default_country=49") as client:
        call = client.start_call("0171 1234567", "030 1234567")
        print(call.status().state.name)      # INITIATING, RINGING_A, ... ENDED, FAILED
        call.hangup()

Every failure raises a subclass of `CallConnectError` (one per `cc_result`: `AuthError`,
`OutcomeUnknownError`, `InvalidNumberError`, ...) carrying `.result` and `.carrier_code`:
an argument of the wrong type too (`ArgumentTypeError`, also a `TypeError`), a library
that cannot be loaded (`LibraryLoadError`, also an `OSError`), and data from the library
this module cannot read (`InternalError`).
Handles are freed by `close()`, by `with`, or when the object is garbage-collected.
Objects may be shared between threads (the library serialises requests on one call).

The library is found, in this order: `load_library(path)` called before first use, the
environment variable CALLCONNECT_LIB (then nothing else), the copy a wheel carries beside
this file, the path `make install` wrote into this file, the build tree this file sits in
(target/release, then target/debug), the libdir of callconnect.pc on pkg-config's search
path (PKG_CONFIG_PATH, then the default directories or PKG_CONFIG_LIBDIR), and the
system's loader (`ctypes.util.find_library`, then `libcallconnect.so.MAJOR`). The
`callconnect` logger says at DEBUG which one was loaded; `library_path()` returns it.

Log lines go to the `logging` module with `enable_logging()`; see `docs/host-python.md`.
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import datetime
import decimal
import enum
import json
import logging
import os
import threading
from ctypes import POINTER, Structure, byref, c_char, c_char_p, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Type, Union

__all__ = [
    "ABI_MAJOR", "Client", "Call", "CallStatus", "Balance", "Money", "Result", "State", "Reason", "Leg",
    "StatusFlag", "Capability", "LogLevel", "CallConnectError", "InvalidArgumentError",
    "InvalidHandleError", "InvalidNumberError", "UnsupportedError", "AuthError",
    "InsufficientFundsError", "NetworkError", "CarrierTimeoutError", "ProtocolError",
    "ProviderError", "OutcomeUnknownError", "InternalError", "NotFoundError", "BusyError",
    "load_library", "library_path", "version", "enable_logging", "disable_logging",
]

#: The ABI generation this module speaks (the library's soname is libcallconnect.so.ABI_MAJOR).
ABI_MAJOR = 0
#: `make install` writes the installed library's path here.
_INSTALLED_LIB: Optional[str] = None


# ----------------------------------------------------------------------------- values

class _OpenEnum(enum.IntEnum):
    """An IntEnum that turns a value this module does not know (one a newer library added)
    into a pseudo-member named UNKNOWN_<n> instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member


class Result(_OpenEnum):
    """`cc_result`: what a library call returned."""
    OK = 0
    INVALID_ARGUMENT = 1
    INVALID_HANDLE = 2
    INVALID_NUMBER = 3
    UNSUPPORTED = 4
    AUTH = 5
    INSUFFICIENT_FUNDS = 6
    NETWORK = 7
    TIMEOUT = 8
    PROTOCOL = 9
    PROVIDER = 10
    OUTCOME_UNKNOWN = 11
    INTERNAL = 12
    NOT_FOUND = 13
    BUSY = 14


class State(_OpenEnum):
    """`cc_call_state`: where a call is. States only move forward; ENDED and FAILED are final."""
    INITIATING = 0
    RINGING_A = 1
    A_ANSWERED = 2
    RINGING_B = 3
    CONNECTED = 4
    ENDED = 5
    FAILED = 6

    @property
    def final(self) -> bool:
        return self in (State.ENDED, State.FAILED)


class Reason(_OpenEnum):
    """`cc_fail_reason`: why a call failed (or CANCELLED when the host hung it up)."""
    NONE = 0
    BUSY = 1
    NO_ANSWER = 2
    REJECTED = 3
    INSUFFICIENT_FUNDS = 4
    INVALID_NUMBER = 5
    CANCELLED = 6
    PROVIDER_ERROR = 7
    UNKNOWN = 8


class Leg(_OpenEnum):
    """`cc_leg`: A is rung first (the customer), B is the destination."""
    NONE = 0
    A = 1
    B = 2


class StatusFlag(enum.IntFlag):
    """`cc_status_flag` bits of `CallStatus.flags`."""
    LIVE = 1
    HANGUP_PENDING = 2
    TIMED_OUT = 4


class Capability(enum.IntFlag):
    """`cc_capability` bits: what the client's carrier can do."""
    CALLBACK = 1
    LIVE_STATUS = 2
    HANGUP = 4
    SMS = 8
    TOPUP = 16
    EVENTS = 32
    RING_GROUP = 64
    CALLER_ID = 128
    ACCOUNT = 256
    IDEMPOTENT_START = 512
    MAX_DURATION = 1024
    WAIT_FOR_PICKUP = 2048
    MAX_COST = 4096
    CONNECT_TYPE = 8192
    CALL_FLAGS = 16384


class LogLevel(_OpenEnum):
    """`cc_log_level`."""
    OFF = 0
    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4


_OPT_ALLOW_PUBLIC_TRANSFER = 1
_OPT_VIDEO = 2


@dataclass(frozen=True)
class Money:
    """An amount as the carrier stated it: exact decimal, never a float."""
    amount: decimal.Decimal
    currency: str

    @classmethod
    def parse(cls, text: str) -> "Money":
        """Reads the library's form, `"28.40 EUR"`."""
        amount, _, currency = text.partition(" ")
        return cls(decimal.Decimal(amount), currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}".strip()


@dataclass(frozen=True)
class Balance:
    """The account's balance as the carrier reported it just now (`Client.balance()`)."""
    balance: Money
    customer_number: str
    account_number: str


@dataclass(frozen=True)
class CallStatus:
    """A call's status (`cc_call_status`)."""
    state: State
    reason: Reason
    failed_leg: Leg
    flags: StatusFlag
    #: Seconds since B answered (as far as the carrier said).
    duration_s: int
    #: The call's cost, when the carrier told it.
    cost: Optional[Money]
    #: The carrier's own status code as text ("" when none).
    raw_status: str
    #: When the state last changed (UTC).
    last_change: datetime.datetime

    @property
    def final(self) -> bool:
        return self.state.final

    @property
    def live(self) -> bool:
        """Whether the carrier reports this call's progress (without it, the state says only
        what the library itself did)."""
        return bool(self.flags & StatusFlag.LIVE)


# ---------------------------------------------------------------------------- errors

class CallConnectError(Exception):
    """A failed library call: `.result` (a `Result`), `.carrier_code` (the carrier's own
    code, "" when it gave none) and the library's message (never with a secret)."""

    def __init__(self, result: Result, message: str, carrier_code: str = "",
                 http_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.result = result
        self.carrier_code = carrier_code
        self.message = message
        #: For `Client.ingest_event`: the HTTP status to answer the carrier with (400, 403,
        #: 404, 500); None for other calls.
        self.http_status = http_status

    def __str__(self) -> str:
        code = f" (carrier code {self.carrier_code})" if self.carrier_code else ""
        return f"{self.result.name}: {self.message}{code}"


class InvalidArgumentError(CallConnectError, ValueError):
    """An argument is empty, malformed, too long, or the DSN is not valid."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong Python type (a `CallConnectError` and a `TypeError`)."""


class LibraryLoadError(CallConnectError, OSError):
    """libcallconnect could not be loaded, or it speaks another ABI."""


class InvalidHandleError(CallConnectError):
    """The client or call was closed (or its client was), or it was made in the parent of
    this forked process (make a client in each worker)."""


class InvalidNumberError(CallConnectError, ValueError):
    """A phone number cannot be a real number (nothing was sent)."""


class UnsupportedError(CallConnectError):
    """The carrier cannot do this, or cannot honour one of the options."""


class AuthError(CallConnectError):
    """The carrier refused the credentials (or the caller's IP address)."""


class InsufficientFundsError(CallConnectError):
    """The account has too little credit."""


class NetworkError(CallConnectError):
    """The carrier could not be reached; nothing was acted on."""


class CarrierTimeoutError(CallConnectError):
    """The carrier did not answer within the DSN's timeout_ms."""


class ProtocolError(CallConnectError):
    """The carrier's reply was malformed."""


class ProviderError(CallConnectError):
    """The carrier understood and said no: see `.carrier_code`."""


class OutcomeUnknownError(CallConnectError):
    """A call start, SMS or top-up may or may not have reached the carrier. It was NOT
    repeated: ask a person or the carrier before trying again."""


class InternalError(CallConnectError):
    """A bug inside the library (caught; the process is safe)."""


class NotFoundError(CallConnectError):
    """The thing asked about does not exist at the carrier."""


class BusyError(CallConnectError):
    """The request is valid but cannot be served now."""


_ERRORS: Dict[Result, Type[CallConnectError]] = {
    Result.INVALID_ARGUMENT: InvalidArgumentError,
    Result.INVALID_HANDLE: InvalidHandleError,
    Result.INVALID_NUMBER: InvalidNumberError,
    Result.UNSUPPORTED: UnsupportedError,
    Result.AUTH: AuthError,
    Result.INSUFFICIENT_FUNDS: InsufficientFundsError,
    Result.NETWORK: NetworkError,
    Result.TIMEOUT: CarrierTimeoutError,
    Result.PROTOCOL: ProtocolError,
    Result.PROVIDER: ProviderError,
    Result.OUTCOME_UNKNOWN: OutcomeUnknownError,
    Result.INTERNAL: InternalError,
    Result.NOT_FOUND: NotFoundError,
    Result.BUSY: BusyError,
}


# ------------------------------------------------------------------- the C declarations

class _CallOptions(Structure):
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


class _CallStatus(Structure):
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


class _Balance(Structure):
    _fields_ = [
        ("amount", c_char * 32),
        ("currency", c_char * 8),
        ("customer_number", c_char * 32),
        ("account_number", c_char * 32),
        ("reserved", c_uint64 * 4),
    ]


_R = c_uint32  # cc_result
_OUT = POINTER(c_void_p)  # a handle or a library-owned string, written by the library
_LOG_CALLBACK = ctypes.CFUNCTYPE(None, c_uint32, c_char_p, c_void_p)

#: Every C function this module calls: name -> (restype, argtypes). A new C function is
#: one line here and one small method below.
_FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {
    "cc_client_new": (_R, [c_char_p, _OUT]),
    "cc_client_free": (None, [c_void_p]),
    "cc_start_call": (_R, [c_void_p, c_char_p, c_char_p, POINTER(_CallOptions), _OUT]),
    "cc_poll_status": (_R, [c_void_p, POINTER(_CallStatus)]),
    "cc_hangup": (_R, [c_void_p]),
    "cc_call_free": (None, [c_void_p]),
    "cc_send_sms": (_R, [c_void_p, c_char_p, c_char_p, _OUT]),
    "cc_topup": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_known_balance": (_R, [c_void_p, _OUT]),
    "cc_call_ref": (_R, [c_void_p, _OUT]),
    "cc_call_attach": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_call_id": (_R, [c_void_p, _OUT]),
    "cc_capabilities": (c_uint32, [c_void_p]),
    "cc_last_error_message": (c_char_p, []),
    "cc_last_error_carrier_code": (c_char_p, []),
    "cc_string_free": (None, [c_void_p]),
    "cc_version": (c_char_p, []),
    "cc_warm_up": (_R, [ctypes.c_uint16]),
    "cc_state_name": (c_char_p, [c_uint32]),
    "cc_reason_name": (c_char_p, [c_uint32]),
    "cc_result_name": (c_char_p, [c_uint32]),
    "cc_live_handles": (_R, [POINTER(c_size_t), POINTER(c_size_t)]),
    "cc_set_log_callback": (_R, [c_uint32, _LOG_CALLBACK, c_void_p]),
    "cc_event_ingest": (_R, [c_void_p, c_char_p, POINTER(ctypes.c_int)]),
    "cc_account_balance": (_R, [c_void_p, POINTER(_Balance)]),
    "cc_account_info": (_R, [c_void_p, _OUT]),
    "cc_account_rates": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_account_call_records": (_R, [c_void_p, c_char_p, c_char_p, c_uint32, _OUT]),
    "cc_account_callshop_records": (_R, [c_void_p, c_char_p, c_char_p, c_uint32, _OUT]),
    "cc_account_number_check": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_account_dialin_numbers": (_R, [c_void_p, _OUT]),
    "cc_account_store_callthrough": (_R, [c_void_p, c_char_p, c_char_p, _OUT]),
    "cc_account_voip_lines": (_R, [c_void_p, ctypes.c_bool, _OUT]),
    "cc_card_create": (_R, [c_void_p, c_char_p, c_char_p, c_char_p, ctypes.c_bool, c_char_p, _OUT]),
    "cc_card_show": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_card_block": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_card_unblock": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_card_disable": (_R, [c_void_p, c_char_p, _OUT]),
    "cc_card_change_number": (_R, [c_void_p, c_char_p, c_char_p, _OUT]),
    "cc_card_activate": (_R, [c_void_p, c_char_p, c_char_p, _OUT]),
}


# ------------------------------------------------------------------------ the library

_load_lock = threading.Lock()
_loaded: Optional[ctypes.CDLL] = None
_loaded_path: Optional[str] = None


#: pkg-config's default search path on Debian (x86_64), /usr/local first.
_PKG_CONFIG_DEFAULT = [
    "/usr/local/lib/x86_64-linux-gnu/pkgconfig", "/usr/local/lib/pkgconfig", "/usr/local/share/pkgconfig",
    "/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/pkgconfig", "/usr/share/pkgconfig",
]


def _pkg_config_libdirs() -> List[str]:
    """The libdir of every callconnect.pc on pkg-config's search path (PKG_CONFIG_PATH,
    then its default directories), read from the files: no pkg-config binary needed."""
    dirs = [d for d in os.environ.get("PKG_CONFIG_PATH", "").split(":") if d]
    libdir = os.environ.get("PKG_CONFIG_LIBDIR")  # as for pkg-config: replaces the default directories
    dirs += libdir.split(":") if libdir is not None else _PKG_CONFIG_DEFAULT
    found: List[str] = []
    for d in dict.fromkeys(dirs):
        try:
            with open(os.path.join(d, "callconnect.pc"), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        variables: Dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition("=")
            if sep and name.strip() and ":" not in name and " " not in name.strip():
                for k, v in variables.items():
                    value = value.replace("${%s}" % k, v)
                variables[name.strip()] = value.strip()
        if "libdir" in variables:
            found.append(variables["libdir"])
    return found


def _candidates() -> List[str]:
    found: List[str] = []
    env = os.environ.get("CALLCONNECT_LIB")
    if env:
        return [env]  # an explicit choice is the only one tried
    here = os.path.dirname(os.path.abspath(__file__))
    bundled = os.path.join(here, f"libcallconnect.so.{ABI_MAJOR}")  # the wheel's own copy
    if os.path.exists(bundled):
        found.append(bundled)
    if _INSTALLED_LIB:
        found.append(_INSTALLED_LIB)
    repo = os.path.dirname(os.path.dirname(here))
    for profile in ("release", "debug"):
        path = os.path.join(repo, "target", profile, "libcallconnect.so")
        if os.path.exists(path):
            found.append(path)
    for libdir in _pkg_config_libdirs():
        path = os.path.join(libdir, f"libcallconnect.so.{ABI_MAJOR}")
        if os.path.exists(path):
            found.append(path)
    system = ctypes.util.find_library("callconnect")
    if system:
        found.append(system)
    found.append(f"libcallconnect.so.{ABI_MAJOR}")
    return found


def load_library(path: Optional[str] = None) -> str:
    """Loads the library (from `path`, or as the module docstring says) unless it is
    loaded already; returns the path used. Call it before anything else to choose."""
    global _loaded, _loaded_path
    with _load_lock:
        if _loaded is not None:
            if path is not None and os.path.realpath(path) != os.path.realpath(_loaded_path or ""):
                raise LibraryLoadError(Result.INVALID_ARGUMENT,
                                       f"callconnect is already loaded from {_loaded_path}")
            return _loaded_path or ""
        errors: List[str] = []
        for candidate in [path] if path else _candidates():
            try:
                lib = ctypes.CDLL(candidate)
            except OSError as e:
                errors.append(f"{candidate}: {e}")
                continue
            for name, (restype, argtypes) in _FUNCTIONS.items():
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = argtypes
            running = lib.cc_version().decode()
            major = running.split()[1].split(".")[0] if len(running.split()) > 1 else "?"
            if major != str(ABI_MAJOR):
                raise LibraryLoadError(Result.INTERNAL, f"{candidate} is {running}; this module speaks ABI {ABI_MAJOR}")
            _loaded, _loaded_path = lib, candidate
            logging.getLogger("callconnect").debug("library loaded from %s (%s)", candidate, running)
            return candidate
        raise LibraryLoadError(Result.INTERNAL,
                               "libcallconnect not found (set CALLCONNECT_LIB to its path): " + "; ".join(errors))


def _lib() -> ctypes.CDLL:
    if _loaded is None:
        load_library()
    assert _loaded is not None
    return _loaded


def library_path() -> str:
    """The path the library was loaded from (loading it if needed)."""
    return load_library()


def version() -> str:
    """The running library's version and TLS stack, e.g. "callconnect 0.2.0 (ureq 3, rustls 0.23)"."""
    return _lib().cc_version().decode()


def warm_up(country_code: int = 0) -> None:
    """Loads the phone number metadata now and, for country_code (e.g. 49; 0 for none),
    compiles the patterns its numbers are read with, instead of at the first number. Call
    it before forking workers (a pre-forking server) so that they share the loaded data.
    Raises InvalidArgument for a code that is no country calling code."""
    if not 0 <= country_code <= 0xFFFF:
        raise ValueError("country_code must be 0..65535")
    _check(_lib().cc_warm_up(country_code))


def _error(result: int, http_status: Optional[int] = None) -> CallConnectError:
    """The exception for a failed call; reads the thread's last error at once."""
    lib = _lib()
    message = (lib.cc_last_error_message() or b"").decode("utf-8", "replace")
    code = (lib.cc_last_error_carrier_code() or b"").decode("utf-8", "replace")
    r = Result(result)
    return _ERRORS.get(r, CallConnectError)(r, message, code, http_status)


def _check(result: int) -> None:
    if result != Result.OK:
        raise _error(result)


def _take_string(ptr: c_void_p) -> Optional[str]:
    """Copies a library-owned string and frees it with cc_string_free."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        _lib().cc_string_free(ptr)


def _text(value: str, name: str) -> bytes:
    if not isinstance(value, str):
        raise ArgumentTypeError(Result.INVALID_ARGUMENT, f"{name} must be a str, not {type(value).__name__}")
    if "\0" in value:
        # C would read it only up to the NUL: refused rather than cut.
        raise InvalidArgumentError(Result.INVALID_ARGUMENT, f"{name} contains a NUL character")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(Result.INVALID_ARGUMENT, f"{name} is not valid Unicode text") from None


def _count(value: Optional[int], name: str) -> int:
    """A whole number for a C uint32 (None: 0, the carrier's default)."""
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArgumentTypeError(Result.INVALID_ARGUMENT, f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFF_FFFF:
        raise InvalidArgumentError(Result.INVALID_ARGUMENT, f"{name} must be from 0 to 4294967295")
    return value


def _from_library(what: str, read: Callable[[], Any]) -> Any:
    """Reads data the library returned; what this module cannot represent (a date out of
    range, an amount that is not a decimal) is an `InternalError`, never a bare Python error."""
    try:
        return read()
    except (ValueError, OverflowError, OSError, ArithmeticError, TypeError) as e:
        raise InternalError(Result.INTERNAL, f"the library returned {what} this module cannot read ({e})") from None


def _opt_text(value: Optional[str], name: str) -> Optional[bytes]:
    return None if value is None else _text(value, name)


def _numbers(value: Union[str, Iterable[str]], name: str) -> bytes:
    """One number, or several joined with "|"."""
    if isinstance(value, str):
        return _text(value, name)
    try:
        numbers = list(value)
    except TypeError:
        raise ArgumentTypeError(Result.INVALID_ARGUMENT,
                                f"{name} must be a str or a list of str, not {type(value).__name__}") from None
    return "|".join(_text(n, name).decode() for n in numbers).encode()


def _amount(value: Union[str, decimal.Decimal, "Money"], name: str) -> bytes:
    if isinstance(value, Money):
        value = value.amount
    if isinstance(value, (decimal.Decimal, int)) and not isinstance(value, bool):
        value = str(value)
    return _text(value, name)  # type: ignore[arg-type]


def _day(value: Optional[Union[str, datetime.date]], name: str) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d").encode()
    return _text(value, name)


# ----------------------------------------------------------------------------- handles

class _Handle:
    """An owned library handle, freed once by close(), `with`, or garbage collection."""
    _free_name = ""

    def __init__(self, handle: c_void_p) -> None:
        self._handle: Optional[c_void_p] = handle
        self._lock = threading.Lock()

    def _h(self) -> c_void_p:
        h = self._handle
        if h is None:
            raise InvalidHandleError(Result.INVALID_HANDLE, f"this {type(self).__name__} was closed")
        return h

    def close(self) -> None:
        """Frees the handle (idempotent)."""
        with self._lock:
            h, self._handle = self._handle, None
        if h is not None and _loaded is not None:
            getattr(_loaded, self._free_name)(h)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - a finaliser must not raise
            pass

    # Calls into the library; a new C function is one small method using one of these.
    def _call(self, name: str, *args: Any) -> None:
        _check(getattr(_lib(), name)(self._h(), *args))

    def _call_string(self, name: str, *args: Any) -> Optional[str]:
        """For `cc_result f(handle, ..., char **out)`: the string, freed after copying."""
        out = c_void_p()
        _check(getattr(_lib(), name)(self._h(), *args, byref(out)))
        return _take_string(out)

    def _call_json(self, name: str, *args: Any) -> Any:
        """For functions that return JSON through `char **out`: the parsed value."""
        text = self._call_string(name, *args)
        return None if text is None else _from_library("JSON", lambda: json.loads(text))


class Call(_Handle):
    """A call placed by `Client.start_call` or attached by `Client.attach`. Closing it
    does not end the call (use `hangup()`)."""
    _free_name = "cc_call_free"

    def __init__(self, handle: c_void_p, client: "Client") -> None:
        super().__init__(handle)
        self.client = client  # keeps the client (and so the call's carrier) alive

    def __enter__(self) -> "Call":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> CallStatus:
        """Asks the carrier where the call is (where it can tell)."""
        st = _CallStatus()
        self._call("cc_poll_status", byref(st))
        return _from_library("a call status", lambda: self._read_status(st))

    @staticmethod
    def _read_status(st: "_CallStatus") -> CallStatus:
        cost = st.cost.decode()
        return CallStatus(
            state=State(st.state),
            reason=Reason(st.reason),
            failed_leg=Leg(st.failed_leg),
            flags=StatusFlag(st.flags),
            duration_s=st.duration_s,
            cost=Money(decimal.Decimal(cost), st.currency.decode()) if cost else None,
            raw_status=st.raw_status.decode(),
            last_change=datetime.datetime.fromtimestamp(st.last_change_ms / 1000, datetime.timezone.utc),
        )

    def hangup(self) -> None:
        """Asks the carrier to end the call (a call already over is left alone)."""
        self._call("cc_hangup")

    def ref(self) -> str:
        """A text naming the call (no secret in it), to store and `Client.attach` later."""
        return self._call_string("cc_call_ref") or ""

    @property
    def id(self) -> str:
        """The carrier's id of the call."""
        return self._call_string("cc_call_id") or ""


class Client(_Handle):
    """One carrier account, made from a DSN such as
    `42call://USER:PASSWORD@login.42call.com?default_country=49`. Sends nothing until used."""
    _free_name = "cc_client_free"

    def __init__(self, dsn: str) -> None:
        handle = c_void_p()
        _check(_lib().cc_client_new(_text(dsn, "dsn"), byref(handle)))
        super().__init__(handle)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def capabilities(self) -> Capability:
        """What the carrier can do."""
        return Capability(_lib().cc_capabilities(self._h()))

    def start_call(self, a_number: Union[str, Iterable[str]], b_number: str, *, caller_id: Optional[str] = None,
                   caller_id_b: Optional[str] = None, correlation: Optional[str] = None,
                   max_duration: Optional[int] = None, wait_for_pickup: Optional[int] = None,
                   max_cost: Optional[Union[str, decimal.Decimal]] = None,
                   connect_type: Optional[int] = None, allow_public_transfer: bool = False,
                   video: bool = False) -> Call:
        """Places a two-leg callback: rings A, then bridges to B. Never repeated on a fault:
        `OutcomeUnknownError` means it may have been placed. An option the carrier cannot
        honour raises `UnsupportedError` (it is never ignored).

        `a_number` may be a list of numbers: a ring group (all rung, the first to answer is
        bridged; `Capability.RING_GROUP`). `max_cost` is a decimal ("0.50", a Decimal, or a
        `Money`, whose amount is used) in the account's currency; `max_duration` and
        `wait_for_pickup` are seconds; `caller_id`/`caller_id_b` are shown to A/B
        (VoipNow: "Name <+number>")."""
        a_number = _numbers(a_number, "a_number").decode()
        if isinstance(max_cost, Money):
            max_cost = max_cost.amount
        opts = _CallOptions(
            caller_id=_opt_text(caller_id, "caller_id"),
            caller_id_b=_opt_text(caller_id_b, "caller_id_b"),
            correlation=_opt_text(correlation, "correlation"),
            max_duration_s=_count(max_duration, "max_duration"),
            wait_for_pickup_s=_count(wait_for_pickup, "wait_for_pickup"),
            max_cost=None if max_cost is None else _text(str(max_cost), "max_cost"),
            connect_type=_count(connect_type, "connect_type"),
            flags=(_OPT_ALLOW_PUBLIC_TRANSFER if allow_public_transfer else 0) | (_OPT_VIDEO if video else 0),
        )
        handle = c_void_p()
        self._call("cc_start_call", _text(a_number, "a_number"), _text(b_number, "b_number"),
                   byref(opts), byref(handle))
        return Call(handle, self)

    def attach(self, ref: str) -> Call:
        """Turns a reference from `Call.ref()` (this process or another) back into a call."""
        handle = c_void_p()
        self._call("cc_call_attach", _text(ref, "ref"), byref(handle))
        return Call(handle, self)

    def send_sms(self, recipients: Union[str, Iterable[str]], text: str) -> str:
        """Sends `text` to one number or several; returns the carrier's message id."""
        return self._call_string("cc_send_sms", _numbers(recipients, "recipients"), _text(text, "text")) or ""

    def topup(self, pin: str) -> Optional[Money]:
        """Tops the account up with a PIN; returns the new balance when the carrier says it."""
        balance = self._call_string("cc_topup", _text(pin, "pin"))
        return None if balance is None else _from_library("a balance", lambda: Money.parse(balance))

    def known_balance(self) -> Optional[Money]:
        """The balance the carrier reported last, without asking it; None before any."""
        try:
            balance = self._call_string("cc_known_balance")
        except NotFoundError:
            return None
        return None if balance is None else _from_library("a balance", lambda: Money.parse(balance))

    # Account services (42call; `Capability.ACCOUNT`). JSON results come back decoded, in
    # the shapes of include/schemas/*.schema.json: amounts as {"amount": "0.10",
    # "currency": "EUR"} with decimal strings, dates ISO-8601, durations in seconds.

    def balance(self) -> Balance:
        """Asks the carrier for the balance now (unlike `known_balance()`)."""
        b = _Balance()
        self._call("cc_account_balance", byref(b))
        return _from_library("a balance", lambda: Balance(
            Money(decimal.Decimal(b.amount.decode()), b.currency.decode()),
            b.customer_number.decode(), b.account_number.decode()))

    def account_info(self) -> Dict[str, Any]:
        """Customer name and number, account number, balance, and every account listed."""
        return self._call_json("cc_account_info")

    def rates(self, numbers: Union[str, Iterable[str]]) -> List[Dict[str, Any]]:
        """The price of each number (a list in the same order; `price` None when the
        carrier gave no rate)."""
        return self._call_json("cc_account_rates", _numbers(numbers, "numbers"))

    def call_records(self, day_from: Union[str, datetime.date], day_to: Optional[Union[str, datetime.date]] = None,
                     count: int = 0) -> List[Dict[str, Any]]:
        """Call records for the days `day_from` to `day_to` (both included; None: the one
        day), at most `count` (0: the carrier's default), oldest first."""
        return self._call_json("cc_account_call_records", _day(day_from, "day_from"), _day(day_to, "day_to"), count)

    def callshop_records(self, day_from: Union[str, datetime.date],
                         day_to: Optional[Union[str, datetime.date]] = None, count: int = 0) -> List[Dict[str, Any]]:
        """As `call_records`, from a callshop account's record list."""
        return self._call_json("cc_account_callshop_records", _day(day_from, "day_from"), _day(day_to, "day_to"),
                               count)

    def number_check(self, number: str) -> Dict[str, Any]:
        """What the carrier knows of a number (`NotFoundError` when nothing)."""
        return self._call_json("cc_account_number_check", _text(number, "number"))

    def dialin_numbers(self) -> Dict[str, Any]:
        """The account's dial-in and callback numbers by country."""
        return self._call_json("cc_account_dialin_numbers")

    def store_callthrough(self, a_number: str, b_number: str) -> Dict[str, Any]:
        """When `a_number` calls the dial-in number, connect it to `b_number`; returns the
        dial-in numbers as after `dialin_numbers()`."""
        return self._call_json("cc_account_store_callthrough", _text(a_number, "a_number"), _text(b_number, "b_number"))

    def voip_lines(self, include_passwords: bool = False) -> List[Dict[str, Any]]:
        """The VoIP lines; SIP passwords only with `include_passwords` (secrets)."""
        return self._call_json("cc_account_voip_lines", bool(include_passwords))

    def card_create(self, number: str, amount: Union[str, decimal.Decimal, Money], *, customer: Optional[str] = None,
                    send_sms: bool = False, sms_text: Optional[str] = None) -> Dict[str, Any]:
        """Creates a calling card with `amount` of credit (its PIN is in the result); with
        `send_sms` the carrier texts the customer `sms_text` (or its own template). Never
        repeated: `OutcomeUnknownError` means it may exist (see `card_show`)."""
        return self._call_json("cc_card_create", _text(number, "number"), _opt_text(customer, "customer"),
                               _amount(amount, "amount"), bool(send_sms), _opt_text(sms_text, "sms_text"))

    def card_show(self, number: str) -> Dict[str, Any]:
        """The calling card of `number` (`NotFoundError` when none)."""
        return self._call_json("cc_card_show", _text(number, "number"))

    def card_block(self, number: str) -> Dict[str, Any]:
        """Blocks the card; returns it (`"active": False`)."""
        return self._call_json("cc_card_block", _text(number, "number"))

    def card_unblock(self, number: str) -> Dict[str, Any]:
        """Unblocks the card; returns it."""
        return self._call_json("cc_card_unblock", _text(number, "number"))

    def card_disable(self, number: str) -> Dict[str, Any]:
        """Disables the card (needs `realm` in the DSN); returns it."""
        return self._call_json("cc_card_disable", _text(number, "number"))

    def card_change_number(self, number: str, new_number: str) -> Dict[str, Any]:
        """Moves the card to `new_number` (needs `realm`); returns it."""
        return self._call_json("cc_card_change_number", _text(number, "number"), _text(new_number, "new_number"))

    def card_activate(self, number: str, pin: str) -> Dict[str, Any]:
        """Activates the card with its PIN (needs `realm`; never logged); returns it."""
        return self._call_json("cc_card_activate", _text(number, "number"), _text(pin, "pin"))

    def ingest_event(self, query: str) -> int:
        """Takes one event from a carrier that calls the host back (PokeTALK's EventURL):
        `query` is the hit's query string (a leading "?" or a whole "/path?query" is taken
        too). Returns the HTTP status to answer with: 200 taken, 412 taken and the carrier
        is asked to end the call. On failure raises the typed error (`AuthError` for a
        forged token, `NotFoundError` for a call unknown here, ...) whose `http_status` is
        the status to answer (400, 403, 404, 500)."""
        status = ctypes.c_int(500)
        result = _lib().cc_event_ingest(self._h(), _text(query, "query"), byref(status))
        if result != Result.OK:
            raise _error(result, status.value)
        return status.value


# ----------------------------------------------------------------------------- logging

_LIBRARY_TO_LOGGING = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}
_log_callback: Optional[Any] = None  # the CFUNCTYPE object: kept so it is never collected


def enable_logging(level: int = logging.DEBUG, logger: Optional[logging.Logger] = None) -> None:
    """Sends the library's log lines at `level` (a `logging` level) and above to `logger`
    (default: the logger named "callconnect"). Secrets never appear in them. The lines
    come from whichever thread called into the library."""
    global _log_callback
    target = logger if logger is not None else logging.getLogger("callconnect")
    if level <= logging.DEBUG:
        library_level = LogLevel.DEBUG
    elif level <= logging.INFO:
        library_level = LogLevel.INFO
    elif level <= logging.WARNING:
        library_level = LogLevel.WARN
    else:
        library_level = LogLevel.ERROR

    def deliver(lvl: int, message: Optional[bytes], _userdata: Optional[int]) -> None:
        try:
            target.log(_LIBRARY_TO_LOGGING.get(lvl, logging.DEBUG),
                       (message or b"").decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - nothing may unwind into the library
            pass

    callback = _LOG_CALLBACK(deliver)
    _check(_lib().cc_set_log_callback(library_level, callback, None))
    if _log_callback is None:
        # Before the interpreter tears down: finalisers that free handles may still log.
        atexit.register(_disable_at_exit)
    _log_callback = callback  # the previous one is no longer called: it may go


def disable_logging() -> None:
    """Stops sending log lines to `logging` (CALLCONNECT_LOG applies again)."""
    global _log_callback
    _check(_lib().cc_set_log_callback(LogLevel.OFF, _LOG_CALLBACK(), None))
    if _log_callback is not None:
        atexit.unregister(_disable_at_exit)
    _log_callback = None


def _disable_at_exit() -> None:
    if _log_callback is not None and _loaded is not None:
        _loaded.cc_set_log_callback(LogLevel.OFF, _LOG_CALLBACK(), None)


def _live_handles() -> Tuple[int, int]:
    """(clients, calls) alive in the library: for leak checks in tests."""
    clients, calls = c_size_t(), c_size_t()
    _check(_lib().cc_live_handles(byref(clients), byref(calls)))
    return clients.value, calls.value

