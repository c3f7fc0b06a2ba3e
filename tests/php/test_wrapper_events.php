<?php
// The PHP class following a PokeTALK call through its EventURL events: a receiver process
// (`php -S` running tests/php/wrapper_receiver.php, three lines with the class) takes
// the events into the spool, this process starts, follows, and hangs up with the class
// (ended by the receiver's 412). Event::ingest() directly: the status returned, and the
// typed exception carrying the status when an event is refused.
require __DIR__ . '/check.php';
require dirname(__DIR__, 2) . '/bindings/php/CallConnect.php';

use CallConnect\AuthException;
use CallConnect\Call;
use CallConnect\Client;
use CallConnect\Event;
use CallConnect\InvalidArgumentException;
use CallConnect\InvalidHandleException;
use CallConnect\NotFoundException;

const SECRET = 'event-secret-for-the-php-class';

function sim_get(string $path) {
    $body = file_get_contents('http://127.0.0.1:' . sim_port() . $path);
    $json = json_decode((string) $body, true);
    return $json ?? $body;
}

function sent(Call $call): array {
    $deadline = microtime(true) + 2;
    while (true) {
        $rec = sim_get('/_sim/poketalk/call?custom=' . $call->id());
        $log = array_map(fn($e) => $e['status'] . ':' . $e['http'], $rec['events']);
        $last = $log ? substr(end($log), 0, 2) : '';
        if (in_array($last, ['2:', '4:', '6:', '8:'], true) || microtime(true) > $deadline) return $log;
        usleep(10000);
    }
}

/** Polls until final or $until; returns the state names seen and the last status. */
function follow(Call $call, string $until = 'ENDED'): array {
    $order = ['INITIATING', 'RINGING_A', 'A_ANSWERED', 'RINGING_B', 'CONNECTED', 'ENDED', 'FAILED'];
    $seen = [];
    $deadline = microtime(true) + 10;
    while (true) {
        $st = $call->status();
        if (!$seen || end($seen) !== $st->state) $seen[] = $st->state;
        if ($st->isFinal() || array_search($st->state, $order) >= array_search($until, $order)
            || microtime(true) > $deadline) return [$seen, $st];
        usleep(5000);
    }
}

function thrown(callable $fn): ?Throwable {
    try { $fn(); } catch (Throwable $e) { return $e; }
    return null;
}

sim_get('/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0');

// 1. A receiver process with the class; the portal (this process) with the class.
$spool = sys_get_temp_dir() . '/cc-spool-phpwrap-' . getmypid();
$server = stream_socket_server('tcp://127.0.0.1:0');
$port = (int) substr(strrchr(stream_socket_get_name($server, false), ':'), 1);
fclose($server);
$dsn = sim_dsn('poketalk', 'test-php-wrap', '', 'event_secret=' . SECRET . '&event_spool=' . rawurlencode($spool)
    . '&event_url=' . rawurlencode("http://127.0.0.1:$port/cb.php"));
$env = getenv();
$env['CC_PORTAL_DSN'] = $dsn;
$receiver = proc_open([PHP_BINARY, '-d', 'ffi.enable=1', '-S', "127.0.0.1:$port", __DIR__ . '/wrapper_receiver.php'],
    [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, null, $env);
for ($i = 0; $i < 200 && !($sock = @fsockopen('127.0.0.1', $port)); $i++) usleep(25000);
check((bool) $sock, 'the receiver process listens');
if ($sock) fclose($sock);
try {
    $portal = new Client($dsn);
    $call = $portal->startCall('0171 1234567', '+49 30 1234567');
    [$seen, $st] = follow($call);
    check($st->state === 'ENDED' && $st->durationS === 20 && $st->isLive(), 'the whole call read from the spool: ' . implode(' ', $seen));
    // How many stages the polls land in depends on the load: only the end is checked here.
    check($st->cost?->amount === '0.040' && $st->rawStatus === '8', 'cost and raw status');
    $log = sent($call);
    check($log === ['1:200', '3:200', '5:200', '7:200', '8:200'], 'the class receiver answered every event 200: ' . implode(' ', $log));

    // Hang-up in a later request; the receiver answers the next event 412.
    sim_get('/_sim/poketalk/settings?event_period_ms=300');
    $ref = (function () use ($portal) {
        $call = $portal->startCall('0171 1234567', '030 1234999');
        [, $st] = follow($call, 'CONNECTED');
        check($st->state === 'CONNECTED', 'long call connected');
        return $call->ref();
    })();
    $next = new Client($dsn);  // the next web request
    $again = $next->attach($ref);
    $again->hangup();
    check(($again->status()->flags & CallConnect\CallStatus::FLAG_HANGUP_PENDING) !== 0, 'hang-up pending');
    [, $st] = follow($again);
    check($st->state === 'ENDED' && $st->reason === 'CANCELLED', 'ended by the class receiver\'s 412');
    check(in_array('7:412', sent($again), true), 'the carrier got 412 from the receiver process');
} finally {
    sim_get('/_sim/poketalk/settings?event_period_ms=0');
    proc_terminate($receiver);
    proc_close($receiver);
    if (is_dir($spool)) exec('rm -rf ' . escapeshellarg($spool));
}

// 2. Event::ingest in this process: the status, and typed exceptions with the status.
$client = new Client(sim_dsn('poketalk', 'test-php-wrap', '', 'event_secret=' . SECRET
    . '&event_url=' . rawurlencode('http://127.0.0.1:9/cb')));
$call = $client->startCall('0171 1234567', '030 1234567');
$url = sim_get('/_sim/poketalk/call?custom=' . $call->id())['eventurl'];
$query = strtr(explode('?', $url, 2)[1], ['$webcallid' => 'x', '$status' => '7', '$duration' => '10', '$debit' => '0.020']);
preg_match('/cc_tok=[^&]*/', $query, $tok);
$e = thrown(fn() => Event::ingest($client, str_replace($tok[0], 'cc_tok=AAAAAAAAAAAAAAAAAAAAAAAAAAA', $query)));
check($e instanceof AuthException && $e->getHttpStatus() === 403, 'forged token: AuthException, 403');
check($e !== null && !str_contains($e->getMessage(), SECRET), 'no secret in the message');
$e = thrown(fn() => Event::ingest($client, 'status=8'));
check($e instanceof InvalidArgumentException && $e->getHttpStatus() === 400, 'malformed: InvalidArgumentException, 400');
$other = new Client(sim_dsn('poketalk', 'test-php-wrap', '', 'event_secret=' . SECRET . '&event_url=' . rawurlencode('http://127.0.0.1:9/cb')));
$e = thrown(fn() => Event::ingest($other, $query));
check($e instanceof NotFoundException && $e->getHttpStatus() === 404, 'a call unknown here: NotFoundException, 404');
check(Event::respond($other, $query) === 404, 'respond() answers 404 without throwing');
check($call->status()->state === 'INITIATING', 'refused events changed nothing');
check(Event::ingest($client, '?' . $query) === 200, 'taken: 200');
check($call->status()->state === 'CONNECTED', 'the event moved the call');
$other->close();
$e = thrown(fn() => Event::ingest($other, $query));
check($e instanceof InvalidHandleException, 'closed client: InvalidHandleException');
$plain = new Client(sim_dsn('42call', 'test-php-wrap:x'));
$e = thrown(fn() => Event::ingest($plain, $query));
check($e instanceof CallConnect\UnsupportedException && $e->getHttpStatus() === 404, 'a client without events: UnsupportedException, 404');
check_done();
