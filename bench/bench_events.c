/* The event listener's side of `make bench` (bench/listener.py drives it). Each mode
 * but `host` prints one JSON line.
 *
 *   bench_events host DSN                  a client with the built-in listener (DSN has
 *                                          event_listen) and one live PokeTALK call, hung up
 *                                          (so that every event is answered 412); prints
 *                                          "READY <call id>", runs until stdin closes
 *   bench_events rate PORT TARGET T SECS   T threads sending `GET TARGET` to 127.0.0.1:PORT,
 *                                          one request per connection, for SECS s: events
 *                                          answered per second
 *   bench_events latency PORT TARGET N IDLE
 *                                          IDLE half-open connections held open, then N
 *                                          events one after another: their latency */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "callconnect.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int port;
static const char *target;
static double until;

static int connect_local(void) {
    struct sockaddr_in a;
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One event on a new connection: the status answered, or -1. */
static int event_once(void) {
    char req[8192], buf[4096];
    size_t got = 0;
    ssize_t n;
    int fd = connect_local(), status = -1;
    if (fd < 0) return -1;
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: carrier\r\n\r\n", target);
    if (n > 0 && (size_t)n < sizeof req && write(fd, req, (size_t)n) == n) {
        /* Up to the end of the answer's head (its body is empty), as a client that keeps
         * connections alive reads it: the listener closing is not waited for. */
        buf[0] = 0;
        while (got < sizeof buf - 1 && !strstr(buf, "\r\n\r\n") &&
               (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) {
            got += (size_t)n;
            buf[got] = 0;
        }
        if (got >= 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0) status = atoi(buf + 9);
    }
    close(fd);
    return status;
}

struct counts {
    long ok, failed;
};

static void *rate_thread(void *arg) {
    struct counts *c = arg;
    while (now() < until) {
        if (event_once() == 412) c->ok++;
        else c->failed++;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "host") == 0) {
        cc_client *client = NULL;
        cc_call *call = NULL;
        char *id = NULL;
        int c;
        if (cc_client_new(argv[2], &client) != CC_OK ||
            cc_start_call(client, "0171 1234567", "030 1234999", NULL, &call) != CC_OK ||
            cc_hangup(call) != CC_OK || cc_call_id(call, &id) != CC_OK) {
            fprintf(stderr, "host: %s\n", cc_last_error_message());
            return 1;
        }
        printf("READY %s\n", id);
        fflush(stdout);
        while ((c = getchar()) != EOF) {
        }
        cc_string_free(id);
        cc_call_free(call);
        cc_client_free(client);
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "rate") == 0) {
        int threads = atoi(argv[4]), i;
        double secs = atof(argv[5]), started;
        pthread_t t[64];
        struct counts c[64];
        long ok = 0, failed = 0;
        port = atoi(argv[2]);
        target = argv[3];
        if (threads < 1 || threads > 64) return 2;
        started = now();
        until = started + secs;
        for (i = 0; i < threads; i++) {
            c[i].ok = c[i].failed = 0;
            pthread_create(&t[i], NULL, rate_thread, &c[i]);
        }
        for (i = 0; i < threads; i++) {
            pthread_join(t[i], NULL);
            ok += c[i].ok;
            failed += c[i].failed;
        }
        printf("{\"threads\": %d, \"answered\": %ld, \"failed\": %ld, \"per_second\": %.1f}\n", threads, ok,
               failed, (double)ok / (now() - started));
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "latency") == 0) {
        int n = atoi(argv[4]), idle = atoi(argv[5]), held = 0, i, failed = 0;
        int *fds = calloc((size_t)idle + 1, sizeof(int));
        double *lat = calloc((size_t)n + 1, sizeof(double));
        struct rlimit rl;
        port = atoi(argv[2]);
        target = argv[3];
        if (!fds || !lat || n < 1) return 2;
        /* Enough descriptors for the idle connections. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)idle + 64) {
            rl.rlim_cur = rl.rlim_max < (rlim_t)idle + 64 ? rl.rlim_max : (rlim_t)idle + 64;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        for (i = 0; i < idle; i++) {
            int fd = connect_local();
            if (fd < 0) continue;
            if (write(fd, "GET /?cc_id=", 12) != 12) {
                close(fd);
                continue;
            }
            fds[held++] = fd;
        }
        for (i = 0; i < n; i++) {
            double t0 = now();
            if (event_once() != 412) failed++;
            lat[i] = (now() - t0) * 1e6;
        }
        qsort(lat, (size_t)n, sizeof(double), cmp_double);
        printf("{\"idle\": %d, \"n\": %d, \"failed\": %d, \"median_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %.0f}\n",
               held, n, failed, lat[n / 2], lat[(n * 99) / 100], lat[n - 1]);
        for (i = 0; i < held; i++) close(fds[i]);
        free(fds);
        free(lat);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of bench/bench_events.c\n");
    return 2;
}
