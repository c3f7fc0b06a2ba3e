/* Load: THREADS threads x CYCLES callback cycles (start, poll to the end, hang-up, poll)
 * on one shared client. Prints one JSON line that tests/load/run_load.py checks against
 * the simulator's own counters: every call placed once, none lost, no error, and the
 * resident memory after the run equal to that after a warm-up (within a margin).
 *
 * usage: load DSN THREADS CYCLES */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "callconnect.h"

enum { ID_LEN = 64, MAX_POLLS = 50 };

static cc_client *client;
static int cycles;
static int warmup;
static pthread_barrier_t warm;
static pthread_barrier_t measured;

struct worker {
    pthread_t thread;
    char (*ids)[ID_LEN];
    long errors;
    long not_final;
    char first_error[160];
};

static void fail(struct worker *w, const char *what, cc_result r) {
    if (w->errors++ == 0)
        snprintf(w->first_error, sizeof w->first_error, "%s: %s %s", what, cc_result_name(r), cc_last_error_message());
}

static void cycle(struct worker *w, int n) {
    cc_call *call = NULL;
    cc_call_status st;
    char *id = NULL;
    cc_result r;
    int polls;
    r = cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call);
    if (r != CC_OK) {
        fail(w, "start", r);
        return;
    }
    if ((r = cc_call_id(call, &id)) == CC_OK) {
        snprintf(w->ids[n], ID_LEN, "%s", id);
        cc_string_free(id);
    } else {
        fail(w, "id", r);
    }
    /* Poll to the end where the carrier reports progress; once where it cannot. */
    for (polls = 0; polls < MAX_POLLS; polls++) {
        if ((r = cc_poll_status(call, &st)) != CC_OK) {
            fail(w, "poll", r);
            break;
        }
        if (st.state == CC_STATE_ENDED || st.state == CC_STATE_FAILED || !(st.flags & CC_STATUS_LIVE)) break;
    }
    if ((r = cc_hangup(call)) != CC_OK) fail(w, "hangup", r);
    if ((r = cc_poll_status(call, &st)) != CC_OK) fail(w, "final poll", r);
    else if (st.state != CC_STATE_ENDED && st.state != CC_STATE_FAILED) w->not_final++;
    cc_call_free(call);
}

static void *run(void *arg) {
    struct worker *w = arg;
    int n;
    for (n = 0; n < warmup; n++) cycle(w, n);
    pthread_barrier_wait(&warm);     /* main reads the RSS after the warm-up */
    pthread_barrier_wait(&measured);
    for (; n < cycles; n++) cycle(w, n);
    return NULL;
}

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

int main(int argc, char **argv) {
    int threads, i, n;
    struct worker *w;
    char (*all)[ID_LEN];
    long errors = 0, not_final = 0, duplicates = 0, missing = 0, rss_warm, rss_end;
    size_t live_clients, live_calls;
    struct timespec t0, t1;
    const char *first_error = "";
    if (argc != 4) {
        fprintf(stderr, "usage: load DSN THREADS CYCLES\n");
        return 2;
    }
    threads = atoi(argv[2]);
    cycles = atoi(argv[3]);
    if (threads < 1 || cycles < 10) return 2;
    warmup = cycles / 5;
    if (cc_client_new(argv[1], &client) != CC_OK) {
        fprintf(stderr, "cc_client_new: %s\n", cc_last_error_message());
        return 2;
    }
    w = calloc((size_t)threads, sizeof *w);
    all = calloc((size_t)threads * (size_t)cycles, ID_LEN);
    pthread_barrier_init(&warm, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&measured, NULL, (unsigned)threads + 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < threads; i++) {
        w[i].ids = all + (size_t)i * (size_t)cycles;
        pthread_create(&w[i].thread, NULL, run, &w[i]);
    }
    pthread_barrier_wait(&warm);
    rss_warm = rss_kib();
    pthread_barrier_wait(&measured);
    for (i = 0; i < threads; i++) pthread_join(w[i].thread, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rss_end = rss_kib();
    for (i = 0; i < threads; i++) {
        errors += w[i].errors;
        not_final += w[i].not_final;
        if (w[i].errors && !*first_error) first_error = w[i].first_error;
    }
    qsort(all, (size_t)threads * (size_t)cycles, ID_LEN, cmp);
    for (n = 0; n < threads * cycles; n++) {
        if (!all[n][0]) missing++;
        else if (n > 0 && strcmp(all[n], all[n - 1]) == 0) duplicates++;
    }
    cc_client_free(client);
    cc_live_handles(&live_clients, &live_calls);
    for (i = 0; (unsigned char)first_error[i]; i++) /* keep the JSON valid */
        if (first_error[i] == '"' || first_error[i] == '\\') ((char *)first_error)[i] = '\'';
    printf("{\"threads\": %d, \"cycles\": %d, \"calls\": %d, \"errors\": %ld, \"not_final\": %ld, "
           "\"missing_ids\": %ld, \"duplicate_ids\": %ld, \"rss_warm_kib\": %ld, \"rss_end_kib\": %ld, "
           "\"live_handles\": %zu, \"seconds\": %.3f, \"first_error\": \"%s\"}\n",
           threads, cycles, threads * cycles, errors, not_final, missing, duplicates, rss_warm, rss_end,
           live_clients + live_calls, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           first_error);
    free(all);
    free(w);
    return 0;
}
