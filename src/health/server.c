/*
 * HTTP health server on libmicrohttpd: GET/HEAD /health, /metrics, /ready,
 * a redirect from / to /health, optional bearer-token auth, and limits on
 * connections, header memory and idle time.
 *
 * The server binds its listening socket itself (so a failed bind reports
 * the host, port and errno text) and hands it to one libmicrohttpd daemon
 * that serves every connection from one internal polling thread. The
 * snapshot callback therefore runs on that thread, one request at a time.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agora/health.h"
#include "agora/log.h"

/* Limits that keep a slow or hostile client from starving the server. */
#define HEALTH_CONNECTION_LIMIT 256
#define HEALTH_PER_IP_CONNECTION_LIMIT 64
#define HEALTH_CONNECTION_TIMEOUT_S 10
/* Per-connection memory for the request line and headers. libmicrohttpd
 * rejects a request whose headers do not fit with 431. */
#define HEALTH_CONNECTION_MEMORY_BYTES (32 * 1024)
#define HEALTH_LISTEN_BACKLOG 64

#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define UNAUTHORIZED_BODY "{\"error\":\"Unauthorized\"}"
#define NOT_ALLOWED_BODY "{\"error\":\"Method Not Allowed\"}"
#define REDIRECT_BODY "{\"location\":\"/health\"}"

struct agora_health_server {
    struct MHD_Daemon *daemon;
    agora_snapshot_fn snapshot;
    void *ctx;
    char *auth_token; /* heap copy, NULL without auth */
    size_t auth_token_len;
    int port;
};

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

/* Checks for "Authorization: Bearer <token>" with the configured token. The
 * scheme name is matched case-insensitively, as RFC 7235 requires. */
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

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size, void **req_cls)
{
    agora_health_server *server = cls;
    agora_buf body;
    unsigned int status;
    enum MHD_Result rc;
    bool known_path = strcmp(url, "/health") == 0 ||
                      strcmp(url, "/metrics") == 0 ||
                      strcmp(url, "/ready") == 0 || strcmp(url, "/") == 0;

    /* The response is queued on the first call, before any request body is
     * read, so a body sent with the request is discarded. */
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

    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle_request, server,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd_message, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HEALTH_CONNECTION_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)HEALTH_PER_IP_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HEALTH_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HEALTH_CONNECTION_MEMORY_BYTES, MHD_OPTION_END);
    if (server->daemon == NULL) {
        agora_error_set(err, AGORA_EHTTP,
                        "health server: libmicrohttpd failed to start on %s:%d",
                        host, server->port);
        close(fd);
        goto fail;
    }

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
    /* MHD_stop_daemon joins the polling thread and closes the listening
     * socket, so no callback runs after it returns. */
    if (server->daemon != NULL) {
        MHD_stop_daemon(server->daemon);
        AGORA_INFO("health", "server_stopped", NULL, NULL,
                   "health server on port %d stopped", server->port);
    }
    free(server->auth_token);
    free(server);
}
