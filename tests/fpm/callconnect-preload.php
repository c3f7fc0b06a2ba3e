<?php // /etc/php/8.2/fpm/callconnect-preload.php, named by opcache.preload
require '/usr/local/share/callconnect/php/CallConnect.php';
// Loads the number metadata and compiles the country's patterns once, before the
// workers are forked: the DSN's default_country (0: the metadata only).
CallConnect\Library::warmUp(49);
