<?php
// Run in a Composer project: loads the class through vendor/autoload.php alone, places a
// callback against the simulator, and prints what was loaded from where, as JSON.
//   php probe.php PROJECT_DIR DSN [LIBRARY_PATH]
declare(strict_types=1);

require $argv[1] . '/vendor/autoload.php';

use CallConnect\Client;
use CallConnect\Library;

[, , $dsn] = $argv;
$client = isset($argv[3]) ? new Client($dsn, $argv[3]) : new Client($dsn);
$call = $client->startCall('0171 1234567', '030 1234567');
$state = $call->status()->state;
$call->hangup();
echo json_encode([
    'loaded' => Library::loadedFrom(),
    'version' => Library::version(),
    'state' => $state,
    'class_file' => (new ReflectionClass(Client::class))->getFileName(),
]), "\n";
