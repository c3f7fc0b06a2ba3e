<?php
// business-isp Connect Call through PHP FFI: every state, two calls in one session, BUSY,
// every status code's mapping, hang-up, an expired session, a call followed across
// "requests" by its reference, and a password that never shows.
require __DIR__ . '/check.php';

$cc = cc();
$login = 'test-php-cc-' . getmypid();
$dsn = sim_dsn('connectcall', "$login:secret-$login", '/api/');
const LEAK_PASSWORD = "Pä\$\$ w&rd=1%+?";

function control(string $action, array $params): string {
    return file_get_contents('http://127.0.0.1:' . sim_port() . "/_sim/connectcall/$action?" . http_build_query($params));
}
function account(string $login): array { return json_decode(control('account', ['login' => $login]), true); }
function status($call) {
    $st = cc()->new('cc_call_status');
    $r = cc()->cc_poll_status($call, FFI::addr($st));
    return $r === cc()->CC_OK ? $st : null;
}
function start($client, string $a = '0171 1234567', string $b = '030 1234567', $opts = null) {
    $call = cc()->new('cc_call*');
    $r = cc()->cc_start_call($client, $a, $b, $opts === null ? null : FFI::addr($opts), FFI::addr($call));
    return [$r, $call];
}
function raw($st): string { return FFI::string($st->raw_status); }

$client = new_client($dsn);
check(($cc->cc_capabilities($client) & $cc->CC_CAP_LIVE_STATUS) !== 0, 'capabilities: live status');

// Call 1: its timeline held, stepped through every state by the simulator.
control('pace', ['login' => $login, 'step_ms' => 600000]);
[$r, $call] = start($client);
check($r === $cc->CC_OK, 'start: login with the call');
check(status($call)->state === $cc->CC_STATE_INITIATING, 'INITIATING');
foreach ([27 => $cc->CC_STATE_RINGING_A, 28 => $cc->CC_STATE_A_ANSWERED, 26 => $cc->CC_STATE_RINGING_B,
          29 => $cc->CC_STATE_CONNECTED] as $code => $state) {
    control('force', ['login' => $login, 'code' => $code]);
    $st = status($call);
    check($st !== null && $st->state === $state && raw($st) === (string) $code, "$code -> " . $cc->cc_state_name($state));
}
check($cc->cc_hangup($call) === $cc->CC_OK, 'hangup');
$st = status($call);
check($st->state === $cc->CC_STATE_ENDED && $st->reason === $cc->CC_REASON_CANCELLED && raw($st) === '4',
      'ENDED, CANCELLED, carrier status 4');

// Call 2 in the same session, played by the simulator at 100 ms a stage.
control('pace', ['login' => $login, 'step_ms' => 100]);
[$r, $second] = start($client, '0171 7654321', '030 7654321');
check($r === $cc->CC_OK, 'start: connect in the same session');
$seen = [];
$deadline = microtime(true) + 20;
do {
    $st = status($second);
    if ($st === null) break;
    if (end($seen) !== $st->state) $seen[] = $st->state;
    if ($st->state === $cc->CC_STATE_ENDED || $st->state === $cc->CC_STATE_FAILED) break;
    usleep(5000);
} while (microtime(true) < $deadline);
$sorted = $seen;
sort($sorted);
check($st !== null && $st->state === $cc->CC_STATE_ENDED && raw($st) === '30', 'call 2 ended by B (30)');
// Which stages a poll lands in depends on the load: only their order is checked (30 is
// the end after the bridge, so the call was connected).
check($seen === $sorted, 'call 2 only moved forward');
$a = account($login);
check($a['logins'] === 1 && $a['connects'] === 1 && $a['calls_placed'] === 2, 'two calls, one login');
check(raw(status($call)) === '4', 'call 1 keeps its own end');
$cc->cc_call_free($call);
$cc->cc_call_free($second);

// A second start while the call is up is BUSY; after a hang-up it goes through.
control('pace', ['login' => $login, 'step_ms' => 600000]);
$opts = $cc->new('cc_call_options');
$opts->connect_type = 2;
[$r, $call] = start($client, '0171 1234567', '030 1234567', $opts);
check($r === $cc->CC_OK, 'start with type 2');
check(json_decode(control('session', ['login' => $login]), true)['type'] === 2, 'type 2 reached the carrier');
[$r, $second] = start($client);
check($r === $cc->CC_ERR_BUSY, 'second start while the call is up: BUSY');
check(account($login)['calls_placed'] === 3, 'nothing placed by the busy start');

// The call is followed across "requests": its reference outlives the client.
$ref = $cc->new('char*');
check($cc->cc_call_ref($call, FFI::addr($ref)) === $cc->CC_OK, 'call_ref');
$stored = take_string($ref);
check(!str_contains($stored, 'secret'), 'the reference holds no password');
$cc->cc_call_free($call);
$cc->cc_client_free($client);
check(account($login)['ends'] === 0, 'freeing the client left the live call\'s session alone');
$client = new_client($dsn);
$again = $cc->new('cc_call*');
check($cc->cc_call_attach($client, $stored, FFI::addr($again)) === $cc->CC_OK, 'attach in the next request');
control('force', ['login' => $login, 'code' => 27]);
$st = status($again);
check($st !== null && $st->state === $cc->CC_STATE_RINGING_A, 'the attached call polls');
check($cc->cc_hangup($again) === $cc->CC_OK, 'hang up through the attached call');
check(account($login)['hangups'] === 2, 'the hang-up reached the carrier');
$cc->cc_call_free($again);

// The session expires: one fresh login, no duplicate call.
control('expire', ['login' => $login]);
[$r, $call] = start($client);
check($r === $cc->CC_OK, 'start after the session expired');
$a = account($login);
check($a['logins'] === 2 && $a['calls_placed'] === 4, 'one fresh login placed one call');
$cc->cc_hangup($call);
$cc->cc_call_free($call);
$cc->cc_client_free($client);

// Every status code 3..33, forced on a fresh session each.
$want = [27 => ['RINGING_A', 'NONE'], 28 => ['A_ANSWERED', 'NONE'], 26 => ['RINGING_B', 'NONE'],
         9 => ['CONNECTED', 'NONE'], 29 => ['CONNECTED', 'NONE'], 4 => ['ENDED', 'NONE'],
         30 => ['ENDED', 'NONE'], 31 => ['ENDED', 'NONE'], 7 => ['ENDED', 'INSUFFICIENT_FUNDS'],
         10 => ['FAILED', 'BUSY'], 11 => ['FAILED', 'NO_ANSWER'], 12 => ['FAILED', 'REJECTED'],
         16 => ['FAILED', 'INSUFFICIENT_FUNDS'], 32 => ['FAILED', 'INSUFFICIENT_FUNDS'],
         33 => ['FAILED', 'INSUFFICIENT_FUNDS'], 24 => ['FAILED', 'INVALID_NUMBER'],
         25 => ['FAILED', 'INVALID_NUMBER']];
$bad = [];
for ($code = 3; $code <= 33; $code++) {
    $c = new_client($dsn);
    [$r, $call] = start($c);
    control('force', ['login' => $login, 'code' => $code]);
    $st = status($call);
    $got = $st === null ? ['?', '?'] : [$cc->cc_state_name($st->state), $cc->cc_reason_name($st->reason)];
    if ($r !== $cc->CC_OK || $got !== ($want[$code] ?? ['INITIATING', 'NONE']) || raw($st) !== (string) $code) {
        $bad[] = "$code: " . implode('/', $got);
    }
    if ($st !== null && $st->state !== $cc->CC_STATE_ENDED && $st->state !== $cc->CC_STATE_FAILED) $cc->cc_hangup($call);
    $cc->cc_call_free($call);
    $cc->cc_client_free($c);
}
check($bad === [], 'every status code 3..33 maps as documented, raw code kept ' . implode(', ', $bad));

// The password never shows.
$texts = [];
$in_dsn = rawurlencode(LEAK_PASSWORD);
$c = new_client(sim_dsn('connectcall', "leak:{$in_dsn}x", '/api/'));
[$r, $call] = start($c);
check($r === $cc->CC_ERR_AUTH && $cc->cc_last_error_carrier_code() === '102', 'wrong password: AUTH, 102');
$texts[] = last_error();
$cc->cc_client_free($c);
$c = new_client(sim_dsn('connectcall', "leak:$in_dsn", '/api/'));
control('fault', ['login' => 'leak', 'mode' => 'garbage', 'count' => 1]);
[$r, $call] = start($c);
check($r === $cc->CC_ERR_OUTCOME_UNKNOWN, 'spoilt login reply: OUTCOME_UNKNOWN');
$texts[] = last_error();
[$r, $call] = start($c);
check($r === $cc->CC_OK, 'the odd password logs in');
control('fault', ['login' => 'leak', 'mode' => 'nocode', 'count' => 1]);
check(status($call) === null && $cc->cc_last_error_carrier_code() === '', 'a reply without <code> fails the poll');
$texts[] = last_error();
$texts[] = raw(status($call));
$ref = $cc->new('char*');
$cc->cc_call_ref($call, FFI::addr($ref));
$texts[] = take_string($ref);
$cc->cc_hangup($call);
$cc->cc_call_free($call);
$cc->cc_client_free($c);
$leaks = array_filter($texts, fn($t) => str_contains($t, LEAK_PASSWORD) || str_contains($t, $in_dsn)
    || str_contains($t, urlencode(LEAK_PASSWORD)) || str_contains($t, 'Pä$$') || str_contains($t, 'w&rd'));
check(count($texts) >= 5 && $leaks === [], 'no message, status or reference holds the password');

$clients = $cc->new('size_t');
$calls = $cc->new('size_t');
$cc->cc_live_handles(FFI::addr($clients), FFI::addr($calls));
check($clients->cdata === 0 && $calls->cdata === 0, 'no handle left alive');
check_done();
