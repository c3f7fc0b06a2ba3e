<?php // portal.php?action=place&a=...&b=... | status | hangup: one call per PHP session
require_once '/usr/local/share/callconnect/php/CallConnect.php';
$config = require '/etc/callconnect/portal.php';
session_start();
header('Content-Type: application/json');
$out = ['pid' => getmypid()];
try {
    $client = new CallConnect\Client($config['dsn']);
    $out['loaded'] = CallConnect\Library::loadedFrom();
    if (($_GET['action'] ?? 'status') === 'place') {
        $call = $client->startCall($_GET['a'], $_GET['b']);
        $_SESSION['call'] = $call->ref();  // the reference, not the handle: a later request attaches
    } else {
        $call = $client->attach($_SESSION['call']);
        if ($_GET['action'] === 'hangup') {
            $call->hangup();
        }
    }
    $out += ['id' => $call->id()] + $call->status()->toArray();
} catch (CallConnect\Exception $e) {
    http_response_code(502);
    $out['error'] = $e->getResultName() . ': ' . $e->getMessage();
}
echo json_encode($out);
