<?php // cc-event.php: PokeTALK's EventURL
require_once '/usr/local/share/callconnect/php/CallConnect.php';
$config = require '/etc/callconnect/portal.php';
$client = new CallConnect\Client($config['dsn']);
CallConnect\Event::respond($client);  // 200, 412 to end the call, 4xx refused
