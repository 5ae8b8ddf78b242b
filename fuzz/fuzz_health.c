/*
 * libFuzzer target for the health server's request handling.
 *
 * The real server (libmicrohttpd underneath) starts once per process on
 * 127.0.0.1 with a system-chosen port, a bearer token and a snapshot
 * callback that serves fixed data. Each input is sent over a new TCP
 * connection as the raw request. The target then closes its write side and
 * reads the response until the server closes the connection or 3 seconds
 * pass, so an input can never hang the run.
 *
 * libmicrohttpd comes from Debian and is not instrumented, so coverage
 * guidance sees only agora's callbacks; AddressSanitizer still watches the
 * whole process, the server threads included.
 *
 * The same file builds into tests/unit/test_fuzz_regressions.c, which renames
 * LLVMFuzzerTestOneInput, so every static here carries the fuzz_health_ prefix.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "agora/health.h"
#include "agora/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_HEALTH_TOKEN "fuzz-Token_0123"
/* Milliseconds an input gets to be sent and to receive its response. */
#define FUZZ_HEALTH_DEADLINE_MS 3000
/* Milliseconds between sending the request and closing the write side. */
#define FUZZ_HEALTH_FIN_DELAY_MS 5

static agora_health_server *fuzz_health_server;
static int fuzz_health_port;

/* Serves two pipelines, one of them failing, so /health returns 503 and
 * /metrics carries middleware rows and an error text. */
static int fuzz_health_snapshot(void *ctx, agora_health_snapshot *out)
{
    agora_pipeline_snapshot *p;

    (void)ctx;
    out->pool_state = AGORA_POOL_RUNNING;
    out->started_at = 1700000000.0;
    out->now = 1700000042.5;
    out->pid = 4242;
    out->pipelines = calloc(2, sizeof(*out->pipelines));
    if (out->pipelines == NULL)
        return AGORA_ENOMEM;
    out->pipeline_count = 2;

    p = &out->pipelines[0];
    strcpy(p->pipeline_id, "orders");
    strcpy(p->schedule, "every 60.0s");
    p->active = true;
    p->total_runs = 4;
    p->successful_runs = 3;
    p->failed_runs = 1;
    p->records_consumed = 1000;
    p->records_written = 990;
    p->records_errored = 10;
    p->last_run_at = 1700000030.0;
    p->last_run_duration_s = 2.0;
    p->last_run_throughput_rps = 500.0;
    strcpy(p->last_error, "sink 'db' failed: \"quoted\" \\ text\nnext line");
    p->middleware_count = 1;
    p->middlewares = calloc(1, sizeof(*p->middlewares));
    if (p->middlewares == NULL)
        return AGORA_ENOMEM;
    strcpy(p->middlewares[0].name, "clean \"mw\"");
    p->middlewares[0].in = 1000;
    p->middlewares[0].out = 990;
    p->middlewares[0].errored = 10;

    p = &out->pipelines[1];
    strcpy(p->pipeline_id, "cron-job");
    strcpy(p->schedule, "cron('0 */6 * * *', timezone='Europe/Berlin')");
    p->active = true;
    p->running = true;
    p->total_runs = 3;
    p->failed_runs = 3;
    p->live_consumed = 7;
    return 0;
}

static void fuzz_health_stop(void)
{
    agora_health_server_stop(fuzz_health_server);
    fuzz_health_server = NULL;
}

static bool fuzz_health_setup(void)
{
    agora_health_options options = {
        .host = "127.0.0.1", .port = 0, .auth_token = FUZZ_HEALTH_TOKEN};
    agora_error err;

    if (fuzz_health_server != NULL)
        return true;
    agora_log_set_level(AGORA_LOG_OFF);
    agora_error_clear(&err);
    fuzz_health_server = agora_health_server_start(
        &options, fuzz_health_snapshot, NULL, &err);
    if (fuzz_health_server == NULL) {
        fprintf(stderr, "fuzz_health: cannot start the server: %s\n",
                err.message);
        abort();
    }
    fuzz_health_port = agora_health_server_port(fuzz_health_server);
    atexit(fuzz_health_stop);
    return true;
}

static long fuzz_health_ms_left(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return FUZZ_HEALTH_DEADLINE_MS -
           ((now.tv_sec - start->tv_sec) * 1000L +
            (now.tv_nsec - start->tv_nsec) / 1000000L);
}

/* Waits for events on fd until the deadline. Returns false on timeout. */
static bool fuzz_health_wait(int fd, short events,
                             const struct timespec *start)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    long left = fuzz_health_ms_left(start);

    if (left <= 0)
        return false;
    return poll(&pfd, 1, (int)left) > 0;
}

/* Sends the request, closes the write side and reads until close. */
static void fuzz_health_exchange(int fd, const uint8_t *data, size_t size)
{
    struct timespec start;
    size_t sent = 0;
    char reply[4096];

    clock_gettime(CLOCK_MONOTONIC, &start);
    while (sent < size) {
        ssize_t n;

        if (!fuzz_health_wait(fd, POLLOUT, &start))
            return;
        n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break; /* the server closed early, so read its response */
        sent += (size_t)n;
    }
    /*
     * libmicrohttpd 0.9.75 polls with edge-triggered epoll and reads once
     * per event, so a FIN that arrives together with the request goes
     * unseen until the idle timeout. A short pause before the shutdown lets
     * the request and the FIN arrive as two events.
     */
    poll(NULL, 0, FUZZ_HEALTH_FIN_DELAY_MS);
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t n;

        if (!fuzz_health_wait(fd, POLLIN, &start))
            return;
        n = recv(fd, reply, sizeof(reply), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in addr;
    int fd;

    fuzz_health_setup();
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)fuzz_health_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) == 0)
        fuzz_health_exchange(fd, data, size);
    close(fd);
    return 0;
}
