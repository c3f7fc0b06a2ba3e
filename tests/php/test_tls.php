<?php
// HTTPS through PHP FFI: ca_file trusts the simulator's private CA; a self-signed
// certificate is CC_ERR_NETWORK with "certificate", and nothing reaches the simulator.
require __DIR__ . '/check.php';

$cc = cc();
function tls_dsn(string $portVar): string {
    return 'voipnow://test-php-tls:secret-test-php-tls@127.0.0.1:' . getenv($portVar)
        . '?default_country=49&timeout_ms=5000&extension=210&ca_file=' . urlencode(getenv('CC_SIM_CA_FILE'));
}

$client = new_client(tls_dsn('CC_SIM_TLS_PORT'));
$call = $cc->new('cc_call*');
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', null, FFI::addr($call)) === $cc->CC_OK,
    'ca_file trusted: a call over TLS');
$st = $cc->new('cc_call_status');
check($cc->cc_poll_status($call, FFI::addr($st)) === $cc->CC_OK, 'poll over TLS');
$cc->cc_call_free($call);
$cc->cc_client_free($client);

$client = new_client(tls_dsn('CC_SIM_SELFSIGNED_PORT'));
$before = sim_stats()['_requests']['total'];
$call = $cc->new('cc_call*');
check($cc->cc_start_call($client, '0171 1234567', '030 1234567', null, FFI::addr($call)) === $cc->CC_ERR_NETWORK,
    'self-signed: CC_ERR_NETWORK');
$msg = $cc->cc_last_error_message();
check(str_contains($msg, 'certificate') && str_contains($msg, '127.0.0.1'), 'the message names the host and the certificate');
check(sim_stats()['_requests']['total'] === $before, 'nothing reached the simulator');
$cc->cc_client_free($client);
check_done();
