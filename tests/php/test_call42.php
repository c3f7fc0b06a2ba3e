<?php
// 42call through PHP FFI: callback, hang-up, SMS, top-up, reference across "requests", misuse.
require __DIR__ . '/check.php';

$cc = cc();
$client = new_client(sim_dsn('42call', 'test-php:secret-test-php'));
check(($cc->cc_capabilities($client) & $cc->CC_CAP_SMS) !== 0, 'capabilities: sms');

$before = sim_stats()['42call']['calls_placed'];
$call = $cc->new('cc_call*');
check($cc->cc_start_call($client, '0171 1234567', '+49 30 1234567', null, FFI::addr($call)) === $cc->CC_OK, 'start_call');
check(sim_stats()['42call']['calls_placed'] === $before + 1, 'exactly one call placed');
$st = $cc->new('cc_call_status');
check($cc->cc_poll_status($call, FFI::addr($st)) === $cc->CC_OK, 'poll_status');
check($st->state === $cc->CC_STATE_INITIATING && ($st->flags & $cc->CC_STATUS_LIVE) === 0, 'status says only what is known');

// The reference survives the end of a PHP request: store it, attach it in the next one.
$ref = $cc->new('char*');
check($cc->cc_call_ref($call, FFI::addr($ref)) === $cc->CC_OK, 'call_ref');
$stored = take_string($ref);
$cc->cc_call_free($call);
$cc->cc_client_free($client);

$client = new_client(sim_dsn('42call', 'test-php:secret-test-php'));
$again = $cc->new('cc_call*');
check($cc->cc_call_attach($client, $stored, FFI::addr($again)) === $cc->CC_OK, 'call_attach in a new client');
check($cc->cc_hangup($again) === $cc->CC_OK, 'hangup');
$cc->cc_poll_status($again, FFI::addr($st));
check($st->state === $cc->CC_STATE_ENDED, 'ended');
$cc->cc_call_free($again);

$opts = $cc->new('cc_call_options');
$opts->max_duration_s = 60;
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', FFI::addr($opts), FFI::addr($call)) === $cc->CC_ERR_UNSUPPORTED, 'unsupported option refused');
check($cc->cc_start_call($client, '0171', '030 1234567', null, FFI::addr($call)) === $cc->CC_ERR_INVALID_NUMBER, 'invalid number');
// Numbers as libphonenumber reads them: a premium-rate number with a digit too many is
// refused, a Russian toll-free number keeps its 8 and is placed.
check($cc->cc_start_call($client, '0171 1234567', '0900 1234567 0', null, FFI::addr($call)) === $cc->CC_ERR_INVALID_NUMBER, 'a premium-rate number with a digit too many');
check($cc->cc_start_call($client, '0171 1234567', '+7 800 123 45 67', null, FFI::addr($call)) === $cc->CC_OK, 'a Russian toll-free number');
$cc->cc_hangup($call);
$cc->cc_call_free($call);

$id = $cc->new('char*');
check($cc->cc_send_sms($client, '0171 1234567|0171 7654321', 'Hallo aus PHP', FFI::addr($id)) === $cc->CC_OK, 'send_sms');
check(strlen((string) take_string($id)) > 0, 'message id');
$bal = $cc->new('char*');
check($cc->cc_topup($client, '9555666777', FFI::addr($bal)) === $cc->CC_OK, 'topup');
check((bool) preg_match('/^\d+\.\d\d EUR$/', (string) take_string($bal)), 'balance form');
check($cc->cc_topup($client, '9555666777', null) === $cc->CC_ERR_PROVIDER, 'PIN used twice');
check($cc->cc_last_error_carrier_code() === '1200', 'carrier code 1200');

// Misuse.
$h = $cc->new('cc_client*');
check($cc->cc_client_new('42call://demo:hunter2@', FFI::addr($h)) === $cc->CC_ERR_INVALID_ARGUMENT, 'bad DSN');
check(!str_contains(last_error(), 'hunter2'), 'no secret in the message');
check($cc->cc_client_new("\xff\xfe", FFI::addr($h)) === $cc->CC_ERR_INVALID_ARGUMENT, 'invalid UTF-8');
check($cc->cc_poll_status(null, FFI::addr($st)) === $cc->CC_ERR_INVALID_HANDLE, 'NULL call');
check($cc->cc_poll_status($cc->cast('cc_call*', $client), FFI::addr($st)) === $cc->CC_ERR_INVALID_HANDLE, 'wrong-kind handle');
check($cc->cc_send_sms($client, '0171 1234567', str_repeat('x', 1 << 20), FFI::addr($id)) === $cc->CC_ERR_INVALID_ARGUMENT, '1 MB text');
check($cc->cc_send_sms($client, '0171 1234567', '', FFI::addr($id)) === $cc->CC_ERR_INVALID_ARGUMENT, 'empty text');
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', null, FFI::addr($call)) === $cc->CC_OK, 'start for free tests');
$cc->cc_call_free($call);
check($cc->cc_hangup($call) === $cc->CC_ERR_INVALID_HANDLE, 'freed call');
$cc->cc_call_free($call);
check($cc->cc_debug_panic() === $cc->CC_ERR_INTERNAL, 'panic becomes INTERNAL');
$cc->cc_client_free($client);
check($cc->cc_capabilities($client) === 0, 'freed client has no capabilities');
$cc->cc_client_free($client);
check_done();
