<?php
// A PHP daemon that forks workers (pcntl_fork) after making its client: in a worker the
// parent's client and call are refused with InvalidHandleException saying why, and nothing
// reaches the carrier; the worker makes its own client and takes the call over by its
// reference; closing what it inherited leaves the parent's event listener and port alone.
require __DIR__ . '/check.php';
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';

use CallConnect\Client;
use CallConnect\InvalidHandleException;

const SECRET = 'event-secret-for-php-fork-0001';

if (!function_exists('pcntl_fork')) {
    check(false, 'PHP has pcntl (Debian\'s php-cli has it built in)');
    check_done();
}

function follow($call, int $until)
{
    for ($i = 0; $i < 3000; $i++) {
        $st = $call->status();
        if ($st->stateCode >= $until) break;
        usleep(10000);
    }
    return $st;
}

function free_port(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $port = (int) explode(':', stream_socket_get_name($s, false))[1];
    fclose($s);
    return $port;
}

file_get_contents('http://127.0.0.1:' . sim_port() . '/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0');
$port = free_port();
$client = new Client(sim_dsn('poketalk', 'test-php', '', 'event_secret=' . SECRET . "&event_listen=127.0.0.1:$port"));
$call = $client->startCall('0171 1234567', '030 1234999');
check(follow($call, cc()->CC_STATE_CONNECTED)->state === 'CONNECTED', 'connected (events reach the parent\'s listener)');
$ref = $call->ref();

$pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
$pid = pcntl_fork();
if ($pid === 0) {
    fclose($pair[0]);
    $verdict = 'ok';
    $before = sim_stats()['_requests']['total'];
    foreach ([
        'startCall' => fn () => $client->startCall('0171 1234567', '030 1234567'),
        'status' => fn () => $call->status(),
        'hangup' => fn () => $call->hangup(),
    ] as $what => $attempt) {
        try {
            $attempt();
            $verdict = "$what: the parent's handle was accepted";
        } catch (InvalidHandleException $e) {
            if (!str_contains($e->getMessage(), 'fork()')) $verdict = "$what: " . $e->getMessage();
        }
    }
    if ($verdict === 'ok' && sim_stats()['_requests']['total'] !== $before) $verdict = 'a request reached the carrier';
    if ($verdict === 'ok') {
        $own = new Client(sim_dsn('poketalk', 'test-php', '', 'event_secret=' . SECRET . '&event_listen=127.0.0.1:0'));
        $own->attach($ref)->status();
        $own->close();
        $call->close();
        $client->close();
    }
    fwrite($pair[1], $verdict);
    fclose($pair[1]);
    // Ends at once (no destructors, no shutdown functions), as a forked worker may.
    posix_kill(getmypid(), SIGKILL);
}
fclose($pair[1]);
$verdict = stream_get_contents($pair[0]);
pcntl_waitpid($pid, $status);
check($verdict === 'ok', "the worker was refused the parent's client and call, saying why, and made its own ($verdict)");

$call->hangup();
$st = follow($call, cc()->CC_STATE_ENDED);
check($st->state === 'ENDED' && $st->reason === 'CANCELLED', 'parent: hung up through its own listener (412), as before the fork');
$call->close();

// A worker alive, with what it inherited, does not keep the parent's port.
$pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
$pid = pcntl_fork();
if ($pid === 0) {
    fclose($pair[0]);
    fread($pair[1], 1);
    posix_kill(getmypid(), SIGKILL);
}
fclose($pair[1]);
$client->close();
$again = @stream_socket_server("tcp://127.0.0.1:$port");
check($again !== false, 'parent: the listening port is free once the parent\'s client is, though a worker lives');
if ($again !== false) fclose($again);
fwrite($pair[0], 'x');
pcntl_waitpid($pid, $status);
check_done();
