<?php
// The PHP class (bindings/php/CallConnect.php) doing the normal jobs against the simulator:
// calls, states, hang-up, reference across "requests", SMS, top-up, typed exceptions,
// handles freed by destructors, and the log handed to a callable without secrets.
require __DIR__ . '/check.php';
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';

use CallConnect\AuthException;
use CallConnect\CallStatus;
use CallConnect\Client;
use CallConnect\Capability;
use CallConnect\InsufficientFundsException;
use CallConnect\InvalidArgumentException;
use CallConnect\InvalidHandleException;
use CallConnect\InvalidNumberException;
use CallConnect\Library;
use CallConnect\Log;
use CallConnect\Money;
use CallConnect\ProviderException;
use CallConnect\Result;
use CallConnect\UnsupportedException;

function live_handles(): array {
    $clients = cc()->new('size_t');
    $calls = cc()->new('size_t');
    cc()->cc_live_handles(FFI::addr($clients), FFI::addr($calls));
    return [$clients->cdata, $calls->cdata];
}

/** Runs $fn and returns the exception it threw (or null). */
function thrown(callable $fn): ?Throwable {
    try {
        $fn();
    } catch (Throwable $e) {
        return $e;
    }
    return null;
}

$base = live_handles();
check(str_starts_with(Library::version(), 'callconnect ' . Library::ABI_MAJOR . '.'), 'version names the ABI major');
check(str_contains(Library::version(), 'rustls'), 'version names the TLS stack');
Library::warmUp(49);
Library::warmUp();
check(thrown(fn() => Library::warmUp(999)) instanceof InvalidArgumentException, 'warmUp: 999 is no country code');
check(thrown(fn() => Library::warmUp(-1)) instanceof \InvalidArgumentException, 'warmUp: a negative code');

$client = new Client(sim_dsn('42call', 'test-phpw:secret-test-phpw'));
check(($client->capabilities() & Capability::SMS) !== 0, 'capabilities');

// A call, its states, hang-up.
$before = sim_stats()['42call']['calls_placed'];
$call = $client->startCall('0171 1234567', '+49 30 1234567', ['correlation' => 'booth-4']);
check(sim_stats()['42call']['calls_placed'] === $before + 1, 'exactly one call placed');
$st = $call->status();
check($st instanceof CallStatus, 'status is a CallStatus');
check($st->state === 'INITIATING' && $st->stateCode === 0, 'state by name and number');
check(!$st->isLive() && !$st->isFinal(), 'not live, not final');
check(strlen($call->id()) === 36, 'call id');
check(live_handles() === [$base[0] + 1, $base[1] + 1], 'one client and one call alive');

// The reference outlives the request: a new client attaches it.
$ref = $call->ref();
$id = $call->id();
unset($call);
check(live_handles()[1] === $base[1], 'the destructor freed the call');
$next = new Client(sim_dsn('42call', 'test-phpw:secret-test-phpw'));
$again = $next->attach($ref);
check($again->id() === $id, 'attached the same call');
$again->hangup();
$st = $again->status();
check($st->state === 'ENDED' && $st->reason === 'CANCELLED' && $st->isFinal(), 'ended by hang-up');
check($st->toArray()['state'] === 'ENDED', 'toArray');
$e = thrown(fn () => $next->attach('cc1.garbage'));
check($e instanceof InvalidArgumentException && $e->getResult() === Result::INVALID_ARGUMENT, 'garbage reference');
unset($again, $next);

// Options the carrier cannot honour, bad numbers, bad option names: nothing is placed.
$before = sim_stats()['42call']['calls_placed'];
$e = thrown(fn () => $client->startCall('0171 1234567', '030 1234567', ['caller_id' => 'Shop <+4930123456>', 'max_duration' => 60]));
check($e instanceof UnsupportedException && $e->getResult() === Result::UNSUPPORTED, 'UnsupportedException');
check($e instanceof CallConnect\Exception && $e->getResultName() === 'CC_ERR_UNSUPPORTED', 'base class and result name');
$e = thrown(fn () => $client->startCall('0171', '030 1234567'));
check($e instanceof InvalidNumberException, 'InvalidNumberException');
$e = thrown(fn () => $client->startCall('0171 1234567', '030 1234567', ['max_duraton' => 60]));
check($e instanceof InvalidArgumentException && str_contains($e->getMessage(), 'max_duraton'), 'unknown option name');
check(sim_stats()['42call']['calls_placed'] === $before, 'nothing placed');

// SMS and top-up.
$sent = sim_stats()['42call']['sms_sent'];
check($client->sendSms(['0171 1234567', '0171 7654321'], 'Hallo aus PHP') !== '', 'sendSms to two');
check(sim_stats()['42call']['sms_sent'] > $sent, 'the simulator got it');
$topup = new Client(sim_dsn('42call', 'test-phpw-topup:secret-test-phpw-topup'));
check($topup->knownBalance() === null, 'no balance heard yet');
$pin = '9' . str_pad((string) getmypid(), 8, '5', STR_PAD_LEFT);
$balance = $topup->topup($pin);
check($balance instanceof Money && $balance->amount === '28.40' && $balance->currency === 'EUR', 'topup balance');
check((string) $topup->knownBalance() === '28.40 EUR', 'knownBalance');
$e = thrown(fn () => $topup->topup($pin));
check($e instanceof ProviderException && $e->getCarrierCode() === '1200', 'PIN used twice: carrier code 1200');
check(!str_contains($e->getMessage(), $pin), 'no PIN in the message');
unset($topup);

$bad = new Client(sim_dsn('42call', 'demo:hunter2'));
$e = thrown(fn () => $bad->sendSms('0171 1234567', 'x'));
check($e instanceof AuthException && !str_contains($e->getMessage(), 'hunter2'), 'AuthException without the password');
$broke = new Client(sim_dsn('42call', 'broke:broke-secret'));
check(thrown(fn () => $broke->startCall('0171 1234567', '030 1234567')) instanceof InsufficientFundsException, 'InsufficientFundsException');
unset($bad, $broke);
check(thrown(fn () => new Client('42call://u:hunter2@')) instanceof InvalidArgumentException, 'bad DSN');

// Closed handles.
$gone = new Client(sim_dsn('42call', 'test-phpw:secret-test-phpw'));
$orphan = $gone->startCall('0171 1234567', '030 1234567');
$gone->close();
$gone->close();
check(thrown(fn () => $orphan->status()) instanceof InvalidHandleException, 'call of a closed client');
check(thrown(fn () => $gone->sendSms('0171 1234567', 'x')) instanceof InvalidHandleException, 'closed client');
unset($orphan, $gone);

// The log, handed to a callable: lines at every level asked for, no secret in any.
$lines = [];
Log::setHandler(function (string $level, string $message) use (&$lines) { $lines[] = [$level, $message]; });
$wrong = 'Wr0ng+Pa55/php';
$logpin = '9' . str_pad((string) getmypid(), 8, '6', STR_PAD_LEFT);
$c = $client->startCall('0171 1234567', '030 1234567');
$c->hangup();
$client->sendSms('0171 1234567', 'logged');
$client->topup($logpin);
thrown(fn () => $client->topup($logpin));
thrown(fn () => $client->topup('BADPIN42'));
$refused = new Client(sim_dsn('42call', 'test-phpw:' . rawurlencode($wrong)));
check(thrown(fn () => $refused->sendSms('0171 1234567', 'x')) instanceof AuthException, 'wrong password refused');
Log::setHandler(null);
$count = count($lines);
$client->sendSms('0171 1234567', 'not logged');
check(count($lines) === $count, 'no lines once the handler is removed');
$text = implode("\n", array_column($lines, 1));
$levels = array_unique(array_column($lines, 0));
check(in_array('debug', $levels, true) && in_array('info', $levels, true), 'debug and info lines');
check(str_contains($text, '-> POST') && str_contains($text, '<- HTTP 200'), 'requests and replies logged');
check(str_contains($text, 'x-authorization: ***') && str_contains($text, 'pin=***'), 'secrets blanked');
foreach (['secret-test-phpw', $wrong, rawurlencode($wrong), $logpin, 'BADPIN42', 'test-phpw:'] as $secret) {
    check(!str_contains($text, $secret), "no secret in the log ($secret)");
}
unset($c, $refused, $client);
check(live_handles() === $base, 'every handle freed by destructors');
check_done();
