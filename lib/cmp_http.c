/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CMP over HTTP (RFC 6712) with libevent's evhttp: the only file that
 * includes libevent.  Worker threads each run an event loop with its own
 * evhttp on the one listening socket, its own context and its own CA
 * (so its own ledger connection and key handle): a request is answered
 * on the thread that read it, while the others keep reading theirs, and a
 * slow client only holds a connection, never a thread.  The main thread
 * waits for SIGTERM or SIGINT and stops the loops.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <m2m/cmp.h>

#include "cert_internal.h"
#include "internal.h"
#include "keystore/keystore.h"

#define PATH_CMP	"/.well-known/cmp"
#define PATH_PROFILE	"/.well-known/cmp/p/"
#define LOG_MAX		768

struct serve;

struct worker {
	struct serve *sv;
	pthread_t thread;
	int started;
	struct m2m_ctx *ctx;
	struct m2m_ca *ca;
	struct m2m_key *tls_key;
	SSL_CTX *ssl;
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener;	/* evhttp's, on the shared socket */
	struct event *rearm;		/* listens again after a pause */
};

struct serve {
	const struct m2m_cmp_serve_params *p;
	struct m2m_cmp_srv *srv;
	struct m2m_ctx *wctx;		/* the writer of grouped issuance */
	struct m2m_ca *wca;
	struct worker w[M2M_CMP_WORKERS_MAX];
	unsigned n;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void log_line(const struct serve *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void log_line(const struct serve *sv, const char *fmt, ...)
{
	char line[LOG_MAX];
	va_list ap;
	size_t i;

	if (!sv->p->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (i = 0; line[i]; i++)	/* one line, whatever the text held */
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';
	sv->p->log(sv->p->log_arg, line);
}

static void peer_of(struct evhttp_request *r, char *out, size_t size)
{
	struct evhttp_connection *c = evhttp_request_get_connection(r);
	char *addr = NULL;
	ev_uint16_t port = 0;

	snprintf(out, size, "-");
	if (!c)
		return;
	evhttp_connection_get_peer(c, &addr, &port);
	if (addr)
		snprintf(out, size, strchr(addr, ':') ? "[%s]:%u" : "%s:%u",
			 addr, port);
}

/* An HTTP error with a one-line text body. */
static void http_error(struct worker *w, struct evhttp_request *r, int code,
		       const char *reason, const char *text, double t0,
		       const char *peer)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(r);

	evhttp_add_header(h, "Content-Type", "text/plain");
	if (code == 405)
		evhttp_add_header(h, "Allow", "POST");
	if (b)
		evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(r, code, reason, b);
	evbuffer_free(b);
	log_line(w->sv, "%s - http %d %s (%.1f ms)", peer, code, text,
		 now_ms() - t0);
}

/* The profile label of the path, "" for none; 0 if the path is not ours. */
static int cmp_path(const char *path, char *profile, size_t size)
{
	size_t n;

	profile[0] = '\0';
	if (!path)
		return 0;
	if (strcmp(path, PATH_CMP) == 0 || strcmp(path, PATH_CMP "/") == 0)
		return 1;
	if (strncmp(path, PATH_PROFILE, strlen(PATH_PROFILE)) != 0)
		return 0;
	path += strlen(PATH_PROFILE);
	n = strspn(path, "abcdefghijklmnopqrstuvwxyz0123456789-");
	if (n == 0 || n >= size || (path[n] && strcmp(path + n, "/")))
		return 0;
	memcpy(profile, path, n);
	profile[n] = '\0';
	return 1;
}

static int is_pkixcmp(const char *ct)
{
	size_t n = strlen("application/pkixcmp");

	if (!ct || strncasecmp(ct, "application/pkixcmp", n) != 0)
		return 0;
	ct += n;
	ct += strspn(ct, " \t");
	return *ct == '\0' || *ct == ';';
}

static void request_cb(struct evhttp_request *r, void *arg)
{
	struct worker *w = arg;
	struct m2m_cmp_srv_result res;
	struct evbuffer *in, *out = NULL;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r);
	const char *ct;
	char peer[80], profile[M2M_PROFILE_NAME_MAX];
	unsigned char *body, *resp = NULL;
	size_t len, resp_len = 0;
	double t0 = now_ms();
	enum m2m_err rc;

	peer_of(r, peer, sizeof(peer));
	if (!cmp_path(uri ? evhttp_uri_get_path(uri) : NULL, profile,
		      sizeof(profile))) {
		http_error(w, r, HTTP_NOTFOUND, "Not Found",
			   "no CMP here: POST to " PATH_CMP " or " PATH_PROFILE
			   "<profile>", t0, peer);
		return;
	}
	if (evhttp_request_get_command(r) != EVHTTP_REQ_POST) {
		http_error(w, r, 405, "Method Not Allowed",
			   "CMP requests are POSTed", t0, peer);
		return;
	}
	ct = evhttp_find_header(evhttp_request_get_input_headers(r),
				"Content-Type");
	if (!is_pkixcmp(ct)) {
		http_error(w, r, 415, "Unsupported Media Type",
			   "the content type must be application/pkixcmp", t0,
			   peer);
		return;
	}
	in = evhttp_request_get_input_buffer(r);
	len = evbuffer_get_length(in);
	if (len > w->sv->p->max_body) {
		http_error(w, r, 413, "Payload Too Large",
			   "the request is too large", t0, peer);
		return;
	}
	body = evbuffer_pullup(in, -1);
	rc = m2m_cmp_srv_handle(w->sv->srv, w->ctx, w->ca,
				profile[0] ? profile : NULL, body, len, &resp,
				&resp_len, &res);
	if (rc == M2M_ERR_INVALID) {
		http_error(w, r, HTTP_BADREQUEST, "Bad Request",
			   "the body is no DER PKIMessage", t0, peer);
		return;
	}
	if (rc != M2M_OK) {
		http_error(w, r, HTTP_INTERNAL, "Internal Server Error",
			   m2m_ctx_detail(w->ctx), t0, peer);
		return;
	}
	out = evbuffer_new();
	if (!out || evbuffer_add(out, resp, resp_len) != 0) {
		free(resp);
		evbuffer_free(out);
		http_error(w, r, HTTP_INTERNAL, "Internal Server Error",
			   "out of memory", t0, peer);
		return;
	}
	free(resp);
	evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type",
			  "application/pkixcmp");
	evhttp_add_header(evhttp_request_get_output_headers(r),
			  "Cache-Control", "no-cache");
	evhttp_send_reply(r, HTTP_OK, "OK", out);
	evbuffer_free(out);
	log_line(w->sv, "%s %s%s%s %s%s%s%s%s (%.1f ms)", peer, res.op,
		 profile[0] ? " p/" : "", profile, res.status,
		 res.serial[0] ? " " : "", res.serial, res.text[0] ? ": " : "",
		 res.text, now_ms() - t0);
}

/*
 * Every worker listens on the one socket, and libevent accepts all the
 * connections waiting at once: a burst of clients (a line of stations
 * starting together) would all land on the first worker to wake, and be
 * answered one at a time while the other workers idle.  So a worker that
 * has just accepted a connection stops listening for a moment (which also
 * ends libevent's accept loop), and the other workers take the next ones.
 */
#define REARM_USEC	1000

static void rearm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(w->listener);
}

static void accepted(struct worker *w)
{
	static const struct timeval pause = { 0, REARM_USEC };

	if (w->listener && w->rearm && w->sv->n > 1 &&
	    evconnlistener_disable(w->listener) == 0 &&
	    event_add(w->rearm, &pause) != 0)
		evconnlistener_enable(w->listener);
}

/* The connection's bufferevent (evhttp_set_bevcb()): plain, or TLS. */
static struct bufferevent *conn_bev(struct event_base *base, void *arg)
{
	struct worker *w = arg;
	SSL *ssl;

	accepted(w);
	if (!w->ssl)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ssl = SSL_new(w->ssl);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
					      BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

/* The TLS context of a worker: certificate and chain, key (any scheme). */
static enum m2m_err tls_setup(struct worker *w)
{
	const struct m2m_cmp_serve_params *p = w->sv->p;
	struct m2m_cert **certs = NULL;
	size_t n = 0, i;
	enum m2m_err rc;

	rc = m2m_cert_load(w->ctx, p->tls_cert, &p->tls_key_opts, &certs, &n);
	if (rc != M2M_OK)
		return m2m_error_prefix(w->ctx, "TLS certificate '%s'",
					p->tls_cert);
	rc = m2m_key_load(w->ctx, p->tls_key, &p->tls_key_opts, &w->tls_key);
	if (rc != M2M_OK) {
		m2m_error_prefix(w->ctx, "TLS key");
		goto out;
	}
	w->ssl = SSL_CTX_new_ex(w->ctx->libctx, NULL, TLS_server_method());
	if (!w->ssl ||
	    !SSL_CTX_set_min_proto_version(w->ssl, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate(w->ssl, m2m_cert_x509(certs[0])) != 1) {
		rc = m2m_error_ossl(w->ctx, M2M_ERR_CRYPTO,
				    "cannot use TLS certificate '%s'",
				    p->tls_cert);
		goto out;
	}
	for (i = 1; i < n; i++)
		if (SSL_CTX_add1_chain_cert(w->ssl, m2m_cert_x509(certs[i])) != 1) {
			rc = m2m_error_ossl(w->ctx, M2M_ERR_CRYPTO,
					    "cannot use TLS chain certificate %zu",
					    i);
			goto out;
		}
	if (SSL_CTX_use_PrivateKey(w->ssl, m2m_key_pkey(w->tls_key)) != 1 ||
	    SSL_CTX_check_private_key(w->ssl) != 1) {
		rc = m2m_error_ossl(w->ctx, M2M_ERR_CRYPTO,
				    "the TLS key is not the key of '%s'",
				    p->tls_cert);
		goto out;
	}
	rc = M2M_OK;
out:
	m2m_cert_list_free(certs, n);
	return rc;
}

static void worker_release(struct worker *w)
{
	if (w->rearm)
		event_free(w->rearm);
	if (w->http)
		evhttp_free(w->http);
	if (w->base)
		event_base_free(w->base);
	SSL_CTX_free(w->ssl);
	m2m_key_free(w->tls_key);
	m2m_ca_close(w->ca);
	m2m_ctx_free(w->ctx);
	memset(w, 0, sizeof(*w));
}

/* Everything a worker needs, made on the main thread. */
static enum m2m_err worker_setup(struct m2m_ctx *ctx, struct serve *sv,
				 struct worker *w, int lfd)
{
	const struct m2m_cmp_serve_params *p = sv->p;
	enum m2m_err rc;
	struct evhttp_bound_socket *bound;
	int fd = -1;

	w->sv = sv;
	rc = m2m_ctx_new_sibling(ctx, &w->ctx);
	if (rc != M2M_OK)
		return m2m_error(ctx, rc, "out of memory");
	rc = m2m_ca_open(w->ctx, p->ca_dir, M2M_CA_NEED_KEY, &p->key_opts,
			 p->ledger, &w->ca);
	if (rc == M2M_OK && p->tls_cert)
		rc = tls_setup(w);
	if (rc != M2M_OK)
		return m2m_error(ctx, rc, "%s", m2m_ctx_detail(w->ctx));
	w->base = event_base_new();
	w->http = w->base ? evhttp_new(w->base) : NULL;
	fd = w->http ? fcntl(lfd, F_DUPFD_CLOEXEC, 3) : -1;
	bound = fd >= 0 ? evhttp_accept_socket_with_handle(w->http, fd) : NULL;
	w->listener = bound ? evhttp_bound_socket_get_listener(bound) : NULL;
	w->rearm = w->listener ? evtimer_new(w->base, rearm_cb, w) : NULL;
	if (!w->rearm) {
		if (fd >= 0 && !bound)
			close(fd);
		return m2m_error(ctx, M2M_ERR_SYSTEM,
				 "cannot start an HTTP server: %s",
				 strerror(errno));
	}
	evhttp_set_max_body_size(w->http, (ev_ssize_t)p->max_body);
	evhttp_set_max_headers_size(w->http, 8192);
	evhttp_set_timeout(w->http, (int)p->timeout);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
				   EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_PATCH);
	evhttp_set_gencb(w->http, request_cb, w);
	evhttp_set_bevcb(w->http, conn_bev, w);
	return M2M_OK;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* "ADDR:PORT" or "[ADDR]:PORT" into a bound, listening socket. */
static enum m2m_err listen_on(struct m2m_ctx *ctx, const char *spec, int *out)
{
	struct addrinfo hints, *ai = NULL;
	char host[256];
	const char *colon, *port;
	size_t hl;
	int fd = -1, one = 1, e;

	*out = -1;
	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (!colon)
			goto bad;
		hl = (size_t)(colon - spec - 1);
		port = colon + 2;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - spec);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host) || !*port ||
	    strspn(port, "0123456789") != strlen(port))
		goto bad;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	e = getaddrinfo(host, port, &hints, &ai);
	if (e != 0)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "cannot listen on '%s:%s': %s", host, port,
				 gai_strerror(e));
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return m2m_error(ctx, M2M_ERR_IO, "cannot listen on '%s': %s",
				 spec[-1] == '[' ? spec - 1 : spec, strerror(e));
	}
	freeaddrinfo(ai);
	*out = fd;
	return M2M_OK;
bad:
	return m2m_error(ctx, M2M_ERR_USAGE,
			 "'%s' is no ADDRESS:PORT to listen on", spec);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	(void)sig;
	(void)what;
	event_base_loopbreak(base);
}

enum m2m_err m2m_cmp_serve(struct m2m_ctx *ctx,
			   const struct m2m_cmp_serve_params *p)
{
	struct serve *sv = NULL;
	struct event_base *main_base = NULL;
	struct event *term = NULL, *intr = NULL;
	struct sigaction ign, old_pipe;
	enum m2m_err rc;
	unsigned i;
	int lfd = -1;

	if (p->workers < 1 || p->workers > M2M_CMP_WORKERS_MAX ||
	    p->max_body < 1 || p->max_body > M2M_CMP_MSG_MAX || p->timeout < 1 ||
	    !p->tls_cert != !p->tls_key)
		return m2m_error(ctx, M2M_ERR_USAGE,
				 "workers 1 to %d, a body of 1 to %d bytes, a time-out, and a TLS certificate with its key",
				 M2M_CMP_WORKERS_MAX, M2M_CMP_MSG_MAX);
	if (evthread_use_pthreads() != 0)
		return m2m_error(ctx, M2M_ERR_SYSTEM, "libevent has no threads");
	sv = calloc(1, sizeof(*sv));
	if (!sv)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	sv->p = p;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old_pipe);
	rc = m2m_cmp_srv_new(ctx, &p->cmp, &sv->srv);
	if (rc != M2M_OK)
		goto out;
	rc = listen_on(ctx, p->listen, &lfd);
	if (rc != M2M_OK)
		goto out;
	for (i = 0; i < p->workers; i++) {
		rc = worker_setup(ctx, sv, &sv->w[i], lfd);
		sv->n = i + 1;
		if (rc != M2M_OK)
			goto out;
	}
	/* One more CA, for the ledger's group commits (lib/cmp_server.c). */
	rc = m2m_ctx_new_sibling(ctx, &sv->wctx);
	if (rc != M2M_OK) {
		rc = m2m_error(ctx, rc, "out of memory");
		goto out;
	}
	rc = m2m_ca_open(sv->wctx, p->ca_dir, M2M_CA_NEED_KEY, &p->key_opts,
			 p->ledger, &sv->wca);
	if (rc != M2M_OK) {
		rc = m2m_error(ctx, rc, "%s", m2m_ctx_detail(sv->wctx));
		goto out;
	}
	m2m_cmp_srv_set_writer(sv->srv, sv->wctx, sv->wca);
	main_base = event_base_new();
	term = main_base ? evsignal_new(main_base, SIGTERM, on_signal, main_base) : NULL;
	intr = main_base ? evsignal_new(main_base, SIGINT, on_signal, main_base) : NULL;
	if (!term || !intr || evsignal_add(term, NULL) || evsignal_add(intr, NULL)) {
		rc = m2m_error(ctx, M2M_ERR_SYSTEM, "cannot wait for signals");
		goto out;
	}
	for (i = 0; i < sv->n; i++) {
		if (pthread_create(&sv->w[i].thread, NULL, worker_run,
				   &sv->w[i]) != 0) {
			rc = m2m_error(ctx, M2M_ERR_SYSTEM,
				       "cannot start a worker thread");
			goto out;
		}
		sv->w[i].started = 1;
	}
	log_line(sv, "serving CMP on %s%s with %u worker%s", p->tls_cert ?
		 "https://" : "http://", p->listen, sv->n, sv->n == 1 ? "" : "s");
	event_base_dispatch(main_base);
	log_line(sv, "stopping");
	rc = M2M_OK;
out:
	for (i = 0; i < sv->n; i++)
		if (sv->w[i].started)
			event_base_loopexit(sv->w[i].base, NULL);
	for (i = 0; i < sv->n; i++)
		if (sv->w[i].started)
			pthread_join(sv->w[i].thread, NULL);
	for (i = 0; i < sv->n; i++)
		worker_release(&sv->w[i]);
	m2m_ca_close(sv->wca);
	m2m_ctx_free(sv->wctx);
	if (term)
		event_free(term);
	if (intr)
		event_free(intr);
	if (main_base)
		event_base_free(main_base);
	if (lfd >= 0)
		close(lfd);
	m2m_cmp_srv_free(sv->srv);
	sigaction(SIGPIPE, &old_pipe, NULL);
	free(sv);
	ERR_clear_error();
	return rc;
}
