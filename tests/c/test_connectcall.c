/* business-isp Connect Call from C: every state of a call, two calls in one session, a
 * second start while a call is up, every status code's mapping, hang-up, an expired
 * session recovered by one fresh login, a reference attached in another client, and a
 * password that never shows in any message, code or status string. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "simlog.h"

/* The `leak` account's password: "Pä$$ w&rd=1%+?" (UTF-8), and how the DSN writes it. */
static const char LEAK_PASSWORD[] = "P\xc3\xa4$$ w&rd=1%+?";
static const char LEAK_IN_DSN[] = "P%C3%A4%24%24%20w%26rd%3D1%25%2B%3F";

static char login[64];
static char dsn[512];

static void nap_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* A number from the simulator's flat JSON, -1 when absent. */
static long json_num(const char *json, const char *key) {
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static long account(const char *who, const char *key) {
    char path[256], body[4096];
    snprintf(path, sizeof path, "/_sim/connectcall/account?login=%s", who);
    if (sim_get(path, body, sizeof body) < 0) return -1;
    return json_num(body, key);
}

static long sim_stat(const char *key) {
    char body[8192];
    const char *cc;
    if (sim_get("/_sim/stats", body, sizeof body) < 0) return -1;
    cc = strstr(body, "\"connectcall\"");
    return cc ? json_num(cc, key) : -1;
}

static void control(const char *fmt, const char *who, const char *arg) {
    char path[256], body[1024];
    snprintf(path, sizeof path, fmt, who, arg);
    sim_get(path, body, sizeof body);
}

static void force(const char *who, int code) {
    char c[16];
    snprintf(c, sizeof c, "%d", code);
    control("/_sim/connectcall/force?login=%s&code=%s", who, c);
}

/* Polls once and says whether the state and raw code are the expected ones. */
static int poll_is(cc_call *call, uint32_t state, const char *raw) {
    cc_call_status st;
    if (cc_poll_status(call, &st) != CC_OK) return 0;
    if (st.state == state && strcmp(st.raw_status, raw) == 0 && (st.flags & CC_STATUS_LIVE)) return 1;
    printf("  expected %s (%s), got %s (%s)\n", cc_state_name(state), raw, cc_state_name(st.state), st.raw_status);
    return 0;
}

static void leak_dsn(char *out, size_t n, const char *password, const char *extra) {
    sim_dsn(out, n, "connectcall", "", "/api/", extra);
    /* sim_dsn writes "connectcall://@127..."; put the user info in. */
    {
        char tail[512];
        snprintf(tail, sizeof tail, "%s", out + strlen("connectcall://"));
        snprintf(out, n, "connectcall://leak:%s%s", password, tail);
    }
}

/* Every text the library gave back, searched for any form of the password. */
static char texts[64][512];
static int ntexts = 0;
static void keep(const char *s) {
    if (ntexts < 64) snprintf(texts[ntexts++], sizeof texts[0], "%s", s);
}
static void keep_error(void) {
    keep(cc_last_error_message());
    keep(cc_last_error_carrier_code());
}

int main(void) {
    cc_client *client = NULL, *other = NULL;
    cc_call *call = NULL, *again = NULL, *second = NULL;
    cc_call_status st;
    cc_call_options opts;
    char *ref = NULL, *s = NULL;
    char who[512], wrong[128];
    uint32_t last = 99, monotonic = 1;
    int i, code, polls, ok;
    size_t clients = 0, calls = 0;

    snprintf(login, sizeof login, "test-c-cc-%ld", (long)getpid());
    {
        char userinfo[160];
        snprintf(userinfo, sizeof userinfo, "%s:secret-%s", login, login);
        sim_dsn(dsn, sizeof dsn, "connectcall", userinfo, "/api/", NULL);
    }
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client_new");
    CHECK((cc_capabilities(client) & (CC_CAP_CALLBACK | CC_CAP_LIVE_STATUS | CC_CAP_HANGUP | CC_CAP_CONNECT_TYPE)) ==
              (CC_CAP_CALLBACK | CC_CAP_LIVE_STATUS | CC_CAP_HANGUP | CC_CAP_CONNECT_TYPE),
          "capabilities: callback, live status, hang-up, connect type");
    CHECK(!(cc_capabilities(client) & CC_CAP_SMS), "no SMS at Connect Call");

    /* Call 1: every state, stepped by the simulator's force control (its own timeline is
     * held still, so that a slow run under valgrind sees the same). */
    control("/_sim/connectcall/pace?login=%s&step_ms=%s", login, "600000");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start: login with the call");
    CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_INITIATING, "INITIATING");
    force(login, 27);
    CHECK(poll_is(call, CC_STATE_RINGING_A, "27"), "27 -> RINGING_A");
    force(login, 28);
    CHECK(poll_is(call, CC_STATE_A_ANSWERED, "28"), "28 -> A_ANSWERED");
    force(login, 26);
    CHECK(poll_is(call, CC_STATE_RINGING_B, "26"), "26 -> RINGING_B");
    force(login, 29);
    CHECK(poll_is(call, CC_STATE_CONNECTED, "29"), "29 -> CONNECTED");
    CHECK(cc_hangup(call) == CC_OK, "hangup");
    CHECK(cc_poll_status(call, &st) == CC_OK && st.state == CC_STATE_ENDED && st.reason == CC_REASON_CANCELLED &&
              strcmp(st.raw_status, "4") == 0,
          "hung up: ENDED, CANCELLED, carrier status 4");
    CHECK(account(login, "hangups") == 1, "one hangUp reached the carrier");

    /* Call 2 in the same session, followed as the simulator plays it (150 ms a stage). */
    control("/_sim/connectcall/pace?login=%s&step_ms=%s", login, "150");
    CHECK(cc_start_call(client, "0171 7654321", "030 7654321", NULL, &second) == CC_OK, "start: connect in the session");
    CHECK(account(login, "logins") == 1 && account(login, "connects") == 1 && account(login, "calls_placed") == 2,
          "two calls, one login");
    for (polls = 0; polls < 2000; polls++) {
        if (cc_poll_status(second, &st) != CC_OK) break;
        if (st.state != last) {
            if (last != 99 && st.state < last) monotonic = 0;
            last = st.state;
        }
        if (st.state == CC_STATE_ENDED || st.state == CC_STATE_FAILED) break;
        nap_ms(5);
    }
    CHECK(st.state == CC_STATE_ENDED && strcmp(st.raw_status, "30") == 0, "call 2 ended by B (30)");
    /* Which stages a poll lands in depends on the load: only their order is checked (30 is
     * the end after the bridge, so the call was connected). */
    CHECK(monotonic, "call 2 only moved forward");
    /* Call 1's handle keeps its own end. */
    CHECK(poll_is(call, CC_STATE_ENDED, "4"), "call 1 still reads its own end");
    cc_call_free(call);
    cc_call_free(second);

    /* A second start while the session's call is up: BUSY, nothing placed. */
    memset(&opts, 0, sizeof opts);
    opts.connect_type = 2;
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", &opts, &call) == CC_OK, "start with type 2");
    CHECK(cc_start_call(client, "0171 7654321", "030 7654321", NULL, &second) == CC_ERR_BUSY, "second start is BUSY");
    CHECK(account(login, "calls_placed") == 3, "the busy start placed nothing");
    CHECK(cc_hangup(call) == CC_OK, "hang up the call in the way");
    CHECK(cc_start_call(client, "0171 7654321", "030 7654321", NULL, &second) == CC_OK, "then the next call starts");
    CHECK(account(login, "logins") == 1 && account(login, "calls_placed") == 4, "four calls, still one login");
    CHECK(cc_hangup(second) == CC_OK, "hang up");
    cc_call_free(call);
    cc_call_free(second);

    /* The session expires at the carrier: one fresh login, no duplicate call. */
    control("/_sim/connectcall/expire?login=%s%s", login, "");
    {
        long unknown = sim_stat("unknown_guid");
        CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start after expiry");
        CHECK(sim_stat("unknown_guid") == unknown + 1, "the connect met the forgotten session (102)");
    }
    CHECK(account(login, "logins") == 2 && account(login, "calls_placed") == 5, "one fresh login placed one call");

    /* A reference attached in another client polls and hangs up; it holds no secret. */
    CHECK(cc_call_ref(call, &ref) == CC_OK && strncmp(ref, "cc2.", 4) == 0, "call_ref");
    keep(ref);
    CHECK(cc_client_new(dsn, &other) == CC_OK, "second client");
    CHECK(cc_call_attach(other, ref, &again) == CC_OK, "attach");
    CHECK(cc_poll_status(again, &st) == CC_OK && (st.flags & CC_STATUS_LIVE), "attached call polls live");
    CHECK(cc_hangup(again) == CC_OK, "hangup through the attached call");
    CHECK(cc_poll_status(again, &st) == CC_OK && st.state == CC_STATE_ENDED, "ended");
    CHECK(account(login, "hangups") == 4, "the hang-up reached the carrier");
    cc_call_free(again);
    cc_client_free(other);
    cc_call_free(call);
    cc_string_free(ref);
    ref = NULL;
    cc_client_free(client);
    CHECK(account(login, "ends") == 1, "freeing the client ended its session (cmd=end)");

    /* Every status code 3..33, forced on a fresh session each. */
    control("/_sim/connectcall/pace?login=%s&step_ms=%s", login, "600000");
    ok = 1;
    for (code = 3; code <= 33; code++) {
        uint32_t want_state = CC_STATE_INITIATING, want_reason = CC_REASON_NONE;
        char raw[8];
        switch (code) {
            case 27: want_state = CC_STATE_RINGING_A; break;
            case 28: want_state = CC_STATE_A_ANSWERED; break;
            case 26: want_state = CC_STATE_RINGING_B; break;
            case 9: case 29: want_state = CC_STATE_CONNECTED; break;
            case 4: case 30: case 31: want_state = CC_STATE_ENDED; break;
            case 7: want_state = CC_STATE_ENDED; want_reason = CC_REASON_INSUFFICIENT_FUNDS; break;
            case 10: want_state = CC_STATE_FAILED; want_reason = CC_REASON_BUSY; break;
            case 11: want_state = CC_STATE_FAILED; want_reason = CC_REASON_NO_ANSWER; break;
            case 12: want_state = CC_STATE_FAILED; want_reason = CC_REASON_REJECTED; break;
            case 16: case 32: case 33: want_state = CC_STATE_FAILED; want_reason = CC_REASON_INSUFFICIENT_FUNDS; break;
            case 24: case 25: want_state = CC_STATE_FAILED; want_reason = CC_REASON_INVALID_NUMBER; break;
            default: break; /* 3 Unknown, 5 Account State, undocumented: the call stays put */
        }
        snprintf(raw, sizeof raw, "%d", code);
        if (cc_client_new(dsn, &client) != CC_OK ||
            cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) != CC_OK) {
            ok = 0;
            printf("  code %d: could not start: %s\n", code, cc_last_error_message());
            cc_client_free(client);
            continue;
        }
        force(login, code);
        if (cc_poll_status(call, &st) != CC_OK || st.state != want_state || st.reason != want_reason ||
            strcmp(st.raw_status, raw) != 0) {
            ok = 0;
            printf("  code %d: got %s/%s raw '%s'\n", code, cc_state_name(st.state), cc_reason_name(st.reason),
                   st.raw_status);
        }
        if (st.state != CC_STATE_ENDED && st.state != CC_STATE_FAILED) cc_hangup(call);
        cc_call_free(call);
        cc_client_free(client);
    }
    CHECK(ok, "every status code 3..33 maps as documented, raw code kept");

    /* The password never shows: wrong password, spoilt replies, a reference. */
    snprintf(wrong, sizeof wrong, "%sx", LEAK_IN_DSN);
    leak_dsn(who, sizeof who, wrong, NULL);
    CHECK(cc_client_new(who, &client) == CC_OK, "client with a wrong password");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_ERR_AUTH, "wrong password: AUTH");
    CHECK(strcmp(cc_last_error_carrier_code(), "102") == 0, "carrier code 102");
    keep_error();
    cc_client_free(client);
    leak_dsn(who, sizeof who, LEAK_IN_DSN, NULL);
    CHECK(cc_client_new(who, &client) == CC_OK, "client with an odd password");
    control("/_sim/connectcall/fault?login=%s&mode=%s&count=1", "leak", "garbage");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_ERR_OUTCOME_UNKNOWN,
          "garbage after the login placed its call: OUTCOME_UNKNOWN");
    keep_error();
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "the odd password logs in");
    control("/_sim/connectcall/fault?login=%s&mode=%s&count=1", "leak", "nocode");
    CHECK(cc_poll_status(call, &st) == CC_ERR_PROTOCOL, "a reply without <code> is PROTOCOL");
    keep_error();
    CHECK(cc_poll_status(call, &st) == CC_OK, "poll");
    keep(st.raw_status);
    CHECK(cc_call_ref(call, &ref) == CC_OK, "reference");
    keep(ref);
    cc_string_free(ref);
    CHECK(cc_call_id(call, &s) == CC_OK, "call id");
    keep(s);
    cc_string_free(s);
    cc_hangup(call);
    cc_call_free(call);
    cc_client_free(client);
    leak_dsn(who, sizeof who, LEAK_IN_DSN, "type=9");
    CHECK(cc_client_new(who, &client) == CC_ERR_INVALID_ARGUMENT, "bad option");
    keep_error();
    ok = ntexts > 8;
    for (i = 0; i < ntexts; i++) {
        if (strstr(texts[i], LEAK_PASSWORD) || strstr(texts[i], LEAK_IN_DSN) || strstr(texts[i], "P\xc3\xa4$$") ||
            strstr(texts[i], "w&rd") || strstr(texts[i], "w%26rd")) {
            printf("  leaked in: %s\n", texts[i]);
            ok = 0;
        }
    }
    CHECK(ok, "no message, code, status or reference holds the password");

    CHECK(cc_live_handles(&clients, &calls) == CC_OK && clients == 0 && calls == 0, "no handle left alive");
    return check_done();
}
