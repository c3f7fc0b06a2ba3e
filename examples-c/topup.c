/* Top an account up with a PIN:  topup DSN PIN */
#include <stdio.h>

#include "callconnect.h"

int main(int argc, char **argv) {
    cc_client *client = NULL;
    char *balance = NULL;
    cc_result r;

    if (argc != 3) {
        fprintf(stderr, "usage: %s DSN PIN\n", argv[0]);
        return 2;
    }
    r = cc_client_new(argv[1], &client);
    if (r != CC_OK) {
        fprintf(stderr, "cc_client_new: %s\n", cc_last_error_message());
        return 1;
    }
    r = cc_topup(client, argv[2], &balance);
    if (r == CC_OK) {
        printf("top-up accepted; balance now %s\n", balance ? balance : "(not reported)");
        cc_string_free(balance);
    } else {
        /* The carrier's own code, e.g. 42call 1200 "PIN not valid". */
        fprintf(stderr, "cc_topup: %s: %s (carrier code %s)\n", cc_result_name(r), cc_last_error_message(),
                cc_last_error_carrier_code());
    }
    cc_client_free(client);
    return r == CC_OK ? 0 : 1;
}
