/* A process that forks after making a client (a pre-forking daemon): the child is refused
 * the parent's handles (nothing reaches the carrier), takes a call over by its reference
 * with a client of its own, frees what it inherited without touching the parent's event
 * listener, and does not keep the parent's listening port; the parent goes on as before.
 * Forks while other threads use the library (look handles up, run the log callback, read
 * a country's numbers for the first time): each child makes and frees a client, changes
 * its log callback, reads the same country's numbers. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "simlog.h"

#define SECRET "event-secret-for-c-tests-0123"

/* AddressSanitizer's allocator (GCC 12's libasan) does not hold its own locks across
 * fork(): a child forked while another thread is inside the sanitizer's malloc or free
 * waits for ever at its next allocation, inside the sanitizer (seen there:
 * __sanitizer::SizeClassAllocator64::GetFromAllocator), whatever the library does. Built
 * with it (the asan suite), the forks beside threads that allocate are left out; the plain
 * build and valgrind run them. */
#if defined(__SANITIZE_ADDRESS__)
#define FORKS_BESIDE_ALLOCATING_THREADS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FORKS_BESIDE_ALLOCATING_THREADS 0
#endif
#endif
#ifndef FORKS_BESIDE_ALLOCATING_THREADS
#define FORKS_BESIDE_ALLOCATING_THREADS 1
#endif

/* Opens a listening socket on 127.0.0.1:port (0: any); returns it, or -1. */
static int listen_on(int port) {
    struct sockaddr_in a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A port nobody listens on now. */
static int free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int port = 0, fd = listen_on(0);
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0) port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until the state is at least `until` (or 30 s pass). */
static cc_result follow(cc_call *call, cc_call_status *st, uint32_t until) {
    cc_result r = CC_OK;
    int i;
    for (i = 0; i < 3000; i++) {
        r = cc_poll_status(call, st);
        if (r != CC_OK || st->state >= until) break;
        pause_ms(10);
    }
    return r;
}

static volatile int hammering = 1;
static cc_client *shared_client;
static cc_call *shared_call;
static char shared_dsn[1024];

/* Another thread of the forking process: handle look-ups and strings, without pause. */
static void *hammer(void *arg) {
    char *id = NULL;
    (void)arg;
    while (hammering) {
        cc_capabilities(shared_client);
        if (cc_call_id(shared_call, &id) == CC_OK) cc_string_free(id);
    }
    return NULL;
}

/* A log callback that holds the first line's thread inside it until released. */
static volatile int sink_held = 0, sink_release = 0;
static void held_sink(uint32_t level, const char *message, void *userdata) {
    (void)level;
    (void)message;
    (void)userdata;
    if (sink_held) return;
    sink_held = 1;
    while (!sink_release) pause_ms(1);
}

/* Another thread: one placement (its exchange is logged at INFO). */
static void *place_one(void *arg) {
    cc_call *placed = NULL;
    if (cc_start_call((cc_client *)arg, "0171 1234567", "030 1234567", NULL, &placed) == CC_OK) cc_call_free(placed);
    return NULL;
}

/* Country codes whose numbers a thread reads for the first time (cc_warm_up: the metadata
 * decoded and each pattern compiled, once each, behind once-only locks). */
static const uint16_t countries[] = {33, 34, 39, 41, 43, 44, 45, 46, 47, 48, 351, 352, 353, 354, 355,
                                     356, 357, 358, 359, 370, 371, 372, 380, 381, 385, 386, 420, 421,
                                     30,  31,  32,  36,  40,  90,  7,   81,  82,  86,  91,  61,  64, 55};
#define COUNTRIES ((int)(sizeof countries / sizeof countries[0]))
static volatile int warming = -1, warmed = 0;
#define MAX_CHILDREN 100
static int to_read = COUNTRIES; /* fewer under valgrind (CC_SLOW_RUN) */

static void *warm_each(void *arg) {
    int k;
    (void)arg;
    for (k = 0; k < to_read; k++) {
        warming = k;
        cc_warm_up(countries[k]);
    }
    warmed = 1;
    return NULL;
}

/* Forks a child that runs `job` (under a 20 s alarm) and answers by a pipe: its read end,
 * -1 when the fork failed. */
static int start_child(char (*job)(void), pid_t *pid) {
    int p[2];
    char byte;
    fflush(stdout);
    if (pipe(p) != 0) return -1;
    *pid = fork();
    if (*pid == 0) {
        alarm(20); /* a child left waiting for a lock ends here, without its byte */
        byte = job();
        if (write(p[1], &byte, 1) != 1) _exit(5);
        _exit(0);
    }
    close(p[1]);
    if (*pid < 0) {
        close(p[0]);
        return -1;
    }
    return p[0];
}

/* Waits for a child of start_child: 1 when it answered 'y'. */
static int child_answered(int fd, pid_t pid) {
    int status;
    char byte = 0;
    if (fd < 0) return 0;
    if (read(fd, &byte, 1) != 1) byte = 0;
    close(fd);
    waitpid(pid, &status, 0);
    return byte == 'y';
}

static int in_child(char (*job)(void)) {
    pid_t pid;
    int fd = start_child(job, &pid);
    return child_answered(fd, pid);
}

static char make_and_free_a_client(void) {
    cc_client *c = NULL;
    if (cc_client_new(shared_dsn, &c) != CC_OK) return 'n';
    cc_client_free(c);
    cc_call_free(shared_call);
    return 'y';
}

static char change_log_callback(void) {
    return cc_set_log_callback(CC_LOG_OFF, NULL, NULL) == CC_OK ? 'y' : 'n';
}

static char read_the_country_being_read(void) {
    return cc_warm_up(countries[warming < 0 ? 0 : warming]) == CC_OK ? 'y' : 'n';
}

int main(void) {
    cc_client *client = NULL, *own = NULL;
    cc_call *call = NULL, *taken = NULL;
    cc_call_status st;
    char dsn[1024], extra[256], *ref = NULL;
    int port = free_port(), to_child[2], from_child[2], status = 0, fd, i, clean = 0;
    int forks = getenv("CC_SLOW_RUN") ? 40 : 200;
    long before;
    pid_t pid;
    pthread_t threads[2];
    pid_t pids[MAX_CHILDREN];
    int readers[MAX_CHILDREN], k;
    size_t clients = 99, calls = 99;
    char byte = 0, reply[4096];

    CHECK(sim_fetch("/_sim/poketalk/settings?event_period_ms=0&reply=text&reply_delay_ms=0", reply, sizeof reply) > 0,
          "simulator defaults");
    snprintf(extra, sizeof extra, "event_secret=" SECRET "&event_listen=127.0.0.1:%d", port);
    sim_dsn(dsn, sizeof dsn, "poketalk", "test-c", NULL, extra);
    CHECK(port > 0 && cc_client_new(dsn, &client) == CC_OK, "a client with a listener on a known port");
    CHECK(cc_start_call(client, "0171 1234567", "030 1234999", NULL, &call) == CC_OK, "a long call");
    CHECK(follow(call, &st, CC_STATE_CONNECTED) == CC_OK && st.state == CC_STATE_CONNECTED,
          "connected (events reach the parent's listener)");
    CHECK(cc_call_ref(call, &ref) == CC_OK, "its reference, taken before the fork");
    CHECK(pipe(to_child) == 0 && pipe(from_child) == 0, "pipes");
    fflush(stdout);

    pid = fork();
    if (pid == 0) {
        alarm(60); /* a hang fails the test instead of stopping the suite */
        before = sim_requests();
        CHECK(cc_start_call(client, "0171 1234567", "030 1234567", NULL, &taken) == CC_ERR_INVALID_HANDLE &&
                  taken == NULL && strstr(cc_last_error_message(), "fork()"),
              "child: the parent's client is refused, saying why");
        CHECK(cc_poll_status(call, &st) == CC_ERR_INVALID_HANDLE, "child: the parent's call is refused (poll)");
        CHECK(cc_hangup(call) == CC_ERR_INVALID_HANDLE, "child: the parent's call is refused (hang-up)");
        CHECK(before >= 0 && sim_requests() == before, "child: nothing reached the carrier");
        sim_dsn(dsn, sizeof dsn, "poketalk", "test-c", NULL, "event_secret=" SECRET "&event_listen=127.0.0.1:0");
        CHECK(cc_client_new(dsn, &own) == CC_OK, "child: a client of its own, with its own listener");
        CHECK(cc_call_attach(own, ref, &taken) == CC_OK && cc_poll_status(taken, &st) == CC_OK,
              "child: the call taken over by its reference");
        cc_call_free(taken);
        cc_client_free(own);
        cc_call_free(call);
        cc_client_free(client);
        CHECK(cc_poll_status(call, &st) == CC_ERR_INVALID_HANDLE, "child: what it freed is gone");
        CHECK(cc_live_handles(&clients, &calls) == CC_OK && clients == 0 && calls == 0,
              "child: no live handle left");
        fflush(stdout);
        /* Its verdict by the pipe (under valgrind, the exit status of a forked child
         * counts what it inherited from threads it does not have); then alive, with
         * whatever it inherited, while the parent frees its client. */
        byte = check_failures ? 'F' : 'k';
        if (write(from_child[1], &byte, 1) != 1 || read(to_child[0], &byte, 1) != 1) _exit(3);
        _exit(0);
    }
    CHECK(pid > 0 && read(from_child[0], &byte, 1) == 1 && byte == 'k', "the child did its part and lives on");
    CHECK(cc_hangup(call) == CC_OK && follow(call, &st, CC_STATE_ENDED) == CC_OK && st.state == CC_STATE_ENDED &&
              st.reason == CC_REASON_CANCELLED,
          "parent: the call hung up through its own listener (412), as before the fork");
    cc_call_free(call);
    cc_client_free(client);
    fd = listen_on(port);
    CHECK(fd >= 0, "parent: the listening port is free once the parent's client is, though the child lives");
    if (fd >= 0) close(fd);
    CHECK(write(to_child[1], "x", 1) == 1 && waitpid(pid, &status, 0) == pid && WIFEXITED(status),
          "the child ended");
    cc_string_free(ref);

    /* Forks while two other threads look handles up and free strings: a child never
     * starts with one of the library's locks held by a thread it does not have. */
    sim_dsn(shared_dsn, sizeof shared_dsn, "42call", "test-c:secret-test-c", NULL, NULL);
    CHECK(cc_client_new(shared_dsn, &shared_client) == CC_OK &&
              cc_start_call(shared_client, "0171 1234567", "030 1234567", NULL, &shared_call) == CC_OK,
          "a client and a call for the other threads");
    if (FORKS_BESIDE_ALLOCATING_THREADS) {
        for (i = 0; i < 2; i++) pthread_create(&threads[i], NULL, hammer, NULL);
        for (i = 0; i < forks; i++) clean += in_child(make_and_free_a_client);
        hammering = 0;
        for (i = 0; i < 2; i++) pthread_join(threads[i], NULL);
        printf("# %d of %d children made and freed a client\n", clean, forks);
        CHECK(clean == forks, "every child made and freed a client of its own (no lock left held)");
    } else {
        printf("# built with AddressSanitizer: no fork beside threads that allocate (its allocator is not fork-safe)\n");
    }

    /* A fork while another thread is inside the log callback (as an interpreter's thread
     * waiting there for a lock the forking thread holds is): the fork does not wait for
     * the callback, and the child can change its callback (Python's wrapper does at exit). */
    CHECK(cc_set_log_callback(CC_LOG_INFO, held_sink, NULL) == CC_OK, "a log callback");
    pthread_create(&threads[0], NULL, place_one, shared_client);
    while (!sink_held) pause_ms(1);
    CHECK(in_child(change_log_callback), "a child forked while another thread was inside the log callback changes it");
    sink_release = 1;
    pthread_join(threads[0], NULL);
    CHECK(cc_set_log_callback(CC_LOG_OFF, NULL, NULL) == CC_OK, "parent: the callback removed");

    /* Forks while another thread reads countries' numbers for the first time: a child
     * reads the country being read at the fork (a fork waits for the reading to end). */
    if (getenv("CC_SLOW_RUN")) to_read = 4;
    if (FORKS_BESIDE_ALLOCATING_THREADS) {
        pthread_create(&threads[0], NULL, warm_each, NULL);
        /* At least one child, even if the other thread is done before the first fork. */
        for (i = 0; i == 0 || (!warmed && i < MAX_CHILDREN); i++) {
            readers[i] = start_child(read_the_country_being_read, &pids[i]);
            pause_ms(1);
        }
        pthread_join(threads[0], NULL);
        for (clean = 0, k = 0; k < i; k++) clean += child_answered(readers[k], pids[k]);
        printf("# %d of %d children forked while %d countries were read read the one being read\n", clean, i,
               to_read);
        CHECK(clean == i, "every child forked while a country's numbers were first read reads them too");
    }
    cc_call_free(shared_call);
    cc_client_free(shared_client);
    CHECK(cc_live_handles(&clients, &calls) == CC_OK && clients == 0 && calls == 0, "parent: no live handle left");
    return check_done();
}
