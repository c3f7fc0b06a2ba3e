/* The log hook from C: cc_set_log_callback gets each request and reply of 42call at
 * DEBUG (a callback, an SMS, a top-up, a PIN used twice, a malformed PIN, a wrong
 * password), and no secret ever reaches a line. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define LOG_CAP (512 * 1024)

struct log_buffer {
    char text[LOG_CAP];
    size_t len;
    int lines[5]; /* per cc_log_level */
    int reentry_result;
};

static void collect(uint32_t level, const char *message, void *userdata) {
    struct log_buffer *log = userdata;
    size_t n = strlen(message);
    if (level < 5) log->lines[level]++;
    if (log->len + n + 2 < LOG_CAP) {
        memcpy(log->text + log->len, message, n);
        log->len += n;
        log->text[log->len++] = '\n';
        log->text[log->len] = '\0';
    }
    /* The callback may not replace itself: the library says BUSY instead of deadlocking. */
    log->reentry_result = (int)cc_set_log_callback(CC_LOG_OFF, NULL, NULL);
}

static struct log_buffer log_buf;

int main(void) {
    char dsn[512], bad_dsn[512], pin[32], id[64];
    cc_client *client = NULL, *bad = NULL;
    cc_call *call = NULL;
    char *out = NULL;
    const char *secrets[8];
    size_t i;

    /* A PIN of this run alone: the same simulator serves several runs of this program. */
    snprintf(pin, sizeof pin, "9%05ld%06ld", (long)getpid() % 100000L, (long)(time(NULL) % 1000000L));
    sim_dsn(dsn, sizeof dsn, "42call", "test-clog:secret-test-clog", NULL, NULL);
    /* A wrong password with characters that are percent-encoded in the DSN. */
    sim_dsn(bad_dsn, sizeof bad_dsn, "42call", "test-clog:Wr0ng%2BPa55%2Fc", NULL, NULL);

    CHECK(cc_set_log_callback(9, collect, &log_buf) == CC_ERR_INVALID_ARGUMENT, "an unknown level is refused");
    CHECK(cc_set_log_callback(CC_LOG_DEBUG, collect, &log_buf) == CC_OK, "callback set at DEBUG");
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start_call");
    CHECK(cc_hangup(call) == CC_OK, "hangup");
    cc_call_free(call);
    CHECK(cc_send_sms(client, "0171 1234567", "logged from C", &out) == CC_OK, "send_sms");
    cc_string_free(out);
    out = NULL;
    CHECK(cc_topup(client, pin, &out) == CC_OK, "topup");
    cc_string_free(out);
    CHECK(cc_topup(client, pin, NULL) == CC_ERR_PROVIDER, "PIN used twice");
    CHECK(cc_topup(client, "BADPIN99", NULL) == CC_ERR_PROVIDER, "malformed PIN");
    CHECK(cc_client_new(bad_dsn, &bad) == CC_OK, "client with a wrong password");
    CHECK(cc_send_sms(bad, "0171 1234567", "x", &out) == CC_ERR_AUTH, "wrong password refused");
    CHECK(cc_set_log_callback(CC_LOG_OFF, NULL, NULL) == CC_OK, "callback removed");

    CHECK(log_buf.len > 0, "the log is not empty");
    CHECK(log_buf.lines[CC_LOG_DEBUG] >= 14, "requests and replies at DEBUG");
    CHECK(log_buf.lines[CC_LOG_INFO] >= 7, "one INFO line per exchange");
    CHECK(log_buf.reentry_result == CC_ERR_BUSY, "the callback cannot replace itself");
    CHECK(strstr(log_buf.text, "x-authorization: ***") != NULL, "signature blanked");
    CHECK(strstr(log_buf.text, "pin=***") != NULL, "PIN blanked");
    secrets[0] = "secret-test-clog";
    secrets[1] = "Wr0ng+Pa55/c";
    secrets[2] = "Wr0ng%2BPa55%2Fc";
    secrets[3] = pin;
    secrets[4] = "BADPIN99";
    secrets[5] = "test-clog:";
    for (i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "no secret in the log (%s)", secrets[i]);
        CHECK(strstr(log_buf.text, secrets[i]) == NULL, id);
    }

    /* Off means off: nothing arrives once the callback is removed. */
    {
        size_t len = log_buf.len;
        CHECK(cc_send_sms(client, "0171 1234567", "not logged", &out) == CC_OK, "send_sms unlogged");
        cc_string_free(out);
        CHECK(log_buf.len == len, "no line after removal");
    }
    /* A callback at INFO gets no DEBUG line. */
    memset(&log_buf, 0, sizeof log_buf);
    CHECK(cc_set_log_callback(CC_LOG_INFO, collect, &log_buf) == CC_OK, "callback at INFO");
    CHECK(cc_send_sms(client, "0171 1234567", "info", &out) == CC_OK, "send_sms at INFO");
    cc_string_free(out);
    CHECK(cc_set_log_callback(CC_LOG_OFF, NULL, NULL) == CC_OK, "removed again");
    CHECK(log_buf.lines[CC_LOG_INFO] == 1 && log_buf.lines[CC_LOG_DEBUG] == 0, "INFO only");

    cc_client_free(bad);
    cc_client_free(client);
    return check_done();
}
