<?php
// The misuse matrix from PHP FFI: every pointer argument of every function in
// callconnect.h gets every bad value of its kind, one at a time, the other arguments being
// good (NULL, freed, double-freed, wrong-kind and forged handles; invalid UTF-8, "" and
// 1 MB strings; NULL out-pointers). None may crash; each returns its error code. Then: a
// call used after its client was freed.
//
// PHP has no threads (the CLI and PHP-FPM run one request per process), so the 16-thread
// cases are in the C and Python tests only.
//
// A new function joins by one line in $FUNCS (its arguments' kinds as letters, as in
// tests/c/test_misuse.c); tests/misuse_coverage.rs fails while one is missing here.
require __DIR__ . '/check.php';

$cc = cc();
$user = 'test-phpmisuse-' . getmypid();
$dsn = sim_dsn('42call', "$user:secret-$user", '', 'realm=testRealm');
$huge = str_repeat('1', 1 << 20);
$bad_utf8 = "0171 \xc3\x28\xff";

// C client, L call, D DSN, N number, T text, P PIN, R reference, Q event query, M list of
// numbers, o a string that may be NULL or "" (bad: invalid UTF-8 and 1 MB), O out-pointer
// to a handle or string, S out-pointer to a cc_call_status, B out-pointer to a cc_balance,
// z out-pointer to size_t that may be NULL, '-' may be NULL or is not a pointer. The good
// value of an argument is that of its kind, or the function's own in $GOODS.
$FUNCS = [
    'cc_client_new' => 'DO',
    'cc_start_call' => 'CNN-O',
    'cc_poll_status' => 'LS',
    'cc_hangup' => 'L',
    'cc_send_sms' => 'CNTO',
    'cc_topup' => 'CP-',
    'cc_known_balance' => 'CO',
    'cc_call_ref' => 'LO',
    'cc_call_attach' => 'CRO',
    'cc_call_id' => 'LO',
    'cc_capabilities' => 'C',
    'cc_live_handles' => 'zz',
    'cc_account_balance' => 'CB',
    'cc_account_info' => 'CO',
    'cc_account_rates' => 'CMO',
    'cc_account_call_records' => 'CTo-O',
    'cc_account_callshop_records' => 'CTo-O',
    'cc_account_number_check' => 'CNO',
    'cc_account_dialin_numbers' => 'CO',
    'cc_account_store_callthrough' => 'CNN-',
    'cc_account_voip_lines' => 'C-O',
    'cc_card_create' => 'CNoT-o-',
    'cc_card_show' => 'CNO',
    'cc_card_block' => 'CN-',
    'cc_card_unblock' => 'CN-',
    'cc_card_disable' => 'CN-',
    'cc_card_change_number' => 'CNN-',
    'cc_card_activate' => 'CNP-',
    'cc_event_ingest' => 'CQ-',
];
// Good values where a function needs its own (null: a handle or out-pointer, by kind).
$no_card = '0171 5550399'; // a number without a card: the card functions say NOT_FOUND
$GOODS = [
    'cc_account_rates' => [null, '0171 1234567|030 1234567', null],
    'cc_account_call_records' => [null, '2014-02-20', '2014-02-21', 0, null],
    'cc_account_callshop_records' => [null, '2014-02-20', '2014-02-21', 0, null],
    'cc_account_number_check' => [null, '0179 1234567', null],
    'cc_account_store_callthrough' => [null, '0171 1234567', '030 1234567', null],
    'cc_account_voip_lines' => [null, false, null],
    'cc_card_create' => [null, '0171 5550313', null, '1.00', false, null, null],
    'cc_card_show' => [null, $no_card, null],
    'cc_card_block' => [null, $no_card, null],
    'cc_card_unblock' => [null, $no_card, null],
    'cc_card_disable' => [null, $no_card, null],
    'cc_card_change_number' => [null, $no_card, '0171 5550398', null],
    'cc_card_activate' => [null, $no_card, '111222333', null],
    'cc_event_ingest' => [null, 'cc_call=x&cc_token=y&status=1', null],
];
// What good arguments give, where it is not OK.
$GOOD_RESULT = ['cc_topup' => $cc->CC_ERR_PROVIDER, // PIN "12" is refused by the carrier
    'cc_event_ingest' => $cc->CC_ERR_UNSUPPORTED]; // a 42call client takes no events
foreach (['cc_card_show', 'cc_card_block', 'cc_card_unblock', 'cc_card_disable', 'cc_card_change_number',
    'cc_card_activate'] as $n) {
    $GOOD_RESULT[$n] = $cc->CC_ERR_NOT_FOUND;
}
// Functions that return nothing or take no pointer: checked below the matrix.
$OTHERS = ['cc_client_free', 'cc_call_free', 'cc_string_free', 'cc_last_error_message',
    'cc_last_error_carrier_code', 'cc_version', 'cc_state_name', 'cc_reason_name', 'cc_result_name',
    'cc_debug_panic', 'cc_set_log_callback', 'cc_warm_up'];
// What "" gives, by kind: an event query "" is parsed as an event for a client that takes
// none; an empty list of numbers is no number at all (an argument error).
$EMPTY = ['D' => $cc->CC_ERR_INVALID_ARGUMENT, 'N' => $cc->CC_ERR_INVALID_NUMBER,
    'T' => $cc->CC_ERR_INVALID_ARGUMENT, 'P' => $cc->CC_ERR_INVALID_ARGUMENT, 'R' => $cc->CC_ERR_INVALID_ARGUMENT,
    'Q' => $cc->CC_ERR_UNSUPPORTED, 'M' => $cc->CC_ERR_INVALID_ARGUMENT];

function start_call($client) {
    $call = cc()->new('cc_call*');
    $r = cc()->cc_start_call($client, '0171 1234567', '030 1234567', null, FFI::addr($call));
    if ($r !== cc()->CC_OK) throw new RuntimeException('start: ' . last_error());
    return $call;
}

$client = new_client($dsn);
$call = start_call($client);
$p = $cc->new('char*');
check($cc->cc_call_ref($call, FFI::addr($p)) === $cc->CC_OK, 'reference');
$ref = take_string($p);
$freed_client = new_client($dsn);
$cc->cc_client_free($freed_client);
$twice_client = new_client($dsn);
$cc->cc_client_free($twice_client);
$cc->cc_client_free($twice_client);
$freed_call = start_call($client);
$cc->cc_call_free($freed_call);
$twice_call = start_call($client);
$cc->cc_call_free($twice_call);
$cc->cc_call_free($twice_call);
check($cc->cc_send_sms($client, '0171 1234567', 'hello', FFI::addr($p)) === $cc->CC_OK, 'sms');
take_string($p);

$forged = $cc->cast('cc_client*', 0x12345678);
$all_ones = $cc->cast('cc_client*', FFI::cast('uintptr_t', -1));
$good = ['C' => $client, 'L' => $call, 'D' => $dsn, 'N' => '0171 1234567', 'T' => 'misuse', 'P' => '12',
    'R' => $ref, '-' => null];

/** Calls $name with argument $i replaced by $bad; frees what it returned. */
function invoke(string $name, ?int $i = null, $bad = null): int {
    global $FUNCS, $good, $GOODS;
    $cc = cc();
    $args = [];
    $outs = [];
    foreach (str_split($FUNCS[$name]) as $j => $k) {
        if ($j === $i) { $args[] = $bad; continue; }
        if ($k === 'O') {
            $o = in_array($name, ['cc_client_new'], true) ? $cc->new('cc_client*')
                : (in_array($name, ['cc_start_call', 'cc_call_attach'], true) ? $cc->new('cc_call*') : $cc->new('char*'));
            $outs[] = $o;
            $args[] = FFI::addr($o);
        } elseif ($k === 'S') {
            $args[] = FFI::addr($cc->new('cc_call_status'));
        } elseif ($k === 'z') {
            $args[] = FFI::addr($cc->new('size_t'));
        } elseif ($k === 'B') {
            $args[] = FFI::addr($cc->new('cc_balance'));
        } elseif (isset($GOODS[$name]) && $k !== 'C' && $k !== 'L') {
            $args[] = $GOODS[$name][$j];
        } else {
            $args[] = $good[$k];
        }
    }
    $r = $cc->$name(...$args);
    if ($name === 'cc_capabilities') return $r === 0 ? $cc->CC_ERR_INVALID_HANDLE : $cc->CC_OK;
    if ($r === $cc->CC_OK) {
        foreach ($outs as $o) {
            if (FFI::isNull($o)) continue;
            if ($name === 'cc_client_new') $cc->cc_client_free($o);
            elseif ($name === 'cc_start_call' || $name === 'cc_call_attach') { $cc->cc_hangup($o); $cc->cc_call_free($o); }
            else $cc->cc_string_free($o);
        }
    }
    return $r;
}

$all_good = true;
foreach ($FUNCS as $name => $_) {
    $want = $GOOD_RESULT[$name] ?? $cc->CC_OK;
    if (invoke($name) !== $want) { $all_good = false; echo "# $name: " . last_error() . "\n"; }
}
check($all_good, 'every function succeeds with good arguments');

function bad_values(string $kind): array {
    global $freed_client, $twice_client, $freed_call, $twice_call, $client, $call, $forged, $all_ones,
        $huge, $bad_utf8, $EMPTY;
    $cc = cc();
    $H = $cc->CC_ERR_INVALID_HANDLE;
    $A = $cc->CC_ERR_INVALID_ARGUMENT;
    switch ($kind) {
        case 'C':
            return [['NULL', null, $H], ['freed', $freed_client, $H], ['double-freed', $twice_client, $H],
                ['a call', $cc->cast('cc_client*', $call), $H], ['forged', $forged, $H], ['all ones', $all_ones, $H]];
        case 'L':
            return [['NULL', null, $H], ['freed', $freed_call, $H], ['double-freed', $twice_call, $H],
                ['a client', $cc->cast('cc_call*', $client), $H], ['forged', $cc->cast('cc_call*', $forged), $H],
                ['all ones', $cc->cast('cc_call*', $all_ones), $H]];
        case 'O':
        case 'S':
        case 'B':
            return [['NULL out-pointer', null, $A]];
        case 'o':
            return [['invalid UTF-8', $bad_utf8, $A], ['1 MB', $huge, $A]];
        case 'z':
            return [['NULL (allowed)', null, $cc->CC_OK]];
        case '-':
            return [];
        default:
            return [['NULL', null, $A], ['invalid UTF-8', $bad_utf8, $A], ['1 MB', $huge, $A],
                ['empty', '', $EMPTY[$kind]]];
    }
}

$cases = 0;
foreach ($FUNCS as $name => $kinds) {
    foreach (str_split($kinds) as $i => $kind) {
        foreach (bad_values($kind) as [$what, $bad, $want]) {
            $got = invoke($name, $i, $bad);
            check($got === $want, "$name arg $i: $what -> " . $cc->cc_result_name($want)
                . ($got === $want ? '' : ' (got ' . $cc->cc_result_name($got) . ')'));
            $cases++;
        }
    }
}
check($cases > 90, "the matrix has $cases cases");

// The functions that return nothing or take no pointer.
$n0 = $cc->new('size_t');
$m0 = $cc->new('size_t');
$cc->cc_live_handles(FFI::addr($n0), FFI::addr($m0));
foreach ([null, $freed_client, $twice_client, $cc->cast('cc_client*', $call), $forged] as $h) $cc->cc_client_free($h);
foreach ([null, $freed_call, $cc->cast('cc_call*', $client), $cc->cast('cc_call*', $forged)] as $h) $cc->cc_call_free($h);
$cc->cc_string_free(null);
$buf = $cc->new('char[16]');
$cc->cc_string_free($cc->cast('char*', FFI::addr($buf))); // not the library's: refused
$n1 = $cc->new('size_t');
$m1 = $cc->new('size_t');
$cc->cc_live_handles(FFI::addr($n1), FFI::addr($m1));
check($n0->cdata === $n1->cdata && $m0->cdata === $m1->cdata, 'bad frees free nothing');
check($cc->cc_capabilities($client) !== 0, 'the good client survived them');
check($cc->cc_state_name(99) === '?' && $cc->cc_reason_name(4294967295) === '?' && $cc->cc_result_name(1000) === '?',
    'names of unknown values');
check($cc->cc_version() !== '' && $cc->cc_last_error_carrier_code() !== null, 'version, carrier code');
check($cc->cc_warm_up(999) === $cc->CC_ERR_INVALID_ARGUMENT && $cc->cc_warm_up(65535) === $cc->CC_ERR_INVALID_ARGUMENT,
    'warm-up: not a country calling code');
check($cc->cc_warm_up(0) === $cc->CC_OK && $cc->cc_warm_up(49) === $cc->CC_OK && $cc->cc_warm_up(49) === $cc->CC_OK,
    'warm-up, twice');
check($cc->cc_debug_panic() === $cc->CC_ERR_INTERNAL, 'panic -> CC_ERR_INTERNAL');

// The log hook: a level that is not a cc_log_level, a NULL callback (removes it), NULL
// userdata.
$lines = 0;
$count = function (int $level, $message, $userdata) use (&$lines) { $lines++; };
check($cc->cc_set_log_callback(5, $count, null) === $cc->CC_ERR_INVALID_ARGUMENT && last_error() !== '',
    'log level 5 refused, with a message');
check($cc->cc_set_log_callback(4294967295, null, null) === $cc->CC_ERR_INVALID_ARGUMENT, 'log level 2^32-1 refused');
check($cc->cc_set_log_callback($cc->CC_LOG_DEBUG, null, null) === $cc->CC_OK, 'NULL callback: removed');
check($cc->cc_set_log_callback($cc->CC_LOG_DEBUG, $count, null) === $cc->CC_OK, 'a callback, NULL userdata');
check($cc->cc_account_dialin_numbers($client, FFI::addr($p)) === $cc->CC_OK && $lines > 0, 'it got lines');
take_string($p);
check($cc->cc_set_log_callback($cc->CC_LOG_OFF, null, null) === $cc->CC_OK, 'removed again');
$seen = $lines;
$cc->cc_account_dialin_numbers($client, FFI::addr($p));
take_string($p);
check($lines === $seen, 'removed: no more lines');

// Options: malformed fields and strings.
$out = $cc->new('cc_call*');
$opts = $cc->new('cc_call_options');
$opts->reserved[2] = 1;
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', FFI::addr($opts), FFI::addr($out)) === $cc->CC_ERR_INVALID_ARGUMENT, 'options: reserved not zero');
$opts = $cc->new('cc_call_options');
$opts->flags = 0x80000000;
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', FFI::addr($opts), FFI::addr($out)) === $cc->CC_ERR_INVALID_ARGUMENT, 'options: unknown flag');
$opts = $cc->new('cc_call_options');
$corr = $cc->new('char[' . (strlen($huge) + 1) . ']', false);
FFI::memcpy($corr, $huge, strlen($huge));
$opts->correlation = $cc->cast('char*', $corr);
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', FFI::addr($opts), FFI::addr($out)) === $cc->CC_ERR_INVALID_ARGUMENT, 'options: 1 MB correlation');
FFI::free($corr);

// A call outlives its client as a handle: requests are refused, what it knows is not.
$c = new_client($dsn);
$k = start_call($c);
$cc->cc_client_free($c);
$st = $cc->new('cc_call_status');
check($cc->cc_poll_status($k, FFI::addr($st)) === $cc->CC_ERR_INVALID_HANDLE, 'after client free: poll');
check($cc->cc_hangup($k) === $cc->CC_ERR_INVALID_HANDLE, 'after client free: hangup');
check($cc->cc_call_id($k, FFI::addr($p)) === $cc->CC_OK && strlen((string) take_string($p)) > 0, 'after client free: id');
check($cc->cc_call_ref($k, FFI::addr($p)) === $cc->CC_OK, 'after client free: reference');
$r = take_string($p);
$again = $cc->new('cc_call*');
check($cc->cc_call_attach($c, $r, FFI::addr($again)) === $cc->CC_ERR_INVALID_HANDLE, 'attach to the freed client');
check($cc->cc_call_attach($client, $r, FFI::addr($again)) === $cc->CC_OK, 'resumed on another client');
check($cc->cc_hangup($again) === $cc->CC_OK, 'and hung up');
$cc->cc_call_free($again);
$cc->cc_call_free($k);
$cc->cc_call_free($k);
check($cc->cc_hangup($k) === $cc->CC_ERR_INVALID_HANDLE, 'after double call free');

// Every function of the header is in the matrix or the list above.
preg_match_all('/^[a-z][\w\s\*]*?\b(cc_\w+)\(/m', file_get_contents(dirname(__DIR__, 2) . '/include/callconnect.h'), $m);
$declared = array_unique($m[1]);
$covered = array_merge(array_keys($FUNCS), $OTHERS);
sort($declared);
sort($covered);
check($declared === $covered, 'every function of the header is covered: ' . implode(' ', array_diff($declared, $covered)));

$cc->cc_hangup($call);
$cc->cc_call_free($call);
$cc->cc_client_free($client);
$n = $cc->new('size_t');
$m = $cc->new('size_t');
$cc->cc_live_handles(FFI::addr($n), FFI::addr($m));
check($n->cdata === 0 && $m->cdata === 0, 'no handle left alive');
check_done();
