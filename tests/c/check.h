/* Tiny test helpers for the C host tests: CHECK prints PASS/FAIL lines that
 * tests/run_all.py counts; check_done() is the exit status. */
#ifndef CHECK_H
#define CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callconnect.h"

static int check_failures = 0;
static int check_passes = 0;

#define CHECK(cond, name)                                                                  \
    do {                                                                                   \
        if (cond) {                                                                        \
            check_passes++;                                                                \
            printf("PASS %s\n", name);                                                     \
        } else {                                                                           \
            check_failures++;                                                              \
            printf("FAIL %s (%s:%d: %s) last error: %s\n", name, __FILE__, __LINE__, #cond, \
                   cc_last_error_message());                                               \
        }                                                                                  \
        fflush(stdout);                                                                    \
    } while (0)

static int check_done(void) {
    printf("# %d passed, %d failed\n", check_passes, check_failures);
    return check_failures == 0 ? 0 : 1;
}

/* The simulator's port, from CC_SIM_PORT. */
static const char *sim_port(void) {
    const char *p = getenv("CC_SIM_PORT");
    if (!p || !*p) {
        fprintf(stderr, "CC_SIM_PORT is not set: run through tests/run_all.py\n");
        exit(2);
    }
    return p;
}

/* Writes "SCHEME://USERINFO@127.0.0.1:PORT/PATH?tls=0&default_country=49[&EXTRA]". */
/* The budget of one library call in the tests' DSNs: 5 s, or CC_TEST_TIMEOUT_MS (memcheck
 * runs everything tens of times slower and one thread at a time: 16 threads' requests
 * queue behind each other, so tests/run_all.py gives its runs 60 s). */
static const char *test_timeout_ms(void) {
    const char *t = getenv("CC_TEST_TIMEOUT_MS");
    return t && *t ? t : "5000";
}

static void sim_dsn(char *out, size_t n, const char *scheme, const char *userinfo, const char *path,
                    const char *extra) {
    snprintf(out, n, "%s://%s@127.0.0.1:%s%s?tls=0&default_country=49&timeout_ms=%s%s%s", scheme,
             userinfo, sim_port(), path ? path : "", test_timeout_ms(), extra && *extra ? "&" : "",
             extra ? extra : "");
}
#endif
