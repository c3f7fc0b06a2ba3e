<?php
// A callshop counter on 42call's account services through PHP FFI: the balance, the price
// of 0171... and 030..., a calling card created with an SMS, blocked and unblocked, and
// today's call records, every figure in one form ("12.3456 EUR", ISO dates, seconds).
// Then the rest of the account functions, the "nothing found" forms and carrier errors.
require __DIR__ . '/check.php';

$cc = cc();
$user = 'test-php-shop-' . getmypid();
$client = new_client(sim_dsn('42call', "$user:secret-$user", '', 'realm=testRealm'));

const MONEY = '/^-?\d+(\.\d+)? [A-Z]{3}$/';
$figures = [];

/** A money object of the library's JSON as the counter prints it. */
function money(array $m): string {
    global $figures;
    $s = $m['amount'] . ' ' . $m['currency'];
    $figures[] = $s;
    return $s;
}

/** Calls a function that returns JSON; null when it did not return CC_OK. */
function json_call(string $fn, ...$args): mixed {
    $out = cc()->new('char*');
    $r = cc()->$fn(...array_merge($args, [FFI::addr($out)]));
    if ($r !== cc()->CC_OK) {
        check(FFI::isNull($out), "$fn writes no output on failure");
        return null;
    }
    return json_decode(take_string($out), true, 512, JSON_THROW_ON_ERROR);
}

function result_of(string $fn, ...$args): int {
    $out = cc()->new('char*');
    return cc()->$fn(...array_merge($args, [FFI::addr($out)]));
}

function stats42(): array { return sim_stats()['42call']; }

function sim_control(string $path): array {
    return json_decode(file_get_contents('http://127.0.0.1:' . sim_port() . "/_sim/42call/$path"), true);
}

// ---- the counter ---------------------------------------------------------------------
echo "== balance\n";
$b = $cc->new('cc_balance');
check($cc->cc_account_balance($client, FFI::addr($b)) === $cc->CC_OK, 'cc_account_balance');
$balance = FFI::string($b->amount) . ' ' . FFI::string($b->currency);
$figures[] = $balance;
echo "  account " . FFI::string($b->account_number) . ": $balance\n";
check($balance === '18.40 EUR', 'a new account holds 18.40 EUR');

echo "== prices\n";
$rates = json_call('cc_account_rates', $client, '0171 1234567|030 1234567');
check(is_array($rates) && count($rates) === 2, 'two prices');
foreach ($rates as $r) {
    echo "  {$r['input']} ({$r['destination']}, {$r['prefix']}): " . money($r['price']) . " per minute\n";
}
check($rates[0]['price'] === ['amount' => '0.10', 'currency' => 'EUR'], '0171 costs 0.10 EUR');
check($rates[1]['price'] === ['amount' => '0.04', 'currency' => 'EUR'], '030 costs 0.04 EUR');

$day = gmdate('Y-m-d'); // the simulator's records are in UTC
check(json_call('cc_account_call_records', $client, $day, null, 0) === [], 'no record yet: an empty list');
check(json_call('cc_account_callshop_records', $client, $day, $day, 0) === [], 'no callshop record yet: an empty list');

echo "== a calling card, with an SMS to the customer\n";
$before = stats42();
$card = json_call('cc_card_create', $client, '0171 5550201', 'Booth 3', '5.00', true, 'Ihre Karte ist bereit');
check($card !== null && $card['active'] === true, 'card created and active');
echo "  card {$card['number']} serial {$card['serial']}: " . money($card['credit']) . "\n";
$after = stats42();
check($after['cards_created'] === $before['cards_created'] + 1, 'exactly one card created at the carrier');
check($after['sms_sent'] === $before['sms_sent'] + 1, 'exactly one SMS sent');
check(preg_match('/^\d+$/', (string) $card['pin']) === 1, 'the card has its PIN');

$blocked = json_call('cc_card_block', $client, '0171 5550201');
check($blocked['active'] === false, 'blocked: active is false');
check(sim_control("card?user=$user&number=491715550201")['state'] === 'blocked', 'the carrier holds it blocked');
$unblocked = json_call('cc_card_unblock', $client, '0171 5550201');
check($unblocked['active'] === true, 'unblocked: active is true');
check(sim_control("card?user=$user&number=491715550201")['state'] === 'active', 'the carrier holds it active');
echo "  blocked, then unblocked: " . ($unblocked['active'] ? 'active' : 'blocked') . "\n";

echo "== today's call records\n";
$call = $cc->new('cc_call*');
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', null, FFI::addr($call)) === $cc->CC_OK, 'a call at the booth');
$id = $cc->new('char*');
$cc->cc_call_id($call, FFI::addr($id));
$id = take_string($id);
$deadline = microtime(true) + 10;
while (sim_control("call?user=$user&id=$id")['stage'] !== 'ended' && microtime(true) < $deadline) {
    usleep(50000);
}
$cc->cc_call_free($call);
$records = json_call('cc_account_call_records', $client, $day, null, 20);
check(is_array($records) && count($records) === 2, 'two records: the card SMS and the call');
foreach ($records as $r) {
    echo "  {$r['start']} {$r['type']} {$r['number']} {$r['duration_s']} s: " . money($r['cost']) . "\n";
    check(str_starts_with($r['start'], $day . 'T'), 'record of today, ISO-8601');
}
$shop = json_call('cc_account_callshop_records', $client, $day, null, 0);
check(count($shop) === 1 && $shop[0]['duration_s'] === 20 && $shop[0]['billed_s'] === 20, 'callshop list: the call, 20 s');
echo "  callshop: {$shop[0]['caller']} -> {$shop[0]['number']}: " . money($shop[0]['cost']) . "\n";

$cc->cc_account_balance($client, FFI::addr($b));
$balance = FFI::string($b->amount) . ' ' . FFI::string($b->currency);
$figures[] = $balance;
echo "== balance now: $balance\n";
// 18.40 - 5.00 (card) - 0.09 (SMS) - 0.0133 (20 s at 0.04 a minute)
check($balance === '13.2967 EUR', 'the card, the SMS and the call were paid for');
foreach ($figures as $f) {
    check(preg_match(MONEY, $f) === 1, "figure '$f' is in the one form");
}

// ---- the rest, nothing-found forms and carrier errors --------------------------------
$a = json_call('cc_account_info', $client);
check($a['balance'] === ['amount' => '13.2967', 'currency' => 'EUR'] && count($a['accounts']) === 1, 'cc_account_info');
check($a['customer_name'] === "Kunde $user", 'customer name');

$n = json_call('cc_account_number_check', $client, '0179 1234567');
check($n['number'] === '+491791234567' && $n['prefix'] === '+49179' && $n['destination'] === 'Germany Mobile O2', 'number check');
check(result_of('cc_account_number_check', $client, '0171 1234404') === $cc->CC_ERR_NOT_FOUND, 'number check: unknown number');
check($cc->cc_last_error_carrier_code() === '1001', 'carrier code 1001');
check(result_of('cc_account_number_check', $client, '0171') === $cc->CC_ERR_INVALID_NUMBER, 'number check: impossible number');

$d = json_call('cc_account_dialin_numbers', $client);
check($d['dialin_geo']['DE'] === '+493034649495' && $d['callback_free'] === [], 'dial-in numbers');
$d = json_call('cc_account_store_callthrough', $client, '0171 1234567', '030 1234567');
check($d['callthrough_b'] === '+49301234567', 'callthrough target stored');

$lines = json_call('cc_account_voip_lines', $client, false);
check(count($lines) === 2 && $lines[0]['password'] === null && $lines[0]['password_form'] === 'omitted', 'VoIP lines without passwords');
$lines = json_call('cc_account_voip_lines', $client, true);
check($lines[0]['password'] === "Sip-$user-pw1" && $lines[0]['password_form'] === 'plain', 'SIP password decoded');
check($lines[1]['password_form'] === 'base64', 'an undecodable password is given as the carrier sent it');

check(json_call('cc_card_show', $client, '0171 5550201')['active'] === true, 'card show');
$moved = json_call('cc_card_change_number', $client, '0171 5550201', '0171 5550202');
check($moved['number'] === '+491715550202', 'card moved to another number');
check(json_call('cc_card_disable', $client, '0171 5550202')['active'] === false, 'card disabled');
check(result_of('cc_card_activate', $client, '0171 5550202', '999888777') === $cc->CC_ERR_PROVIDER, 'wrong PIN refused');
check(!str_contains(last_error(), '999888777'), 'the PIN is not in the message');
check(json_call('cc_card_activate', $client, '0171 5550202', $card['pin'])['active'] === true, 'card activated with its PIN');
check(result_of('cc_card_show', $client, '0171 5550299') === $cc->CC_ERR_NOT_FOUND, 'no card: NOT_FOUND');
check(result_of('cc_card_unblock', $client, '0171 5550299') === $cc->CC_ERR_NOT_FOUND, 'unblock of no card: NOT_FOUND');
check(result_of('cc_account_call_records', $client, '20.02.2014', null, 0) === $cc->CC_ERR_INVALID_ARGUMENT, 'date not YYYY-MM-DD');

$broke = new_client(sim_dsn('42call', 'broke:broke-secret'));
check(json_call('cc_account_voip_lines', $broke, true) === [], 'no VoIP line: an empty list');
check(result_of('cc_card_create', $broke, '0171 5550201', null, '5', true, null) === $cc->CC_ERR_INSUFFICIENT_FUNDS, 'card without credit');
$cc->cc_client_free($broke);
$bad = new_client(sim_dsn('42call', 'demo:hunter2'));
check($cc->cc_account_balance($bad, FFI::addr($b)) === $cc->CC_ERR_AUTH, 'wrong password');
check(!str_contains(last_error(), 'hunter2'), 'no secret in the message');
$cc->cc_client_free($bad);
$cc->cc_client_free($client);
check($cc->cc_account_balance($client, FFI::addr($b)) === $cc->CC_ERR_INVALID_HANDLE, 'freed client');
check_done();
