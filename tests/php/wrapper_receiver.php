<?php
// An EventURL receiver written with the class, like the one docs/host-php.md shows (which
// reads the DSN from a config file: tests/fpm runs that one under PHP-FPM). Under `php -S`
// the environment carries the DSN. tests/php/test_wrapper_events.php runs it in a process
// of its own.
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';
$client = new CallConnect\Client(getenv('CC_PORTAL_DSN'));  // the portal's DSN
CallConnect\Event::respond($client);  // 200, 412 to end the call, 4xx refused
