/* VoipNow from C: a ring group of two A numbers followed to the end with one token,
 * token renewal, every documented 400 code, hang-up by id only, and a start cut off after
 * the carrier placed it, found by its nonce among the live calls (the simulator, like the
 * sources, does not de-duplicate a repeated nonce). */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "simlog.h"

/* The number after "key": in a flat JSON object, or -1. */
static long json_num(const char *json, const char *key) {
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* Whether "key":"value" is in a JSON object. */
static int json_has(const char *json, const char *key, const char *value) {
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\":\"%s\"", key, value);
    return strstr(json, pat) != NULL;
}

static int control(const char *action) {
    char path[256], out[64];
    snprintf(path, sizeof path, "/_sim/voipnow/%s", action);
    return sim_get(path, out, sizeof out) == 200;
}

static long counter(const char *app, const char *what) {
    char path[256], out[1024];
    snprintf(path, sizeof path, "/_sim/voipnow/client?id=%s", app);
    if (sim_get(path, out, sizeof out) != 200) return -1;
    return json_num(out, what);
}

static void sim_call(cc_call *call, char *out, size_t n) {
    char *id = NULL, path[256];
    out[0] = 0;
    if (cc_call_id(call, &id) != CC_OK) return;
    snprintf(path, sizeof path, "/_sim/voipnow/call?id=%s", id);
    cc_string_free(id);
    sim_get(path, out, n);
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Has the simulator hold (or release, stage NULL) the call at a stage, so that each stage
 * is seen for certain however slow the machine is; then polls once. */
static int held_at(cc_call *call, const char *stage, cc_call_status *st) {
    char *id = NULL, action[256];
    int ok;
    if (cc_call_id(call, &id) != CC_OK) return 0;
    if (stage)
        snprintf(action, sizeof action, "hold?id=%s&stage=%s", id, stage);
    else
        snprintf(action, sizeof action, "release?id=%s", id);
    cc_string_free(id);
    ok = control(action);
    return ok && cc_poll_status(call, st) == CC_OK;
}

/* Polls until the call is final (at most 20 s); `st` holds the last status. */
static void follow(cc_call *call, cc_call_status *st) {
    int i;
    for (i = 0; i < 2000; i++) {
        if (cc_poll_status(call, st) != CC_OK) return;
        if (st->state == CC_STATE_ENDED || st->state == CC_STATE_FAILED) break;
        sleep_ms(10);
    }
}

/* "cc1." + base64url(JSON) of an unsigned call reference naming `id` (the old format,
 * as a forged reference would be). */
static void reference(const char *id, char *out, size_t n) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char json[512];
    size_t len, i, o = 4;
    snprintf(json, sizeof json,
             "{\"v\":1,\"carrier\":\"voipnow\",\"id\":\"%s\",\"started_ms\":%lld,\"limit_s\":600,"
             "\"extra\":{\"user\":\"@me\",\"ext\":\"210\",\"b\":\"+49301234567\"}}",
             id, (long long)time(NULL) * 1000);
    len = strlen(json);
    memcpy(out, "cc1.", 4);
    for (i = 0; i < len && o + 5 < n; i += 3) {
        unsigned v = (unsigned char)json[i] << 16;
        if (i + 1 < len) v |= (unsigned char)json[i + 1] << 8;
        if (i + 2 < len) v |= (unsigned char)json[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < len) out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < len) out[o++] = b64[v & 63];
    }
    out[o] = 0;
}

static cc_client *new_client(const char *app, const char *extra) {
    char dsn[512], userinfo[128], opts[256];
    cc_client *client = NULL;
    snprintf(userinfo, sizeof userinfo, "%s:secret-%s", app, app);
    snprintf(opts, sizeof opts, "extension=210%s", extra ? extra : "");
    sim_dsn(dsn, sizeof dsn, "voipnow", userinfo, NULL, opts);
    if (cc_client_new(dsn, &client) != CC_OK) return NULL;
    return client;
}

int main(void) {
    static const struct {
        const char *code;
        cc_result result;
    } codes[] = {
        {"extension_invalid", CC_ERR_INVALID_ARGUMENT},   {"pc_duration_invalid", CC_ERR_INVALID_ARGUMENT},
        {"pc_source_invalid", CC_ERR_INVALID_NUMBER},     {"pc_destination_invalid", CC_ERR_INVALID_NUMBER},
        {"pc_timeout_invalid", CC_ERR_INVALID_ARGUMENT},  {"pc_callerid_invalid", CC_ERR_INVALID_ARGUMENT},
        {"pc_transfer_invalid", CC_ERR_INVALID_ARGUMENT}, {"pc_nonce_invalid", CC_ERR_INVALID_ARGUMENT},
    };
    char app[64], app_ttl[64], action[256], info[2048], ref[1024], dsn[512];
    const char *forged[] = {" ", ".", ".."};
    cc_client *client, *ttl_client, *bad;
    cc_call *call = NULL, *other = NULL;
    cc_call_status st;
    cc_call_options opts;
    unsigned caps, want;
    size_t i, clients = 0, calls = 0;
    long placed;

    /* The C suite runs twice (plain and under valgrind) against one simulator. */
    snprintf(app, sizeof app, "test-vn-c-%ld", (long)getpid());
    snprintf(app_ttl, sizeof app_ttl, "test-vn-c-ttl-%ld", (long)getpid());
    /* Slow stages, so that a poll under valgrind still sees each of them. */
    snprintf(action, sizeof action, "step-ms?client=%s&ms=300", app);
    CHECK(control(action), "simulator: slow stages for this app");

    client = new_client(app, NULL);
    CHECK(client != NULL, "client_new voipnow");
    caps = cc_capabilities(client);
    want = CC_CAP_CALLBACK | CC_CAP_LIVE_STATUS | CC_CAP_HANGUP | CC_CAP_RING_GROUP | CC_CAP_CALLER_ID |
           CC_CAP_WAIT_FOR_PICKUP | CC_CAP_MAX_DURATION | CC_CAP_CALL_FLAGS | CC_CAP_IDEMPOTENT_START;
    CHECK((caps & want) == want && !(caps & CC_CAP_SMS), "capabilities");

    /* A ring group of two A numbers: the first is busy (486), the second picks up. */
    memset(&opts, 0, sizeof opts);
    opts.caller_id = "Booth 7 <+4930123456>";
    opts.caller_id_b = "Callshop <+4930999999>";
    opts.wait_for_pickup_s = 30;
    opts.max_duration_s = 600;
    opts.flags = CC_OPT_ALLOW_PUBLIC_TRANSFER | CC_OPT_VIDEO;
    CHECK(cc_start_call(client, "0171 1234486|0171 1234567", "030 1234567", &opts, &call) == CC_OK,
          "start a ring-group call");
    sim_call(call, info, sizeof info);
    CHECK(strstr(info, "\"source\":[\"+491711234486\",\"+491711234567\"]") != NULL, "both sources sent");
    CHECK(json_has(info, "winner", "+491711234567"), "the second source picked up");
    CHECK(json_has(info, "callerId", "Booth 7 <+4930123456>") &&
              json_has(info, "callerIdDestination", "Callshop <+4930999999>"),
          "caller ids sent");
    CHECK(json_has(info, "waitForPickup", "30") && json_has(info, "callDuration", "600") &&
              json_has(info, "allowPublicTransfer", "true") && json_has(info, "video", "true"),
          "limits and flags sent");
    CHECK(held_at(call, "ringing_a", &st) && st.state == CC_STATE_RINGING_A, "RINGING_A");
    CHECK(held_at(call, "a_answered", &st) && st.state == CC_STATE_A_ANSWERED, "A_ANSWERED");
    CHECK(held_at(call, "ringing_b", &st) && st.state == CC_STATE_RINGING_B, "RINGING_B");
    CHECK(held_at(call, "connected", &st) && st.state == CC_STATE_CONNECTED, "CONNECTED");
    CHECK(held_at(call, NULL, &st), "released");
    follow(call, &st);
    CHECK(st.state == CC_STATE_ENDED && st.reason == CC_REASON_NONE && (st.flags & CC_STATUS_LIVE), "ended");
    CHECK(st.duration_s == 20 && st.cost[0] == '\0',
          "duration from the call record, and no cost made up (no public record shows one)");
    CHECK(strcmp(st.raw_status, "disposition:0") == 0, "raw status");
    CHECK(cc_hangup(call) == CC_OK, "hang-up after the end is a no-op");
    cc_call_free(call);
    CHECK(counter(app, "token_fetches") == 1, "one token for the whole call");

    /* Hang-up by id. */
    CHECK(cc_start_call(client, "0171 1234567|0171 7654321", "030 1234567", NULL, &call) == CC_OK, "start");
    CHECK(cc_start_call(client, "0171 2345678", "030 1234567", NULL, &other) == CC_OK, "start another");
    CHECK(held_at(call, "ringing_a", &st) && st.state == CC_STATE_RINGING_A, "ringing");
    CHECK(cc_hangup(call) == CC_OK, "hangup");
    CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_ENDED && st.reason == CC_REASON_CANCELLED,
          "ended by hang-up");
    sim_call(call, info, sizeof info);
    CHECK(json_has(info, "stage", "hung_up"), "the carrier hung that call up");
    sim_call(other, info, sizeof info);
    CHECK(!json_has(info, "stage", "hung_up"), "and only that call");
    CHECK(cc_hangup(other) == CC_OK, "hangup the other");
    cc_call_free(call);
    cc_call_free(other);
    CHECK(counter(app, "hangups") == 2, "two hang-ups by id");

    /* References whose id would address the whole extension: refused, nothing sent. */
    for (i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        reference(forged[i], ref, sizeof ref);
        call = NULL;
        CHECK(cc_call_attach(client, ref, &call) == CC_ERR_INVALID_ARGUMENT && call == NULL,
              "a forged (unsigned) reference is refused at attach");
    }
    CHECK(counter(app, "delete_all") == 0, "no DELETE without id ever reached the carrier");

    /* Every documented 400 code reaches the host with the carrier's code. */
    placed = counter(app, "calls_placed");
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        snprintf(action, sizeof action, "fail-next-start?client=%s&code=%s", app, codes[i].code);
        CHECK(control(action), "arm a 400");
        CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == codes[i].result, codes[i].code);
        CHECK(strcmp(cc_last_error_carrier_code(), codes[i].code) == 0, "carrier code");
        CHECK(strstr(cc_last_error_message(), "is missing or invalid") != NULL, "carrier text");
    }
    CHECK(cc_start_call(client, "0171 1234404|0171 1234567", "030 1234567", NULL, &call) == CC_ERR_INVALID_NUMBER &&
              strcmp(cc_last_error_carrier_code(), "pc_source_invalid") == 0,
          "an unobtainable source, refused by the carrier");
    memset(&opts, 0, sizeof opts);
    opts.caller_id = "+4930123456";
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", &opts, &call) == CC_ERR_INVALID_ARGUMENT &&
              strstr(cc_last_error_message(), "Name <+number>") != NULL,
          "a caller id not of the form Name <+number> is refused before sending");
    CHECK(counter(app, "calls_placed") == placed, "no call placed by refused starts");

    /* The connection is cut after the carrier placed the call: the library finds it by its
     * nonce among the extension's live calls and the host gets that one call. */
    snprintf(action, sizeof action, "cut-next-start?client=%s", app);
    CHECK(control(action), "arm a cut");
    CHECK(cc_start_call(client, "0171 1234486|0171 1234567", "030 1234567", NULL, &call) == CC_OK,
          "start survives the cut connection");
    CHECK(counter(app, "cut_starts") == 1 && counter(app, "nonce_reuses") == 0, "cut, then found, not sent again");
    CHECK(counter(app, "calls_placed") == placed + 1, "one call, not two");
    CHECK(held_at(call, "connected", &st) && st.state == CC_STATE_CONNECTED, "that call connects");
    CHECK(held_at(call, NULL, &st), "released");
    follow(call, &st);
    CHECK(st.state == CC_STATE_ENDED, "that call followed to the end");
    cc_call_free(call);
    CHECK(counter(app, "token_fetches") == 1, "still one token");
    cc_client_free(client);

    /* Token renewal: 2 s tokens, renewed before they run out, and once on a 401. */
    snprintf(action, sizeof action, "token-ttl?client=%s&seconds=2", app_ttl);
    CHECK(control(action), "short tokens");
    snprintf(action, sizeof action, "step-ms?client=%s&ms=1000", app_ttl);
    CHECK(control(action), "a call that stays up while the tokens run out");
    ttl_client = new_client(app_ttl, NULL);
    CHECK(cc_start_call(ttl_client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start (ttl)");
    CHECK(counter(app_ttl, "token_fetches") == 1, "first token");
    sleep_ms(2100);
    CHECK(cc_poll_status(call, &st) == CC_OK, "poll after the first token ran out");
    CHECK(counter(app_ttl, "token_fetches") == 2 && counter(app_ttl, "auth_failures") == 0,
          "renewed before it ran out (the carrier refused nothing)");
    snprintf(action, sizeof action, "revoke?client=%s", app_ttl);
    CHECK(control(action), "revoke");
    CHECK(cc_poll_status(call, &st) == CC_OK, "poll with a revoked token");
    CHECK(counter(app_ttl, "token_fetches") == 3 && counter(app_ttl, "auth_failures") == 1, "renewed on a 401");
    CHECK(cc_hangup(call) == CC_OK, "hangup (ttl)");
    cc_call_free(call);
    cc_client_free(ttl_client);

    /* A wrong client secret: AUTH, and the secret is never shown. */
    sim_dsn(dsn, sizeof dsn, "voipnow", "test-vn-c-bad:hunter2-wrong", NULL, "extension=210");
    CHECK(cc_client_new(dsn, &bad) == CC_OK, "client with a wrong secret");
    CHECK(cc_start_call(bad, "0171 1234567", "030 1234567", NULL, &call) == CC_ERR_AUTH, "auth refused");
    CHECK(strstr(cc_last_error_message(), "hunter2") == NULL, "no secret in the message");
    cc_client_free(bad);

    CHECK(cc_live_handles(&clients, &calls) == CC_OK && clients == 0 && calls == 0, "no handle left alive");
    return check_done();
}
