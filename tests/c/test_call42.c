/* 42call from C: callback, hang-up, SMS, top-up, reference, and misuse. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char dsn[512];

static void *sms_thread(void *arg) {
    cc_client *client = (cc_client *)arg;
    char *id = NULL;
    int i, ok = 1;
    for (i = 0; i < 5; i++) {
        if (cc_send_sms(client, "0171 1234567", "threaded", &id) != CC_OK) ok = 0;
        cc_string_free(id);
        id = NULL;
    }
    return ok ? arg : NULL;
}

int main(void) {
    cc_client *client = NULL, *other = NULL;
    cc_call *call = NULL, *again = NULL;
    cc_call_status st;
    cc_call_options opts;
    char *s = NULL, *ref = NULL;
    size_t clients = 0, calls = 0;
    pthread_t threads[8];
    void *ret;
    int i, all_ok = 1;
    char bad_utf8[] = {'0', '1', '7', (char)0xff, 0};
    char pin[32];

    /* A fresh PIN each run: the simulator spends each one once. */
    snprintf(pin, sizeof pin, "9%ld%ld", (long)getpid(), (long)time(NULL) % 100000);

    sim_dsn(dsn, sizeof dsn, "42call", "test-c:secret-test-c", NULL, NULL);
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client_new");
    CHECK(cc_capabilities(client) & CC_CAP_CALLBACK, "capabilities: callback");
    CHECK(!(cc_capabilities(client) & CC_CAP_LIVE_STATUS), "capabilities: no live status at 42call");

    CHECK(cc_start_call(client, "0171 1234567", "+49 30 1234567", NULL, &call) == CC_OK, "start_call");
    CHECK(cc_poll_status(call, &st) == CC_OK, "poll_status");
    CHECK(st.state == CC_STATE_INITIATING && !(st.flags & CC_STATUS_LIVE), "42call status is only what is known");
    CHECK(cc_call_ref(call, &ref) == CC_OK && strncmp(ref, "cc2.", 4) == 0, "call_ref");
    CHECK(strstr(ref, "secret") == NULL, "reference holds no secret");
    CHECK(cc_call_attach(client, ref, &again) == CC_OK, "call_attach");
    CHECK(cc_hangup(again) == CC_OK, "hangup through the attached call");
    CHECK(cc_poll_status(again, &st) == CC_OK && st.state == CC_STATE_ENDED && st.reason == CC_REASON_CANCELLED,
          "ended by hang-up");
    cc_string_free(ref);
    cc_call_free(again);
    cc_call_free(call);

    memset(&opts, 0, sizeof opts);
    opts.caller_id = "Shop <+4930123456>";
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", &opts, &call) == CC_ERR_UNSUPPORTED,
          "an option 42call cannot honour is refused");
    memset(&opts, 0, sizeof opts);
    opts.correlation = "booth-7";
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", &opts, &call) == CC_OK, "start with correlation");
    cc_hangup(call);
    cc_call_free(call);
    CHECK(cc_start_call(client, "12", "030 1234567", NULL, &call) == CC_ERR_INVALID_NUMBER, "invalid A number");
    /* Numbers as libphonenumber reads them: a premium-rate number with a digit too many is
     * refused; a Russian toll-free number keeps its 8 and is placed. */
    CHECK(cc_start_call(client, "0171 1234567", "0900 1234567 0", NULL, &call) == CC_ERR_INVALID_NUMBER,
          "a premium-rate number with a digit too many");
    CHECK(cc_start_call(client, "0171 1234567", "+7 800 123 45 67", NULL, &call) == CC_OK, "a Russian toll-free number");
    cc_hangup(call);
    cc_call_free(call);

    CHECK(cc_send_sms(client, "0171 1234567|+44 20 7946 0958", "hello from C", &s) == CC_OK && strlen(s) > 0,
          "send_sms bulk");
    cc_string_free(s);
    CHECK(cc_topup(client, pin, &s) == CC_OK && s && strstr(s, " EUR"), "topup returns the balance");
    cc_string_free(s);
    CHECK(cc_topup(client, pin, NULL) == CC_ERR_PROVIDER, "a PIN is good once");
    CHECK(strcmp(cc_last_error_carrier_code(), "1200") == 0, "carrier code 1200");
    CHECK(strstr(cc_last_error_message(), "Personal Identification Number Not Valid") != NULL, "carrier text");
    CHECK(cc_known_balance(client, &s) == CC_OK && strstr(s, "EUR"), "known balance");
    cc_string_free(s);

    /* Threads share one client. */
    for (i = 0; i < 8; i++) pthread_create(&threads[i], NULL, sms_thread, client);
    for (i = 0; i < 8; i++) {
        pthread_join(threads[i], &ret);
        if (ret == NULL) all_ok = 0;
    }
    CHECK(all_ok, "8 threads x 5 SMS on one client");

    /* Misuse never crashes. */
    CHECK(cc_client_new(NULL, &other) == CC_ERR_INVALID_ARGUMENT, "NULL dsn");
    CHECK(cc_client_new(dsn, NULL) == CC_ERR_INVALID_ARGUMENT, "NULL out_client");
    CHECK(cc_client_new("42call://demo:hunter2@", &other) == CC_ERR_INVALID_ARGUMENT, "bad DSN");
    CHECK(strstr(cc_last_error_message(), "host") && !strstr(cc_last_error_message(), "hunter2"),
          "bad DSN message names the part, not the secret");
    CHECK(cc_client_new("nosuch://a:b@h", &other) == CC_ERR_INVALID_ARGUMENT, "unknown carrier");
    CHECK(cc_start_call(NULL, "0171 1234567", "030 1234567", NULL, &call) == CC_ERR_INVALID_HANDLE, "NULL client");
    CHECK(cc_start_call(client, NULL, "030 1234567", NULL, &call) == CC_ERR_INVALID_ARGUMENT, "NULL number");
    CHECK(cc_start_call(client, bad_utf8, "030 1234567", NULL, &call) == CC_ERR_INVALID_ARGUMENT, "invalid UTF-8");
    CHECK(cc_poll_status(NULL, &st) == CC_ERR_INVALID_HANDLE, "poll NULL call");
    CHECK(cc_poll_status((cc_call *)client, &st) == CC_ERR_INVALID_HANDLE, "client handle where a call is expected");
    CHECK(strstr(cc_last_error_message(), "client handle") != NULL, "wrong-kind message");
    CHECK(cc_start_call((cc_client *)(void *)&st, "1", "2", NULL, &call) == CC_ERR_INVALID_HANDLE, "forged handle");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, NULL) == CC_ERR_INVALID_ARGUMENT, "NULL out_call");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start for free tests");
    cc_call_free(call);
    CHECK(cc_hangup(call) == CC_ERR_INVALID_HANDLE, "freed call handle");
    cc_call_free(call); /* double free: ignored */
    CHECK(cc_hangup(call) == CC_ERR_INVALID_HANDLE, "double-freed call handle");
    cc_string_free(NULL);
    s = (char *)"not ours";
    cc_string_free(s); /* refused, not freed */
    CHECK(cc_debug_panic() == CC_ERR_INTERNAL, "a panic becomes CC_ERR_INTERNAL");
    CHECK(strstr(cc_last_error_message(), "panic") != NULL, "panic message");
    CHECK(cc_capabilities(NULL) == 0, "capabilities of NULL");

    /* A call outlives its client as a handle, but refuses work. */
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start before client free");
    cc_client_free(client);
    CHECK(cc_poll_status(call, &st) == CC_ERR_INVALID_HANDLE, "call of a freed client");
    CHECK(cc_send_sms(client, "0171 1234567", "x", &s) == CC_ERR_INVALID_HANDLE, "freed client");
    cc_client_free(client); /* double free: ignored */
    cc_call_free(call);
    cc_client_free(NULL);
    cc_call_free(NULL);
    CHECK(cc_live_handles(&clients, &calls) == CC_OK && clients == 0 && calls == 0, "no handle left alive");
    return check_done();
}
