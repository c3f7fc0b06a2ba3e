/* Call references from C: a reference made in another process of the same account
 * attaches and hangs the call up; a forged (unsigned), altered, truncated or foreign one
 * is refused with CC_ERR_INVALID_ARGUMENT and nothing reaches the simulator; the
 * reference's readable part shows no credential. */
#define _POSIX_C_SOURCE 200809L
#include <sys/types.h>
#include <sys/wait.h>

#include "check.h"
#include "simlog.h"

static void dsn_of(char *out, size_t n, const char *user) {
    char userinfo[128];
    snprintf(userinfo, sizeof userinfo, "%s:secret-%s", user, user);
    sim_dsn(out, n, "42call", userinfo, NULL, NULL);
}

/* Attaching `ref` is refused with a message containing `why`, and sends nothing. */
static void refused(cc_client *client, const char *ref, const char *why, const char *name) {
    cc_call *call = NULL;
    long before = sim_requests();
    char label[160];
    snprintf(label, sizeof label, "%s: CC_ERR_INVALID_ARGUMENT", name);
    CHECK(cc_call_attach(client, ref, &call) == CC_ERR_INVALID_ARGUMENT && call == NULL, label);
    snprintf(label, sizeof label, "%s: the message says \"%s\"", name, why);
    CHECK(strstr(cc_last_error_message(), why) != NULL, label);
    snprintf(label, sizeof label, "%s: nothing reached the simulator", name);
    CHECK(before >= 0 && sim_requests() == before, label);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url(const char *in, char *out, size_t n) {
    size_t len = strlen(in), i, o = 0;
    for (i = 0; i < len && o + 5 < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < len) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < len) v |= (unsigned char)in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < len) out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < len) out[o++] = b64[v & 63];
    }
    out[o] = 0;
}

static size_t unb64url(const char *in, size_t len, char *out, size_t n) {
    size_t i, o = 0;
    unsigned v = 0, bits = 0;
    for (i = 0; i < len && o + 1 < n; i++) {
        const char *p = strchr(b64, in[i]);
        if (!p || !*p) break;
        v = (v << 6) | (unsigned)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = 0;
    return o;
}

int main(void) {
    char dsn[512], other_dsn[512], ref[8192], bad[20000], json[8192], body[8192], id[128];
    int fds[2];
    pid_t child;
    ssize_t got;
    size_t len = 0;
    int status = 0;
    cc_client *client = NULL, *other = NULL;
    cc_call *call = NULL;
    char *s = NULL;
    const char *dot1, *dot2;

    dsn_of(dsn, sizeof dsn, "test-c-refs");
    dsn_of(other_dsn, sizeof other_dsn, "test-c-refs-other");

    /* Another process of the same account places the call and hands its reference over. */
    CHECK(pipe(fds) == 0, "pipe");
    fflush(stdout);
    child = fork();
    if (child == 0) {
        cc_client *c = NULL;
        cc_call *k = NULL;
        char *r = NULL;
        close(fds[0]);
        if (cc_client_new(dsn, &c) != CC_OK || cc_start_call(c, "0171 1234567", "030 1234567", NULL, &k) != CC_OK ||
            cc_call_ref(k, &r) != CC_OK)
            _exit(1);
        if (write(fds[1], r, strlen(r)) < 0) _exit(1);
        cc_string_free(r);
        cc_call_free(k);
        cc_client_free(c);
        _exit(0);
    }
    close(fds[1]);
    while (len < sizeof ref - 1 && (got = read(fds[0], ref + len, sizeof ref - 1 - len)) > 0) len += (size_t)got;
    ref[len] = 0;
    close(fds[0]);
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the other process placed a call");
    CHECK(strncmp(ref, "cc2.", 4) == 0, "a signed reference");

    CHECK(cc_client_new(dsn, &client) == CC_OK, "client of the same account");
    CHECK(cc_call_attach(client, ref, &call) == CC_OK, "a reference from another process of the account attaches");
    CHECK(call && cc_call_id(call, &s) == CC_OK, "call id");
    snprintf(id, sizeof id, "%s", s ? s : "");
    cc_string_free(s);
    CHECK(call && cc_hangup(call) == CC_OK, "and hangs the call up");
    cc_call_free(call);

    /* The readable part: carrier, id, times; no password. */
    dot1 = ref + 4;
    dot2 = strrchr(ref, '.');
    unb64url(dot1, (size_t)(dot2 - dot1), json, sizeof json);
    CHECK(strstr(json, "\"carrier\":\"42call\"") != NULL, "the reference reads as JSON");
    CHECK(strstr(json, "secret") == NULL && strstr(ref, "secret") == NULL, "no credential in the reference");

    /* Foreign: another account's client. */
    CHECK(cc_client_new(other_dsn, &other) == CC_OK, "client of another account");
    refused(other, ref, "another account", "foreign");

    /* Altered: one character of the signed part. */
    snprintf(bad, sizeof bad, "%s", ref);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    refused(client, bad, "refused call reference", "altered");
    /* Altered JSON under the old signature: a start far in the past. */
    {
        char *at = strstr(json, "\"started_ms\":");
        if (at) {
            at += strlen("\"started_ms\":");
            *at = *at == '1' ? '2' : '1';
        }
        b64url(json, body, sizeof body);
        snprintf(bad, sizeof bad, "cc2.%s%s", body, dot2);
        refused(client, bad, "altered", "altered start");
    }
    /* Truncated. */
    snprintf(bad, sizeof bad, "%.*s", (int)(strlen(ref) - 4), ref);
    refused(client, bad, "truncated", "truncated");
    /* Forged: the old unsigned format naming the call. */
    snprintf(json, sizeof json,
             "{\"v\":1,\"carrier\":\"42call\",\"id\":\"%s\",\"started_ms\":1700000000000,\"limit_s\":600}", id);
    memcpy(bad, "cc1.", 4);
    b64url(json, bad + 4, sizeof bad - 4);
    refused(client, bad, "unsigned", "forged");

    cc_client_free(other);
    cc_client_free(client);
    return check_done();
}
