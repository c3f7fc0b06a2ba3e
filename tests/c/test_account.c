/* 42call account services from C: the typed balance, every JSON function (checked by
 * the text of its result), the "nothing found" forms, carrier errors and misuse. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include <unistd.h>

#include "check.h"

static cc_client *client;
static char user[64];

/* Whether a JSON result holds a piece of text (the C tests check results by their text). */
static int contains(const char *json, const char *needle) { return json && strstr(json, needle) != NULL; }

static void free_json(char **json) {
    cc_string_free(*json);
    *json = NULL;
}

/* Asks the simulator for a call's stage (a tiny HTTP GET, so that the test needs no
 * HTTP library): returns 1 once the stage is "ended". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
static int call_ended(const char *id) {
    char req[512], resp[2048];
    struct sockaddr_in addr;
    ssize_t n, total = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(sim_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return 0;
    }
    snprintf(req, sizeof req, "GET /_sim/42call/call?user=%s&id=%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", user, id);
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return 0;
    }
    while (total < (ssize_t)sizeof resp - 1 && (n = read(fd, resp + total, sizeof resp - 1 - (size_t)total)) > 0)
        total += n;
    resp[total] = 0;
    close(fd);
    return strstr(resp, "\"ended\"") != NULL;
}

int main(void) {
    char dsn[512], other_dsn[512], today[16], *json = NULL, *id = NULL, pin[16] = {0};
    cc_balance bal;
    cc_client *other = NULL;
    cc_call *call = NULL;
    time_t now = time(NULL);
    struct tm tm;
    const char *p;
    int i;

    gmtime_r(&now, &tm); /* the simulator keeps its records in UTC */
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    snprintf(user, sizeof user, "test-c-acct-%ld", (long)getpid());
    {
        char userinfo[160];
        snprintf(userinfo, sizeof userinfo, "%s:secret-%s", user, user);
        sim_dsn(dsn, sizeof dsn, "42call", userinfo, NULL, "realm=testRealm");
        sim_dsn(other_dsn, sizeof other_dsn, "42call", userinfo, NULL, NULL);
    }
    CHECK(cc_client_new(dsn, &client) == CC_OK, "client_new");

    /* Balance, typed: no JSON needed. */
    memset(&bal, 0x55, sizeof bal);
    CHECK(cc_account_balance(client, &bal) == CC_OK, "cc_account_balance");
    CHECK(strcmp(bal.amount, "18.40") == 0 && strcmp(bal.currency, "EUR") == 0, "balance 18.40 EUR");
    CHECK(bal.account_number[0] != 0 && bal.customer_number[0] != 0, "account and customer numbers");
    CHECK(bal.reserved[0] == 0 && bal.reserved[3] == 0, "reserved zeroed");
    CHECK(cc_account_balance(client, NULL) == CC_ERR_INVALID_ARGUMENT, "balance: NULL out");
    CHECK(cc_account_balance(NULL, &bal) == CC_ERR_INVALID_HANDLE, "balance: NULL client");
    CHECK(cc_account_info(client, &json) == CC_OK && contains(json, "\"balance\":{\"amount\":\"18.40\",\"currency\":\"EUR\"}"),
          "cc_account_info");
    free_json(&json);

    /* Rates. */
    CHECK(cc_account_rates(client, "0171 1234567|030 1234567|0171 1234404", &json) == CC_OK, "cc_account_rates");
    CHECK(contains(json, "\"input\":\"0171 1234567\",\"number\":\"+491711234567\",\"destination\":\"Germany Mobile T-Mobile\","
                         "\"prefix\":\"+49171\",\"price\":{\"amount\":\"0.10\",\"currency\":\"EUR\"}"),
          "0171 priced 0.10 EUR");
    CHECK(contains(json, "\"price\":{\"amount\":\"0.04\",\"currency\":\"EUR\"}"), "030 priced 0.04 EUR");
    CHECK(contains(json, "\"input\":\"0171 1234404\",\"number\":\"+491711234404\",\"destination\":null,\"prefix\":null,"
                         "\"price\":null"),
          "a number without rate has null price");
    free_json(&json);
    CHECK(cc_account_rates(client, "12", &json) == CC_ERR_INVALID_NUMBER && json == NULL, "rates: impossible number");

    /* Call records: nothing yet (no body / empty array), then a finished call. */
    CHECK(cc_account_call_records(client, today, NULL, 0, &json) == CC_OK && strcmp(json, "[]") == 0,
          "cdrs: nothing is []");
    free_json(&json);
    CHECK(cc_account_callshop_records(client, today, today, 5, &json) == CC_OK && strcmp(json, "[]") == 0,
          "cdr-callshop: nothing is []");
    free_json(&json);
    CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &call) == CC_OK, "start a call");
    CHECK(cc_call_id(call, &id) == CC_OK, "call id");
    for (i = 0; i < 200 && !call_ended(id); i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cc_string_free(id);
    cc_call_free(call);
    CHECK(cc_account_call_records(client, today, today, 10, &json) == CC_OK, "cdrs after the call");
    CHECK(contains(json, "\"duration_s\":20,\"billed_s\":null,\"caller\":null,\"number\":\"+49301234567\""), "cdrs record");
    CHECK(contains(json, "\"type\":\"CALLBACK\",\"cost\":{\"amount\":\"0.01\",\"currency\":\"EUR\"}"), "cdrs cost");
    CHECK(contains(json, "\"start\":\"") && contains(json, today), "cdrs date is today, ISO");
    free_json(&json);
    CHECK(cc_account_callshop_records(client, today, NULL, 0, &json) == CC_OK, "cdr-callshop after the call");
    CHECK(contains(json, "\"duration_s\":20,\"billed_s\":20,\"caller\":\"+491711234567\""), "callshop record");
    CHECK(contains(json, "\"cost\":{\"amount\":\"0.0133\",\"currency\":\"EUR\"}"), "callshop cost");
    free_json(&json);
    CHECK(cc_account_call_records(client, "20.02.2014", NULL, 0, &json) == CC_ERR_INVALID_ARGUMENT, "date form");
    CHECK(cc_account_call_records(client, "2014-02-20", "2014-02-19", 0, &json) == CC_ERR_INVALID_ARGUMENT,
          "range backwards");
    CHECK(cc_account_call_records(client, NULL, NULL, 0, &json) == CC_ERR_INVALID_ARGUMENT, "NULL from");
    CHECK(cc_account_call_records(client, today, NULL, 0, NULL) == CC_ERR_INVALID_ARGUMENT, "NULL out_json");

    /* Number check. */
    CHECK(cc_account_number_check(client, "0179 1234567", &json) == CC_OK &&
              contains(json, "{\"number\":\"+491791234567\",\"country_code\":49,\"prefix\":\"+49179\","
                             "\"subscriber\":\"1234567\",\"destination\":\"Germany Mobile O2\"}"),
          "number check");
    free_json(&json);
    CHECK(cc_account_number_check(client, "0171 1234404", &json) == CC_ERR_NOT_FOUND, "number check: unknown");
    CHECK(strcmp(cc_last_error_carrier_code(), "1001") == 0, "number check: carrier code 1001");

    /* Dial-in numbers and the callthrough target. */
    CHECK(cc_account_dialin_numbers(client, &json) == CC_OK && contains(json, "\"DE\":\"+493034649495\"") &&
              contains(json, "\"callback_free\":{}"),
          "dial-in numbers");
    free_json(&json);
    CHECK(cc_account_store_callthrough(client, "0171 1234567", "030 1234567", &json) == CC_OK &&
              contains(json, "\"callthrough_a\":\"+491711234567\",\"callthrough_b\":\"+49301234567\""),
          "store callthrough");
    free_json(&json);
    CHECK(cc_account_store_callthrough(client, "0171 1234567", "030 1234567", NULL) == CC_OK, "store, no output");
    CHECK(cc_account_store_callthrough(client, "0171", "030 1234567", NULL) == CC_ERR_INVALID_NUMBER,
          "store: impossible number");

    /* VoIP lines. */
    CHECK(cc_account_voip_lines(client, false, &json) == CC_OK && contains(json, "\"password\":null,\"password_form\":\"omitted\"") &&
              !contains(json, "pw1"),
          "VoIP lines without passwords");
    free_json(&json);
    CHECK(cc_account_voip_lines(client, true, &json) == CC_OK && contains(json, "\"password_form\":\"plain\"") &&
              contains(json, "-pw1\"") && contains(json, "\"password\":\"//4B\",\"password_form\":\"base64\""),
          "VoIP lines with passwords");
    free_json(&json);

    /* Cards. */
    CHECK(cc_card_create(client, "0171 5550301", "Booth 1", "5.00", true, NULL, &json) == CC_OK, "card create with SMS");
    CHECK(contains(json, "\"number\":\"+491715550301\",\"customer\":\"Booth 1\"") &&
              contains(json, "\"credit\":{\"amount\":\"5.00\",\"currency\":\"EUR\"}") && contains(json, "\"active\":true"),
          "the new card");
    p = json ? strstr(json, "\"pin\":\"") : NULL;
    if (p) {
        p += 7;
        for (i = 0; i < 15 && p[i] && p[i] != '"'; i++) pin[i] = p[i];
    }
    CHECK(strlen(pin) == 9, "the card's PIN");
    free_json(&json);
    CHECK(cc_card_block(client, "0171 5550301", &json) == CC_OK && contains(json, "\"active\":false"), "block");
    free_json(&json);
    CHECK(cc_card_show(client, "+49 171 5550301", &json) == CC_OK && contains(json, "\"active\":false"), "show blocked");
    free_json(&json);
    CHECK(cc_card_unblock(client, "0171 5550301", &json) == CC_OK && contains(json, "\"active\":true"), "unblock");
    free_json(&json);
    CHECK(cc_card_change_number(client, "0171 5550301", "0171 5550302", &json) == CC_OK &&
              contains(json, "\"number\":\"+491715550302\""),
          "change number");
    free_json(&json);
    CHECK(cc_card_disable(client, "0171 5550302", &json) == CC_OK && contains(json, "\"active\":false"), "disable");
    free_json(&json);
    CHECK(cc_card_activate(client, "0171 5550302", "111222333", &json) == CC_ERR_PROVIDER && json == NULL,
          "wrong PIN refused");
    CHECK(strcmp(cc_last_error_carrier_code(), "1200") == 0 && !strstr(cc_last_error_message(), "111222333"),
          "code 1200, PIN not in the message");
    CHECK(cc_card_activate(client, "0171 5550302", pin, &json) == CC_OK && contains(json, "\"active\":true"),
          "activate with the PIN");
    free_json(&json);
    CHECK(cc_card_show(client, "0171 5550399", &json) == CC_ERR_NOT_FOUND, "no card: NOT_FOUND");
    CHECK(cc_card_block(client, "0171 5550399", NULL) == CC_ERR_NOT_FOUND, "block no card: NOT_FOUND");
    CHECK(cc_card_create(client, "0171 5550303", NULL, "-1", false, NULL, NULL) == CC_ERR_INVALID_ARGUMENT,
          "negative amount");
    CHECK(cc_card_create(client, "0171 5550303", NULL, NULL, false, NULL, NULL) == CC_ERR_INVALID_ARGUMENT,
          "NULL amount");

    CHECK(cc_client_new(other_dsn, &other) == CC_OK, "client without realm");
    CHECK(cc_card_disable(other, "0171 5550302", NULL) == CC_ERR_INVALID_ARGUMENT &&
              strstr(cc_last_error_message(), "realm"),
          "disable needs the realm");
    cc_client_free(other);
    sim_dsn(other_dsn, sizeof other_dsn, "42call", "broke:broke-secret", NULL, NULL);
    CHECK(cc_client_new(other_dsn, &other) == CC_OK, "broke client");
    CHECK(cc_card_create(other, "0171 5550301", NULL, "5", true, NULL, NULL) == CC_ERR_INSUFFICIENT_FUNDS,
          "card without credit");
    CHECK(cc_account_voip_lines(other, true, &json) == CC_OK && strcmp(json, "[]") == 0, "no VoIP line: []");
    free_json(&json);
    cc_client_free(other);

    /* Everything was paid for: 18.40 - 5.00 - 0.09 - 0.0133. */
    CHECK(cc_account_balance(client, &bal) == CC_OK && strcmp(bal.amount, "13.2967") == 0, "balance after all");
    cc_client_free(client);
    CHECK(cc_account_info(client, &json) == CC_ERR_INVALID_HANDLE, "freed client");
    return check_done();
}
