/*
 * HTTP health server on libmicrohttpd: GET/HEAD /health, /metrics, /ready,
 * a redirect from / to /health, optional bearer-token auth, and limits on
 * connections, header memory and the time a client gets to send a request.
 *
 * The server binds its listening socket itself (so a failed bind reports
 * the host, port and errno text) and hands it to one libmicrohttpd daemon
 * that serves every connection from one internal epoll thread. The snapshot
 * callback therefore runs on that thread, one request at a time.
 *
 * Connection limits (see docs/health.md, "Limits"): the server tracks every
 * connection with the time it started waiting for a request. When a new
 * connection takes the count above HEALTH_MAX_CONNECTIONS, the connection
 * that has waited longest is closed, and a sweeper thread closes any
 * connection that has waited HEALTH_REQUEST_TIMEOUT_S without delivering a
 * complete request. Idle, slow and half-open clients therefore cannot keep a
 * new client out, whichever address they come from.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agora/health.h"
#include "agora/log.h"

/* Connections served at once. A new connection beyond this closes the one
 * that has waited longest for a request. */
#define HEALTH_MAX_CONNECTIONS 128
/* libmicrohttpd's own hard limit, which closes connections beyond it right
 * after accept. The headroom covers accepts that arrive before libmicrohttpd
 * has closed the connections displaced for them. */
#define HEALTH_HARD_CONNECTION_LIMIT (HEALTH_MAX_CONNECTIONS + 64)
/* Seconds a connection gets to deliver a complete request line and headers,
 * counted from accept or from the end of its previous response. */
#define HEALTH_REQUEST_TIMEOUT_S 10
/* Seconds without any traffic after which libmicrohttpd closes a connection,
 * also while a response is being sent to a client that does not read. */
#define HEALTH_IDLE_TIMEOUT_S 10
/* Per-connection memory for the request line and headers. libmicrohttpd
 * rejects a request whose headers do not fit with 431. */
#define HEALTH_CONNECTION_MEMORY_BYTES (32 * 1024)
#define HEALTH_LISTEN_BACKLOG 128
/* How often the sweeper looks for connections past the request timeout. */
#define HEALTH_SWEEP_INTERVAL_MS 250
/* Closed connections are logged at most once per this many seconds. */
#define HEALTH_LOG_INTERVAL_S 10

#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define UNAUTHORIZED_BODY "{\"error\":\"Unauthorized\"}"
#define NOT_ALLOWED_BODY "{\"error\":\"Method Not Allowed\"}"
#define REDIRECT_BODY "{\"location\":\"/health\"}"

/*
 * One accepted connection. The list in agora_health_server is ordered by
 * waiting_since, oldest first, except that busy entries keep their place.
 */
typedef struct health_conn {
    struct health_conn *prev;
    struct health_conn *next;
    int fd;               /* owned by libmicrohttpd; see close_waiting */
    double waiting_since; /* CLOCK_MONOTONIC seconds */
    bool busy;            /* a request is being handled */
    bool closing;         /* shut down by the server, not yet closed */
} health_conn;

struct agora_health_server {
    struct MHD_Daemon *daemon;
    agora_snapshot_fn snapshot;
    void *ctx;
    char *auth_token; /* heap copy, NULL without auth */
    size_t auth_token_len;
    int port;

    /* Locking: lock guards the connection list, the counters and
     * stop_sweeper. libmicrohttpd's thread takes it in its callbacks and the
     * sweeper thread while it scans; neither holds it while doing I/O other
     * than shutdown(2). */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool lock_ready;
    pthread_t sweeper;
    bool sweeper_started;
    bool stop_sweeper;
    health_conn *head;
    health_conn *tail;
    size_t open_count;    /* tracked connections not yet shut down */
    uint64_t displaced;   /* closed for a newer connection, since last log */
    uint64_t timed_out;   /* closed by the request timeout, since last log */
    double last_log;
};

static double monotonic_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Responses ----------------------------------------------------------- */

/* Queues a copy of body with the headers that every response carries. */
static enum MHD_Result send_response(struct MHD_Connection *conn,
                                     unsigned int status,
                                     const char *content_type,
                                     const char *body, size_t len,
                                     const char *extra_name,
                                     const char *extra_value)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    resp = MHD_create_response_from_buffer(len, (void *)body,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (extra_name != NULL)
        MHD_add_response_header(resp, extra_name, extra_value);
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *conn,
                                 unsigned int status, const char *body)
{
    return send_response(conn, status, JSON_TYPE, body, strlen(body), NULL,
                         NULL);
}

/* ---- Auth ---------------------------------------------------------------- */

/*
 * Compares the presented token with the configured one in time that depends
 * only on the presented length: every presented byte is compared, with no
 * early exit, and a length difference is folded into the result.
 */
static bool token_equal(const char *given, size_t given_len,
                        const char *expected, size_t expected_len)
{
    volatile unsigned char diff = 0;

    diff |= (unsigned char)(given_len != expected_len);
    for (size_t i = 0; i < given_len; i++)
        diff |= (unsigned char)(given[i] ^ expected[i % expected_len]);
    return diff == 0;
}

/*
 * Checks for "Authorization: Bearer <token>" with the configured token. The
 * scheme name is matched case-insensitively, as RFC 7235 requires, and one
 * or more spaces may follow it (RFC 6750). Everything after them is the
 * token, so trailing blanks make it a different token.
 * NOTE: libmicrohttpd 0.9.75 keeps trailing blanks of a header value; a
 * version that strips them would let "Bearer <token>  " through.
 */
static bool request_authorized(const agora_health_server *server,
                               struct MHD_Connection *conn)
{
    const char *value;
    size_t i = 6;

    if (server->auth_token == NULL)
        return true;
    value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_AUTHORIZATION);
    if (value == NULL || strncasecmp(value, "Bearer", 6) != 0)
        return false;
    if (value[i] != ' ')
        return false;
    while (value[i] == ' ')
        i++;
    return token_equal(value + i, strlen(value + i), server->auth_token,
                       server->auth_token_len);
}

/* ---- Connection limits --------------------------------------------------- */

static void list_append(agora_health_server *server, health_conn *c)
{
    c->prev = server->tail;
    c->next = NULL;
    if (server->tail != NULL)
        server->tail->next = c;
    else
        server->head = c;
    server->tail = c;
}

static void list_remove(agora_health_server *server, health_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        server->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        server->tail = c->prev;
    c->prev = c->next = NULL;
}

/*
 * Shuts the socket of c down, so that libmicrohttpd reads end of stream on
 * its next poll and closes the connection. Called with server->lock held.
 * The descriptor cannot have been closed and reused yet: libmicrohttpd sends
 * the CLOSED notification, which takes server->lock and removes c, before
 * it closes the socket.
 */
static void close_waiting(agora_health_server *server, health_conn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->closing = true;
    server->open_count--;
}

/* Tracks connections as libmicrohttpd opens and closes them, and makes room
 * for a new connection by closing the one that has waited longest. */
static void notify_connection(void *cls, struct MHD_Connection *conn,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    agora_health_server *server = cls;
    const union MHD_ConnectionInfo *info;
    health_conn *c;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        c = *socket_context;
        if (c == NULL)
            return;
        pthread_mutex_lock(&server->lock);
        if (!c->closing)
            server->open_count--;
        list_remove(server, c);
        pthread_mutex_unlock(&server->lock);
        free(c);
        *socket_context = NULL;
        return;
    }

    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c = calloc(1, sizeof *c);
    /* NOTE: without memory the connection goes untracked: it is served, but
     * only libmicrohttpd's own limits apply to it. */
    if (c == NULL || info == NULL) {
        free(c);
        return;
    }
    c->fd = info->connect_fd;
    c->waiting_since = monotonic_now();

    pthread_mutex_lock(&server->lock);
    list_append(server, c);
    server->open_count++;
    if (server->open_count > HEALTH_MAX_CONNECTIONS) {
        for (health_conn *old = server->head; old != NULL; old = old->next) {
            if (old != c && !old->busy && !old->closing) {
                close_waiting(server, old);
                server->displaced++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&server->lock);
    *socket_context = c;
}

static health_conn *tracked_conn(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info != NULL ? info->socket_context : NULL;
}

/* Marks a connection busy from the moment its request is complete. */
static void mark_busy(agora_health_server *server, struct MHD_Connection *conn)
{
    health_conn *c = tracked_conn(conn);

    if (c == NULL)
        return;
    pthread_mutex_lock(&server->lock);
    c->busy = true;
    pthread_mutex_unlock(&server->lock);
}

/* After a response (or a failed one) the connection waits for its next
 * request, so its request timeout starts again and it moves to the tail. */
static void request_completed(void *cls, struct MHD_Connection *conn,
                              void **req_cls,
                              enum MHD_RequestTerminationCode code)
{
    agora_health_server *server = cls;
    health_conn *c = tracked_conn(conn);

    (void)req_cls;
    (void)code;
    if (c == NULL)
        return;
    pthread_mutex_lock(&server->lock);
    c->busy = false;
    c->waiting_since = monotonic_now();
    list_remove(server, c);
    list_append(server, c);
    pthread_mutex_unlock(&server->lock);
}

/* Logs the connections closed since the last report. Called without the
 * lock, with the counts taken under it. */
static void log_closed(uint64_t timed_out, uint64_t displaced)
{
    AGORA_WARN("health", "connections_closed", NULL, NULL,
               "closed %llu connections that sent no complete request within "
               "%d s and %llu that gave way to newer ones (limit %d); a client "
               "may be holding connections open",
               (unsigned long long)timed_out, HEALTH_REQUEST_TIMEOUT_S,
               (unsigned long long)displaced, HEALTH_MAX_CONNECTIONS);
}

/*
 * Closes every connection that has waited HEALTH_REQUEST_TIMEOUT_S for a
 * complete request. libmicrohttpd's own timeout cannot do this, because it
 * restarts on every byte, so a client sending one byte per second would
 * keep its connection for good.
 */
static void *sweeper_main(void *arg)
{
    agora_health_server *server = arg;

    pthread_mutex_lock(&server->lock);
    while (!server->stop_sweeper) {
        struct timespec until;
        double now;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += HEALTH_SWEEP_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&server->wake, &server->lock, &until);
        if (server->stop_sweeper)
            break;

        now = monotonic_now();
        for (health_conn *c = server->head; c != NULL; c = c->next) {
            if (!c->busy && !c->closing &&
                now - c->waiting_since >= HEALTH_REQUEST_TIMEOUT_S) {
                close_waiting(server, c);
                server->timed_out++;
            }
        }
        if ((server->timed_out > 0 || server->displaced > 0) &&
            now - server->last_log >= HEALTH_LOG_INTERVAL_S) {
            uint64_t timed_out = server->timed_out;
            uint64_t displaced = server->displaced;

            server->timed_out = server->displaced = 0;
            server->last_log = now;
            pthread_mutex_unlock(&server->lock);
            log_closed(timed_out, displaced);
            pthread_mutex_lock(&server->lock);
        }
    }
    pthread_mutex_unlock(&server->lock);
    return NULL;
}

/* ---- Routes -------------------------------------------------------------- */

/* Takes a snapshot and renders one endpoint into body. Returns the HTTP
 * status to send, which is 500 when the snapshot or the rendering failed. */
static unsigned int render_endpoint(agora_health_server *server,
                                    const char *url, agora_buf *body)
{
    agora_health_snapshot snap;
    int status = 200;
    int rc;

    memset(&snap, 0, sizeof snap);
    rc = server->snapshot(server->ctx, &snap);
    if (rc < 0) {
        AGORA_ERROR("health", "snapshot_failed", NULL, NULL,
                    "snapshot callback failed for %s: %s", url,
                    agora_strerror(rc));
        status = 500;
        goto cleanup;
    }

    if (strcmp(url, "/health") == 0) {
        rc = agora_health_render_json(&snap, body, &status);
    } else if (strcmp(url, "/metrics") == 0) {
        rc = agora_health_render_metrics(&snap, body);
    } else {
        bool ready = agora_health_is_ready(&snap);

        status = ready ? 200 : 503;
        rc = agora_buf_appendz(body, ready ? "{\"ready\":true}"
                                           : "{\"ready\":false}");
    }
    if (rc < 0) {
        AGORA_ERROR("health", "render_failed", NULL, NULL,
                    "rendering %s failed: %s", url, agora_strerror(rc));
        status = 500;
    }

cleanup:
    agora_health_snapshot_clear(&snap);
    return (unsigned int)status;
}

/* Renders the endpoint at url and queues it, or a 500 when that failed. */
static enum MHD_Result render_and_send(agora_health_server *server,
                                       struct MHD_Connection *conn,
                                       const char *url)
{
    agora_buf body;
    unsigned int status;
    enum MHD_Result rc;

    agora_buf_init(&body);
    status = render_endpoint(server, url, &body);
    if (status == 500) {
        rc = send_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                       "{\"error\":\"Internal Server Error\"}");
    } else {
        rc = send_response(conn, status,
                           strcmp(url, "/metrics") == 0 ? METRICS_TYPE
                                                        : JSON_TYPE,
                           body.data != NULL ? body.data : "", body.len, NULL,
                           NULL);
    }
    agora_buf_free(&body);
    return rc;
}

/*
 * Returns true when the request announces a body (a Content-Length other than
 * 0, or any Transfer-Encoding). Such a request is answered on the first call
 * of the handler, so the body is never read.
 */
static bool request_has_body(struct MHD_Connection *conn)
{
    const char *length = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
        return true;
    return length != NULL && strspn(length, "0") != strlen(length);
}

/*
 * Queues the response for a request that is not served (401, 404, 405 or
 * the redirect), or returns MHD_YES with *answered false when the request is
 * a GET or HEAD of an endpoint and it may go on.
 */
static enum MHD_Result answer_early(agora_health_server *server,
                                    struct MHD_Connection *conn,
                                    const char *url, const char *method,
                                    bool *answered)
{
    bool known_path = strcmp(url, "/health") == 0 ||
                      strcmp(url, "/metrics") == 0 ||
                      strcmp(url, "/ready") == 0 || strcmp(url, "/") == 0;

    *answered = true;
    if (!request_authorized(server, conn))
        return send_response(conn, MHD_HTTP_UNAUTHORIZED, JSON_TYPE,
                             UNAUTHORIZED_BODY, strlen(UNAUTHORIZED_BODY),
                             MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                             "Bearer realm=\"agora-health\"");
    if (!known_path)
        return send_json(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"Not Found\"}");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return send_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, JSON_TYPE,
                             NOT_ALLOWED_BODY, strlen(NOT_ALLOWED_BODY),
                             MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (strcmp(url, "/") == 0)
        return send_response(conn, MHD_HTTP_MOVED_PERMANENTLY, JSON_TYPE,
                             REDIRECT_BODY, strlen(REDIRECT_BODY),
                             MHD_HTTP_HEADER_LOCATION, "/health");
    *answered = false;
    return MHD_YES;
}

/*
 * libmicrohttpd calls this once when the request line and headers are in,
 * and again after the request body. A response queued on the first call
 * makes libmicrohttpd 0.9.75 stop reading the connection, so it closes after
 * that response. Queued on the second call, it keeps the connection alive.
 *
 * The first call therefore answers rejected requests and requests that
 * announce a body at once: their connection closes and the body is never
 * read, so no client can keep a connection busy by trickling a body. For the
 * rest it returns MHD_YES, and the second call renders the endpoint.
 */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **req_cls)
{
    agora_health_server *server = cls;
    enum MHD_Result rc;
    bool answered;

    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) {
        /* Any non-NULL marker works because it only distinguishes the two calls. */
        *req_cls = server;
        mark_busy(server, conn);
        rc = answer_early(server, conn, url, method, &answered);
        if (answered)
            return rc;
        if (request_has_body(conn))
            return render_and_send(server, conn, url);
        return MHD_YES;
    }

    /* Body bytes come only with Content-Length or Transfer-Encoding, which
     * the first call answered at once, so this only discards stray ones. */
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return render_and_send(server, conn, url);
}

/* Routes libmicrohttpd's own error messages to the agora log. */
static void log_mhd_message(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    size_t n;

    vsnprintf(text, sizeof text, fmt, ap);
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    AGORA_WARN("health", "http_error", NULL, NULL, "%s", text);
}

/* ---- Start and stop ------------------------------------------------------ */

/*
 * Resolves host and binds a listening TCP socket to the first address that
 * accepts it. Returns the socket, or -1 with err naming host:port and the
 * errno text of the last failure.
 */
static int bind_listen_socket(const char *host, int port, bool *ipv6,
                              agora_error *err)
{
    struct addrinfo hints, *list = NULL;
    char service[16];
    int fd = -1, last_errno = 0, gai;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", port);
    gai = getaddrinfo(host, service, &hints, &list);
    if (gai != 0) {
        agora_error_set(err, AGORA_EHTTP,
                        "health server: cannot resolve host \"%s\": %s; "
                        "set health_host to an IP address or a resolvable name",
                        host, gai_strerror(gai));
        return -1;
    }

    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        int one = 1;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, HEALTH_LISTEN_BACKLOG) == 0) {
            *ipv6 = ai->ai_family == AF_INET6;
            break;
        }
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);

    if (fd < 0)
        agora_error_set(err, AGORA_EHTTP,
                        "health server: cannot listen on %s:%d: %s; choose "
                        "another health_port or stop the process using it",
                        host, port, strerror(last_errno));
    return fd;
}

/* Reads the bound port back from the socket (the system picks it for 0). */
static int socket_port(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;

    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

/* Sets up the lock and the sweeper's condition variable on the monotonic
 * clock. Returns 0, or -1 when the system is out of resources. */
static int init_lock(agora_health_server *server)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&server->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&server->lock, NULL) != 0) {
        pthread_cond_destroy(&server->wake);
        return -1;
    }
    server->lock_ready = true;
    return 0;
}

agora_health_server *agora_health_server_start(const agora_health_options *opts,
                                               agora_snapshot_fn snapshot,
                                               void *ctx, agora_error *err)
{
    agora_health_server *server = NULL;
    const char *host = "127.0.0.1";
    unsigned int flags;
    bool ipv6 = false;
    int fd = -1;

    if (opts != NULL && opts->host != NULL && opts->host[0] != '\0')
        host = opts->host;
    if (opts == NULL || snapshot == NULL || opts->port < 0 ||
        opts->port > 65535) {
        agora_error_set(err, AGORA_EINVAL,
                        "health server: invalid port %d or missing snapshot "
                        "callback; use a port from 0 to 65535",
                        opts != NULL ? opts->port : -1);
        return NULL;
    }

    server = calloc(1, sizeof *server);
    if (server == NULL)
        goto nomem;
    if (init_lock(server) != 0) {
        free(server);
        server = NULL;
        goto nomem;
    }
    server->snapshot = snapshot;
    server->ctx = ctx;
    if (opts->auth_token != NULL && opts->auth_token[0] != '\0') {
        server->auth_token = strdup(opts->auth_token);
        if (server->auth_token == NULL)
            goto nomem;
        server->auth_token_len = strlen(server->auth_token);
    }

    fd = bind_listen_socket(host, opts->port, &ipv6, err);
    if (fd < 0)
        goto fail;
    server->port = socket_port(fd);

    /* epoll has no FD_SETSIZE ceiling, so descriptors above 1023 work when
     * the process has many files open. */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES
                 ? MHD_USE_EPOLL
                 : MHD_USE_POLL;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    /* No per-IP limit: a proxy, a kubelet and an attacker on the same host
     * all share one address, so such a limit would lock the good clients
     * out together with the bad one. Displacing the longest-waiting
     * connection protects new clients from any address. */
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle_request, server,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd_message, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, server,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, server,
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)HEALTH_HARD_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HEALTH_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HEALTH_CONNECTION_MEMORY_BYTES, MHD_OPTION_END);
    if (server->daemon == NULL) {
        agora_error_set(err, AGORA_EHTTP,
                        "health server: libmicrohttpd failed to start on %s:%d",
                        host, server->port);
        close(fd);
        goto fail;
    }

    if (pthread_create(&server->sweeper, NULL, sweeper_main, server) != 0) {
        agora_error_set(err, AGORA_ENOMEM,
                        "health server: cannot start the connection sweeper "
                        "thread");
        goto fail;
    }
    server->sweeper_started = true;

    AGORA_INFO("health", "server_started", NULL, NULL,
               "health server listening on %s:%d%s", host, server->port,
               server->auth_token != NULL ? " with bearer auth" : "");
    return server;

nomem:
    agora_error_set(err, AGORA_ENOMEM,
                    "health server: out of memory while starting");
fail:
    agora_health_server_stop(server);
    return NULL;
}

int agora_health_server_port(const agora_health_server *server)
{
    return server != NULL ? server->port : -1;
}

void agora_health_server_stop(agora_health_server *server)
{
    if (server == NULL)
        return;
    /* The sweeper goes first, so no shutdown(2) races the closing daemon. */
    if (server->sweeper_started) {
        pthread_mutex_lock(&server->lock);
        server->stop_sweeper = true;
        pthread_cond_signal(&server->wake);
        pthread_mutex_unlock(&server->lock);
        pthread_join(server->sweeper, NULL);
    }
    /* MHD_stop_daemon joins the polling thread and closes the listening
     * socket and every connection, so no callback runs after it returns. */
    if (server->daemon != NULL) {
        MHD_stop_daemon(server->daemon);
        AGORA_INFO("health", "server_stopped", NULL, NULL,
                   "health server on port %d stopped", server->port);
    }
    while (server->head != NULL) {
        health_conn *c = server->head;

        list_remove(server, c);
        free(c);
    }
    if (server->lock_ready) {
        pthread_cond_destroy(&server->wake);
        pthread_mutex_destroy(&server->lock);
    }
    free(server->auth_token);
    free(server);
}
