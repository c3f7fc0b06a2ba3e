/* Send one SMS to one or more recipients:  sms DSN "N1|N2" TEXT */
#include <stdio.h>

#include "callconnect.h"

int main(int argc, char **argv) {
    cc_client *client = NULL;
    char *message_id = NULL;
    cc_result r;

    if (argc != 4) {
        fprintf(stderr, "usage: %s DSN RECIPIENTS TEXT\n", argv[0]);
        return 2;
    }
    r = cc_client_new(argv[1], &client);
    if (r != CC_OK) {
        fprintf(stderr, "cc_client_new: %s\n", cc_last_error_message());
        return 1;
    }
    r = cc_send_sms(client, argv[2], argv[3], &message_id);
    if (r == CC_OK) {
        printf("SMS sent to %s: message id %s\n", argv[2], message_id);
        cc_string_free(message_id);
    } else if (r == CC_ERR_OUTCOME_UNKNOWN) {
        fprintf(stderr, "the SMS may or may not have gone out: %s\n", cc_last_error_message());
    } else {
        fprintf(stderr, "cc_send_sms: %s: %s\n", cc_result_name(r), cc_last_error_message());
    }
    cc_client_free(client);
    return r == CC_OK ? 0 : 1;
}
