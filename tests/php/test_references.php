<?php
// Call references through PHP: a reference made by another PHP process of the same
// account attaches; a forged (unsigned), altered, truncated or foreign one is refused
// with CC_ERR_INVALID_ARGUMENT (the class: InvalidArgumentException) and nothing reaches
// the simulator; a decoded reference shows no credential.
require __DIR__ . '/check.php';
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';

use CallConnect\Client;
use CallConnect\InvalidArgumentException;
use CallConnect\Result;

$cc = cc();
$dsn = fn (string $u) => sim_dsn('voipnow', "$u:secret-$u", '', 'extension=210');
$b64 = fn (string $s) => rtrim(strtr(base64_encode($s), '+/', '-_'), '=');
$readable = function (string $ref): array {
    $body = explode('.', $ref)[1];
    return json_decode(base64_decode(strtr($body, '-_', '+/')), true);
};
$requests = fn () => sim_stats()['_requests']['total'];

// Another process (a previous web request) places the call and keeps its reference.
$child = 'require ' . var_export(__DIR__ . '/check.php', true) . ';'
    . '$c = new_client(' . var_export($dsn('test-php-refs'), true) . ');'
    . '$k = cc()->new("cc_call*"); cc()->cc_start_call($c, "0171 1234567", "030 1234567", null, FFI::addr($k));'
    . '$r = cc()->new("char*"); cc()->cc_call_ref($k, FFI::addr($r)); echo take_string($r);';
$ref = trim((string) shell_exec(escapeshellarg(PHP_BINARY) . ' -d ffi.enable=1 -r ' . escapeshellarg($child)));
check(str_starts_with($ref, 'cc2.'), 'the other process made a signed reference');

$client = new_client($dsn('test-php-refs'));
$h = $cc->new('cc_call*');
check($cc->cc_call_attach($client, $ref, FFI::addr($h)) === $cc->CC_OK, 'a reference from another process of the account attaches');
$st = $cc->new('cc_call_status');
check($cc->cc_poll_status($h, FFI::addr($st)) === $cc->CC_OK, 'and is followed');
$cc->cc_call_free($h);

$refused = function ($client, string $bad, string $why, string $name) use ($cc, $requests) {
    $before = $requests();
    $h = $cc->new('cc_call*');
    check($cc->cc_call_attach($client, $bad, FFI::addr($h)) === $cc->CC_ERR_INVALID_ARGUMENT, "$name: CC_ERR_INVALID_ARGUMENT");
    check(str_contains($cc->cc_last_error_message(), $why), "$name: the message says \"$why\"");
    check($requests() === $before, "$name: nothing reached the simulator");
};
$other = new_client($dsn('test-php-refs-other'));
$refused($other, $ref, 'another account', 'foreign');
$record = $readable($ref);
$tag = substr($ref, strrpos($ref, '.') + 1);
$refused($client, 'cc2.' . $b64(json_encode(['limit_s' => 1] + $record)) . ".$tag", 'altered', 'altered limits');
$refused($client, 'cc2.' . $b64(json_encode(['id' => 'other-call'] + $record)) . ".$tag", 'altered', 'altered id');
$refused($client, substr($ref, 0, -3), 'truncated', 'truncated');
$forged = ['v' => 1, 'carrier' => 'voipnow', 'id' => $record['id'], 'started_ms' => $record['started_ms'], 'limit_s' => 600,
    'extra' => ['user' => '@me', 'ext' => '210', 'b' => '+49301234567']];
$refused($client, 'cc1.' . $b64(json_encode($forged)), 'unsigned', 'forged');

$text = json_encode($record);
check(!str_contains($text, 'secret') && !str_contains($ref, 'secret') && !isset($record['extra']),
    'no credential in a decoded reference');

// The class maps the refusal to its own exception.
$w = new Client($dsn('test-php-refs-other'));
try {
    $w->attach($ref);
    check(false, 'the class refuses a foreign reference');
} catch (InvalidArgumentException $e) {
    check($e->getResult() === Result::INVALID_ARGUMENT && str_contains($e->getMessage(), 'another account'),
        'InvalidArgumentException for a foreign reference');
}
$cc->cc_client_free($other);
$cc->cc_client_free($client);
check_done();
