/* What a C programmer would write by hand with libcurl: the same 42call requests as
 * bench_lib, on one easy handle (keep-alive), with the signature headers given (the
 * driver signs once; a signature is valid for 180 s, so this side does not pay for
 * HMAC-SHA1 and MD5 per request, which the library does).
 *
 *   bench_curl keepalive URL XDATE XAUTH CALLID N   N stopcallback POSTs, keep-alive
 *   bench_curl place URL XDATE XAUTH N [CAFILE]     N trycallback POSTs, a new connection each
 *   bench_curl cold URL XDATE XAUTH                 a fresh process's first trycallback (with
 *                                                   curl_global_init and curl_easy_init), then a second
 *
 * An https URL is verified against CAFILE (CURLOPT_CAINFO), as the library's ca_file=.
 * The new connections of `place` are made by one easy handle, whose TLS session cache
 * (on by default, CURLOPT_SSL_SESSIONID_CACHE) lets them resume the first one's session,
 * as the library's client does. */
#define _GNU_SOURCE /* memmem */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char reply[65536];
static size_t reply_len;

static size_t sink(char *data, size_t size, size_t n, void *user) {
    size_t len = size * n;
    (void)user;
    if (reply_len + len < sizeof reply) {
        memcpy(reply + reply_len, data, len);
        reply_len += len;
    }
    return len;
}

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

/* CPU time of this process so far, in microseconds. */
static double cpu_us(void) { return cpu() * 1e6; }

#define PLACE_BODY "act=trycallback&aNumber=00491711234567&bNumber=0049301234567"

/* An easy handle with the options every mode sets: the signature headers, the body, the
 * reply sink, the timeout; with `fresh`, a new connection for each request. */
static CURL *easy(const char *url, const char *x_date, const char *x_auth, const char *body, int fresh,
                  struct curl_slist **headers) {
    char h1[256], h2[256];
    CURL *curl = curl_easy_init();
    snprintf(h1, sizeof h1, "x-date: %s", x_date);
    snprintf(h2, sizeof h2, "x-authorization: %s", x_auth);
    *headers = curl_slist_append(*headers, h1);
    *headers = curl_slist_append(*headers, h2);
    *headers = curl_slist_append(*headers, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (fresh) curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    return curl;
}

/* One request, its reply read as the library reads it: the envelope must say OK. */
static int perform(CURL *curl) {
    long status = 0;
    reply_len = 0;
    if (curl_easy_perform(curl) != CURLE_OK) {
        fprintf(stderr, "curl failed\n");
        return 1;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || reply_len == 0 || !memmem(reply, reply_len, "\"error\":false", 13)) {
        fprintf(stderr, "unexpected reply %ld: %.*s\n", status, (int)reply_len, reply);
        return 1;
    }
    return 0;
}

/* A fresh process's first placing request, as bench_lib cold measures the library's:
 * curl_global_init, curl_easy_init and the options, then the first curl_easy_perform (a
 * new connection); then a second one, on a new connection too. */
static int cold(const char *url, const char *x_date, const char *x_auth) {
    CURL *curl;
    struct curl_slist *headers = NULL;
    int i;
    double c[4];
    c[0] = cpu_us();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = easy(url, x_date, x_auth, PLACE_BODY, 1, &headers);
    c[1] = cpu_us();
    for (i = 0; i < 2; i++) {
        if (perform(curl)) return 1;
        c[2 + i] = cpu_us();
    }
    printf("{\"mode\": \"cold\", \"init_cpu_us\": %.1f, \"first_place_cpu_us\": %.1f, \"second_place_cpu_us\": %.1f}\n",
           c[1] - c[0], c[2] - c[1], c[3] - c[2]);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return 0;
}

int main(int argc, char **argv) {
    CURL *curl;
    struct curl_slist *headers = NULL;
    char body[256];
    long n, i;
    int place;
    const char *cafile = NULL;
    double t0, t1, c0, c1;
    if (argc == 5 && strcmp(argv[1], "cold") == 0) return cold(argv[2], argv[3], argv[4]);
    if (argc < 6) return 2;
    place = strcmp(argv[1], "place") == 0;
    if (place) {
        n = atol(argv[5]);
        if (argc > 6) cafile = argv[6];
        snprintf(body, sizeof body, PLACE_BODY);
    } else {
        if (argc < 7) return 2;
        n = atol(argv[6]);
        snprintf(body, sizeof body, "act=stopcallback&callerId=%s&callId=%s", argv[5], argv[5]);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = easy(argv[2], argv[3], argv[4], body, place, &headers);
    if (cafile) curl_easy_setopt(curl, CURLOPT_CAINFO, cafile);
    for (i = 0; i < (place ? 0 : 50); i++) curl_easy_perform(curl); /* warm the connection */
    t0 = now();
    c0 = cpu();
    for (i = 0; i < n; i++) {
        if (perform(curl)) return 1;
    }
    c1 = cpu();
    t1 = now();
    printf("{\"mode\": \"%s\", \"n\": %ld, \"us_per_request\": %.2f, \"cpu_us_per_request\": %.2f}\n", argv[1], n,
           (t1 - t0) * 1e6 / (double)n, (c1 - c0) * 1e6 / (double)n);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return 0;
}
