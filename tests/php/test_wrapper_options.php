<?php
// Every call option through the PHP class: a VoipNow ring group (an array of A numbers)
// with both caller ids, wait_for_pickup, max_duration, allow_public_transfer and video, as
// the simulator received them, followed to the end; two Connect Call calls in one session
// with connect_type; options a carrier cannot honour refused before anything is sent.
require __DIR__ . '/check.php';
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';

use CallConnect\Call;
use CallConnect\Capability;
use CallConnect\Client;
use CallConnect\InvalidArgumentException;
use CallConnect\Money;
use CallConnect\UnsupportedException;

function sim_get(string $path): string {
    return (string) file_get_contents('http://127.0.0.1:' . sim_port() . $path);
}

function follow(Call $call): array {
    $seen = [];
    $deadline = microtime(true) + 20;
    while (true) {
        $st = $call->status();
        if (!$seen || end($seen) !== $st->state) $seen[] = $st->state;
        if ($st->isFinal() || microtime(true) > $deadline) return [$seen, $st];
        usleep(10000);
    }
}

function thrown(callable $fn): ?Throwable {
    try { $fn(); } catch (Throwable $e) { return $e; }
    return null;
}

// 1. VoipNow: ring group and caller ids.
$app = 'test-vn-phpwrap-' . getmypid();
check(sim_get("/_sim/voipnow/step-ms?client=$app&ms=100") === 'ok', 'simulator paced');
$client = new Client(sim_dsn('voipnow', "$app:secret-$app", '', 'extension=210'));
$want = Capability::RING_GROUP | Capability::CALLER_ID | Capability::CALL_FLAGS;
check(($client->capabilities() & $want) === $want, 'VoipNow: ring group, caller id, call flags');
$call = $client->startCall(['0171 1234486', '0171 1234567'], '030 1234567', [
    'caller_id' => 'Booth 7 <+4930123456>', 'caller_id_b' => 'Callshop <+4930999999>',
    'wait_for_pickup' => 30, 'max_duration' => 600, 'allow_public_transfer' => true, 'video' => true,
]);
$asked = json_decode(sim_get('/_sim/voipnow/call?id=' . $call->id()), true);
check($asked['source'] === ['+491711234486', '+491711234567'] && $asked['winner'] === '+491711234567', 'the ring group rang both A numbers');
check($asked['callerId'] === 'Booth 7 <+4930123456>' && $asked['callerIdDestination'] === 'Callshop <+4930999999>', 'both caller ids sent');
check([$asked['waitForPickup'], $asked['callDuration']] === ['30', '600'], 'wait_for_pickup and max_duration sent');
check([$asked['allowPublicTransfer'], $asked['video']] === ['true', 'true'], 'allow_public_transfer and video sent');
// The simulator holds the call connected (however slow the machine), then lets it end.
check(sim_get('/_sim/voipnow/hold?id=' . $call->id() . '&stage=connected') === 'ok', 'held connected');
check($call->status()->state === 'CONNECTED', 'the ring group call connects');
check(sim_get('/_sim/voipnow/release?id=' . $call->id()) === 'ok', 'released');
[$seen, $st] = follow($call);
check($st->state === 'ENDED' && $st->reason === 'NONE' && $st->durationS === 20, 'ring group call followed to the end: ' . implode(' ', $seen));
check($st->cost === null, 'no cost made up: no public VoipNow record shows one');
$e = thrown(fn() => $client->startCall('0171 1234567', '030 1234567', ['caller_id_b' => 'Shop <+49 30 1234>']));
check($e instanceof InvalidArgumentException, 'a caller id VoipNow refuses: InvalidArgumentException');
$e = thrown(fn() => $client->startCall('0171 1234567', '030 1234567', ['callerid' => 'x']));
check($e instanceof InvalidArgumentException, 'an unknown option key: InvalidArgumentException');
check(json_decode(sim_get("/_sim/voipnow/client?id=$app"), true)['calls_placed'] === 1, 'one call placed at VoipNow');

// 2. Connect Call: two calls in one session.
$login = 'test-phpwrap-cc-' . getmypid();
sim_get("/_sim/connectcall/pace?login=$login&step_ms=100");
$cc2 = new Client(sim_dsn('connectcall', "$login:secret-$login", '/api/'));
check(($cc2->capabilities() & Capability::CONNECT_TYPE) !== 0, 'Connect Call: connect type');
$first = $cc2->startCall('0171 1234567', '030 1234567', ['connect_type' => 2]);
check(json_decode(sim_get("/_sim/connectcall/session?login=$login"), true)['type'] === 2, 'connect_type 2 reached the session');
[$seen, $st] = follow($first);
check(in_array('CONNECTED', $seen, true) && $st->state === 'ENDED', 'first call: ' . implode(' ', $seen));
$second = $cc2->startCall('0171 7654321', '+49 30 7654321', ['connect_type' => 2]);
[$seen, $st] = follow($second);
check(in_array('CONNECTED', $seen, true) && $st->state === 'ENDED' && $st->rawStatus === '30', 'second call: ' . implode(' ', $seen));
$acct = json_decode(sim_get("/_sim/connectcall/account?login=$login"), true);
check([$acct['logins'], $acct['connects'], $acct['calls_placed']] === [1, 1, 2], 'one login, one session, two calls');
check($first->id() !== $second->id(), 'two call ids');

// 3. Options 42call cannot honour: refused, nothing placed; correlation kept with the call.
$placed = sim_stats()['42call']['calls_placed'];
$c42 = new Client(sim_dsn('42call', 'test-phpwrap-opt:secret-test-phpwrap-opt'));
foreach ([['max_cost' => '0.50'], ['max_cost' => new Money('1.00', 'EUR')], ['wait_for_pickup' => 30],
          ['connect_type' => 2], ['video' => true], ['caller_id_b' => 'Shop <+4930123456>']] as $opt) {
    $e = thrown(fn() => $c42->startCall('0171 1234567', '030 1234567', $opt));
    check($e instanceof UnsupportedException, 'refused by 42call: ' . array_key_first($opt));
}
check(sim_stats()['42call']['calls_placed'] === $placed, 'nothing placed');
$call = $c42->startCall('0171 1234567', '030 1234567', ['correlation' => 'booth-7']);
$body = explode('.', $call->ref(), 2)[1];
$record = base64_decode(strtr($body, '-_', '+/'));
check(str_contains((string) $record, 'booth-7'), 'the correlation is kept with the call');
check(sim_stats()['42call']['calls_placed'] === $placed + 1, 'then one placed');
check_done();
