#define FFI_SCOPE "CALLCONNECT"
#define FFI_LIB "libcallconnect.so.0"

enum cc_result
 {
  CC_OK = 0,
  CC_ERR_INVALID_ARGUMENT = 1,
  CC_ERR_INVALID_HANDLE = 2,
  CC_ERR_INVALID_NUMBER = 3,
  CC_ERR_UNSUPPORTED = 4,
  CC_ERR_AUTH = 5,
  CC_ERR_INSUFFICIENT_FUNDS = 6,
  CC_ERR_NETWORK = 7,
  CC_ERR_TIMEOUT = 8,
  CC_ERR_PROTOCOL = 9,
  CC_ERR_PROVIDER = 10,
  CC_ERR_OUTCOME_UNKNOWN = 11,
  CC_ERR_INTERNAL = 12,
  CC_ERR_NOT_FOUND = 13,
  CC_ERR_BUSY = 14,
};
typedef uint32_t cc_result;

enum cc_call_state
 {
  CC_STATE_INITIATING = 0,
  CC_STATE_RINGING_A = 1,
  CC_STATE_A_ANSWERED = 2,
  CC_STATE_RINGING_B = 3,
  CC_STATE_CONNECTED = 4,
  CC_STATE_ENDED = 5,
  CC_STATE_FAILED = 6,
};
typedef uint32_t cc_call_state;

enum cc_fail_reason
 {
  CC_REASON_NONE = 0,
  CC_REASON_BUSY = 1,
  CC_REASON_NO_ANSWER = 2,
  CC_REASON_REJECTED = 3,
  CC_REASON_INSUFFICIENT_FUNDS = 4,
  CC_REASON_INVALID_NUMBER = 5,
  CC_REASON_CANCELLED = 6,
  CC_REASON_PROVIDER_ERROR = 7,
  CC_REASON_UNKNOWN = 8,
};
typedef uint32_t cc_fail_reason;

enum cc_leg
 {
  CC_LEG_NONE = 0,
  CC_LEG_A = 1,
  CC_LEG_B = 2,
};
typedef uint32_t cc_leg;

enum cc_status_flag
 {
  CC_STATUS_LIVE = 1,
  CC_STATUS_HANGUP_PENDING = 2,
  CC_STATUS_TIMED_OUT = 4,
};
typedef uint32_t cc_status_flag;

enum cc_capability
 {
  CC_CAP_CALLBACK = 1,
  CC_CAP_LIVE_STATUS = 2,
  CC_CAP_HANGUP = 4,
  CC_CAP_SMS = 8,
  CC_CAP_TOPUP = 16,
  CC_CAP_EVENTS = 32,
  CC_CAP_RING_GROUP = 64,
  CC_CAP_CALLER_ID = 128,
  CC_CAP_ACCOUNT = 256,
  CC_CAP_IDEMPOTENT_START = 512,
  CC_CAP_MAX_DURATION = 1024,
  CC_CAP_WAIT_FOR_PICKUP = 2048,
  CC_CAP_MAX_COST = 4096,
  CC_CAP_CONNECT_TYPE = 8192,
  CC_CAP_CALL_FLAGS = 16384,
};
typedef uint32_t cc_capability;

enum cc_option_flag
 {
  CC_OPT_ALLOW_PUBLIC_TRANSFER = 1,
  CC_OPT_VIDEO = 2,
};
typedef uint32_t cc_option_flag;

enum cc_log_level
 {
  CC_LOG_OFF = 0,
  CC_LOG_ERROR = 1,
  CC_LOG_WARN = 2,
  CC_LOG_INFO = 3,
  CC_LOG_DEBUG = 4,
};
typedef uint32_t cc_log_level;

typedef struct cc_call cc_call;

typedef struct cc_client cc_client;

typedef struct cc_call_options {
  const char *caller_id;
  const char *caller_id_b;
  const char *correlation;
  uint32_t max_duration_s;
  uint32_t wait_for_pickup_s;
  const char *max_cost;
  uint32_t connect_type;
  uint32_t flags;
  uint64_t reserved[4];
} cc_call_options;

typedef struct cc_call_status {
  uint32_t state;
  uint32_t reason;
  uint32_t failed_leg;
  uint32_t flags;
  uint32_t duration_s;
  char cost[32];
  char currency[8];
  char raw_status[32];
  int64_t last_change_ms;
} cc_call_status;

typedef struct cc_balance {
  char amount[32];
  char currency[8];
  char customer_number[32];
  char account_number[32];
  uint64_t reserved[4];
} cc_balance;

typedef void (*cc_log_callback)(uint32_t level, const char *message, void *userdata);

cc_result cc_client_new(const char *dsn, struct cc_client **out_client);

void cc_client_free(struct cc_client *client);

uint32_t cc_capabilities(const struct cc_client *client);

cc_result cc_send_sms(struct cc_client *client,
                      const char *recipients,
                      const char *text,
                      char **out_message_id);

cc_result cc_topup(struct cc_client *client, const char *pin, char **out_balance);

cc_result cc_known_balance(const struct cc_client *client, char **out_balance);

cc_result cc_start_call(struct cc_client *client,
                        const char *a_number,
                        const char *b_number,
                        const struct cc_call_options *options,
                        struct cc_call **out_call);

cc_result cc_poll_status(struct cc_call *call, struct cc_call_status *out_status);

cc_result cc_hangup(struct cc_call *call);

void cc_call_free(struct cc_call *call);

cc_result cc_call_ref(struct cc_call *call, char **out_ref);

cc_result cc_call_attach(struct cc_client *client,
                         const char *reference,
                         struct cc_call **out_call);

cc_result cc_call_id(struct cc_call *call, char **out_id);

const char *cc_last_error_message(void);

const char *cc_last_error_carrier_code(void);

void cc_string_free(char *s);

cc_result cc_debug_panic(void);

cc_result cc_live_handles(size_t *out_clients, size_t *out_calls);

cc_result cc_warm_up(uint16_t country_code);

const char *cc_version(void);

const char *cc_state_name(uint32_t state);

const char *cc_reason_name(uint32_t reason);

const char *cc_result_name(uint32_t result);

cc_result cc_account_balance(struct cc_client *client, struct cc_balance *out_balance);

cc_result cc_account_info(struct cc_client *client, char **out_json);

cc_result cc_account_rates(struct cc_client *client, const char *numbers, char **out_json);

cc_result cc_account_call_records(struct cc_client *client,
                                  const char *from,
                                  const char *to,
                                  uint32_t count,
                                  char **out_json);

cc_result cc_account_callshop_records(struct cc_client *client,
                                      const char *from,
                                      const char *to,
                                      uint32_t count,
                                      char **out_json);

cc_result cc_account_number_check(struct cc_client *client, const char *number, char **out_json);

cc_result cc_account_dialin_numbers(struct cc_client *client, char **out_json);

cc_result cc_account_store_callthrough(struct cc_client *client,
                                       const char *a_number,
                                       const char *b_number,
                                       char **out_json);

cc_result cc_account_voip_lines(struct cc_client *client, bool include_passwords, char **out_json);

cc_result cc_card_create(struct cc_client *client,
                         const char *number,
                         const char *customer,
                         const char *amount,
                         bool send_sms,
                         const char *sms_text,
                         char **out_json);

cc_result cc_card_show(struct cc_client *client, const char *number, char **out_json);

cc_result cc_card_block(struct cc_client *client, const char *number, char **out_json);

cc_result cc_card_unblock(struct cc_client *client, const char *number, char **out_json);

cc_result cc_card_disable(struct cc_client *client, const char *number, char **out_json);

cc_result cc_card_change_number(struct cc_client *client,
                                const char *number,
                                const char *new_number,
                                char **out_json);

cc_result cc_card_activate(struct cc_client *client,
                           const char *number,
                           const char *pin,
                           char **out_json);

cc_result cc_event_ingest(struct cc_client *client, const char *query_string, int *out_http_status);

cc_result cc_set_log_callback(uint32_t level, cc_log_callback callback, void *userdata);

