<?php
// The callshop counter of issue 6 with the PHP class alone: the balance (typed), the price
// of 0171… and 030…, a calling card created with an SMS, blocked and unblocked, and today's
// call records after a call, every figure in one form (decimal string, currency apart);
// then the other account functions and their typed exceptions.
require __DIR__ . '/check.php';
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';

use CallConnect\AuthException;
use CallConnect\Balance;
use CallConnect\Capability;
use CallConnect\Client;
use CallConnect\InvalidArgumentException;
use CallConnect\InvalidNumberException;
use CallConnect\Money;
use CallConnect\NotFoundException;
use CallConnect\ProviderException;
use CallConnect\UnsupportedException;

function control(string $path): array {
    return json_decode((string) file_get_contents('http://127.0.0.1:' . sim_port() . "/_sim/42call/$path"), true);
}

function thrown(callable $fn): ?Throwable {
    try { $fn(); } catch (Throwable $e) { return $e; }
    return null;
}

$user = 'test-phpwrap-shop-' . getmypid();
$client = new Client(sim_dsn('42call', "$user:secret-$user", '', 'realm=testRealm'));
check(($client->capabilities() & Capability::ACCOUNT) !== 0, 'account services');

// --- the counter ---
$b = $client->balance();
check($b instanceof Balance && preg_match('/^[0-9]+\.[0-9]+$/', $b->balance->amount) === 1 && $b->balance->currency === 'EUR', "balance: $b->balance");
check($b->customerNumber !== '' && $b->accountNumber !== '', "customer $b->customerNumber, account $b->accountNumber");
$info = $client->accountInfo();
check(is_array($info) && $info['balance'] === ['amount' => $b->balance->amount, 'currency' => 'EUR'], 'accountInfo() is an array with the same balance');
$rates = $client->rates(['0171 1234567', '030 1234567']);
check(array_column($rates, 'price') === [['amount' => '0.10', 'currency' => 'EUR'], ['amount' => '0.04', 'currency' => 'EUR']],
    'prices: ' . implode(', ', array_map(fn($r) => "{$r['input']} {$r['price']['amount']} {$r['price']['currency']}", $rates)));
check($client->rates('0171 1234567|030 1234567') === $rates, 'rates from a "|" text too');

$number = '0171 555' . str_pad((string) (getmypid() % 10000), 4, '0', STR_PAD_LEFT);
$sms = sim_stats()['42call']['sms_sent'];
$card = $client->cardCreate($number, '5.00', 'Booth 2', true, 'Your card');
check($card['credit'] === ['amount' => '5.00', 'currency' => 'EUR'] && $card['active'] === true && $card['pin'] !== '', "card {$card['number']} with 5.00 EUR");
check(sim_stats()['42call']['sms_sent'] === $sms + 1, 'the customer got an SMS');
$e164 = $card['number'];
check($client->cardBlock($number)['active'] === false && control("card?user=$user&number=" . ltrim($e164, '+'))['state'] === 'blocked', 'card blocked');
check($client->cardShow($number)['active'] === false, 'cardShow says blocked');
check($client->cardUnblock($number)['active'] === true && control("card?user=$user&number=" . ltrim($e164, '+'))['state'] === 'active', 'card unblocked');

$today = new DateTimeImmutable('now', new DateTimeZone('UTC'));  // the simulator keeps UTC
$before = $client->callRecords($today);
check(array_map(fn($r) => [$r['type'], $r['number']], $before) === [['SMS', $e164]], 'today: the card\'s SMS');
$call = $client->startCall('0171 1234567', '030 1234567');
$deadline = microtime(true) + 10;
while (control("call?user=$user&id=" . $call->id())['stage'] !== 'ended' && microtime(true) < $deadline) usleep(50000);
$records = $client->callRecords($today->format('Y-m-d'), $today, 10);
$calls = array_values(array_filter($records, fn($r) => $r['type'] === 'CALLBACK'));
check(count($records) === count($before) + 1 && count($calls) === 1, 'today: one call more');
check($calls && [$calls[0]['number'], $calls[0]['duration_s'], $calls[0]['cost']] === ['+49301234567', 20, ['amount' => '0.01', 'currency' => 'EUR']],
    'the call: ' . json_encode($calls[0] ?? null));
$shop = $client->callshopRecords($today);
check(in_array('+491711234567', array_column($shop, 'caller'), true), 'callshop records name the caller');
check(bccomp_safe($client->balance()->balance->amount, $b->balance->amount) < 0, 'the call and the SMS cost money');

function bccomp_safe(string $x, string $y): int {
    // Decimal strings compared without floats.
    [$xi, $xf] = array_pad(explode('.', $x), 2, '');
    [$yi, $yf] = array_pad(explode('.', $y), 2, '');
    $n = max(strlen($xf), strlen($yf));
    return strcmp(str_pad($xi . str_pad($xf, $n, '0'), 40, '0', STR_PAD_LEFT), str_pad($yi . str_pad($yf, $n, '0'), 40, '0', STR_PAD_LEFT));
}

// --- the rest, and typed exceptions ---
check($client->numberCheck('030 1234567')['number'] === '+49301234567', 'numberCheck');
check(is_array($client->dialinNumbers()) && is_array($client->storeCallthrough('0171 1234567', '030 1234567')), 'dial-in numbers, store callthrough');
$lines = $client->voipLines();
check(is_array($lines) && array_filter($lines, fn($l) => $l['password'] !== null) === [], 'VoIP lines without passwords');
$n2 = '0171 556' . str_pad((string) (getmypid() % 10000), 4, '0', STR_PAD_LEFT);
$card2 = $client->cardCreate($n2, new Money('2.50', 'EUR'));
$moved = $client->cardChangeNumber($n2, substr($n2, 0, -1) . (substr($n2, -1) === '1' ? '2' : '1'));
check($moved['number'] !== $card2['number'], 'card moved to another number');
check($client->cardDisable($moved['number'])['active'] === false, 'card disabled');
$e = thrown(fn() => $client->cardActivate($moved['number'], '111222333'));
check($e instanceof ProviderException && $e->getCarrierCode() === '1200' && !str_contains($e->getMessage(), '111222333'), 'wrong PIN: 1200, not shown');
check($client->cardActivate($moved['number'], $card2['pin'])['active'] === true, 'activated with its PIN');
check(thrown(fn() => $client->cardShow('0171 5550199')) instanceof NotFoundException, 'no card: NotFoundException');
check(thrown(fn() => $client->rates(['0171 1234567', '12'])) instanceof InvalidNumberException, 'a bad number: InvalidNumberException');
check(thrown(fn() => $client->callRecords('20.02.2014')) instanceof InvalidArgumentException, 'a German date: InvalidArgumentException');
$bad = new Client(sim_dsn('42call', 'demo:hunter2'));
$e = thrown(fn() => $bad->balance());
check($e instanceof AuthException && !str_contains($e->getMessage(), 'hunter2'), 'wrong password: AuthException');
$vn = new Client(sim_dsn('voipnow', 'x:y', '', 'extension=210'));
check(thrown(fn() => $vn->balance()) instanceof UnsupportedException, 'VoipNow has no account services');
check_done();
