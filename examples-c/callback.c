/* A two-leg callback with live status: ring A, bridge to B, follow the call, hang up.
 *
 *   callback DSN A_NUMBER B_NUMBER [SECONDS_CONNECTED]
 *
 * Hangs up after SECONDS_CONNECTED (default 1) seconds of bridged talk. With a carrier
 * that reports no progress (CC_STATUS_LIVE unset), it says so and hangs up at once. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "callconnect.h"

static void nap_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int fail(const char *what, cc_result r) {
    fprintf(stderr, "%s: %s: %s\n", what, cc_result_name(r), cc_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    cc_client *client = NULL;
    cc_call *call = NULL;
    cc_call_status status;
    cc_result r;
    uint32_t last_state = 99;
    long connected_ms = 0, limit_ms;
    int hung_up = 0, polls = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: %s DSN A_NUMBER B_NUMBER [SECONDS_CONNECTED]\n", argv[0]);
        return 2;
    }
    limit_ms = argc > 4 ? atol(argv[4]) * 1000L : 1000L;
    printf("%s\n", cc_version());

    r = cc_client_new(argv[1], &client);
    if (r != CC_OK) return fail("cc_client_new", r);

    r = cc_start_call(client, argv[2], argv[3], NULL, &call);
    if (r != CC_OK) {
        cc_client_free(client);
        return fail("cc_start_call", r);
    }
    printf("callback placed: ringing %s, then bridging to %s\n", argv[2], argv[3]);

    for (;;) {
        r = cc_poll_status(call, &status);
        if (r != CC_OK) {
            fail("cc_poll_status", r);
            break;
        }
        if (status.state != last_state) {
            printf("  %-10s", cc_state_name(status.state));
            if (status.state == CC_STATE_FAILED || status.reason != CC_REASON_NONE)
                printf(" reason=%s leg=%s", cc_reason_name(status.reason),
                       status.failed_leg == CC_LEG_A ? "A" : status.failed_leg == CC_LEG_B ? "B" : "-");
            if (status.raw_status[0]) printf(" (carrier status %s)", status.raw_status);
            if (status.cost[0]) printf(" cost=%s %s", status.cost, status.currency);
            if (status.state == CC_STATE_ENDED || status.state == CC_STATE_CONNECTED)
                printf(" duration=%us", status.duration_s);
            printf("\n");
            last_state = status.state;
        }
        if (status.state == CC_STATE_ENDED || status.state == CC_STATE_FAILED) break;
        if (!(status.flags & CC_STATUS_LIVE) && !hung_up) {
            printf("  (this carrier reports no progress for a callback: hanging up)\n");
        }
        if (!hung_up && (!(status.flags & CC_STATUS_LIVE) ||
                         (status.state == CC_STATE_CONNECTED && connected_ms >= limit_ms))) {
            r = cc_hangup(call);
            if (r != CC_OK) {
                fail("cc_hangup", r);
                break;
            }
            printf("  hang-up requested\n");
            hung_up = 1;
        }
        if (status.state == CC_STATE_CONNECTED) connected_ms += 100;
        if (++polls > 3000) {
            fprintf(stderr, "no final state after %d polls\n", polls);
            break;
        }
        nap_ms(100);
    }

    cc_call_free(call);
    cc_client_free(client);
    return (status.state == CC_STATE_ENDED || status.state == CC_STATE_FAILED) ? 0 : 1;
}
