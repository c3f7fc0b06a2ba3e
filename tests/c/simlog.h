/* The simulator's request log for the C host tests: how many requests reached a
 * carrier module (`_requests.total` in /_sim/stats). Include after defining
 * _POSIX_C_SOURCE and after check.h. */
#ifndef SIMLOG_H
#define SIMLOG_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* -1 when the simulator cannot be asked. */
static long sim_requests(void) {
    struct sockaddr_in a;
    char buf[65536];
    const char *req = "GET /_sim/stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    size_t got = 0;
    ssize_t n;
    char *at;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(sim_port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -1;
    }
    while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
    close(fd);
    buf[got] = 0;
    at = strstr(buf, "\"_requests\":{\"total\":");
    if (!at) return -1;
    return atol(at + strlen("\"_requests\":{\"total\":"));
}
#endif
