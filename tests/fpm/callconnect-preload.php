<?php // /etc/php/8.2/fpm/callconnect-preload.php, named by opcache.preload
require '/usr/local/share/callconnect/php/CallConnect.php';
