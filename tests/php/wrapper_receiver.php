<?php
// An EventURL receiver written with the class, as docs/host-php.md and the README show it.
// tests/php/test_wrapper_events.php runs it with `php -S` in a process of its own.
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';
$client = new CallConnect\Client(getenv('CC_PORTAL_DSN'));  // the portal's DSN
CallConnect\Event::respond($client);  // 200, 412 to end the call, 4xx refused
