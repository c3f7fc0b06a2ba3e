/* The simulator for the C host tests: any of its pages (sim_fetch, sim_get) and how many
 * requests reached a carrier module (`_requests.total` in /_sim/stats). Include after
 * defining _POSIX_C_SOURCE and after check.h. */
#ifndef SIMLOG_H
#define SIMLOG_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* GET http://127.0.0.1:$CC_SIM_PORT/<path> into buf (NUL-terminated, cut at n - 1 bytes):
 * the bytes read, head included; -1 when the simulator cannot be asked. */
static long sim_fetch(const char *path, char *buf, size_t n) {
    struct sockaddr_in a;
    char req[512];
    size_t got = 0;
    ssize_t r;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(sim_port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -1;
    }
    while (got < n - 1 && (r = read(fd, buf + got, n - 1 - got)) > 0) got += (size_t)r;
    close(fd);
    buf[got] = 0;
    return (long)got;
}

/* GET <path> from the simulator: its body into out (NUL-terminated, cut at n - 1 bytes;
 * empty on failure); the reply's HTTP status, or -1 when the simulator cannot be asked. */
static inline int sim_get(const char *path, char *out, size_t n) {
    static char reply[65536];
    const char *body;
    int status = -1;
    if (n > 0) out[0] = 0;
    if (sim_fetch(path, reply, sizeof reply) < 0 || sscanf(reply, "HTTP/1.%*d %d", &status) != 1) return -1;
    body = strstr(reply, "\r\n\r\n");
    if (body) snprintf(out, n, "%s", body + 4);
    return status;
}

/* -1 when the simulator cannot be asked. */
static inline long sim_requests(void) {
    static char buf[65536];
    char *at;
    if (sim_fetch("/_sim/stats", buf, sizeof buf) < 0) return -1;
    at = strstr(buf, "\"_requests\":{\"total\":");
    if (!at) return -1;
    return atol(at + strlen("\"_requests\":{\"total\":"));
}
#endif
