/* The library's side of `make bench` (bench/run.py drives it). Each mode prints one JSON
 * line.
 *
 *   bench_lib start DSN                one call: prints its id and reference
 *   bench_lib keepalive DSN REF N      N hang-up requests (one keep-alive POST each) of the
 *                                      call REF: cc_call_attach + cc_hangup + cc_call_free
 *   bench_lib exchange DSN REF N       the same N requests, the exchange alone: N handles
 *                                      are attached before the measured part, which is
 *                                      only their cc_hangup (one POST each); freed after
 *   bench_lib place DSN N              N call starts (each on a new connection, by design)
 *   bench_lib threads DSN REF T SECS   T threads doing the keep-alive request for SECS s
 *   bench_lib poll DSN REF N           N cc_poll_status of a call that is already final
 *   bench_lib pollev DSN N             N cc_poll_status of a live PokeTALK call fed by events
 *                                      (DSN with event_listen; a slow simulator keeps it live)
 *   bench_lib handles DSN REF N        resident memory of N live call handles (attached)
 *   bench_lib placed DSN N             resident memory of N live placed calls
 *   bench_lib cold DSN [COUNTRY]       a fresh process: its first cc_client_new, then its
 *                                      first cc_start_call (after cc_warm_up(COUNTRY) when
 *                                      COUNTRY is given), then a second one
 *   bench_lib cold DSN COUNTRY fork    cc_warm_up(COUNTRY) (none when COUNTRY is 0), then
 *                                      fork: the child (a PHP-FPM worker, a pre-forking
 *                                      daemon's) does the rest */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "callconnect.h"

static cc_client *client;
static const char *ref;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time of this process (all threads): what the client side itself costs. */
static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, cc_last_error_message());
    exit(1);
}

/* One keep-alive request: a fresh call object for the stored call (no network), then
 * its hang-up (one POST on the client's pooled connection). */
static void hangup_once(void) {
    cc_call *call = NULL;
    if (cc_call_attach(client, ref, &call) != CC_OK) die("attach");
    if (cc_hangup(call) != CC_OK) die("hangup");
    cc_call_free(call);
}

/* Minor page faults of this process so far: memory it touches for the first time (the
 * library's code and data, heap pages). */
static long faults(void) {
    struct rusage r;
    if (getrusage(RUSAGE_SELF, &r) != 0) return -1;
    return r.ru_minflt;
}

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The same, counting a failure instead of stopping (for the threads mode). */
static int try_hangup(void) {
    cc_call *call = NULL;
    static int told;
    int ok = cc_call_attach(client, ref, &call) == CC_OK && cc_hangup(call) == CC_OK;
    if (!ok && told++ < 3) fprintf(stderr, "request failed: %s\n", cc_last_error_message());
    cc_call_free(call);
    return ok;
}

static volatile int stop;
struct counts {
    long ok, failed;
};
static void *spin(void *arg) {
    struct counts *c = arg;
    while (!stop) {
        if (try_hangup()) c->ok++;
        else c->failed++;
    }
    return NULL;
}

/* N cc_poll_status of a live call fed by EventURL events (PokeTALK, built-in listener). */
static void poll_event_fed(long n) {
    long i;
    double t0, t1;
    cc_call *call = NULL;
    cc_call_status st;
    int waited = 0;
    if (cc_start_call(client, "0171 1234567", "030 1234999", NULL, &call) != CC_OK) die("start");
    /* Wait for the first event (A ringing): from then on the call is fed by events. */
    do {
        struct timespec ts = {0, 10000000L};
        if (cc_poll_status(call, &st) != CC_OK) die("poll");
        if (st.state != CC_STATE_INITIATING) break;
        nanosleep(&ts, NULL);
    } while (++waited < 500);
    if (st.state == CC_STATE_INITIATING || st.state >= CC_STATE_ENDED) die("no live event-fed state");
    t0 = now();
    for (i = 0; i < n; i++)
        if (cc_poll_status(call, &st) != CC_OK) die("poll");
    t1 = now();
    if (st.state >= CC_STATE_ENDED) die("the call ended during the measurement");
    printf("{\"mode\": \"pollev\", \"n\": %ld, \"state\": \"%s\", \"ns_per_poll\": %.1f}\n", n,
           cc_state_name(st.state), (t1 - t0) * 1e9 / (double)n);
    cc_hangup(call);
    cc_call_free(call);
}

/* One placement, timed: wall and CPU microseconds. */
static void place_timed(double *wall_us, double *cpu_us) {
    cc_call *call = NULL;
    double w = now(), c = cpu();
    if (cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) != CC_OK) die("start");
    *cpu_us = (cpu() - c) * 1e6;
    *wall_us = (now() - w) * 1e6;
    cc_call_free(call);
}

/* cc_warm_up(country), timed (wall and CPU), with the resident memory after. */
static void warm_up_timed(int country, double *wall_us, double *cpu_us, long *rss) {
    double w = now(), c = cpu();
    if (cc_warm_up((uint16_t)country) != CC_OK) die("warm up");
    *cpu_us = (cpu() - c) * 1e6;
    *wall_us = (now() - w) * 1e6;
    *rss = rss_kib();
}

/* A fresh process's first steps, each timed (wall and CPU) with the resident memory and
 * the minor page faults after. forked: the warm-up runs first (unless country is 0), then
 * the process forks and the child (whose CPU clock starts at zero) creates its client and
 * places the calls, as a worker of a PHP-FPM master that preloads the library, or of a
 * daemon that warms up before forking, does. */
static int cold(const char *dsn, int country, int forked) {
    double w0, c0, new_us, new_cpu_us, warm_us = 0, warm_cpu_us = 0, first_us, first_cpu_us, second_us, second_cpu_us;
    long rss0 = rss_kib(), rss_new, rss_warm = 0, rss_first;
    long f0, f_new, f_first, f_second;
    if (forked) {
        pid_t pid;
        int status;
        if (country > 0) warm_up_timed(country, &warm_us, &warm_cpu_us, &rss_warm);
        fflush(stdout);
        pid = fork();
        if (pid < 0) die("fork");
        if (pid > 0) {
            if (waitpid(pid, &status, 0) != pid) die("waitpid");
            return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        }
    }
    f0 = faults();
    w0 = now();
    c0 = cpu();
    if (cc_client_new(dsn, &client) != CC_OK) die("client");
    new_cpu_us = (cpu() - c0) * 1e6;
    new_us = (now() - w0) * 1e6;
    f_new = faults() - f0;
    rss_new = rss_kib();
    if (country > 0 && !forked) warm_up_timed(country, &warm_us, &warm_cpu_us, &rss_warm);
    f0 = faults();
    place_timed(&first_us, &first_cpu_us);
    f_first = faults() - f0;
    rss_first = rss_kib();
    f0 = faults();
    place_timed(&second_us, &second_cpu_us);
    f_second = faults() - f0;
    printf("{\"mode\": \"cold\", \"forked\": %d, \"client_new_us\": %.1f, \"client_new_cpu_us\": %.1f, "
           "\"warm_up_us\": %.1f, \"warm_up_cpu_us\": %.1f, \"first_place_us\": %.1f, \"first_place_cpu_us\": %.1f, "
           "\"second_place_us\": %.1f, \"second_place_cpu_us\": %.1f, \"rss_start_kib\": %ld, "
           "\"rss_client_kib\": %ld, \"rss_warm_kib\": %ld, \"rss_first_place_kib\": %ld, "
           "\"client_new_faults\": %ld, \"first_place_faults\": %ld, \"second_place_faults\": %ld}\n",
           forked, new_us, new_cpu_us, warm_us, warm_cpu_us, first_us, first_cpu_us, second_us, second_cpu_us, rss0,
           rss_new, rss_warm, rss_first, f_new, f_first, f_second);
    cc_client_free(client);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode;
    long n, i;
    double t0, t1;
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of bench_lib.c\n");
        return 2;
    }
    mode = argv[1];
    if (strcmp(mode, "cold") == 0)
        return cold(argv[2], argc > 3 ? atoi(argv[3]) : 0, argc > 4 && strcmp(argv[4], "fork") == 0);
    if (cc_client_new(argv[2], &client) != CC_OK) die("client");
    if (strcmp(mode, "start") == 0) { /* one call: its id and reference, for the driver */
        cc_call *call = NULL;
        char *id = NULL, *r = NULL;
        if (cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) != CC_OK) die("start");
        if (cc_call_id(call, &id) != CC_OK || cc_call_ref(call, &r) != CC_OK) die("id");
        printf("{\"id\": \"%s\", \"ref\": \"%s\"}\n", id, r);
        cc_string_free(id);
        cc_string_free(r);
        cc_call_free(call);
        cc_client_free(client);
        return 0;
    }
    if (argc < 4) return 2;
    if (strcmp(mode, "place") == 0) {
        double c0, c1;
        n = atol(argv[3]);
        t0 = now();
        c0 = cpu();
        for (i = 0; i < n; i++) {
            cc_call *call = NULL;
            if (cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) != CC_OK) die("start");
            cc_call_free(call);
        }
        c1 = cpu();
        t1 = now();
        printf("{\"mode\": \"place\", \"n\": %ld, \"us_per_request\": %.2f, \"cpu_us_per_request\": %.2f}\n", n,
               (t1 - t0) * 1e6 / (double)n, (c1 - c0) * 1e6 / (double)n);
        cc_client_free(client);
        return 0;
    }
    if (strcmp(mode, "placed") == 0) { /* N placed calls held live: memory */
        cc_call **calls;
        long before, after;
        n = atol(argv[3]);
        calls = calloc((size_t)n, sizeof *calls);
        if (!calls) die("calloc");
        /* The first placements load the metadata and warm the allocator: not the calls'. */
        for (i = 0; i < 100; i++)
            if (cc_start_call(client, "0171 1234567", "030 1234567", NULL, &calls[i]) != CC_OK) die("start");
        for (i = 0; i < 100; i++) cc_call_free(calls[i]);
        before = rss_kib();
        for (i = 0; i < n; i++)
            if (cc_start_call(client, "0171 1234567", "030 1234567", NULL, &calls[i]) != CC_OK) die("start");
        after = rss_kib();
        printf("{\"mode\": \"placed\", \"n\": %ld, \"rss_before_kib\": %ld, \"rss_after_kib\": %ld, "
               "\"bytes_per_call\": %.0f}\n",
               n, before, after, (double)(after - before) * 1024.0 / (double)n);
        for (i = 0; i < n; i++) cc_call_free(calls[i]);
        free(calls);
        cc_client_free(client);
        return 0;
    }
    if (strcmp(mode, "pollev") == 0) {
        poll_event_fed(atol(argv[3]));
        cc_client_free(client);
        return 0;
    }
    if (argc < 5) return 2;
    ref = argv[3];
    if (strcmp(mode, "exchange") == 0) {
        cc_call **calls;
        double c0, c1;
        n = atol(argv[4]);
        calls = calloc((size_t)n, sizeof *calls);
        if (!calls) die("calloc");
        for (i = 0; i < 50; i++) hangup_once(); /* warm the connection pool */
        for (i = 0; i < n; i++)
            if (cc_call_attach(client, ref, &calls[i]) != CC_OK) die("attach");
        t0 = now();
        c0 = cpu();
        for (i = 0; i < n; i++)
            if (cc_hangup(calls[i]) != CC_OK) die("hangup");
        c1 = cpu();
        t1 = now();
        for (i = 0; i < n; i++) cc_call_free(calls[i]);
        free(calls);
        printf("{\"mode\": \"exchange\", \"n\": %ld, \"us_per_request\": %.2f, \"cpu_us_per_request\": %.2f}\n", n,
               (t1 - t0) * 1e6 / (double)n, (c1 - c0) * 1e6 / (double)n);
    } else if (strcmp(mode, "keepalive") == 0) {
        n = atol(argv[4]);
        double c0, c1;
        for (i = 0; i < 50; i++) hangup_once(); /* warm the connection pool */
        t0 = now();
        c0 = cpu();
        for (i = 0; i < n; i++) hangup_once();
        c1 = cpu();
        t1 = now();
        printf("{\"mode\": \"keepalive\", \"n\": %ld, \"us_per_request\": %.2f, \"cpu_us_per_request\": %.2f}\n", n,
               (t1 - t0) * 1e6 / (double)n, (c1 - c0) * 1e6 / (double)n);
    } else if (strcmp(mode, "threads") == 0 && argc >= 6) {
        int threads = atoi(argv[4]), k;
        double secs = atof(argv[5]);
        struct counts counts[64];
        long total = 0, failed = 0;
        pthread_t t[64];
        struct timespec d;
        if (threads < 1 || threads > 64) return 2;
        memset(counts, 0, sizeof counts);
        for (i = 0; i < 20; i++) hangup_once();
        stop = 0;
        t0 = now();
        for (k = 0; k < threads; k++) pthread_create(&t[k], NULL, spin, &counts[k]);
        d.tv_sec = (time_t)secs;
        d.tv_nsec = (long)((secs - (double)d.tv_sec) * 1e9);
        nanosleep(&d, NULL);
        stop = 1;
        for (k = 0; k < threads; k++) {
            pthread_join(t[k], NULL);
            total += counts[k].ok;
            failed += counts[k].failed;
        }
        t1 = now();
        printf("{\"mode\": \"threads\", \"threads\": %d, \"requests\": %ld, \"failed\": %ld, \"per_second\": %.1f}\n",
               threads, total, failed, (double)total / (t1 - t0));
    } else if (strcmp(mode, "poll") == 0) {
        cc_call *call = NULL;
        cc_call_status st;
        n = atol(argv[4]);
        if (cc_call_attach(client, ref, &call) != CC_OK) die("attach");
        if (cc_hangup(call) != CC_OK) die("hangup"); /* final from now on: polls ask nobody */
        if (cc_poll_status(call, &st) != CC_OK || st.state != CC_STATE_ENDED) die("not final");
        t0 = now();
        for (i = 0; i < n; i++)
            if (cc_poll_status(call, &st) != CC_OK) die("poll");
        t1 = now();
        printf("{\"mode\": \"poll\", \"n\": %ld, \"ns_per_poll\": %.1f}\n", n, (t1 - t0) * 1e9 / (double)n);
        cc_call_free(call);
    } else if (strcmp(mode, "handles") == 0) {
        cc_call **calls;
        long before, after;
        n = atol(argv[4]);
        calls = calloc((size_t)n, sizeof *calls);
        /* The allocator's first growth is not the handles' doing: warm it up. */
        for (i = 0; i < 100; i++) {
            if (cc_call_attach(client, ref, &calls[i]) != CC_OK) die("attach");
        }
        for (i = 0; i < 100; i++) cc_call_free(calls[i]);
        before = rss_kib();
        for (i = 0; i < n; i++)
            if (cc_call_attach(client, ref, &calls[i]) != CC_OK) die("attach");
        after = rss_kib();
        printf("{\"mode\": \"handles\", \"n\": %ld, \"rss_before_kib\": %ld, \"rss_after_kib\": %ld, "
               "\"bytes_per_handle\": %.0f}\n",
               n, before, after, (double)(after - before) * 1024.0 / (double)n);
        for (i = 0; i < n; i++) cc_call_free(calls[i]);
        free(calls);
    } else {
        return 2;
    }
    cc_client_free(client);
    return 0;
}
