/* The cost of cc_call_attach: one call is placed, its reference taken, then
 * `cc_call_attach` + `cc_call_free` run N times (no network: attach sends nothing).
 * Prints JSON: {"n": N, "ns_per_attach": ..., "ref_len": ...}.
 * usage: bench_attach DSN N */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callconnect.h"

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    cc_client *client = NULL;
    cc_call *call = NULL, *again = NULL;
    char *ref = NULL;
    long i, n;
    double t0, t1;
    if (argc != 3) {
        fprintf(stderr, "usage: bench_attach DSN N\n");
        return 2;
    }
    n = atol(argv[2]);
    if (cc_client_new(argv[1], &client) != CC_OK ||
        cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) != CC_OK ||
        cc_call_ref(call, &ref) != CC_OK) {
        fprintf(stderr, "setup: %s\n", cc_last_error_message());
        return 1;
    }
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        if (cc_call_attach(client, ref, &again) != CC_OK) {
            fprintf(stderr, "attach: %s\n", cc_last_error_message());
            return 1;
        }
        cc_call_free(again);
    }
    t1 = now_ns();
    printf("{\"n\": %ld, \"ns_per_attach\": %.1f, \"ref_len\": %lu}\n", n, (t1 - t0) / (double)n,
           (unsigned long)strlen(ref));
    cc_string_free(ref);
    cc_call_free(call);
    cc_client_free(client);
    return 0;
}
