<?php
/*
 * callconnect for PHP: two-leg callback calls, SMS and PIN top-up over several carriers'
 * HTTP APIs, through the library's C ABI. One file, PHP's FFI extension only.
 *
 *   require 'CallConnect.php';
 *   $client = new CallConnect\Client('42call://USER:PASSWORD@login.42call.com?default_country=49');
 *   $call = $client->startCall('0171 1234567', '030 1234567');
 *   echo $call->status()->state, "\n";          // INITIATING, RINGING_A, ... ENDED, FAILED
 *   $_SESSION['call'] = $call->ref();           // and in the next request:
 *   $client->attach($_SESSION['call'])->hangup();
 *
 * Every failure throws a subclass of CallConnect\Exception (one per cc_result:
 * AuthException, OutcomeUnknownException, InvalidNumberException, ...) with getResult()
 * and getCarrierCode(); so do arguments the library cannot take (a NUL byte, an option
 * that is not a whole number: InvalidArgumentException), a library that cannot be loaded
 * (LibraryException) and data this class cannot read (InternalException). Handles are
 * freed by destructors.
 *
 * The library is loaded (once per process) by, in this order: a library path given to
 * the Client constructor (FFI::cdef); FFI::scope("CALLCONNECT") when the header was
 * preloaded (ffi.preload, as under PHP-FPM); the environment variable CALLCONNECT_LIB
 * (FFI::cdef; then nothing else); FFI::load of a PHP header whose FFI_LIB names the
 * installed library: CALLCONNECT_HEADER, the one `make install` wrote into this file;
 * the source tree's target/release, then target/debug (when this file sits in one); the
 * installed header callconnect.pc leads to (PKG_CONFIG_PATH, then pkg-config's default
 * directories, which PKG_CONFIG_LIBDIR replaces); last the source tree's header, whose
 * FFI_LIB is the soname (the system loader's path).
 * Library::loadedFrom() says which; CALLCONNECT_LOG=debug logs it.
 * See docs/host-php.md for PHP-FPM (ffi.preload with opcache.preload) and Composer.
 */
declare(strict_types=1);

namespace CallConnect;

use FFI;
use FFI\CData;

/** Loads the library and holds the one FFI instance of the process. */
final class Library
{
    /** `make install` writes the installed PHP header's path here. */
    private const INSTALLED_HEADER = null;
    /** The ABI generation this file speaks (the soname is libcallconnect.so.ABI_MAJOR). */
    public const ABI_MAJOR = 0;

    /** pkg-config's default search path on Debian (x86_64), /usr/local first. */
    private const PKG_CONFIG_DEFAULT = ['/usr/local/lib/x86_64-linux-gnu/pkgconfig', '/usr/local/lib/pkgconfig',
        '/usr/local/share/pkgconfig', '/usr/lib/x86_64-linux-gnu/pkgconfig', '/usr/lib/pkgconfig',
        '/usr/share/pkgconfig'];

    private static ?FFI $ffi = null;
    private static string $from = '';

    /** The FFI instance, loading the library on first use (see the file's comment). */
    public static function ffi(?string $library = null): FFI
    {
        if (self::$ffi !== null) {
            return self::$ffi;
        }
        $errors = [];
        foreach (self::attempts($library) as [$how, $what]) {
            try {
                $ffi = match ($how) {
                    'scope' => FFI::scope($what),
                    'load' => FFI::load($what),
                    'cdef' => FFI::cdef(self::declarations(), $what),
                };
            } catch (\Throwable $e) {
                $errors[] = "$how $what: " . $e->getMessage();
                continue;
            }
            if ($ffi === null) {
                $errors[] = "$how $what: failed";
                continue;
            }
            self::check($ffi, "$how $what");
            self::$ffi = $ffi;
            self::$from = "$how $what";
            if (getenv('CALLCONNECT_LOG') === 'debug') {
                error_log('callconnect debug: library loaded by ' . self::$from);
            }
            return $ffi;
        }
        throw new LibraryException('libcallconnect could not be loaded (set CALLCONNECT_LIB to its path): '
            . implode('; ', $errors), Result::INTERNAL);
    }

    /**
     * Where to look, in order: [how, what].
     * The release build comes before the debug build wherever both could be found.
     *
     * @return list<array{string, string}>
     */
    private static function attempts(?string $library): array
    {
        if ($library !== null) {
            return [['cdef', $library]];
        }
        $attempts = [['scope', 'CALLCONNECT']];
        $env = getenv('CALLCONNECT_LIB');
        if (is_string($env) && $env !== '') {
            $attempts[] = ['cdef', $env];
            return $attempts;  // an explicit choice is the only one tried after a preload
        }
        $header = getenv('CALLCONNECT_HEADER');
        if (is_string($header) && $header !== '') {
            $attempts[] = ['load', $header];
        }
        if (self::INSTALLED_HEADER !== null) {
            $attempts[] = ['load', self::INSTALLED_HEADER];
        }
        foreach (['release', 'debug'] as $profile) {
            $built = dirname(__DIR__, 2) . "/target/$profile/libcallconnect.so";
            if (is_file($built)) {
                $attempts[] = ['cdef', $built];
            }
        }
        foreach (self::pkgConfigHeaders() as $installed) {
            $attempts[] = ['load', $installed];
        }
        // The source tree's header, whose FFI_LIB names the soname: the system loader's path.
        $attempts[] = ['load', dirname(__DIR__, 2) . '/include/callconnect_php.h'];
        return $attempts;
    }

    /**
     * The installed PHP headers that pkg-config's search path leads to: callconnect.pc in
     * PKG_CONFIG_PATH, then in pkg-config's default directories; its includedir holds the
     * PHP header, whose FFI_LIB names the installed library by its full path.
     *
     * @return list<string>
     */
    public static function pkgConfigHeaders(): array
    {
        $path = getenv('PKG_CONFIG_PATH');
        $dirs = is_string($path) && $path !== '' ? explode(':', $path) : [];
        $libdir = getenv('PKG_CONFIG_LIBDIR');  // as for pkg-config: replaces the default directories
        array_push($dirs, ...(is_string($libdir) ? explode(':', $libdir) : self::PKG_CONFIG_DEFAULT));
        $found = [];
        foreach (array_unique(array_filter($dirs)) as $dir) {
            $pc = @file_get_contents("$dir/callconnect.pc");
            if ($pc === false) {
                continue;
            }
            $vars = [];
            foreach (preg_split('/\R/', $pc) as $line) {
                if (preg_match('/^([A-Za-z_][A-Za-z0-9_.]*)=(.*)$/', $line, $m)) {
                    $vars[$m[1]] = preg_replace_callback('/\$\{([^}]+)\}/', fn ($v) => $vars[$v[1]] ?? '', trim($m[2]));
                }
            }
            if (isset($vars['includedir']) && is_file($vars['includedir'] . '/callconnect_php.h')) {
                $found[] = $vars['includedir'] . '/callconnect_php.h';
            }
        }
        return array_values(array_unique($found));
    }

    /** How the library was loaded, e.g. "load /usr/local/include/callconnect_php.h". */
    public static function loadedFrom(): string
    {
        self::ffi();
        return self::$from;
    }

    /** The running library's version and TLS stack ("callconnect 0.2.0 (ureq 3, rustls 0.23)"). */
    public static function version(): string
    {
        return self::ffi()->cc_version();
    }

    /**
     * Loads the phone number metadata now and, for $countryCode (e.g. 49; 0 for none),
     * compiles the patterns its numbers are read with, instead of at a worker's first
     * number. In an opcache.preload script, after preload(), the PHP-FPM master does it
     * once and every worker forked from it shares the loaded data. Throws for a code that
     * is no country calling code.
     */
    public static function warmUp(int $countryCode = 0): void
    {
        if ($countryCode < 0 || $countryCode > 0xFFFF) {
            throw new \InvalidArgumentException('country code must be 0..65535');
        }
        $r = self::ffi()->cc_warm_up($countryCode);
        if ($r !== 0) {
            self::fail($r);
        }
    }

    /**
     * For opcache.preload: loads the PHP header so that requests find it with
     * FFI::scope("CALLCONNECT") under ffi.enable=preload (PHP-FPM's default).
     */
    public static function preload(?string $header = null): void
    {
        FFI::load($header ?? self::header());
    }

    /** The PHP header: CALLCONNECT_HEADER, the installed one, or the source tree's. */
    public static function header(): string
    {
        $env = getenv('CALLCONNECT_HEADER');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        return self::INSTALLED_HEADER ?? dirname(__DIR__, 2) . '/include/callconnect_php.h';
    }

    /** The header's declarations without its two #define lines, for FFI::cdef. */
    private static function declarations(): string
    {
        $header = self::header();
        $text = @file_get_contents($header);
        if ($text === false) {
            throw new LibraryException("cannot read the PHP header $header (set CALLCONNECT_HEADER to its path)", Result::INTERNAL);
        }
        return preg_replace('/^#.*$/m', '', $text);
    }

    private static function check(FFI $ffi, string $from): void
    {
        $running = (string) $ffi->cc_version();
        if (!preg_match('/^callconnect (\d+)\./', $running, $m) || (int) $m[1] !== self::ABI_MAJOR) {
            throw new LibraryException("$from gives '$running'; this file speaks ABI " . self::ABI_MAJOR, Result::INTERNAL);
        }
    }

    /** Throws the exception for a failed call; reads this thread's last error at once. */
    public static function fail(int $result): never
    {
        throw self::error($result);
    }

    /** The exception for a failed call (not thrown); reads this thread's last error at once. */
    public static function error(int $result, ?int $httpStatus = null): Exception
    {
        $ffi = self::ffi();
        $class = Exception::CLASSES[$result] ?? Exception::class;
        return new $class(
            (string) $ffi->cc_last_error_message(),
            $result,
            (string) $ffi->cc_last_error_carrier_code(),
            $httpStatus
        );
    }

    /** Copies a library-owned string (char *) and frees it; null for NULL. */
    public static function takeString(CData $ptr): ?string
    {
        if (FFI::isNull($ptr)) {
            return null;
        }
        $text = FFI::string($ptr);
        self::ffi()->cc_string_free($ptr);
        return $text;
    }

    /** A NUL-terminated copy of $text that lives as long as the returned CData. */
    public static function cString(string $text): CData
    {
        $buf = self::ffi()->new('char[' . (strlen($text) + 1) . ']');
        FFI::memcpy($buf, $text, strlen($text));
        return $buf;
    }
}

/** cc_result values. */
final class Result
{
    public const OK = 0;
    public const INVALID_ARGUMENT = 1;
    public const INVALID_HANDLE = 2;
    public const INVALID_NUMBER = 3;
    public const UNSUPPORTED = 4;
    public const AUTH = 5;
    public const INSUFFICIENT_FUNDS = 6;
    public const NETWORK = 7;
    public const TIMEOUT = 8;
    public const PROTOCOL = 9;
    public const PROVIDER = 10;
    public const OUTCOME_UNKNOWN = 11;
    public const INTERNAL = 12;
    public const NOT_FOUND = 13;
    public const BUSY = 14;
}

/** cc_capability bits, as Client::capabilities() returns them. */
final class Capability
{
    public const CALLBACK = 1;
    public const LIVE_STATUS = 2;
    public const HANGUP = 4;
    public const SMS = 8;
    public const TOPUP = 16;
    public const EVENTS = 32;
    public const RING_GROUP = 64;
    public const CALLER_ID = 128;
    public const ACCOUNT = 256;
    public const IDEMPOTENT_START = 512;
    public const MAX_DURATION = 1024;
    public const WAIT_FOR_PICKUP = 2048;
    public const MAX_COST = 4096;
    public const CONNECT_TYPE = 8192;
    public const CALL_FLAGS = 16384;
}

/**
 * A failed library call. getResult() is the cc_result, getResultName() its name,
 * getCarrierCode() the carrier's own code ("" when it gave none). Never holds a secret.
 */
class Exception extends \RuntimeException
{
    /** cc_result => the exception class thrown for it. */
    public const CLASSES = [
        Result::INVALID_ARGUMENT => InvalidArgumentException::class,
        Result::INVALID_HANDLE => InvalidHandleException::class,
        Result::INVALID_NUMBER => InvalidNumberException::class,
        Result::UNSUPPORTED => UnsupportedException::class,
        Result::AUTH => AuthException::class,
        Result::INSUFFICIENT_FUNDS => InsufficientFundsException::class,
        Result::NETWORK => NetworkException::class,
        Result::TIMEOUT => TimeoutException::class,
        Result::PROTOCOL => ProtocolException::class,
        Result::PROVIDER => ProviderException::class,
        Result::OUTCOME_UNKNOWN => OutcomeUnknownException::class,
        Result::INTERNAL => InternalException::class,
        Result::NOT_FOUND => NotFoundException::class,
        Result::BUSY => BusyException::class,
    ];

    public function __construct(
        string $message,
        private readonly int $result,
        private readonly string $carrierCode = '',
        private readonly ?int $httpStatus = null,
    ) {
        parent::__construct($message, $result);
    }

    /** For Event::ingest(): the HTTP status to answer the carrier with (400, 403, 404,
     *  500); null for other calls. */
    public function getHttpStatus(): ?int
    {
        return $this->httpStatus;
    }

    public function getResult(): int
    {
        return $this->result;
    }

    public function getResultName(): string
    {
        return (string) Library::ffi()->cc_result_name($this->result);
    }

    public function getCarrierCode(): string
    {
        return $this->carrierCode;
    }
}

/** An argument is empty, malformed or too long, or the DSN is not valid. */
class InvalidArgumentException extends Exception {}
/** The client or call was closed (or its client was), or it was made in the parent of
 *  this forked process (pcntl_fork: make a client in each worker). */
class InvalidHandleException extends Exception {}
/** A phone number cannot be a real number (nothing was sent). */
class InvalidNumberException extends Exception {}
/** The carrier cannot do this, or cannot honour one of the options. */
class UnsupportedException extends Exception {}
/** The carrier refused the credentials (or the caller's IP address). */
class AuthException extends Exception {}
/** The account has too little credit. */
class InsufficientFundsException extends Exception {}
/** The carrier could not be reached; nothing was acted on. */
class NetworkException extends Exception {}
/** The carrier did not answer within the DSN's timeout_ms. */
class TimeoutException extends Exception {}
/** The carrier's reply was malformed. */
class ProtocolException extends Exception {}
/** The carrier understood and said no: see getCarrierCode(). */
class ProviderException extends Exception {}
/** A call start, SMS or top-up may or may not have reached the carrier. It was NOT
 *  repeated: ask a person or the carrier before trying again. */
class OutcomeUnknownException extends Exception {}
/** A bug inside the library (caught; the process is safe), or data from it this class
 *  cannot read. */
class InternalException extends Exception {}
/** libcallconnect or its PHP header could not be loaded, or it speaks another ABI. */
class LibraryException extends InternalException {}
/** The thing asked about does not exist at the carrier. */
class NotFoundException extends Exception {}
/** The request is valid but cannot be served now. */
class BusyException extends Exception {}

/** An amount as the carrier stated it: a decimal string, never a float. */
final class Money implements \Stringable
{
    public function __construct(public readonly string $amount, public readonly string $currency)
    {
    }

    /** Reads the library's form, "28.40 EUR". */
    public static function parse(string $text): self
    {
        [$amount, $currency] = array_pad(explode(' ', $text, 2), 2, '');
        return new self($amount, $currency);
    }

    public function __toString(): string
    {
        return trim("$this->amount $this->currency");
    }
}

/** The account's balance as the carrier reported it just now (Client::balance()). */
final class Balance
{
    public function __construct(
        public readonly Money $balance,
        public readonly string $customerNumber,
        public readonly string $accountNumber,
    ) {
    }
}

/** A call's status (cc_call_status): the state by name and by number, and the rest. */
final class CallStatus
{
    public function __construct(
        /** "INITIATING", "RINGING_A", "A_ANSWERED", "RINGING_B", "CONNECTED", "ENDED", "FAILED" */
        public readonly string $state,
        public readonly int $stateCode,
        /** "NONE", "BUSY", "NO_ANSWER", "REJECTED", "INSUFFICIENT_FUNDS", "INVALID_NUMBER",
         *  "CANCELLED", "PROVIDER_ERROR", "UNKNOWN" */
        public readonly string $reason,
        public readonly int $reasonCode,
        /** "A", "B" or "" */
        public readonly string $failedLeg,
        /** cc_status_flag bits */
        public readonly int $flags,
        public readonly int $durationS,
        public readonly ?Money $cost,
        /** The carrier's own status code ("" when none). */
        public readonly string $rawStatus,
        /** When the state last changed, ms since 1970 (UTC). */
        public readonly int $lastChangeMs,
    ) {
    }

    public const FLAG_LIVE = 1;
    public const FLAG_HANGUP_PENDING = 2;
    public const FLAG_TIMED_OUT = 4;

    public function isFinal(): bool
    {
        return $this->state === 'ENDED' || $this->state === 'FAILED';
    }

    /** Whether the carrier reports this call's progress (without it, the state says only
     *  what the library itself did). */
    public function isLive(): bool
    {
        return ($this->flags & self::FLAG_LIVE) !== 0;
    }

    public function toArray(): array
    {
        $a = get_object_vars($this);
        $a['cost'] = $this->cost?->__toString();
        return $a;
    }
}

/** The library's log (cc_set_log_callback), handed to a PHP callable. */
final class Log
{
    public const OFF = 0;
    public const ERROR = 1;
    public const WARN = 2;
    public const INFO = 3;
    public const DEBUG = 4;
    private const NAMES = [1 => 'error', 2 => 'warning', 3 => 'info', 4 => 'debug'];

    /** The closure given to the library: kept so that it lives as long as it is installed. */
    private static ?\Closure $installed = null;
    private static bool $shutdownHook = false;

    /**
     * Sends log lines up to $level to $handler(string $level, string $message, int $code),
     * $level being "error", "warning", "info" or "debug" (PSR-3 names: a PSR-3 logger is
     * `fn($l, $m) => $logger->log($l, $m)`). null removes the handler. Secrets never
     * appear in the lines. Removed at the end of the request, before PHP frees the closure.
     */
    public static function setHandler(?callable $handler, int $level = self::DEBUG): void
    {
        $ffi = Library::ffi();
        if ($handler === null) {
            $r = $ffi->cc_set_log_callback(self::OFF, null, null);
            self::$installed = null;
        } else {
            $closure = static function (int $code, ?string $message, $userdata) use ($handler): void {
                try {
                    $handler(self::NAMES[$code] ?? 'debug', (string) $message, $code);
                } catch (\Throwable) {
                    // Nothing may unwind into the library.
                }
            };
            $r = $ffi->cc_set_log_callback($level, $closure, null);
            if ($r === Result::OK) {
                self::$installed = $closure;
                if (!self::$shutdownHook) {
                    register_shutdown_function(static fn () => Log::setHandler(null));
                    self::$shutdownHook = true;
                }
                if ($level >= self::DEBUG) {
                    $closure(self::DEBUG, 'library loaded by ' . Library::loadedFrom(), null);
                }
            }
        }
        if ($r !== Result::OK) {
            Library::fail($r);
        }
    }
}

/** Owns one library handle; frees it once, by close() or the destructor. */
abstract class Handle
{
    protected ?CData $handle;
    protected FFI $ffi;

    protected function __construct(CData $handle, FFI $ffi)
    {
        $this->handle = $handle;
        $this->ffi = $ffi;
    }

    abstract protected function free(CData $handle): void;

    /** Frees the handle (idempotent). */
    public function close(): void
    {
        if ($this->handle !== null) {
            $h = $this->handle;
            $this->handle = null;
            $this->free($h);
        }
    }

    public function __destruct()
    {
        $this->close();
    }

    protected function h(): CData
    {
        if ($this->handle === null) {
            throw new InvalidHandleException(static::class . ' was closed', Result::INVALID_HANDLE);
        }
        return $this->handle;
    }

    // Calls into the library; a new C function is one small method using one of these.

    /** `cc_result f(handle, ...)`: throws on failure. */
    protected function call(string $function, mixed ...$args): void
    {
        foreach ($args as $arg) {
            if (is_string($arg) && str_contains($arg, "\0")) {
                // C would read it only up to the NUL: refused rather than cut.
                throw new InvalidArgumentException('an argument contains a NUL byte', Result::INVALID_ARGUMENT);
            }
        }
        try {
            $r = $this->ffi->$function($this->h(), ...$args);
        } catch (\FFI\Exception $e) {
            throw new InvalidArgumentException("$function: " . $e->getMessage(), Result::INVALID_ARGUMENT);
        }
        if ($r !== Result::OK) {
            Library::fail($r);
        }
    }

    /** `cc_result f(handle, ..., char **out)`: the string (null for NULL), freed after copying. */
    protected function callString(string $function, mixed ...$args): ?string
    {
        $out = $this->ffi->new('char*');
        $this->call($function, ...[...$args, FFI::addr($out)]);
        return Library::takeString($out);
    }

    /** `cc_result f(handle, ..., char **out)` returning JSON: the decoded array. */
    protected function callJson(string $function, mixed ...$args): mixed
    {
        $text = $this->callString($function, ...$args);
        try {
            return $text === null ? null : json_decode($text, true, 512, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new InternalException("$function returned JSON this class cannot read: " . $e->getMessage(), Result::INTERNAL);
        }
    }
}

/** A call placed by Client::startCall() or attached by Client::attach(). Freeing it
 *  (destructor) does not end the call: use hangup(). */
final class Call extends Handle
{
    /** @internal made by Client */
    public function __construct(CData $handle, FFI $ffi, private readonly Client $client)
    {
        parent::__construct($handle, $ffi);
    }

    protected function free(CData $handle): void
    {
        $this->ffi->cc_call_free($handle);
    }

    public function client(): Client
    {
        return $this->client;
    }

    /** Asks the carrier where the call is (where it can tell). */
    public function status(): CallStatus
    {
        $st = $this->ffi->new('cc_call_status');
        $this->call('cc_poll_status', FFI::addr($st));
        $cost = FFI::string($st->cost);
        return new CallStatus(
            state: (string) $this->ffi->cc_state_name($st->state),
            stateCode: $st->state,
            reason: (string) $this->ffi->cc_reason_name($st->reason),
            reasonCode: $st->reason,
            failedLeg: [1 => 'A', 2 => 'B'][$st->failed_leg] ?? '',
            flags: $st->flags,
            durationS: $st->duration_s,
            cost: $cost === '' ? null : new Money($cost, FFI::string($st->currency)),
            rawStatus: FFI::string($st->raw_status),
            lastChangeMs: $st->last_change_ms,
        );
    }

    /** Asks the carrier to end the call (a call already over is left alone). */
    public function hangup(): void
    {
        $this->call('cc_hangup');
    }

    /** A text naming the call (no secret in it): store it in the session, and turn it back
     *  into a call with Client::attach() in the next request. */
    public function ref(): string
    {
        return (string) $this->callString('cc_call_ref');
    }

    /** The carrier's id of the call. */
    public function id(): string
    {
        return (string) $this->callString('cc_call_id');
    }
}

/** One carrier account, made from a DSN. Sends nothing until used. */
final class Client extends Handle
{
    private const OPTIONS = ['caller_id', 'caller_id_b', 'correlation', 'max_duration', 'wait_for_pickup',
        'max_cost', 'connect_type', 'allow_public_transfer', 'video'];

    /**
     * @param string $dsn e.g. "42call://USER:PASSWORD@login.42call.com?default_country=49"
     * @param string|null $library the library's path, when it is not installed where the
     *                             PHP header says (used on first load only)
     */
    public function __construct(string $dsn, ?string $library = null)
    {
        $ffi = Library::ffi($library);
        if (str_contains($dsn, "\0")) {
            throw new InvalidArgumentException('the DSN contains a NUL byte', Result::INVALID_ARGUMENT);
        }
        $h = $ffi->new('cc_client*');
        $r = $ffi->cc_client_new($dsn, FFI::addr($h));
        if ($r !== Result::OK) {
            Library::fail($r);
        }
        parent::__construct($h, $ffi);
    }

    protected function free(CData $handle): void
    {
        $this->ffi->cc_client_free($handle);
    }

    /** The carrier's Capability bits. */
    public function capabilities(): int
    {
        return $this->ffi->cc_capabilities($this->h());
    }

    /**
     * Places a two-leg callback: rings A, then bridges to B. Never repeated on a fault:
     * OutcomeUnknownException means it may have been placed.
     *
     * @param string|string[] $a  one number, or a ring group: several numbers, all rung, the
     *   first to answer bridged (Capability::RING_GROUP)
     * @param array{caller_id?: string, caller_id_b?: string, correlation?: string,
     *   max_duration?: int, wait_for_pickup?: int, max_cost?: string|Money, connect_type?: int,
     *   allow_public_transfer?: bool, video?: bool} $options  An option the carrier cannot
     *   honour throws UnsupportedException; an unknown key InvalidArgumentException.
     *   max_cost is a decimal string ("0.50") or a Money (its amount is used).
     */
    public function startCall(string|array $a, string $b, array $options = []): Call
    {
        if (is_array($a)) {
            $a = implode('|', array_map('strval', $a));
        }
        if (($options['max_cost'] ?? null) instanceof Money) {
            $options['max_cost'] = $options['max_cost']->amount;
        }
        $unknown = array_diff(array_keys($options), self::OPTIONS);
        if ($unknown) {
            throw new InvalidArgumentException('unknown call option(s): ' . implode(', ', $unknown), Result::INVALID_ARGUMENT);
        }
        $o = $this->ffi->new('cc_call_options');
        $keep = [];  // the option strings' buffers, alive until the call returns
        foreach (['caller_id', 'caller_id_b', 'correlation', 'max_cost'] as $key) {
            if (isset($options[$key])) {
                $keep[$key] = Library::cString((string) $options[$key]);
                $o->$key = $this->ffi->cast('const char*', $keep[$key]);
            }
        }
        $o->max_duration_s = self::count($options, 'max_duration');
        $o->wait_for_pickup_s = self::count($options, 'wait_for_pickup');
        $o->connect_type = self::count($options, 'connect_type');
        $o->flags = (!empty($options['allow_public_transfer']) ? 1 : 0) | (!empty($options['video']) ? 2 : 0);
        $call = $this->ffi->new('cc_call*');
        $this->call('cc_start_call', $a, $b, FFI::addr($o), FFI::addr($call));
        return new Call($call, $this->ffi, $this);
    }

    /** A whole-number option for a C uint32 (absent: 0, the carrier's default). */
    private static function count(array $options, string $key): int
    {
        $v = $options[$key] ?? 0;
        if (!is_int($v)) {
            throw new InvalidArgumentException("option $key must be an int, not " . get_debug_type($v), Result::INVALID_ARGUMENT);
        }
        if ($v < 0 || $v > 0xFFFFFFFF) {
            throw new InvalidArgumentException("option $key must be from 0 to 4294967295", Result::INVALID_ARGUMENT);
        }
        return $v;
    }

    /** Turns a reference from Call::ref() (this request or an earlier one) back into a call.
     *  One altered, cut, unsigned or of another account throws InvalidArgumentException. */
    public function attach(string $ref): Call
    {
        $call = $this->ffi->new('cc_call*');
        $this->call('cc_call_attach', $ref, FFI::addr($call));
        return new Call($call, $this->ffi, $this);
    }

    /**
     * Sends $text to one number or several; returns the carrier's message id.
     * @param string|string[] $recipients
     */
    public function sendSms(string|array $recipients, string $text): string
    {
        if (is_array($recipients)) {
            $recipients = implode('|', $recipients);
        }
        return (string) $this->callString('cc_send_sms', $recipients, $text);
    }

    /** Tops the account up with a PIN; the new balance when the carrier says it. */
    public function topup(string $pin): ?Money
    {
        $balance = $this->callString('cc_topup', $pin);
        return $balance === null ? null : Money::parse($balance);
    }

    /** The balance the carrier reported last, without asking it; null before any. */
    public function knownBalance(): ?Money
    {
        try {
            $balance = $this->callString('cc_known_balance');
        } catch (NotFoundException) {
            return null;
        }
        return $balance === null ? null : Money::parse($balance);
    }

    // Account services (42call; Capability::ACCOUNT). JSON results come back as decoded
    // arrays in the shapes of include/schemas/*.schema.json: amounts as
    // ['amount' => '0.10', 'currency' => 'EUR'] with decimal strings, dates ISO-8601,
    // durations in seconds.

    /** Asks the carrier for the balance now (unlike knownBalance()). */
    public function balance(): Balance
    {
        $b = $this->ffi->new('cc_balance');
        $this->call('cc_account_balance', FFI::addr($b));
        return new Balance(
            new Money(FFI::string($b->amount), FFI::string($b->currency)),
            FFI::string($b->customer_number),
            FFI::string($b->account_number),
        );
    }

    /** Customer name and number, account number, balance, and every account listed. */
    public function accountInfo(): array
    {
        return $this->callJson('cc_account_info');
    }

    /**
     * The price of each number, a list in the same order ('price' null when the carrier
     * gave no rate).
     * @param string|string[] $numbers
     */
    public function rates(string|array $numbers): array
    {
        return $this->callJson('cc_account_rates', is_array($numbers) ? implode('|', $numbers) : $numbers);
    }

    /** Call records for the days $from to $to (both included; null: the one day), at most
     *  $count (0: the carrier's default), oldest first. Days as "YYYY-MM-DD" or dates. */
    public function callRecords(string|\DateTimeInterface $from, string|\DateTimeInterface|null $to = null, int $count = 0): array
    {
        return $this->callJson('cc_account_call_records', self::day($from), self::day($to), $count);
    }

    /** As callRecords(), from a callshop account's record list. */
    public function callshopRecords(string|\DateTimeInterface $from, string|\DateTimeInterface|null $to = null, int $count = 0): array
    {
        return $this->callJson('cc_account_callshop_records', self::day($from), self::day($to), $count);
    }

    /** What the carrier knows of a number (NotFoundException when nothing). */
    public function numberCheck(string $number): array
    {
        return $this->callJson('cc_account_number_check', $number);
    }

    /** The account's dial-in and callback numbers by country. */
    public function dialinNumbers(): array
    {
        return $this->callJson('cc_account_dialin_numbers');
    }

    /** When $a calls the dial-in number, connect it to $b; returns the dial-in numbers. */
    public function storeCallthrough(string $a, string $b): array
    {
        return $this->callJson('cc_account_store_callthrough', $a, $b);
    }

    /** The VoIP lines; SIP passwords only with $includePasswords (secrets). */
    public function voipLines(bool $includePasswords = false): array
    {
        return $this->callJson('cc_account_voip_lines', $includePasswords);
    }

    /**
     * Creates a calling card with $amount of credit ("5.00" or a Money; its PIN is in the
     * result). With $sendSms the carrier texts the customer $smsText (or its own template).
     * Never repeated: OutcomeUnknownException means it may exist (see cardShow()).
     */
    public function cardCreate(string $number, string|Money $amount, ?string $customer = null,
        bool $sendSms = false, ?string $smsText = null): array
    {
        $amount = $amount instanceof Money ? $amount->amount : $amount;
        return $this->callJson('cc_card_create', $number, $customer, $amount, $sendSms, $smsText);
    }

    /** The calling card of $number (NotFoundException when none). */
    public function cardShow(string $number): array
    {
        return $this->callJson('cc_card_show', $number);
    }

    /** Blocks the card; returns it ('active' false). */
    public function cardBlock(string $number): array
    {
        return $this->callJson('cc_card_block', $number);
    }

    /** Unblocks the card; returns it. */
    public function cardUnblock(string $number): array
    {
        return $this->callJson('cc_card_unblock', $number);
    }

    /** Disables the card (needs realm in the DSN); returns it. */
    public function cardDisable(string $number): array
    {
        return $this->callJson('cc_card_disable', $number);
    }

    /** Moves the card to $newNumber (needs realm); returns it. */
    public function cardChangeNumber(string $number, string $newNumber): array
    {
        return $this->callJson('cc_card_change_number', $number, $newNumber);
    }

    /** Activates the card with its PIN (needs realm; never logged); returns it. */
    public function cardActivate(string $number, string $pin): array
    {
        return $this->callJson('cc_card_activate', $number, $pin);
    }

    private static function day(string|\DateTimeInterface|null $day): ?string
    {
        return $day instanceof \DateTimeInterface ? $day->format('Y-m-d') : $day;
    }

    /** @internal for Event: the handle (throws InvalidHandleException when closed). */
    public function handle(): CData
    {
        return $this->h();
    }
}

/**
 * Events from carriers that report a call's progress by calling the host's URL (PokeTALK's
 * EventURL). A receiver is three lines:
 *
 *   require 'CallConnect.php';
 *   $client = new CallConnect\Client(getenv('CC_DSN'));     // the portal's DSN
 *   CallConnect\Event::respond($client);                    // 200, 412 ends the call, 4xx refused
 */
final class Event
{
    /**
     * Takes one event (cc_event_ingest): $query is the query of the hit
     * ($_SERVER['QUERY_STRING']; a leading "?" or a whole "/path?query" is taken too).
     * Returns the HTTP status to answer with: 200 taken, 412 taken and the carrier is asked
     * to end the call (hang-up asked for, or a limit reached). On failure throws the
     * typed exception (AuthException for a forged token, NotFoundException for a call
     * unknown here, ...) whose getHttpStatus() is the status to answer (400, 403, 404, 500).
     */
    public static function ingest(Client $client, ?string $query): int
    {
        $ffi = Library::ffi();
        $status = $ffi->new('int');
        $status->cdata = 500;
        $r = $ffi->cc_event_ingest($client->handle(), $query ?? '', FFI::addr($status));
        if ($r !== Result::OK) {
            throw Library::error($r, $status->cdata);
        }
        return $status->cdata;
    }

    /**
     * The whole receiver: ingests the query of this request ($query, by default
     * $_SERVER['QUERY_STRING']), sets the response code, and returns it. Never throws: a
     * refused event goes to error_log() (never with a secret) and is answered 4xx/5xx.
     */
    public static function respond(Client $client, ?string $query = null): int
    {
        try {
            $status = self::ingest($client, $query ?? (string) ($_SERVER['QUERY_STRING'] ?? ''));
        } catch (Exception $e) {
            $status = $e->getHttpStatus() ?? 500;
            error_log("callconnect: event refused ($status): " . $e->getMessage());
        }
        if (!headers_sent()) {
            http_response_code($status);
        }
        return $status;
    }
}
