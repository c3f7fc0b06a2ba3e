<?php // /etc/callconnect/portal.php: the portal's settings (root:www-data, mode 640)
return [
    'dsn' => 'poketalk://API_KEY@www.poketalk.com?default_country=49'
        . '&event_url=https%3A%2F%2Fportal.example.com%2Fcc-event.php'
        . '&event_secret=a-long-random-event-secret&event_spool=/var/spool/callconnect',
];
