<?php
// A two-leg callback with live status: ring A, bridge to B, follow the call, hang up.
//
//   php callback.php DSN A_NUMBER B_NUMBER [SECONDS_CONNECTED]
//
// Needs CallConnect.php on the include path (-d include_path=/usr/local/share/callconnect/php
// after `make install`, or include_path in php.ini).
declare(strict_types=1);

require 'CallConnect.php';

use CallConnect\Client;
use CallConnect\Library;

if ($argc < 4) {
    fwrite(STDERR, "usage: $argv[0] DSN A_NUMBER B_NUMBER [SECONDS_CONNECTED]\n");
    exit(2);
}
[, $dsn, $a, $b] = $argv;
$talkSeconds = (float) ($argv[4] ?? 1);
echo Library::version(), "\n";
try {
    $client = new Client($dsn);
    $call = $client->startCall($a, $b);
    echo "callback placed: ringing $a, then bridging to $b\n";
    $last = null;
    $connectedAt = null;
    $hungUp = false;
    while (true) {
        $st = $call->status();
        if ($st->state !== $last) {
            $extra = $st->reason !== 'NONE' ? " reason=$st->reason leg=" . ($st->failedLeg ?: '-') : '';
            printf("  %-10s%s\n", $st->state, $extra);
            $last = $st->state;
        }
        if ($st->isFinal()) {
            break;
        }
        if ($st->state === 'CONNECTED' && $connectedAt === null) {
            $connectedAt = microtime(true);
        }
        if (!$hungUp && (!$st->isLive() || ($connectedAt !== null && microtime(true) - $connectedAt >= $talkSeconds))) {
            if (!$st->isLive()) {
                echo "  (this carrier reports no progress for a callback: hanging up)\n";
            }
            $call->hangup();
            echo "  hang-up requested\n";
            $hungUp = true;
        }
        usleep(100000);
    }
} catch (CallConnect\OutcomeUnknownException $e) {
    fwrite(STDERR, "the call may have been placed; not repeated: {$e->getMessage()}\n");
    exit(1);
} catch (CallConnect\Exception $e) {
    fwrite(STDERR, "failed: {$e->getResultName()}: {$e->getMessage()}\n");
    exit(1);
}
