<?php
// An EventURL receiver over raw FFI (the class's three-line one is wrapper_receiver.php). The PokeTALK test runs
// it with `php -S` in a process of its own, apart from the one that starts and polls.
$cc = FFI::load(dirname(__DIR__, 2) . '/include/callconnect_php.h');
$client = $cc->new('cc_client*');
$cc->cc_client_new(getenv('CC_PORTAL_DSN'), FFI::addr($client));  // same DSN as the portal
$status = $cc->new('int');
$cc->cc_event_ingest($client, $_SERVER['QUERY_STRING'] ?? '', FFI::addr($status));
http_response_code($status->cdata);  // 200, or 412 to end the call, or 4xx: refused
$cc->cc_client_free($client);
