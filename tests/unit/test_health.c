/*
 * Tests of the health server over real HTTP: a server on 127.0.0.1 with a
 * system-chosen port, a snapshot callback that serves fixed data, and curl
 * as the client. Bodies are checked with jq and promtool where installed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/health.h"
#include "agora/log.h"

#define TOKEN "s3cret-Token_42"

/* What the fake snapshot callback serves. */
typedef enum fake_mode {
    FAKE_DEGRADED, /* one pipeline, 3 of 4 runs ok: 200 */
    FAKE_FAILING,  /* one pipeline, 1 of 4 runs ok: 503 */
    FAKE_STARTING, /* pool starting: /ready 503 */
    FAKE_STOPPING, /* pool shutting down: /ready 503 */
    FAKE_ERROR     /* callback fails: 500 */
} fake_mode;

/* The test thread sets mode and the server's thread reads it. The request
 * over the socket orders the two, but ThreadSanitizer does not see that
 * ordering, so the field is atomic. */
typedef struct fake_ctx {
    _Atomic fake_mode mode;
} fake_ctx;

static int fake_snapshot(void *ctx, agora_health_snapshot *out)
{
    fake_ctx *fake = ctx;
    agora_pipeline_snapshot *p;

    if (fake->mode == FAKE_ERROR)
        return AGORA_EIO;
    out->pool_state = AGORA_POOL_RUNNING;
    if (fake->mode == FAKE_STOPPING)
        out->pool_state = AGORA_POOL_STOPPING;
    else if (fake->mode == FAKE_STARTING)
        out->pool_state = AGORA_POOL_STARTING;
    out->started_at = 1700000000.0;
    out->now = 1700000042.0;
    out->pid = 777;
    out->pipelines = calloc(1, sizeof *out->pipelines);
    if (out->pipelines == NULL)
        return AGORA_ENOMEM;
    out->pipeline_count = 1;

    p = &out->pipelines[0];
    strcpy(p->pipeline_id, "orders");
    strcpy(p->schedule, "every 60.0s");
    p->active = true;
    p->total_runs = 4;
    p->successful_runs = fake->mode == FAKE_FAILING ? 1 : 3;
    p->failed_runs = 4 - p->successful_runs;
    p->records_consumed = 1000;
    p->records_written = 990;
    p->records_errored = 10;
    p->last_run_at = 1700000030.0;
    p->last_run_duration_s = 2.0;
    p->last_run_throughput_rps = 500.0;
    p->middleware_count = 1;
    p->middlewares = calloc(1, sizeof *p->middlewares);
    if (p->middlewares == NULL)
        return AGORA_ENOMEM;
    strcpy(p->middlewares[0].name, "clean");
    p->middlewares[0].in = 1000;
    p->middlewares[0].out = 1000;
    p->middlewares[0].total_time_ms = 7.5;
    return 0;
}

/* ---- HTTP client through curl -------------------------------------------- */

typedef struct http_reply {
    int status;
    char headers[8192];
    char body[65536];
    size_t body_len;
    char body_path[128];
} http_reply;

typedef struct test_env {
    char dir[64];
    fake_ctx fake;
    agora_health_server *server;
    int port;
    http_reply reply; /* here, not on the stack or heap of a test, so a
                         failed assert leaks nothing */
} test_env;

static void read_file(const char *path, char *out, size_t size, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = n;
}

/*
 * Sends one request with curl. extra contains further curl arguments (already
 * shell-quoted), for example "-X POST" or "-H 'Authorization: ...'".
 */
static void http_request(test_env *env, const char *extra, const char *path,
                         http_reply *reply)
{
    char cmd[2048], header_path[128], status_text[16];
    FILE *p;

    snprintf(header_path, sizeof header_path, "%s/headers", env->dir);
    snprintf(reply->body_path, sizeof reply->body_path, "%s/body", env->dir);
    snprintf(cmd, sizeof cmd,
             "curl -s -g --max-time 10 -o %s -D %s -w '%%{http_code}' %s "
             "'http://127.0.0.1:%d%s'",
             reply->body_path, header_path, extra, env->port, path);
    p = popen(cmd, "r");
    assert_non_null(p);
    status_text[0] = '\0';
    if (fgets(status_text, sizeof status_text, p) == NULL)
        status_text[0] = '\0';
    assert_int_equal(pclose(p), 0);
    reply->status = atoi(status_text);
    read_file(header_path, reply->headers, sizeof reply->headers, NULL);
    read_file(reply->body_path, reply->body, sizeof reply->body,
              &reply->body_len);
}

/* Returns true when the reply has the header "name: value" (name matched
 * case-insensitively, value exactly). */
static bool has_header(const http_reply *reply, const char *name,
                       const char *value)
{
    size_t name_len = strlen(name);

    for (const char *line = reply->headers; line != NULL && *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

        if (len > name_len + 1 && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *v = line + name_len + 1;

            while (*v == ' ')
                v++;
            if ((size_t)(line + len - v) == strlen(value) &&
                strncmp(v, value, strlen(value)) == 0)
                return true;
        }
        line = end != NULL ? end + 2 : NULL;
    }
    return false;
}

static bool have_tool(const char *name)
{
    char cmd[256];

    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Runs `jq -c FILTER` on the reply body and compares its output. */
static void assert_body_jq(const http_reply *reply, const char *filter,
                           const char *expected)
{
    char cmd[1024], out[1024];
    FILE *p;

    if (!have_tool("jq")) {
        print_message("jq check of %s skipped: jq is not installed\n", filter);
        return;
    }
    snprintf(cmd, sizeof cmd, "jq -c '%s' %s", filter, reply->body_path);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, sizeof out, p) == NULL)
        out[0] = '\0';
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
    assert_string_equal(out, expected);
}

static void assert_common_headers(const http_reply *reply)
{
    assert_true(has_header(reply, "Cache-Control", "no-store"));
    assert_true(has_header(reply, "X-Content-Type-Options", "nosniff"));
}

/* ---- Fixtures ------------------------------------------------------------ */

static int start_env(void **state, const char *token)
{
    test_env *env = calloc(1, sizeof *env);
    agora_health_options opts = {.host = "127.0.0.1", .port = 0,
                                 .auth_token = token};
    agora_error err;

    if (env == NULL)
        return -1;
    strcpy(env->dir, "/tmp/agora-health-XXXXXX");
    if (mkdtemp(env->dir) == NULL)
        return -1;
    env->fake.mode = FAKE_DEGRADED;
    env->server = agora_health_server_start(&opts, fake_snapshot, &env->fake,
                                            &err);
    if (env->server == NULL) {
        print_error("server did not start: %s\n", err.message);
        return -1;
    }
    env->port = agora_health_server_port(env->server);
    *state = env;
    return 0;
}

static int setup_open(void **state)
{
    return start_env(state, NULL);
}

static int setup_token(void **state)
{
    return start_env(state, TOKEN);
}

static int teardown_env(void **state)
{
    test_env *env = *state;
    char path[128];

    agora_health_server_stop(env->server);
    snprintf(path, sizeof path, "%s/headers", env->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/body", env->dir);
    unlink(path);
    rmdir(env->dir);
    free(env);
    return 0;
}

/* ---- Endpoints ----------------------------------------------------------- */

static void health_port_zero_picks_port(void **state)
{
    test_env *env = *state;

    assert_true(env->port > 0);
    assert_true(env->port <= 65535);
}

static void health_get_health_json(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "", "/health", reply);
    assert_int_equal(reply->status, 200);
    assert_true(has_header(reply, "Content-Type", "application/json"));
    assert_common_headers(reply);
    assert_body_jq(reply, ".status", "\"degraded\"");
    assert_body_jq(reply, ".process.pid", "777");
    assert_body_jq(reply, ".uptime_seconds", "42");
    assert_body_jq(reply, ".pipelines.orders.total_runs", "4");
    assert_body_jq(reply, ".pipelines.orders.success_rate", "0.75");
    assert_body_jq(reply, ".pipelines.orders.last_run_at",
                   "\"2023-11-14T22:13:50.000Z\"");
    assert_body_jq(reply, ".pipelines.orders.middlewares.clean.total_time_ms",
                   "7.5");
    assert_body_jq(reply, ".pipelines.orders.stopped", "false");
    assert_body_jq(reply, ".pipelines.orders.stopped_on_errors", "false");
}

static void health_failing_returns_503(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    env->fake.mode = FAKE_FAILING;
    http_request(env, "", "/health", reply);
    assert_int_equal(reply->status, 503);
    assert_true(has_header(reply, "Content-Type", "application/json"));
    assert_body_jq(reply, ".status", "\"failing\"");
    assert_body_jq(reply, ".pipelines.orders.success_rate", "0.25");
}

static void health_metrics_text(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;
    const char *uptime;
    char cmd[256];

    http_request(env, "", "/metrics", reply);
    assert_int_equal(reply->status, 200);
    assert_true(has_header(reply, "Content-Type",
                           "text/plain; version=0.0.4; charset=utf-8"));
    assert_common_headers(reply);
    assert_non_null(strstr(reply->body,
                           "\nagora_pipeline_runs_total{pipeline_id=\"orders\","
                           "status=\"success\"} 3\n"));
    assert_non_null(strstr(reply->body,
                           "\nagora_pipeline_records_total{pipeline_id=\"orders\","
                           "outcome=\"written\"} 990\n"));
    uptime = strstr(reply->body, "\nagora_process_uptime_seconds ");
    assert_non_null(uptime);
    assert_true(strtod(uptime + 30, NULL) == 42.0);

    assert_non_null(strstr(reply->body,
                           "\nagora_pipeline_middleware_time_seconds_total{"
                           "pipeline_id=\"orders\",middleware=\"clean\"} "
                           "0.0075\n"));

    if (have_tool("promtool")) {
        /* promtool exits 1 on a parse error and 3 on style lint, and prints
         * one line per problem: the served text must get neither. */
        char out[512];
        FILE *p;
        int status;

        snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1",
                 reply->body_path);
        p = popen(cmd, "r");
        assert_non_null(p);
        if (fgets(out, sizeof out, p) == NULL)
            out[0] = '\0';
        status = pclose(p);
        assert_string_equal(out, "");
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    } else {
        print_message("promtool check skipped: promtool is not installed\n");
    }
}

static void health_ready_200_then_503(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "", "/ready", reply);
    assert_int_equal(reply->status, 200);
    assert_true(has_header(reply, "Content-Type", "application/json"));
    assert_common_headers(reply);
    assert_string_equal(reply->body, "{\"ready\":true}");

    env->fake.mode = FAKE_STOPPING;
    http_request(env, "", "/ready", reply);
    assert_int_equal(reply->status, 503);
    assert_string_equal(reply->body, "{\"ready\":false}");

    env->fake.mode = FAKE_STARTING;
    http_request(env, "", "/ready", reply);
    assert_int_equal(reply->status, 503);
    assert_string_equal(reply->body, "{\"ready\":false}");
}

static void health_root_redirects(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "", "/", reply);
    assert_int_equal(reply->status, 301);
    assert_true(has_header(reply, "Location", "/health"));
    assert_common_headers(reply);
}

static void health_unknown_path_404(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "", "/nope", reply);
    assert_int_equal(reply->status, 404);
    assert_true(has_header(reply, "Content-Type", "application/json"));
    assert_common_headers(reply);
    assert_body_jq(reply, ".error", "\"Not Found\"");

    http_request(env, "", "/health/", reply);
    assert_int_equal(reply->status, 404);
}

static void health_query_string_ignored(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "", "/health?verbose=1", reply);
    assert_int_equal(reply->status, 200);
    assert_body_jq(reply, ".pipelines.orders.pipeline_id", "\"orders\"");
}

static void health_other_method_405(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "-X POST -d 'a=1'", "/health", reply);
    assert_int_equal(reply->status, 405);
    assert_true(has_header(reply, "Allow", "GET, HEAD"));
    assert_true(has_header(reply, "Content-Type", "application/json"));
    assert_common_headers(reply);
    assert_body_jq(reply, ".error", "\"Method Not Allowed\"");

    http_request(env, "-X DELETE", "/metrics", reply);
    assert_int_equal(reply->status, 405);
    assert_true(has_header(reply, "Allow", "GET, HEAD"));
}

static void health_head_has_no_body(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    /* With -I curl writes the response headers to its output file, so that
     * file must hold the headers and nothing after them. */
    http_request(env, "-I", "/health", reply);
    assert_int_equal(reply->status, 200);
    assert_true(has_header(reply, "Content-Type", "application/json"));
    assert_common_headers(reply);
    assert_int_equal(reply->body_len, strlen(reply->headers));
    assert_memory_equal(reply->body, reply->headers, reply->body_len);
}

static void health_snapshot_error_500(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    env->fake.mode = FAKE_ERROR;
    http_request(env, "", "/health", reply);
    assert_int_equal(reply->status, 500);
    assert_common_headers(reply);
    assert_body_jq(reply, ".error", "\"Internal Server Error\"");
}

static void health_oversized_headers_rejected(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;
    char header_path[128], extra[160];
    FILE *f;

    /* 64 KiB of header is twice the per-connection memory limit. curl reads
     * it from a file because it does not fit the command buffer. */
    snprintf(header_path, sizeof header_path, "%s/big-header", env->dir);
    f = fopen(header_path, "w");
    assert_non_null(f);
    fputs("X-Big: ", f);
    for (int i = 0; i < 65536; i++)
        fputc('x', f);
    fputs("\n", f);
    fclose(f);
    snprintf(extra, sizeof extra, "-H @%s", header_path);
    http_request(env, extra, "/health", reply);
    unlink(header_path);
    assert_int_equal(reply->status, 431);
}

/*
 * 200 idle connections from 127.0.0.1, more than the 128 the server serves
 * at once, do not keep a new client out: the longest-waiting idle
 * connections are closed to make room, whatever their address.
 */
static void health_idle_connections_give_way(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;
    enum { IDLE = 200, SERVED = 128 };
    int fds[IDLE];
    int closed = 0;
    struct sockaddr_in addr;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)env->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < IDLE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&addr, sizeof addr),
                         0);
    }

    /* The kernel queues accepts in order, so by the time this request is
     * served every idle connection has been accepted. */
    http_request(env, "", "/ready", reply);

    /* The server shut the displaced sockets down before it served the
     * request, and loopback delivers the FIN at once; the pause only covers
     * scheduling. The others stay open: their request timeout is 10 s. */
    usleep(200 * 1000);
    for (int i = 0; i < IDLE; i++) {
        struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
        char byte;

        if (poll(&pfd, 1, 0) == 1 && recv(fds[i], &byte, 1, 0) == 0)
            closed++;
        close(fds[i]);
    }
    assert_int_equal(reply->status, 200);
    /* The curl connection is the 201st: each of the 73 connections beyond
     * 128 displaced one idle connection. */
    assert_int_equal(closed, IDLE + 1 - SERVED);
}

/* ---- Keep-alive ---------------------------------------------------------- */

/* Runs `curl -sv` on two URLs of the server in one command, which reuses the
 * connection when the server keeps it open, and stores curl's stderr (the
 * -v trace) in out. extra contains further curl arguments. */
static void curl_two_urls(test_env *env, const char *extra, const char *path1,
                          const char *path2, char *out, size_t size)
{
    char cmd[1024], trace_path[128];

    snprintf(trace_path, sizeof trace_path, "%s/trace", env->dir);
    snprintf(cmd, sizeof cmd,
             "curl -sv --max-time 10 -o /dev/null -o /dev/null %s "
             "'http://127.0.0.1:%d%s' 'http://127.0.0.1:%d%s' 2>%s",
             extra, env->port, path1, env->port, path2, trace_path);
    assert_int_equal(system(cmd), 0);
    read_file(trace_path, out, size, NULL);
    unlink(trace_path);
}

/* Counts the lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    int count = 0;

    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, prefix, n) == 0)
            count++;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return count;
}

static void health_keepalive_reuses_connection(void **state)
{
    test_env *env = *state;
    static char trace[65536];

    curl_two_urls(env, "", "/health", "/metrics", trace, sizeof trace);
    assert_int_equal(count_lines(trace, "< HTTP/1.1 200"), 2);
    assert_int_equal(count_lines(trace, "* Connected to"), 1);
    assert_int_equal(count_lines(trace, "* Re-using existing connection"), 1);
    assert_null(strcasestr(trace, "< Connection: close"));
}

static void health_keepalive_auth_reuses(void **state)
{
    test_env *env = *state;
    static char trace[65536];

    curl_two_urls(env, "-H 'Authorization: Bearer " TOKEN "'", "/ready",
                  "/health", trace, sizeof trace);
    assert_int_equal(count_lines(trace, "< HTTP/1.1 200"), 2);
    assert_int_equal(count_lines(trace, "* Re-using existing connection"), 1);
}

/* Rejected requests are answered before the request is fully read, so the
 * server closes their connection and the next request needs a new one. */
static void health_rejected_request_closes(void **state)
{
    test_env *env = *state;
    static char trace[65536];

    curl_two_urls(env, "", "/missing", "/health", trace, sizeof trace);
    assert_int_equal(count_lines(trace, "< HTTP/1.1 404"), 1);
    assert_int_equal(count_lines(trace, "< HTTP/1.1 200"), 1);
    assert_int_equal(count_lines(trace, "< Connection: close"), 1);
    assert_int_equal(count_lines(trace, "* Connected to"), 2);
    assert_int_equal(count_lines(trace, "* Re-using existing connection"), 0);
}

static int connect_local(int port)
{
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static void send_text(int fd, const char *text)
{
    size_t len = strlen(text);

    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Reads from fd into out until the peer closes the connection or until a
 * complete response (headers and Content-Length bytes of body) is in. Gives
 * up when nothing arrives for 5 s. Returns the bytes read; *closed tells
 * whether the peer closed the connection.
 */
static size_t read_response(int fd, char *out, size_t size, bool *closed)
{
    size_t len = 0;

    *closed = false;
    while (len + 1 < size) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        const char *end, *length;
        ssize_t n;

        out[len] = '\0';
        end = strstr(out, "\r\n\r\n");
        length = strcasestr(out, "\r\nContent-Length:");
        if (end != NULL && length != NULL && length < end &&
            len >= (size_t)(end + 4 - out) + strtoul(length + 17, NULL, 10))
            break;
        if (poll(&pfd, 1, 5000) != 1)
            break;
        n = recv(fd, out + len, size - 1 - len, 0);
        if (n <= 0) {
            *closed = true;
            break;
        }
        len += (size_t)n;
    }
    out[len] = '\0';
    return len;
}

/* Returns true when the peer has closed fd (end of stream is readable). */
static bool peer_closed(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char byte;

    return poll(&pfd, 1, 0) == 1 && recv(fd, &byte, 1, 0) == 0;
}

/* Two requests written one after the other on one socket get two responses on
 * that socket. */
static void health_keepalive_two_requests(void **state)
{
    test_env *env = *state;
    static char reply[65536];
    int fd = connect_local(env->port);
    bool closed;

    send_text(fd, "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    read_response(fd, reply, sizeof reply, &closed);
    assert_false(closed);
    assert_int_equal(strncmp(reply, "HTTP/1.1 200 ", 13), 0);
    assert_non_null(strstr(reply, "\r\n\r\n{\"ready\":true}"));
    assert_null(strcasestr(reply, "\r\nConnection: close"));

    send_text(fd, "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    read_response(fd, reply, sizeof reply, &closed);
    assert_int_equal(strncmp(reply, "HTTP/1.1 200 ", 13), 0);
    assert_non_null(strstr(reply, "\r\n\r\n{\"ready\":true}"));
    close(fd);
}

/*
 * A request that announces a body is answered without the body being read,
 * and its connection is closed, so a client cannot hold a connection in the
 * busy state by sending a body slowly. The body is never sent here.
 */
static void health_announced_body_not_read(void **state)
{
    test_env *env = *state;
    static char reply[65536];
    int fd = connect_local(env->port);
    bool closed;

    send_text(fd, "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Length: 1000\r\n\r\n");
    read_response(fd, reply, sizeof reply, &closed);
    assert_int_equal(strncmp(reply, "HTTP/1.1 200 ", 13), 0);
    assert_non_null(strstr(reply, "\r\n\r\n{\"ready\":true}"));
    assert_non_null(strcasestr(reply, "\r\nConnection: close"));
    if (!closed) {
        read_response(fd, reply, sizeof reply, &closed);
        assert_true(closed);
    }
    close(fd);
}

/*
 * A keep-alive connection that waits for its next request counts as waiting
 * from the end of its last response, so it is displaced like any idle
 * connection when it has waited longest.
 */
static void health_idle_keepalive_displaced(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;
    static char text[65536];
    enum { IDLE = 128 };
    int fds[IDLE];
    int kept = connect_local(env->port);
    int closed = 0;
    bool kept_closed;

    send_text(kept, "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    read_response(kept, text, sizeof text, &kept_closed);
    assert_false(kept_closed);
    assert_int_equal(strncmp(text, "HTTP/1.1 200 ", 13), 0);

    /* With the kept connection these make 129 connections: one over the
     * limit, and the kept one has waited longest. curl's connection is the
     * 130th and displaces the oldest of these. */
    for (int i = 0; i < IDLE; i++)
        fds[i] = connect_local(env->port);
    http_request(env, "", "/ready", reply);
    usleep(200 * 1000);

    kept_closed = peer_closed(kept);
    for (int i = 0; i < IDLE; i++) {
        if (peer_closed(fds[i]))
            closed++;
        close(fds[i]);
    }
    close(kept);
    assert_int_equal(reply->status, 200);
    assert_true(kept_closed);
    assert_int_equal(closed, 1);
}

/* ---- Auth ---------------------------------------------------------------- */

static void health_auth_missing_header_401(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "", "/health", reply);
    assert_int_equal(reply->status, 401);
    assert_true(has_header(reply, "WWW-Authenticate",
                           "Bearer realm=\"agora-health\""));
    assert_true(has_header(reply, "Content-Type", "application/json"));
    assert_common_headers(reply);
    assert_string_equal(reply->body, "{\"error\":\"Unauthorized\"}");
}

static void health_auth_wrong_scheme_401(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "-H 'Authorization: Basic " TOKEN "'", "/health", reply);
    assert_int_equal(reply->status, 401);
    http_request(env, "-H 'Authorization: " TOKEN "'", "/health", reply);
    assert_int_equal(reply->status, 401);
    http_request(env, "-H 'Authorization: Bearer'", "/health", reply);
    assert_int_equal(reply->status, 401);
}

static void health_auth_wrong_token_401(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    /* Last character differs. */
    http_request(env, "-H 'Authorization: Bearer s3cret-Token_43'", "/health",
                 reply);
    assert_int_equal(reply->status, 401);
    /* Prefix of the token. */
    http_request(env, "-H 'Authorization: Bearer s3cret'", "/health", reply);
    assert_int_equal(reply->status, 401);
    /* Token followed by more characters. */
    http_request(env, "-H 'Authorization: Bearer " TOKEN "x'", "/health",
                 reply);
    assert_int_equal(reply->status, 401);
    /* Token repeated: equal to the token at every position modulo its
     * length, so only the length check rejects it. */
    http_request(env, "-H 'Authorization: Bearer " TOKEN TOKEN "'", "/health",
                 reply);
    assert_int_equal(reply->status, 401);
    /* Trailing blanks are part of the credential (RFC 6750 b64token has
     * none), so the token with them is another token. */
    http_request(env, "-H 'Authorization: Bearer " TOKEN "  '", "/health",
                 reply);
    assert_int_equal(reply->status, 401);
    /* A tab is not the space that separates scheme and token. */
    http_request(env, "-H 'Authorization: Bearer\t" TOKEN "'", "/health",
                 reply);
    assert_int_equal(reply->status, 401);
}

static void health_auth_correct_token_200(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;

    http_request(env, "-H 'Authorization: Bearer " TOKEN "'", "/health", reply);
    assert_int_equal(reply->status, 200);
    assert_body_jq(reply, ".status", "\"degraded\"");
    http_request(env, "-H 'Authorization: Bearer " TOKEN "'", "/metrics",
                 reply);
    assert_int_equal(reply->status, 200);
    http_request(env, "-H 'Authorization: Bearer " TOKEN "'", "/ready", reply);
    assert_int_equal(reply->status, 200);
    /* The scheme name is case-insensitive (RFC 7235). */
    http_request(env, "-H 'Authorization: bearer " TOKEN "'", "/health", reply);
    assert_int_equal(reply->status, 200);
}

static void health_auth_every_path(void **state)
{
    test_env *env = *state;
    http_reply *reply = &env->reply;
    const char *paths[] = {"/metrics", "/ready", "/", "/nope"};

    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http_request(env, "", paths[i], reply);
        assert_int_equal(reply->status, 401);
    }
    http_request(env, "-X POST", "/health", reply);
    assert_int_equal(reply->status, 401);
    /* With the token, the usual responses return. */
    http_request(env, "-H 'Authorization: Bearer " TOKEN "'", "/nope", reply);
    assert_int_equal(reply->status, 404);
    http_request(env, "-H 'Authorization: Bearer " TOKEN "'", "/", reply);
    assert_int_equal(reply->status, 301);
}

/* ---- Start errors and addresses ------------------------------------------ */

static void health_port_in_use_error(void **state)
{
    test_env *env = *state;
    agora_health_options opts = {.host = "127.0.0.1", .port = env->port};
    agora_health_server *second;
    agora_error err;
    char expected[64];

    memset(&err, 0, sizeof err);
    second = agora_health_server_start(&opts, fake_snapshot, &env->fake, &err);
    assert_null(second);
    assert_int_equal(err.code, AGORA_EHTTP);
    snprintf(expected, sizeof expected, "127.0.0.1:%d", env->port);
    assert_non_null(strstr(err.message, expected));
    assert_non_null(strstr(err.message, strerror(EADDRINUSE)));
}

static void health_bad_host_error(void **state)
{
    agora_health_options opts = {.host = "no-such-host.invalid", .port = 0};
    fake_ctx fake = {FAKE_DEGRADED};
    agora_error err;

    memset(&err, 0, sizeof err);
    assert_null(agora_health_server_start(&opts, fake_snapshot, &fake, &err));
    assert_int_equal(err.code, AGORA_EHTTP);
    assert_non_null(strstr(err.message, "no-such-host.invalid"));
}

static void health_invalid_port_error(void **state)
{
    agora_health_options opts = {.host = "127.0.0.1", .port = 70000};
    fake_ctx fake = {FAKE_DEGRADED};
    agora_error err;

    memset(&err, 0, sizeof err);
    assert_null(agora_health_server_start(&opts, fake_snapshot, &fake, &err));
    assert_int_equal(err.code, AGORA_EINVAL);
    assert_non_null(strstr(err.message, "70000"));
}

/* Starts on host and fetches /ready through url_host. Skips when the
 * address family is not available on this machine. */
static void check_host(const char *host, const char *url_host)
{
    agora_health_options opts = {.host = host, .port = 0};
    fake_ctx fake = {FAKE_DEGRADED};
    agora_health_server *server;
    agora_error err;
    char cmd[256], out[16] = "";
    FILE *p;

    server = agora_health_server_start(&opts, fake_snapshot, &fake, &err);
    if (server == NULL) {
        print_message("skipped: cannot listen on %s here: %s\n", host,
                      err.message);
        skip();
    }
    snprintf(cmd, sizeof cmd,
             "curl -s -g --max-time 10 -o /dev/null -w '%%{http_code}' "
             "'http://%s:%d/ready'",
             url_host, agora_health_server_port(server));
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, sizeof out, p) == NULL)
        out[0] = '\0';
    pclose(p);
    agora_health_server_stop(server);
    assert_string_equal(out, "200");
}

static void health_host_ipv6_loopback(void **state)
{
    check_host("::1", "[::1]");
}

static void health_host_localhost(void **state)
{
    check_host("localhost", "localhost");
}

static void health_default_host_ipv4(void **state)
{
    check_host(NULL, "127.0.0.1");
}

static void health_stop_null(void **state)
{
    agora_health_server_stop(NULL);
    assert_int_equal(agora_health_server_port(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(health_port_zero_picks_port, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_get_health_json, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_failing_returns_503, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_metrics_text, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_ready_200_then_503, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_root_redirects, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_unknown_path_404, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_query_string_ignored,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_other_method_405, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_head_has_no_body, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_snapshot_error_500, setup_open,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_oversized_headers_rejected,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_idle_connections_give_way,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_keepalive_reuses_connection,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_keepalive_auth_reuses,
                                        setup_token, teardown_env),
        cmocka_unit_test_setup_teardown(health_rejected_request_closes,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_keepalive_two_requests,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_announced_body_not_read,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_idle_keepalive_displaced,
                                        setup_open, teardown_env),
        cmocka_unit_test_setup_teardown(health_auth_missing_header_401,
                                        setup_token, teardown_env),
        cmocka_unit_test_setup_teardown(health_auth_wrong_scheme_401,
                                        setup_token, teardown_env),
        cmocka_unit_test_setup_teardown(health_auth_wrong_token_401,
                                        setup_token, teardown_env),
        cmocka_unit_test_setup_teardown(health_auth_correct_token_200,
                                        setup_token, teardown_env),
        cmocka_unit_test_setup_teardown(health_auth_every_path, setup_token,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(health_port_in_use_error, setup_open,
                                        teardown_env),
        cmocka_unit_test(health_bad_host_error),
        cmocka_unit_test(health_invalid_port_error),
        cmocka_unit_test(health_host_ipv6_loopback),
        cmocka_unit_test(health_host_localhost),
        cmocka_unit_test(health_default_host_ipv4),
        cmocka_unit_test(health_stop_null),
    };

    if (!have_tool("curl")) {
        print_message("skipped: curl is not installed; these tests use it as "
                      "the HTTP client\n");
        return 0;
    }
    /* Keep the test output readable; server logs are not checked here. */
    agora_log_set_level(AGORA_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
