<?php
// PokeTALK through PHP FFI: a call seen through events (built-in listener), hang-up by a
// 412 answer, forged and late events, every result code, and the call-state store (a
// directory, Redis) between two PHP processes: this one starts and polls, a `php -S`
// process (poketalk_receiver.php) takes the events, as in a portal where every web
// request is a new process.
require __DIR__ . '/check.php';

const SECRET = 'event-secret-for-php-tests-0123';
$cc = cc();

function sim_get(string $path) {
    $body = file_get_contents('http://127.0.0.1:' . sim_port() . $path);
    $json = json_decode((string) $body, true);
    return $json ?? $body;
}

function call_id($call): string {
    $p = cc()->new('char*');
    cc()->cc_call_id($call, FFI::addr($p));
    return (string) take_string($p);
}

/** The statuses sent and the answers got, once the final one is logged (the receiver
 *  applies an event before its answer is back at the simulator). */
function sent($call): array {
    $deadline = microtime(true) + 2;
    while (true) {
        $rec = sim_get('/_sim/poketalk/call?custom=' . call_id($call));
        $log = array_map(fn($e) => $e['status'] . ':' . $e['http'], $rec['events']);
        $last = $log ? substr(end($log), 0, 2) : '';
        if (in_array($last, ['2:', '4:', '6:', '8:'], true) || microtime(true) > $deadline) return $log;
        usleep(10000);
    }
}

function event_query($call, string $status, int $duration = 0, string $debit = '0.000'): string {
    $url = sim_get('/_sim/poketalk/call?custom=' . call_id($call))['eventurl'];
    $q = explode('?', $url, 2)[1];
    return strtr($q, ['$webcallid' => 'x', '$status' => $status, '$duration' => (string) $duration, '$debit' => $debit]);
}

function ingest($client, ?string $query): array {
    $status = cc()->new('int');
    $status->cdata = -1;
    $r = cc()->cc_event_ingest($client, $query, FFI::addr($status));
    return [$r, $status->cdata];
}

function poll($call) {
    $st = cc()->new('cc_call_status');
    cc()->cc_poll_status($call, FFI::addr($st));
    return $st;
}

/** Polls until the call is final (or reaches $until); returns [states seen, status]. */
function follow($call, int $until = 99): array {
    $seen = [];
    $deadline = microtime(true) + 10;
    while (true) {
        $st = poll($call);
        if (!$seen || end($seen) !== $st->state) $seen[] = $st->state;
        if ($st->state >= cc()->CC_STATE_ENDED || $st->state >= $until || microtime(true) > $deadline) return [$seen, $st];
        usleep(5000);
    }
}

function raw($st): string {
    return FFI::string($st->raw_status);
}

/** The call's status as another request reads it: a client of its own attaches the
 *  call's reference and polls once (both freed again). */
function read_elsewhere(string $dsn, $call) {
    $p = cc()->new('char*');
    cc()->cc_call_ref($call, FFI::addr($p));
    $ref = take_string($p);
    $client = new_client($dsn);
    $h = cc()->new('cc_call*');
    $st = cc()->new('cc_call_status');
    if (cc()->cc_call_attach($client, $ref, FFI::addr($h)) === cc()->CC_OK) {
        cc()->cc_poll_status($h, FFI::addr($st));
        cc()->cc_call_free($h);
    }
    cc()->cc_client_free($client);
    return $st;
}

function start($client, string $b = '030 1234567', $opts = null): array {
    $call = cc()->new('cc_call*');
    $r = cc()->cc_start_call($client, '0171 1234567', $b, $opts === null ? null : FFI::addr($opts), FFI::addr($call));
    return [$r, $call];
}

sim_get('/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0');

// 1. A whole call, seen only through events that reach the built-in listener.
$client = new_client(sim_dsn('poketalk', 'test-php', '', 'event_secret=' . SECRET . '&event_listen=127.0.0.1:0'));
$want = $cc->CC_CAP_CALLBACK | $cc->CC_CAP_LIVE_STATUS | $cc->CC_CAP_HANGUP | $cc->CC_CAP_EVENTS
    | $cc->CC_CAP_MAX_DURATION | $cc->CC_CAP_MAX_COST;
check(($cc->cc_capabilities($client) & $want) === $want, 'capabilities with events');
[$r, $call] = start($client, '+49 30 1234567');
check($r === $cc->CC_OK, 'start_call');
[$seen, $st] = follow($call);
$sorted = $seen;
sort($sorted);
check($st->state === $cc->CC_STATE_ENDED && $seen === $sorted, 'ended, states only moved forward');
check($st->duration_s === 20 && FFI::string($st->cost) === '0.040' && FFI::string($st->raw_status) === '8', 'duration, cost, raw status from events');
check(($st->flags & $cc->CC_STATUS_LIVE) !== 0, 'live status');
check(sent($call) === ['1:200', '3:200', '5:200', '7:200', '8:200'], 'every status sent and answered 200');
$stats = sim_stats()['poketalk'];
check($stats['last_from'] === '491711234567' && $stats['last_to'] === '49301234567', 'numbers as international digits');
$cc->cc_call_free($call);

// 2. Hang-up: the next event is answered 412.
sim_get('/_sim/poketalk/settings?event_period_ms=100');
[$r, $call] = start($client, '030 1234999');
[, $st] = follow($call, $cc->CC_STATE_CONNECTED);
check($st->state === $cc->CC_STATE_CONNECTED, 'connected');
check($cc->cc_hangup($call) === $cc->CC_OK, 'hangup');
check((poll($call)->flags & $cc->CC_STATUS_HANGUP_PENDING) !== 0, 'hang-up pending until the carrier acts');
[, $st] = follow($call);
check($st->state === $cc->CC_STATE_ENDED && $st->reason === $cc->CC_REASON_CANCELLED, 'ended by the 412 answer');
check(in_array('7:412', sent($call), true), 'the carrier got 412');
$cc->cc_call_free($call);
$cc->cc_client_free($client);

// 3. Events fed by hand: forged ones change nothing, late ones never move back.
$manual = new_client(sim_dsn('poketalk', 'test-php', '', 'event_secret=' . SECRET . '&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fcb'));
[, $one] = start($manual);
[, $two] = start($manual, '030 7654321');
$q1 = event_query($one, '7', 10, '0.020');
$q2 = event_query($two, '8', 10, '0.020');
$tok = fn(string $q) => array_values(array_filter(explode('&', $q), fn($p) => str_starts_with($p, 'cc_tok=')))[0];
foreach ([str_replace($tok($q1), 'cc_tok=AAAAAAAAAAAAAAAAAAAAAAAAAAA', $q1),
          str_replace($tok($q1), $tok($q2), $q1),
          str_replace($tok($q2), $tok($q1), $q2)] as $i => $forged) {
    check(ingest($manual, $forged) === [$cc->CC_ERR_AUTH, 403], "forged event $i: 403");
}
check(!str_contains(last_error(), SECRET), 'no secret in the message');
check(ingest($manual, 'status=8') === [$cc->CC_ERR_INVALID_ARGUMENT, 400], 'not an event of ours: 400');
check(poll($one)->state === $cc->CC_STATE_INITIATING && poll($two)->state === $cc->CC_STATE_INITIATING, 'forged events changed nothing');
check(ingest($manual, $q1) === [$cc->CC_OK, 200], 'a genuine event: 200');
check(poll($one)->state === $cc->CC_STATE_CONNECTED, 'connected by the event');
check(ingest($manual, event_query($one, '1')) === [$cc->CC_OK, 200], 'a late event: 200');
check(poll($one)->state === $cc->CC_STATE_CONNECTED, 'a late event does not move back');
ingest($manual, event_query($one, '8', 42, '0.084'));
ingest($manual, event_query($one, '6', 60, '0.200'));
$st = poll($one);
check($st->state === $cc->CC_STATE_ENDED && $st->duration_s === 42, 'the end stays the end');
$cc->cc_call_free($one);
$cc->cc_call_free($two);

// 4. Every result code, with the carrier's code and text.
foreach ([['10', 'CC_ERR_INVALID_ARGUMENT', "Empty 'api_key'"], ['20', 'CC_ERR_INVALID_ARGUMENT', "Empty 'from'"],
          ['30', 'CC_ERR_INVALID_ARGUMENT', "Empty 'to'"], ['40', 'CC_ERR_AUTH', 'Unknown API user'],
          ['50', 'CC_ERR_PROVIDER', 'service provider'], ['60', 'CC_ERR_PROVIDER', 'blacklist'],
          ['70', 'CC_ERR_PROVIDER', 'gateway list'], ['90', 'CC_ERR_PROVIDER', 'calculate timeout'],
          ['100', 'CC_ERR_AUTH', 'Unknown API IP address']] as [$code, $result, $text]) {
    sim_get("/_sim/poketalk/next_code?key=test-php&code=$code");
    [$r] = start($manual);
    check($r === $cc->$result && $cc->cc_last_error_carrier_code() === $code && str_contains(last_error(), $text), "result code $code");
}
[$r] = start($manual, '030 1234403');
check($r === $cc->CC_ERR_PROVIDER && $cc->cc_last_error_carrier_code() === '60', 'blacklisted number: 60, PROVIDER');
$cc->cc_client_free($manual);

// 5. The call-state store between two PHP processes, with each backend: a private
// directory (event_spool=, the older name of store=dir:) and Redis (store=redis://, the
// server tests/run_all.py starts; the two processes then share nothing else).
$spool = sys_get_temp_dir() . '/cc-spool-php-' . getmypid();
$stores = ['dir' => 'event_spool=' . rawurlencode($spool)];
if (getenv('CC_TEST_REDIS')) {
    $stores['redis'] = 'store=' . rawurlencode(getenv('CC_TEST_REDIS'));
} elseif (getenv('CC_STRICT') === '1') {
    check(false, 'redis-server for the store tests (CC_TEST_REDIS)');
} else {
    echo "# SKIPPED: the Redis store (no CC_TEST_REDIS)\n";
}
foreach ($stores as $backend => $store) {
    sim_get('/_sim/poketalk/settings?event_period_ms=0');
    $server = stream_socket_server('tcp://127.0.0.1:0');
    $port = (int) substr(strrchr(stream_socket_get_name($server, false), ':'), 1);
    fclose($server);
    $dsn = sim_dsn('poketalk', 'test-php', '', 'event_secret=' . SECRET . '&' . $store
        . '&event_url=' . rawurlencode("http://127.0.0.1:$port/cb.php"));
    $env = getenv();
    $env['CC_PORTAL_DSN'] = $dsn;
    $receiver = proc_open([PHP_BINARY, '-d', 'ffi.enable=1', '-S', "127.0.0.1:$port", __DIR__ . '/poketalk_receiver.php'],
        [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, null, $env);
    for ($i = 0; $i < 200 && !($sock = @fsockopen('127.0.0.1', $port)); $i++) usleep(25000);
    check((bool) $sock, "$backend: the receiver process listens");
    if ($sock) fclose($sock);
    try {
        $portal = new_client($dsn);
        [$r, $call] = start($portal);
        check($r === $cc->CC_OK, "$backend: portal starts a call");
        [$seen, $st] = follow($call);
        check($st->state === $cc->CC_STATE_ENDED && $st->duration_s === 20, "$backend: portal reads the whole call from the store");
        check($st->reason === $cc->CC_REASON_NONE, "$backend: a call that simply ended is not CANCELLED");
        $log = sent($call);
        check($log === ['1:200', '3:200', '5:200', '7:200', '8:200'], "$backend: the receiver process took every event: " . implode(' ', $log));
        $st = read_elsewhere($dsn, $call);
        check($st->state === $cc->CC_STATE_ENDED && $st->reason === $cc->CC_REASON_NONE && $st->duration_s === 20,
              "$backend: the next request reads the end with its reason (NONE)");
        $cc->cc_call_free($call);

        // A failed B leg keeps its reason and leg, here and in the next request.
        [, $call] = start($portal, '030 1234486');
        [, $st] = follow($call);
        $failed = fn($st) => $st->state === $cc->CC_STATE_FAILED && $st->reason === $cc->CC_REASON_UNKNOWN
            && $st->failed_leg === $cc->CC_LEG_B && raw($st) === '6';
        check($failed($st), "$backend: a failed B leg read from the store");
        check($failed(read_elsewhere($dsn, $call)), "$backend: and in the next request");
        $cc->cc_call_free($call);

        // Hang-up in a later request reaches the receiver, which answers the next event 412.
        sim_get('/_sim/poketalk/settings?event_period_ms=300');
        [, $call] = start($portal, '030 1234999');
        [, $st] = follow($call, $cc->CC_STATE_CONNECTED);
        check($st->state === $cc->CC_STATE_CONNECTED, "$backend: long call connected");
        $p = $cc->new('char*');
        $cc->cc_call_ref($call, FFI::addr($p));
        $ref = take_string($p);
        $cc->cc_call_free($call);
        $cc->cc_client_free($portal);

        $portal = new_client($dsn);  // the next web request
        $again = $cc->new('cc_call*');
        check($cc->cc_call_attach($portal, $ref, FFI::addr($again)) === $cc->CC_OK, "$backend: attach from the stored reference");
        check($cc->cc_hangup($again) === $cc->CC_OK, "$backend: hangup in a later request");
        check((poll($again)->flags & $cc->CC_STATUS_HANGUP_PENDING) !== 0, "$backend: hang-up pending");
        [, $st] = follow($again);
        check($st->state === $cc->CC_STATE_ENDED && $st->reason === $cc->CC_REASON_CANCELLED, "$backend: ended by the receiver process's 412");
        check(in_array('7:412', sent($again), true), "$backend: the carrier got 412 from the other process");
        $st = read_elsewhere($dsn, $again);
        check($st->state === $cc->CC_STATE_ENDED && $st->reason === $cc->CC_REASON_CANCELLED,
              "$backend: a request that did not hang up reads CANCELLED");
        $cc->cc_call_free($again);

        // A forged final (with the call's genuine token) taken in this process: the
        // receiver process still ends the call at the carrier with 412; a replayed final
        // changes nothing.
        [, $call] = start($portal, '030 1234999');
        [, $st] = follow($call, $cc->CC_STATE_CONNECTED);
        check(ingest($portal, event_query($call, '8', 1, '0.001')) === [$cc->CC_OK, 200], "$backend: a forged final is taken");
        check($cc->cc_hangup($call) === $cc->CC_OK, "$backend: hang-up after the forged end");
        $deadline = microtime(true) + 10;
        while (sim_get('/_sim/poketalk/call?custom=' . call_id($call))['stage'] !== 'hung_up' && microtime(true) < $deadline) usleep(20000);
        check(sim_get('/_sim/poketalk/call?custom=' . call_id($call))['hung_up_by_412'] === true, "$backend: the carrier ended the call on a 412");
        check(ingest($portal, event_query($call, '8', 9999, '0.000')) === [$cc->CC_OK, 200], "$backend: a replayed final is taken");
        $st = poll($call);
        check($st->duration_s === 1 && FFI::string($st->cost) === '0.001', "$backend: and changes nothing");
        $cc->cc_call_free($call);
        $cc->cc_client_free($portal);
    } finally {
        proc_terminate($receiver);
        proc_close($receiver);
    }
}
if (is_dir($spool)) {
    check((fileperms($spool) & 0777) === 0700, 'the store directory is private (0700)');
    exec('rm -rf ' . escapeshellarg($spool));
}


// 6. Without events PokeTALK only places calls.
$plain = new_client(sim_dsn('poketalk', 'test-php'));
check($cc->cc_capabilities($plain) === $cc->CC_CAP_CALLBACK, 'without events: callback only');
[$r, $call] = start($plain);
check($cc->cc_hangup($call) === $cc->CC_ERR_UNSUPPORTED, 'no hang-up without events');
$cc->cc_call_free($call);
$cc->cc_client_free($plain);
$clients = $cc->new('size_t');
$calls = $cc->new('size_t');
$cc->cc_live_handles(FFI::addr($clients), FFI::addr($calls));
check($clients->cdata === 0 && $calls->cdata === 0, 'no handle left alive');
check_done();
