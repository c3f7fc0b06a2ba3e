<?php
// The PHP class maps every failure to its own exceptions: a reference altered in its
// start time (which once made a date out of range), a NUL byte in an argument, an option
// that is not a whole number, a library that cannot be loaded.
require __DIR__ . '/check.php';
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';

use CallConnect\Client;
use CallConnect\Exception;
use CallConnect\InvalidArgumentException;
use CallConnect\Result;

function thrown(callable $fn): ?Throwable {
    try {
        $fn();
    } catch (Throwable $e) {
        return $e;
    }
    return null;
}

$dsn = sim_dsn('42call', 'test-php-werr:secret-test-php-werr');
$client = new Client($dsn);
$call = $client->startCall('0171 1234567', '030 1234567');
$ref = $call->ref();
[$prefix, $body, $tag] = explode('.', $ref);
$record = json_decode(base64_decode(strtr($body, '-_', '+/')), true);
$record['started_ms'] = 10 ** 17;
$tampered = "$prefix." . rtrim(strtr(base64_encode(json_encode($record)), '+/', '-_'), '=') . ".$tag";
$e = thrown(fn () => $client->attach($tampered)->status());
check($e instanceof InvalidArgumentException && $e->getResult() === Result::INVALID_ARGUMENT,
    'a tampered reference: InvalidArgumentException');
$e = thrown(fn () => $client->attach("$ref\0tail"));
check($e instanceof InvalidArgumentException, 'a NUL byte in an argument: InvalidArgumentException');
$e = thrown(fn () => new Client("$dsn\0&tls=1"));
check($e instanceof InvalidArgumentException, 'a NUL byte in the DSN: InvalidArgumentException');
$before = sim_stats()['42call']['calls_placed'];
foreach ([['max_duration' => '60'], ['wait_for_pickup' => -1], ['connect_type' => 1.5]] as $options) {
    $e = thrown(fn () => $client->startCall('0171 1234567', '030 1234567', $options));
    check($e instanceof InvalidArgumentException, 'option ' . json_encode($options) . ': InvalidArgumentException');
}
check(sim_stats()['42call']['calls_placed'] === $before, 'nothing placed');
$call->hangup();

// A library that cannot be loaded (another process: the class loads once per process).
$probe = 'putenv("CALLCONNECT_LIB=/nonexistent/libcallconnect.so"); putenv("CALLCONNECT_HEADER=/nonexistent.h");'
    . 'require ' . var_export(dirname(__DIR__, 2) . '/bindings/php/CallConnect.php', true) . ';'
    . 'try { new CallConnect\Client("42call://u:p@127.0.0.1:1?tls=0"); echo "loaded"; }'
    . ' catch (CallConnect\Exception $e) { echo get_class($e); }'
    . ' catch (Throwable $e) { echo "other ", get_class($e); }';
$out = trim((string) shell_exec(escapeshellarg(PHP_BINARY) . ' -d ffi.enable=1 -r ' . escapeshellarg($probe) . ' 2>&1'));
check($out === 'CallConnect\LibraryException', "an unloadable library: LibraryException ($out)");
check_done();
