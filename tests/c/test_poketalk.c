/* PokeTALK from C: a call seen through events (built-in listener), hang-up by a 412
 * answer, max_duration, forged and late events through cc_event_ingest, the call-state
 * store (a directory, Redis) between two clients, every result code. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "check.h"
#include "simlog.h"

#define SECRET "event-secret-for-c-tests-0123"

static char body[16384];

static void nap_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    const char *p = hay;
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

/* Polls until the call is final or `until_state` is reached (10 s at most). Sets
 * *monotonic to 0 if a state ever went back, *saw_connected if CONNECTED was seen. */
static cc_result follow(cc_call *call, cc_call_status *st, uint32_t until_state, int *monotonic, int *saw_connected) {
    int i;
    uint32_t last = 0;
    cc_result r = CC_OK;
    for (i = 0; i < 2000; i++) {
        r = cc_poll_status(call, st);
        if (r != CC_OK) return r;
        if (st->state < last && monotonic) *monotonic = 0;
        if (st->state == CC_STATE_CONNECTED && saw_connected) *saw_connected = 1;
        last = st->state;
        if (st->state == CC_STATE_ENDED || st->state == CC_STATE_FAILED || st->state >= until_state) return r;
        nap_ms(5);
    }
    return r;
}

/* The simulator's record of a call, in `body`; for a call that is over, once its final
 * event is logged (the receiver applies an event before its answer is back at the
 * simulator, so a poll can see the end first). */
static int sim_call(cc_call *call) {
    char *id = NULL, path[128];
    cc_call_status st;
    int ok = 0, i, over = cc_poll_status(call, &st) == CC_OK && st.state >= CC_STATE_ENDED;
    if (cc_call_id(call, &id) != CC_OK) return 0;
    snprintf(path, sizeof path, "/_sim/poketalk/call?custom=%s", id);
    cc_string_free(id);
    for (i = 0; i < 200; i++) {
        ok = sim_get(path, body, sizeof body) == 200;
        if (!over || strstr(body, "\"status\":8}") || strstr(body, "\"status\":2}") ||
            strstr(body, "\"status\":4}") || strstr(body, "\"status\":6}"))
            break;
        nap_ms(10);
    }
    return ok;
}

/* The query of an event of `call` as PokeTALK would send it, from its event URL. */
static int event_query(cc_call *call, const char *status, const char *duration, const char *debit, char *out,
                       size_t n) {
    char tmpl[512], *p, *end;
    size_t o = 0;
    if (!sim_call(call)) return 0;
    p = strstr(body, "\"eventurl\":\"");
    if (!p) return 0;
    p = strchr(p + 12, '?');
    if (!p) return 0;
    p++;
    end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= sizeof tmpl) return 0;
    memcpy(tmpl, p, (size_t)(end - p));
    tmpl[end - p] = 0;
    for (p = tmpl; *p && o + 40 < n;) {
        const char *with = NULL;
        size_t skip = 0;
        if (strncmp(p, "$status", 7) == 0) with = status, skip = 7;
        else if (strncmp(p, "$duration", 9) == 0) with = duration, skip = 9;
        else if (strncmp(p, "$debit", 6) == 0) with = debit, skip = 6;
        else if (strncmp(p, "$webcallid", 10) == 0) with = "x", skip = 10;
        if (with) {
            o += (size_t)snprintf(out + o, n - o, "%s", with);
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    return 1;
}

/* Copies `q` to `out` with its cc_tok value replaced by `tok`. */
static void with_token(const char *q, const char *tok, char *out, size_t n) {
    const char *p = strstr(q, "cc_tok=");
    const char *end;
    if (!p) {
        snprintf(out, n, "%s", q);
        return;
    }
    end = strchr(p, '&');
    snprintf(out, n, "%.*scc_tok=%s%s", (int)(p - q), q, tok, end ? end : "");
}

/* The cc_tok value of `q`. */
static void token_of(const char *q, char *out, size_t n) {
    const char *p = strstr(q, "cc_tok=");
    size_t len;
    out[0] = 0;
    if (!p) return;
    p += 7;
    len = strcspn(p, "&");
    snprintf(out, n, "%.*s", (int)len, p);
}

static int ingest(cc_client *client, const char *q, int *http) {
    *http = -1;
    return (int)cc_event_ingest(client, q, http);
}

int main(void) {
    cc_client *client = NULL, *manual = NULL, *other = NULL, *plain = NULL;
    cc_call *call = NULL, *call2 = NULL;
    cc_call_status st;
    cc_call_options opts;
    char dsn[1024], extra[512], q1[1024], q2[1024], forged[1024], tok1[64], tok2[64];
    int monotonic = 1, saw_connected = 0, http = 0, i;
    size_t clients = 99, calls = 99;
    uint32_t want = CC_CAP_CALLBACK | CC_CAP_LIVE_STATUS | CC_CAP_HANGUP | CC_CAP_EVENTS | CC_CAP_MAX_DURATION |
                    CC_CAP_MAX_COST;

    CHECK(sim_get("/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0", body, sizeof body) == 200,
          "simulator defaults");

    /* 1. A whole call, seen only through events that reach the built-in listener. */
    sim_dsn(dsn, sizeof dsn, "poketalk", "test-c", NULL, "event_secret=" SECRET "&event_listen=127.0.0.1:0");
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client with a listener");
    CHECK((cc_capabilities(client) & want) == want, "capabilities with events");
    CHECK(cc_start_call(client, "0171 1234567", "+49 30 1234567", NULL, &call) == CC_OK, "start_call");
    CHECK(follow(call, &st, 99, &monotonic, &saw_connected) == CC_OK, "poll until the end");
    CHECK(st.state == CC_STATE_ENDED && st.reason == CC_REASON_NONE, "ended normally");
    /* (Whether CONNECTED is seen between two polls depends on timing, e.g. under valgrind.) */
    CHECK(monotonic, "states only moved forward");
    printf("# CONNECTED %sseen by a poll\n", saw_connected ? "" : "not ");
    CHECK((st.flags & CC_STATUS_LIVE) && st.duration_s == 20, "live status with duration");
    CHECK(strcmp(st.cost, "0.040") == 0 && strcmp(st.raw_status, "8") == 0, "cost and raw status from events");
    CHECK(sim_call(call) && count(body, "\"http\":\"200\"") == 5 && count(body, "\"http\":") == 5 &&
              strstr(body, "\"status\":7}"),
          "five events sent (CONNECTED among them), each answered 200");
    CHECK(sim_get("/_sim/stats", body, sizeof body) == 200 && strstr(body, "\"last_from\":\"491711234567\"") &&
              strstr(body, "\"last_to\":\"49301234567\""),
          "numbers sent as international digits");
    cc_call_free(call);

    /* 2. Hang-up: the next event is answered 412. */
    CHECK(cc_start_call(client, "0171 1234567", "030 1234999", NULL, &call) == CC_OK, "start a long call");
    follow(call, &st, CC_STATE_CONNECTED, NULL, NULL);
    CHECK(st.state == CC_STATE_CONNECTED, "connected");
    CHECK(cc_hangup(call) == CC_OK, "hangup");
    CHECK(cc_poll_status(call, &st) == CC_OK && (st.flags & CC_STATUS_HANGUP_PENDING) &&
              st.state == CC_STATE_CONNECTED,
          "hang-up pending until the carrier acts");
    follow(call, &st, 99, NULL, NULL);
    CHECK(st.state == CC_STATE_ENDED && st.reason == CC_REASON_CANCELLED && !(st.flags & CC_STATUS_HANGUP_PENDING),
          "ended by the 412 answer");
    CHECK(sim_call(call) && strstr(body, "\"hung_up_by_412\":true") && strstr(body, "\"http\":\"412\""),
          "the carrier got 412 and ended the call");
    cc_call_free(call);

    /* 3. max_duration_s: the event past the limit is answered 412. */
    memset(&opts, 0, sizeof opts);
    opts.max_duration_s = 30;
    CHECK(cc_start_call(client, "0171 1234567", "030 1234999", &opts, &call) == CC_OK, "start with max_duration");
    follow(call, &st, 99, NULL, NULL);
    CHECK(st.state == CC_STATE_ENDED && st.reason == CC_REASON_CANCELLED && st.duration_s >= 30 &&
              st.duration_s < 300,
          "ended at max_duration");
    cc_call_free(call);
    cc_client_free(client);

    /* 4. Events fed by hand: forged ones change nothing, late ones never move back. */
    sim_dsn(dsn, sizeof dsn, "poketalk", "test-c", NULL,
            "event_secret=" SECRET "&event_url=http%3A%2F%2F127.0.0.1%3A9%2Fcb");
    CHECK(cc_client_new(dsn, &manual) == CC_OK, "client without a listener");
    CHECK(cc_start_call(manual, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start call 1");
    CHECK(cc_start_call(manual, "0171 1234567", "030 7654321", NULL, &call2) == CC_OK, "start call 2");
    CHECK(event_query(call, "7", "10", "0.020", q1, sizeof q1), "event URL of call 1");
    CHECK(event_query(call2, "8", "10", "0.020", q2, sizeof q2), "event URL of call 2");
    token_of(q1, tok1, sizeof tok1);
    token_of(q2, tok2, sizeof tok2);
    with_token(q1, "AAAAAAAAAAAAAAAAAAAAAAAAAAA", forged, sizeof forged);
    CHECK(ingest(manual, forged, &http) == CC_ERR_AUTH && http == 403, "a made-up token: 403");
    with_token(q1, tok2, forged, sizeof forged);
    CHECK(ingest(manual, forged, &http) == CC_ERR_AUTH && http == 403, "another call's token: 403");
    with_token(q2, tok1, forged, sizeof forged);
    CHECK(ingest(manual, forged, &http) == CC_ERR_AUTH && http == 403, "a token moved to another call: 403");
    CHECK(strstr(cc_last_error_message(), SECRET) == NULL, "no secret in the message");
    CHECK(ingest(manual, "status=8&duration=99", &http) == CC_ERR_INVALID_ARGUMENT && http == 400,
          "not an event of ours: 400");
    CHECK(ingest(manual, NULL, &http) == CC_ERR_INVALID_ARGUMENT && http == 400, "NULL query: 400");
    CHECK(ingest(NULL, q1, &http) == CC_ERR_INVALID_HANDLE && http == 500, "NULL client: 500");
    CHECK(cc_event_ingest(manual, forged, NULL) == CC_ERR_AUTH, "NULL out_http_status is allowed");
    CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_INITIATING, "call 1 unchanged");
    CHECK(cc_poll_status(call2, &st) == CC_OK && st.state == CC_STATE_INITIATING, "call 2 unchanged");
    CHECK(cc_client_new(dsn, &other) == CC_OK && ingest(other, q1, &http) == CC_ERR_NOT_FOUND && http == 404,
          "a call unknown to this client: 404");
    sim_dsn(dsn, sizeof dsn, "poketalk", "test-c", NULL, NULL);
    CHECK(cc_client_new(dsn, &plain) == CC_OK && ingest(plain, q1, &http) == CC_ERR_UNSUPPORTED && http == 404,
          "a client without events: 404");
    CHECK(cc_capabilities(plain) == CC_CAP_CALLBACK, "without events: callback only");

    CHECK(ingest(manual, q1, &http) == CC_OK && http == 200, "a genuine event: 200");
    CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_CONNECTED && st.duration_s == 10,
          "call 1 connected");
    CHECK(event_query(call, "1", "0", "0.000", q1, sizeof q1) && ingest(manual, q1, &http) == CC_OK && http == 200,
          "a late event: 200");
    CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_CONNECTED, "a late event does not move back");
    CHECK(event_query(call, "8", "42", "0.084", q1, sizeof q1) && ingest(manual, q1, &http) == CC_OK, "final event");
    /* An event that shows the call alive after its end: 412 (the carrier still runs a
     * call the library took as ended); a final one: 200. Neither changes the call. */
    for (i = 0; i < 3; i++)
        CHECK(event_query(call, i == 0 ? "7" : i == 1 ? "3" : "6", "50", "0.100", q1, sizeof q1) &&
                  ingest(manual, q1, &http) == CC_OK && http == (i == 2 ? 200 : 412),
              "events after the end");
    CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_ENDED && st.duration_s == 42,
          "the end stays the end");
    /* Hang-up of a call fed by hand: the next event's answer is 412. */
    CHECK(cc_hangup(call2) == CC_OK, "hangup call 2");
    CHECK(event_query(call2, "1", "0", "0.000", q2, sizeof q2) && ingest(manual, q2, &http) == CC_OK && http == 412,
          "the next event is answered 412");
    CHECK(event_query(call2, "4", "0", "0.000", q2, sizeof q2) && ingest(manual, q2, &http) == CC_OK && http == 200,
          "the final event is answered 200");
    CHECK(cc_poll_status(call2, &st) == CC_OK && st.state == CC_STATE_ENDED && st.reason == CC_REASON_CANCELLED,
          "call 2 cancelled");
    cc_call_free(call2);
    cc_call_free(call);
    cc_client_free(other);

    /* 5. Every result code, with the carrier's code and text. */
    {
        static const struct {
            const char *code;
            cc_result result;
            const char *text;
        } codes[] = {
            {"10", CC_ERR_INVALID_ARGUMENT, "Empty 'api_key'"}, {"20", CC_ERR_INVALID_ARGUMENT, "Empty 'from'"},
            {"30", CC_ERR_INVALID_ARGUMENT, "Empty 'to'"},      {"40", CC_ERR_AUTH, "Unknown API user"},
            {"50", CC_ERR_PROVIDER, "service provider"},        {"60", CC_ERR_PROVIDER, "blacklist"},
            {"70", CC_ERR_PROVIDER, "gateway list"},            {"90", CC_ERR_PROVIDER, "calculate timeout"},
            {"100", CC_ERR_AUTH, "Unknown API IP address"},
        };
        char path[128], name[64];
        for (i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++) {
            snprintf(path, sizeof path, "/_sim/poketalk/next_code?key=test-c&code=%s", codes[i].code);
            sim_get(path, body, sizeof body);
            snprintf(name, sizeof name, "result code %s", codes[i].code);
            CHECK(cc_start_call(manual, "0171 1234567", "030 1234567", NULL, &call) == codes[i].result &&
                      strcmp(cc_last_error_carrier_code(), codes[i].code) == 0 &&
                      strstr(cc_last_error_message(), codes[i].text) != NULL,
                  name);
        }
        CHECK(cc_start_call(manual, "0171 1234567", "030 1234403", NULL, &call) == CC_ERR_PROVIDER &&
                  strcmp(cc_last_error_carrier_code(), "60") == 0,
              "a blacklisted number: 60 is PROVIDER, not AUTH");
    }
    sim_dsn(dsn, sizeof dsn, "poketalk", "remote-key", NULL, NULL);
    cc_client_free(plain);
    CHECK(cc_client_new(dsn, &plain) == CC_OK, "client of a key registered elsewhere");
    CHECK(cc_start_call(plain, "0171 1234567", "030 1234567", NULL, &call) == CC_ERR_AUTH &&
              strcmp(cc_last_error_carrier_code(), "100") == 0 && !strstr(cc_last_error_message(), "remote-key"),
          "the caller's IP is not the key's: 100, AUTH, key not shown");
    cc_client_free(plain);

    /* 6. The call-state store: one client takes events, another (as another process
     * would) polls, with each backend: a private directory (event_spool=, the older name
     * of store=dir:) and Redis (CC_TEST_REDIS, started by tests/run_all.py). */
    {
        char dir[256], tmpl[] = "/tmp/cc-spool-c-XXXXXX", cmd[300], store[300], name[64];
        const char *redis = getenv("CC_TEST_REDIS");
        int backend;
        if (!mkdtemp(tmpl)) tmpl[0] = 0;
        snprintf(dir, sizeof dir, "%s", tmpl);
        if (!redis) {
            if (getenv("CC_STRICT") && strcmp(getenv("CC_STRICT"), "1") == 0)
                CHECK(0, "redis-server for the store tests (CC_TEST_REDIS)");
            else
                printf("# SKIPPED: the Redis store (no CC_TEST_REDIS)\n");
        }
        for (backend = 0; backend < (redis ? 2 : 1); backend++) {
            cc_client *receiver = NULL, *portal = NULL;
            const char *which = backend == 0 ? "dir" : "redis";
            if (backend == 0) {
                snprintf(store, sizeof store, "event_spool=%s", dir);
            } else {
                /* redis://127.0.0.1:PORT/0, percent-encoded for the DSN's query. */
                size_t i, o = 0;
                o += (size_t)snprintf(store, sizeof store, "store=");
                for (i = 0; redis[i] && o + 4 < sizeof store; i++) {
                    if (redis[i] == ':' || redis[i] == '/')
                        o += (size_t)snprintf(store + o, sizeof store - o, "%%%02X", (unsigned char)redis[i]);
                    else
                        store[o++] = redis[i];
                }
                store[o] = 0;
            }
            snprintf(extra, sizeof extra, "event_secret=" SECRET "&event_url=http%%3A%%2F%%2F127.0.0.1%%3A9%%2F&%s",
                     store);
            sim_dsn(dsn, sizeof dsn, "poketalk", "test-c", NULL, extra);
            snprintf(name, sizeof name, "%s: two store clients", which);
            CHECK(cc_client_new(dsn, &portal) == CC_OK && cc_client_new(dsn, &receiver) == CC_OK, name);
            CHECK(cc_start_call(portal, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "portal starts");
            snprintf(name, sizeof name, "%s: receiver takes an event of a call it does not know", which);
            CHECK(event_query(call, "7", "5", "0.010", q1, sizeof q1) && ingest(receiver, q1, &http) == CC_OK &&
                      http == 200,
                  name);
            snprintf(name, sizeof name, "%s: portal reads it from the store", which);
            CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_CONNECTED && st.duration_s == 5, name);
            CHECK(cc_hangup(call) == CC_OK, "portal asks for hang-up");
            snprintf(name, sizeof name, "%s: receiver answers the next event 412", which);
            CHECK(event_query(call, "7", "45", "0.090", q1, sizeof q1) && ingest(receiver, q1, &http) == CC_OK &&
                      http == 412,
                  name);
            CHECK(event_query(call, "8", "46", "0.092", q1, sizeof q1) && ingest(receiver, q1, &http) == CC_OK &&
                      http == 200,
                  "final event");
            snprintf(name, sizeof name, "%s: portal reads the end", which);
            CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_ENDED &&
                      st.reason == CC_REASON_CANCELLED && st.duration_s == 46,
                  name);
            snprintf(name, sizeof name, "%s: a replayed final changes nothing", which);
            CHECK(event_query(call, "8", "9999", "0.000", q1, sizeof q1) && ingest(receiver, q1, &http) == CC_OK &&
                      http == 200 && cc_poll_status(call, &st) == CC_OK && st.duration_s == 46 &&
                      strcmp(st.cost, "0.092") == 0,
                  name);
            cc_call_free(call);
            cc_client_free(receiver);
            cc_client_free(portal);
        }
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (tmpl[0] && system(cmd) != 0) printf("# could not remove %s\n", dir);
    }

    cc_client_free(manual);
    CHECK(cc_live_handles(&clients, &calls) == CC_OK && clients == 0 && calls == 0, "no handle left alive");
    return check_done();
}
