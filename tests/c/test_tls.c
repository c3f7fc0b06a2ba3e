/* HTTPS from C: a private CA trusted with ca_file places a call; a self-signed
 * certificate is refused with CC_ERR_NETWORK and "certificate", and nothing reaches the
 * simulator. The simulator's HTTPS ports and CA come from tests/run_all.py. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "simlog.h"

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run through tests/run_all.py\n", name);
        exit(2);
    }
    return v;
}

int main(void) {
    char dsn[1024];
    cc_client *client = NULL;
    cc_call *call = NULL;
    cc_call_status st;
    long before;

    /* The plain simulator answers too (the same carriers, without TLS). */
    sim_dsn(dsn, sizeof dsn, "42call", "test-c-tls:secret-test-c-tls", NULL, NULL);
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client over plain HTTP to loopback");
    cc_client_free(client);
    client = NULL;

    snprintf(dsn, sizeof dsn,
             "42call://test-c-tls:secret-test-c-tls@127.0.0.1:%s?default_country=49&timeout_ms=%s&ca_file=%s",
             env("CC_SIM_TLS_PORT"), test_timeout_ms(), env("CC_SIM_CA_FILE"));
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client with ca_file");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK,
          "ca_file trusted: a call over TLS");
    CHECK(call && cc_poll_status(call, &st) == CC_OK, "poll over TLS");
    CHECK(call && cc_hangup(call) == CC_OK, "hang-up over TLS");
    cc_call_free(call);
    call = NULL;
    cc_client_free(client);
    client = NULL;

    snprintf(dsn, sizeof dsn,
             "42call://test-c-tls:secret-test-c-tls@127.0.0.1:%s?default_country=49&timeout_ms=%s&ca_file=%s",
             env("CC_SIM_SELFSIGNED_PORT"), test_timeout_ms(), env("CC_SIM_CA_FILE"));
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client toward a self-signed certificate");
    before = sim_requests();
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_ERR_NETWORK,
          "self-signed: CC_ERR_NETWORK, not OUTCOME_UNKNOWN");
    CHECK(strstr(cc_last_error_message(), "certificate") != NULL, "the message says certificate");
    CHECK(strstr(cc_last_error_message(), "127.0.0.1") != NULL, "the message names the host");
    CHECK(call == NULL, "no call handle");
    CHECK(before >= 0 && sim_requests() == before, "nothing reached the simulator");
    cc_client_free(client);
    return check_done();
}
