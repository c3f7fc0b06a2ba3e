<?php
// VoipNow through PHP FFI: a ring group followed to the end with one token, token renewal
// (and a token cache file shared by "web requests"), every documented 400 code, hang-up
// by id only, and a start cut off after the carrier placed it: found by its nonce among
// the extension's live calls, never placed twice (the simulator, like the sources, does
// not de-duplicate a repeated nonce).
require __DIR__ . '/check.php';

$cc = cc();
$pid = getmypid();

function sim_get(string $path): string {
    return (string) file_get_contents('http://127.0.0.1:' . sim_port() . $path);
}
function control(string $action): bool { return sim_get("/_sim/voipnow/$action") === 'ok'; }
function counters(string $app): array { return json_decode(sim_get("/_sim/voipnow/client?id=$app"), true); }
function voipnow_client(string $app, string $extra = '') {
    return new_client(sim_dsn('voipnow', "$app:secret-$app", '', 'extension=210' . $extra));
}
/** A C string that lives as long as the returned holder. */
function cstr(string $s): array {
    $buf = cc()->new('char[' . (strlen($s) + 1) . ']');
    FFI::memcpy($buf, $s, strlen($s));
    return [$buf, FFI::addr($buf[0])];
}
function call_id($call): string {
    $p = cc()->new('char*');
    cc()->cc_call_id($call, FFI::addr($p));
    return (string) take_string($p);
}
function sim_call($call): array { return json_decode(sim_get('/_sim/voipnow/call?id=' . call_id($call)), true); }
function start($client, string $a, string $b = '030 1234567', $opts = null) {
    $call = cc()->new('cc_call*');
    $r = cc()->cc_start_call($client, $a, $b, $opts === null ? null : FFI::addr($opts), FFI::addr($call));
    return [$r, $call];
}
/** The simulator holds the call at $stage (every stage is seen, however slow the machine);
 * what one poll says then. $stage null lets the call play on. */
function held_at($call, ?string $stage) {
    $id = call_id($call);
    check(control($stage === null ? "release?id=$id" : "hold?id=$id&stage=$stage"), "hold at $stage");
    $st = cc()->new('cc_call_status');
    check(cc()->cc_poll_status($call, FFI::addr($st)) === cc()->CC_OK, 'poll');
    return $st;
}
/** Polls until the call is final: the states seen and the last status. */
function follow($call): array {
    $st = cc()->new('cc_call_status');
    $seen = [];
    $until = microtime(true) + 20;
    while (microtime(true) < $until) {
        if (cc()->cc_poll_status($call, FFI::addr($st)) !== cc()->CC_OK) break;
        $seen[$st->state] = true;
        if ($st->state === cc()->CC_STATE_ENDED || $st->state === cc()->CC_STATE_FAILED) break;
        usleep(10000);
    }
    return [$seen, $st];
}
function reference(string $id): string {
    $json = json_encode(['v' => 1, 'carrier' => 'voipnow', 'id' => $id, 'started_ms' => (int) (microtime(true) * 1000),
        'limit_s' => 600, 'extra' => ['user' => '@me', 'ext' => '210', 'b' => '+49301234567']]);
    return 'cc1.' . rtrim(strtr(base64_encode($json), '+/', '-_'), '=');
}

// A ring group of two A numbers to B, followed to the end with one token.
$app = "test-vn-php-ring-$pid";
check(control("step-ms?client=$app&ms=200"), 'slow stages');
$client = voipnow_client($app);
$want = $cc->CC_CAP_CALLBACK | $cc->CC_CAP_LIVE_STATUS | $cc->CC_CAP_HANGUP | $cc->CC_CAP_RING_GROUP
    | $cc->CC_CAP_CALLER_ID | $cc->CC_CAP_IDEMPOTENT_START | $cc->CC_CAP_WAIT_FOR_PICKUP
    | $cc->CC_CAP_MAX_DURATION | $cc->CC_CAP_CALL_FLAGS;
check(($cc->cc_capabilities($client) & $want) === $want, 'capabilities');
$opts = $cc->new('cc_call_options');
[$h1, $opts->caller_id] = cstr('Booth 7 <+4930123456>');
[$h2, $opts->caller_id_b] = cstr('Callshop <+4930999999>');
$opts->wait_for_pickup_s = 30;
$opts->max_duration_s = 600;
$opts->flags = $cc->CC_OPT_ALLOW_PUBLIC_TRANSFER | $cc->CC_OPT_VIDEO;
[$r, $call] = start($client, '0171 1234486|0171 1234567', '030 1234567', $opts);
check($r === $cc->CC_OK, 'start a ring-group call');
$asked = sim_call($call);
check($asked['source'] === ['+491711234486', '+491711234567'], 'both sources sent');
check($asked['winner'] === '+491711234567', 'the second source picked up');
check($asked['callerId'] === 'Booth 7 <+4930123456>' && $asked['callerIdDestination'] === 'Callshop <+4930999999>', 'caller ids sent');
check($asked['waitForPickup'] === '30' && $asked['callDuration'] === '600', 'limits sent');
check($asked['allowPublicTransfer'] === 'true' && $asked['video'] === 'true', 'flags sent');
foreach (['ringing_a' => 'CC_STATE_RINGING_A', 'a_answered' => 'CC_STATE_A_ANSWERED',
    'ringing_b' => 'CC_STATE_RINGING_B', 'connected' => 'CC_STATE_CONNECTED'] as $stage => $name) {
    check(held_at($call, $stage)->state === $cc->$name, $name);
}
held_at($call, null);
[, $st] = follow($call);
check($st->state === $cc->CC_STATE_ENDED && $st->reason === $cc->CC_REASON_NONE, 'ended');
check($st->duration_s === 20 && FFI::string($st->cost) === '', 'duration, and no cost made up (no public record shows one)');
check(FFI::string($st->raw_status) === 'disposition:0', 'raw status');
$cc->cc_call_free($call);
$n = counters($app);
check($n['token_fetches'] === 1 && $n['calls_placed'] === 1 && $n['requests'] >= 5, 'one token for the whole call');

// Hang-up by id; forged ids never become a DELETE of the whole extension.
[$r, $call] = start($client, '0171 1234567|0171 7654321');
[$r2, $other] = start($client, '0171 2345678');
check($r === $cc->CC_OK && $r2 === $cc->CC_OK, 'two calls');
check($cc->cc_hangup($call) === $cc->CC_OK, 'hangup');
$cc->cc_poll_status($call, FFI::addr($st));
check($st->state === $cc->CC_STATE_ENDED && $st->reason === $cc->CC_REASON_CANCELLED, 'ended by hang-up');
check(sim_call($call)['stage'] === 'hung_up' && sim_call($other)['stage'] !== 'hung_up', 'that call only');
foreach ([' ', '.', '..'] as $forged) {
    $h = $cc->new('cc_call*');
    check($cc->cc_call_attach($client, reference($forged), FFI::addr($h)) === $cc->CC_ERR_INVALID_ARGUMENT,
        'a forged (unsigned) reference is refused at attach');
}
check($cc->cc_hangup($other) === $cc->CC_OK, 'hangup the other');
$n = counters($app);
check($n['hangups'] === 2 && $n['delete_all'] === 0, 'two hang-ups by id, no DELETE without id');
$cc->cc_call_free($call);
$cc->cc_call_free($other);

// Every documented 400 code reaches PHP with the carrier's code.
$codes = ['extension_invalid' => 'CC_ERR_INVALID_ARGUMENT', 'pc_duration_invalid' => 'CC_ERR_INVALID_ARGUMENT',
    'pc_source_invalid' => 'CC_ERR_INVALID_NUMBER', 'pc_destination_invalid' => 'CC_ERR_INVALID_NUMBER',
    'pc_timeout_invalid' => 'CC_ERR_INVALID_ARGUMENT', 'pc_callerid_invalid' => 'CC_ERR_INVALID_ARGUMENT',
    'pc_transfer_invalid' => 'CC_ERR_INVALID_ARGUMENT', 'pc_nonce_invalid' => 'CC_ERR_INVALID_ARGUMENT'];
$placed = counters($app)['calls_placed'];
foreach ($codes as $code => $result) {
    check(control("fail-next-start?client=$app&code=$code"), 'arm');
    [$r] = start($client, '0171 1234567');
    check($r === $cc->$result && $cc->cc_last_error_carrier_code() === $code, $code);
    check(str_contains(last_error(), 'is missing or invalid'), "$code text");
}
$bad = $cc->new('cc_call_options');
[$h3, $bad->caller_id] = cstr('+4930123456');
[$r] = start($client, '0171 1234567', '030 1234567', $bad);
check($r === $cc->CC_ERR_INVALID_ARGUMENT && str_contains(last_error(), 'Name <+number>'), 'caller id checked before sending');
check(counters($app)['calls_placed'] === $placed, 'no call placed by refused starts');

// A cut connection after the carrier placed the call: found by its nonce, one call.
check(control("cut-next-start?client=$app"), 'arm a cut');
[$r, $call] = start($client, '0171 1234486|0171 1234567');
check($r === $cc->CC_OK, 'start survives the cut');
$n = counters($app);
check($n['cut_starts'] === 1 && $n['duplicate_starts'] === 0 && $n['nonce_reuses'] === 0 && $n['calls_placed'] === $placed + 1, 'one call, not two');
check(held_at($call, 'connected')->state === $cc->CC_STATE_CONNECTED, 'that call connects');
held_at($call, null);
[, $st] = follow($call);
check($st->state === $cc->CC_STATE_ENDED, 'that call followed to the end');
$cc->cc_call_free($call);
check(counters($app)['token_fetches'] === 1, 'still one token');
$cc->cc_client_free($client);

// Token renewal: 2 s tokens renewed before they run out, and once on a 401.
$ttl = "test-vn-php-ttl-$pid";
check(control("token-ttl?client=$ttl&seconds=2") && control("step-ms?client=$ttl&ms=1000"), 'short tokens');
$client = voipnow_client($ttl);
[$r, $call] = start($client, '0171 1234567');
check($r === $cc->CC_OK && counters($ttl)['token_fetches'] === 1, 'first token');
usleep(2100000);
check($cc->cc_poll_status($call, FFI::addr($st)) === $cc->CC_OK, 'poll after the first token ran out');
$n = counters($ttl);
check($n['token_fetches'] === 2 && $n['auth_failures'] === 0, 'renewed before it ran out');
check(control("revoke?client=$ttl"), 'revoke');
check($cc->cc_poll_status($call, FFI::addr($st)) === $cc->CC_OK, 'poll with a revoked token');
$n = counters($ttl);
check($n['token_fetches'] === 3 && $n['auth_failures'] === 1, 'renewed on a 401');
check($cc->cc_hangup($call) === $cc->CC_OK, 'hangup (ttl)');
$cc->cc_call_free($call);
$cc->cc_client_free($client);

// PHP's usual life: one client per web request. With token_cache the next requests
// reuse the token instead of fetching one each.
$web = "test-vn-php-web-$pid";
$cache = sys_get_temp_dir() . "/cc-vn-php-$pid.json";
@unlink($cache);
$client = voipnow_client($web, "&token_cache=$cache");
[$r, $call] = start($client, '0171 1234567');
$ref = $cc->new('char*');
check($r === $cc->CC_OK && $cc->cc_call_ref($call, FFI::addr($ref)) === $cc->CC_OK, 'request 1: start');
$stored = take_string($ref);
$cc->cc_call_free($call);
$cc->cc_client_free($client);
check((fileperms($cache) & 0777) === 0600, 'the cache file is private (0600)');
for ($i = 2; $i <= 4; $i++) {
    $client = voipnow_client($web, "&token_cache=$cache");
    $again = $cc->new('cc_call*');
    check($cc->cc_call_attach($client, $stored, FFI::addr($again)) === $cc->CC_OK, "request $i: attach");
    check($cc->cc_poll_status($again, FFI::addr($st)) === $cc->CC_OK, "request $i: poll");
    if ($i === 4) check($cc->cc_hangup($again) === $cc->CC_OK, "request $i: hangup");
    $cc->cc_call_free($again);
    $cc->cc_client_free($client);
}
check(counters($web)['token_fetches'] === 1, 'one token fetch for four web requests');
@unlink($cache);

// A wrong client secret: AUTH, and the secret is never shown.
$client = new_client(sim_dsn('voipnow', 'test-vn-php-bad:hunter2-wrong', '', 'extension=210'));
[$r] = start($client, '0171 1234567');
check($r === $cc->CC_ERR_AUTH && !str_contains(last_error(), 'hunter2'), 'auth refused, secret not shown');
$cc->cc_client_free($client);

$clients = $cc->new('size_t');
$calls = $cc->new('size_t');
$cc->cc_live_handles(FFI::addr($clients), FFI::addr($calls));
check($clients->cdata === 0 && $calls->cdata === 0, 'no handle left alive');
check_done();
