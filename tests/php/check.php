<?php
// Helpers for the PHP FFI host tests: the library loaded with FFI::load from the PHP
// header, check() printing PASS/FAIL lines that tests/run_all.py counts.
declare(strict_types=1);

$root = dirname(__DIR__, 2);
$ffi = FFI::load($root . '/include/callconnect_php.h');
$GLOBALS['cc'] = $ffi;
$GLOBALS['check_failures'] = 0;

function cc(): FFI { return $GLOBALS['cc']; }

function check(bool $ok, string $name): void {
    if ($ok) {
        echo "PASS $name\n";
    } else {
        $GLOBALS['check_failures']++;
        $bt = debug_backtrace()[0];
        echo "FAIL $name (line {$bt['line']}) last error: " . cc()->cc_last_error_message() . "\n";
    }
}

function check_done(): never {
    exit($GLOBALS['check_failures'] === 0 ? 0 : 1);
}

function sim_port(): string {
    $p = getenv('CC_SIM_PORT');
    if (!$p) { fwrite(STDERR, "CC_SIM_PORT is not set\n"); exit(2); }
    return $p;
}

function sim_dsn(string $scheme, string $userinfo, string $path = '', string $extra = ''): string {
    return "$scheme://$userinfo@127.0.0.1:" . sim_port() . "$path?tls=0&default_country=49&timeout_ms=5000"
        . ($extra !== '' ? "&$extra" : '');
}

function sim_stats(): array {
    return json_decode(file_get_contents('http://127.0.0.1:' . sim_port() . '/_sim/stats'), true);
}

/** Copies a library-owned string (char *) and frees it. */
function take_string($ptr): ?string {
    if ($ptr === null || FFI::isNull($ptr)) return null;
    $s = FFI::string($ptr);
    cc()->cc_string_free($ptr);
    return $s;
}

function new_client(string $dsn) {
    $h = cc()->new('cc_client*');
    $r = cc()->cc_client_new($dsn, FFI::addr($h));
    if ($r !== cc()->CC_OK) {
        throw new RuntimeException('cc_client_new: ' . cc()->cc_last_error_message());
    }
    return $h;
}

function last_error(): string { return cc()->cc_last_error_message(); }
