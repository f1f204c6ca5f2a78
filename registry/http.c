/*
 * http.c - the transfer engine under every registry operation: libcurl's
 * multi interface running `jobs` transfers at a time on the calling thread.
 * Each transfer has a list of sources (the registry URL, then its mirrors);
 * 5xx, 408, 429, timeouts, resets and refused connections are retried on the
 * same source with exponential backoff, other failures (4xx, a body that a
 * transfer's callbacks refuse: too long, wrong hash) move on to the next
 * source, and when every source failed the primary's error is reported. Bodies
 * go to the transfer's callbacks as they arrive; error bodies are discarded.
 * Only http, https and file URLs are allowed, redirects only to http(s).
 */
#include "client_int.h"

#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#define ERROR_BODY_MAX (1u << 20) /* discarded bytes of an error response before giving up */
#define MAX_RESTARTS   3

struct http {
    CURLM *multi;
    struct http_opts o;
    uint64_t bytes, requests;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_new(const struct http_opts *o, struct http **out, struct mb_err *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return mb_fail(err, MB_E_NETWORK, "cannot initialise libcurl: %s",
                       curl_easy_strerror(curl_init_rc));
    struct http *h = mb_calloc(1, sizeof(*h));
    if (!h)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    h->o = *o;
    if (!h->o.jobs)
        h->o.jobs = 4;
    if (!h->o.connect_timeout)
        h->o.connect_timeout = 15;
    if (!h->o.stall_timeout)
        h->o.stall_timeout = 30;
    if (!h->o.retry_base_ms)
        h->o.retry_base_ms = 500;
    h->multi = curl_multi_init();
    if (!h->multi) {
        mb_free(h);
        return mb_fail(err, MB_E_NOMEM, "cannot create a libcurl multi handle");
    }
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->o.jobs);
    *out = h;
    return 0;
}

void http_free(struct http *h)
{
    if (!h)
        return;
    curl_multi_cleanup(h->multi);
    mb_free(h);
}

void http_counters(const struct http *h, uint64_t *bytes, uint64_t *requests)
{
    *bytes = h ? h->bytes : 0;
    *requests = h ? h->requests : 0;
}

const char *xfer_url(const struct xfer *x)
{
    if (x->url)
        return x->url;
    return x->nbases ? x->bases[MB_MIN(x->base_i, x->nbases - 1)] : "(no URL)";
}

void xfer_restart(struct xfer *x)
{
    x->restart_now = true;
}

static const char *method_name(enum xfer_method m)
{
    return m == XFER_PUT ? "PUT" : m == XFER_HEAD ? "HEAD" : "GET";
}

/* ------------------------------------------------------------ callbacks */

static bool header_is(const char *buf, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && !strncasecmp(buf, name, k) && buf[k] == ':';
}

/* The header value with surrounding blanks and CRLF removed, into out. */
static void header_value(const char *buf, size_t n, size_t name_len, char *out, size_t cap)
{
    const char *p = buf + name_len + 1, *e = buf + n;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t len = (size_t)(e - p);
    if (len >= cap) {
        out[0] = '\0'; /* too long to be useful: ignore it */
        return;
    }
    memcpy(out, p, len);
    out[len] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nitems;
    x->last_byte_ns = mb_now_ns();
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
        /* A new response (after a redirect or 100 Continue): forget the last one's headers. */
        x->etag[0] = '\0';
        x->content_range = false;
        x->content_length = -1;
    } else if (header_is(buf, n, "etag")) {
        header_value(buf, n, 4, x->etag, sizeof(x->etag));
    } else if (header_is(buf, n, "content-range")) {
        char v[128];
        header_value(buf, n, 13, v, sizeof(v));
        unsigned long long start;
        if (sscanf(v, "bytes %llu-", &start) == 1) {
            x->content_range = true;
            x->content_range_start = start;
        }
    } else if (header_is(buf, n, "content-length")) {
        char v[32];
        uint64_t len;
        header_value(buf, n, 14, v, sizeof(v));
        if (mb_parse_u64(v, &len) && len <= INT64_MAX)
            x->content_length = (int64_t)len;
    }
    return n;
}

/*
 * The stall check, called by libcurl many times a second while a transfer
 * runs: no byte for stall_ns aborts the attempt, which on_done retries like a
 * timeout. (libcurl's own CURLOPT_LOW_SPEED_TIME averages the speed over the
 * last five seconds or so, which makes a 1 s limit fire after 6-7 s.)
 */
static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (x->stall_ns && mb_now_ns() - x->last_byte_ns > x->stall_ns) {
        x->stalled = true;
        return 1;
    }
    return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    x->last_byte_ns = mb_now_ns();
    if (x->received == 0 && !x->discard) {
        long st = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
        x->status = st;
        x->discard = !x->is_file && (st < 200 || st >= 300);
    }
    x->received += n;
    x->total_received += n;
    if (x->discard)
        return x->received > ERROR_BODY_MAX ? 0 : n;
    if (x->ops && x->ops->data) {
        int rc = x->ops->data(x, p, n, &x->last_err);
        if (rc) {
            x->fatal = true;
            if (!x->last_err.code)
                mb_fail(&x->last_err, rc, "%s: transfer refused", xfer_url(x));
            return 0; /* != n: libcurl aborts with CURLE_WRITE_ERROR */
        }
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t cap = size * nitems;
    x->last_byte_ns = mb_now_ns();
    if (x->upload_f) {
        size_t k = fread(buf, 1, cap, x->upload_f);
        x->upload_off += k;
        return k;
    }
    size_t left = x->upload_n - x->upload_off;
    size_t k = MB_MIN(left, cap);
    memcpy(buf, (const char *)x->upload + x->upload_off, k);
    x->upload_off += k;
    return k;
}

/* ------------------------------------------------------------ attempts */

static void end_attempt(struct http *h, struct xfer *x)
{
    if (x->h) {
        curl_multi_remove_handle(h->multi, x->h);
        curl_easy_cleanup(x->h);
        x->h = NULL;
    }
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    if (x->upload_f) {
        fclose(x->upload_f);
        x->upload_f = NULL;
    }
    x->running = false;
}

static int build_url(struct xfer *x, struct mb_err *err)
{
    mb_free(x->url);
    x->url = NULL;
    const char *base = x->bases[x->base_i];
    size_t nb = strlen(base), nr = x->rel ? strlen(x->rel) : 0;
    x->url = mb_malloc(nb + nr + 1);
    if (!x->url)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    memcpy(x->url, base, nb);
    if (nr)
        memcpy(x->url + nb, x->rel, nr);
    x->url[nb + nr] = '\0';
    x->is_file = !strncmp(x->url, "file://", 7);
    return 0;
}

#define SETOPT(e, opt, val)                                    \
    do {                                                       \
        if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)   \
            return mb_fail(err, MB_E_INTERNAL, "curl: " #opt); \
    } while (0)

static int start_attempt(struct http *h, struct xfer *x, unsigned nactive, struct mb_err *err)
{
    x->attempt++;
    x->status = 0;
    x->etag[0] = '\0';
    x->content_range = false;
    x->content_length = -1;
    x->received = 0;
    x->discard = false;
    x->fatal = false;
    x->upload_off = 0;
    x->stalled = false;
    x->last_byte_ns = mb_now_ns();
    x->stall_ns = (uint64_t)h->o.stall_timeout * 1000000000ull;
    mb_err_init(&x->last_err);
    int rc = build_url(x, err);
    if (rc)
        return rc;
    if (x->ops && x->ops->start && (rc = x->ops->start(x, err)))
        return rc;
    x->restart_now = false;
    CURL *e = curl_easy_init();
    if (!e)
        return mb_fail(err, MB_E_NOMEM, "cannot create a libcurl handle");
    x->h = e;
    SETOPT(e, CURLOPT_URL, x->url);
    SETOPT(e, CURLOPT_PRIVATE, (void *)x);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_USERAGENT, "modularbase/" MB_VERSION_STRING);
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https,file");
    SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 1L);
    SETOPT(e, CURLOPT_MAXREDIRS, 5L);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT, (long)h->o.connect_timeout);
    SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(e, CURLOPT_LOW_SPEED_TIME, (long)h->o.stall_timeout);
    SETOPT(e, CURLOPT_NOPROGRESS, 0L);
    SETOPT(e, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    SETOPT(e, CURLOPT_XFERINFODATA, (void *)x);
    SETOPT(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(e, CURLOPT_WRITEDATA, (void *)x);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, (void *)x);
    if (x->compressed && x->range_from < 0)
        SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
    char range[48];
    if (x->range_from > 0) {
        snprintf(range, sizeof(range), "%lld-", (long long)x->range_from);
        SETOPT(e, CURLOPT_RANGE, range);
    }
    if (h->o.limit_rate) {
        curl_off_t per = (curl_off_t)(h->o.limit_rate / MB_MAX(1u, nactive));
        if (per < 1024)
            per = 1024;
        SETOPT(e, CURLOPT_MAX_RECV_SPEED_LARGE, per);
        SETOPT(e, CURLOPT_MAX_SEND_SPEED_LARGE, per);
        /* libcurl checks the limit only between calls into the multi handle,
         * and one call may read up to 100 buffers while the socket has data:
         * with 256 KiB buffers a fast server delivers 25 MiB in one burst
         * before the first pause. A buffer of about 1/400 of a second of
         * the allowed rate keeps each burst to a quarter of a second. */
        curl_off_t buf = per / 400;
        if (buf < 1024)
            buf = 1024;
        if (buf > 256 * 1024)
            buf = 256 * 1024;
        SETOPT(e, CURLOPT_BUFFERSIZE, (long)buf);
    }
    struct curl_slist *l = NULL;
    char hdr[320];
    if (x->if_none_match && x->if_none_match[0] && !x->is_file) {
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s", x->if_none_match);
        l = curl_slist_append(l, hdr);
    }
    if (x->method == XFER_HEAD) {
        SETOPT(e, CURLOPT_NOBODY, 1L);
    } else if (x->method == XFER_PUT) {
        if (h->o.token && *h->o.token) {
            if (!mb_snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", h->o.token))
                return mb_fail(err, MB_E_USAGE, "the token is too long");
            l = curl_slist_append(l, hdr);
        }
        uint64_t size = x->upload_n;
        if (x->upload_path) {
            x->upload_f = fopen(x->upload_path, "rb");
            if (!x->upload_f)
                return mb_fail_errno(err, errno, "cannot open '%s'", x->upload_path);
            struct stat st;
            if (fstat(fileno(x->upload_f), &st))
                return mb_fail_errno(err, errno, "cannot stat '%s'", x->upload_path);
            size = (uint64_t)st.st_size;
        }
        SETOPT(e, CURLOPT_UPLOAD, 1L);
        SETOPT(e, CURLOPT_READFUNCTION, on_read);
        SETOPT(e, CURLOPT_READDATA, (void *)x);
        SETOPT(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    }
    x->hdrs = l;
    if (l)
        SETOPT(e, CURLOPT_HTTPHEADER, l);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
        return mb_fail(err, MB_E_INTERNAL, "cannot add a transfer to libcurl");
    x->running = true;
    x->requests++;
    h->requests++;
    return 0;
}

static bool curl_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_RESOLVE_HOST:
        return true;
    default:
        return false;
    }
}

static uint64_t backoff_ns(const struct http *h, unsigned attempt)
{
    uint64_t ms = h->o.retry_base_ms;
    for (unsigned i = 1; i < attempt && ms < 8000; i++)
        ms *= 2;
    ms = MB_MIN(ms, (uint64_t)8000);
    uint64_t jitter = (mb_now_ns() >> 10) % (ms / 4 + 1);
    return (ms + jitter) * 1000000ull;
}

/* Give up on the current source: remember why and try the next, or finish with the error. */
static void next_source(struct xfer *x, int rc)
{
    if (!x->last_err.code)
        mb_fail(&x->last_err, rc, "%s %s failed", method_name(x->method), xfer_url(x));
    if (x->base_i == 0 || mb_err_severity(x->last_err.code) > mb_err_severity(x->first_err.code)) {
        x->first_err = x->last_err;
        x->first_src = x->base_i;
    }
    x->base_i++;
    x->attempt = 0;
    x->not_before_ns = 0;
    if (x->base_i < x->nbases)
        return;
    x->done = true;
    x->rc = x->first_err.code ? x->first_err.code : rc;
    x->err = x->first_err;
    if (x->nbases > 1) {
        char tail[200];
        if (x->first_src == 0)
            snprintf(tail, sizeof(tail), " (the %zu mirror%s failed too)", x->nbases - 1,
                     x->nbases > 2 ? "s" : "");
        else
            snprintf(tail, sizeof(tail), " (from a mirror; the URL %s)",
                     x->nbases > 2 ? "and the other mirrors failed too" : "failed too");
        size_t len = strlen(x->err.msg);
        mb_strlcpy(x->err.msg + len, tail, sizeof(x->err.msg) - len);
    }
}

static void on_done(struct http *h, struct xfer *x, CURLcode cc)
{
    long st = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
    x->status = st;
    end_attempt(h, x);
    const char *url = xfer_url(x);
    const char *m = method_name(x->method);
    if (x->restart_now && x->restarts < MAX_RESTARTS) {
        /* The body callback asked for a fresh start (e.g. a Range mismatch): at once,
           not counted as an attempt. ops->start sees restart_now and starts from zero. */
        x->restarts++;
        x->attempt--;
        x->not_before_ns = 0;
        return;
    }
    if (x->fatal) {
        next_source(x, x->last_err.code ? x->last_err.code : MB_E_NETWORK);
        return;
    }
    bool retry = false;
    int rc = 0;
    if (cc != CURLE_OK) {
        if (x->is_file && (cc == CURLE_FILE_COULDNT_READ_FILE)) {
            rc = mb_fail(&x->last_err, MB_E_NOTFOUND, "%s: no such file", url);
        } else if ((cc == CURLE_RANGE_ERROR || cc == CURLE_BAD_DOWNLOAD_RESUME) &&
                   x->restarts < MAX_RESTARTS) {
            /* The partial file is longer than the source: start over. */
            x->restarts++;
            x->restart_now = true;
            x->attempt--;
            return;
        } else if (cc == CURLE_ABORTED_BY_CALLBACK && x->stalled) {
            retry = true;
            rc = mb_fail(&x->last_err, MB_E_NETWORK, "%s %s: timeout: no data for %u s", m, url,
                         h->o.stall_timeout);
        } else {
            retry = curl_retryable(cc);
            rc = mb_fail(&x->last_err, MB_E_NETWORK, "%s %s: %s", m, url, curl_easy_strerror(cc));
        }
    } else if (!x->is_file && st == 304) {
        if (x->ops && x->ops->finish)
            rc = x->ops->finish(x, &x->last_err);
        if (!rc) {
            x->done = true;
            x->rc = 0;
            return;
        }
        next_source(x, rc);
        return;
    } else if (!x->is_file && (st < 200 || st >= 300)) {
        if (st >= 500 || st == 408 || st == 429) {
            retry = true;
            rc = mb_fail(&x->last_err, MB_E_NETWORK, "%s %s: HTTP %ld (server error)", m, url, st);
        } else if (st == 416 && x->restarts < MAX_RESTARTS) {
            x->restarts++;
            x->restart_now = true;
            x->attempt--;
            return;
        } else if (st == 404 || st == 410) {
            rc = mb_fail(&x->last_err, MB_E_NOTFOUND, "%s %s: HTTP %ld (not found)", m, url, st);
        } else if (st == 401 || st == 403) {
            rc = mb_fail(&x->last_err, MB_E_PERM, "%s %s: HTTP %ld (%s)", m, url, st,
                         x->method == XFER_PUT ? "check the token: --token or MODULARBASE_TOKEN"
                                               : "access denied");
        } else {
            rc = mb_fail(&x->last_err, MB_E_NETWORK, "%s %s: HTTP %ld", m, url, st);
        }
    } else {
        if (x->ops && x->ops->finish)
            rc = x->ops->finish(x, &x->last_err);
        if (!rc) {
            x->done = true;
            x->rc = 0;
            return;
        }
        if (x->restart_now && x->restarts < MAX_RESTARTS) {
            /* finish() asked to fetch it again from zero (a resumed file failed its hash). */
            x->restarts++;
            x->attempt--;
            x->not_before_ns = 0;
            return;
        }
        next_source(x, rc);
        return;
    }
    if (retry && x->attempt <= h->o.retries) {
        x->not_before_ns = mb_now_ns() + backoff_ns(h, x->attempt);
        return;
    }
    if (retry && x->attempt > 1) {
        size_t len = strlen(x->last_err.msg);
        snprintf(x->last_err.msg + len, sizeof(x->last_err.msg) - len, " (after %u attempts)",
                 x->attempt);
    }
    next_source(x, rc);
}

int http_run(struct http *h, struct xfer *const *xs, size_t n, const struct http_tick *tick,
             struct mb_err *err)
{
    size_t remaining = 0;
    for (size_t i = 0; i < n; i++) {
        struct xfer *x = xs[i];
        x->base_i = 0;
        x->attempt = 0;
        x->done = false;
        x->running = false;
        x->rc = 0;
        x->not_before_ns = 0;
        x->total_received = 0;
        x->restarts = 0;
        x->restart_now = false;
        mb_err_init(&x->err);
        mb_err_init(&x->first_err);
        mb_err_init(&x->last_err);
        if (x->nbases == 0) {
            x->done = true;
            x->rc = mb_fail(&x->err, MB_E_INTERNAL, "a transfer without a URL");
            continue;
        }
        remaining++;
    }
    unsigned active = 0;
    int rc = 0;
    uint64_t last_tick = 0;
    while (remaining) {
        if (mb_interrupted) {
            rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted");
            break;
        }
        uint64_t now = mb_now_ns();
        uint64_t next_wake = now + 100000000ull;
        for (size_t i = 0; i < n && active < h->o.jobs; i++) {
            struct xfer *x = xs[i];
            if (x->done || x->running)
                continue;
            if (x->not_before_ns > now) {
                next_wake = MB_MIN(next_wake, x->not_before_ns);
                continue;
            }
            struct mb_err e;
            mb_err_init(&e);
            unsigned busy = active + 1;
            int src = start_attempt(h, x, MB_MAX(busy, (unsigned)MB_MIN(n, (size_t)h->o.jobs)), &e);
            if (src) {
                end_attempt(h, x);
                x->done = true;
                x->rc = src;
                x->err = e;
                remaining--;
                continue;
            }
            active++;
        }
        int still = 0;
        curl_multi_perform(h->multi, &still);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(h->multi, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            if (!x)
                continue;
            h->bytes += x->received;
            active--;
            on_done(h, x, cc);
            if (x->done)
                remaining--;
        }
        if (tick && tick->fn && (mb_now_ns() - last_tick >= 50000000ull || !remaining)) {
            tick->fn(tick->ud);
            last_tick = mb_now_ns();
        }
        if (!remaining)
            break;
        now = mb_now_ns();
        int wait_ms = next_wake > now ? (int)((next_wake - now) / 1000000ull) : 0;
        if (active)
            curl_multi_poll(h->multi, NULL, 0, MB_MIN(wait_ms, 100), NULL);
        else if (wait_ms > 0) {
            struct timespec ts = { 0, (long)MB_MIN(wait_ms, 100) * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    /* Interrupted: stop what runs; partial files stay for the next run. */
    for (size_t i = 0; i < n; i++) {
        if (xs[i]->running)
            end_attempt(h, xs[i]);
        if (!xs[i]->done && rc) {
            xs[i]->done = true;
            xs[i]->rc = rc;
            mb_fail(&xs[i]->err, rc, "%s: interrupted", xfer_url(xs[i]));
        }
        mb_free(xs[i]->url);
        xs[i]->url = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------ fetch into memory */

static int mem_start(struct xfer *x, struct mb_err *err)
{
    struct memfetch *m = x->ud;
    (void)err;
    mb_buf_reset(&m->body);
    return 0;
}

static int mem_data(struct xfer *x, const char *p, size_t n, struct mb_err *err)
{
    struct memfetch *m = x->ud;
    if (m->body.n + n > m->max) {
        if (m->exact)
            return mb_fail(err, MB_E_LIMIT,
                           "%s: more bytes than the %zu the snapshot declares for this %s "
                           "(endless data refused)",
                           xfer_url(x), m->max, m->what);
        return mb_fail(err, MB_E_LIMIT, "%s: the %s is larger than the limit of %zu bytes",
                       xfer_url(x), m->what, m->max);
    }
    return mb_buf_append(&m->body, p, n, err);
}

static int mem_finish(struct xfer *x, struct mb_err *err)
{
    struct memfetch *m = x->ud;
    if (x->status == 304)
        return 0;
    if (m->exact && m->body.n != m->max)
        return mb_fail(err, MB_E_INTEGRITY,
                       "%s: %zu bytes, but the snapshot declares %zu for this %s", xfer_url(x),
                       m->body.n, m->max, m->what);
    if (!m->body.p && mb_buf_reserve(&m->body, 1, err))
        return MB_E_NOMEM;
    return 0;
}

static const struct xfer_ops mem_ops = { mem_start, mem_data, mem_finish };

void memfetch_init(struct memfetch *m, size_t max, bool exact, const char *what)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
    m->exact = exact;
    m->what = what;
    mb_buf_init(&m->body, max + 1);
    m->x.ops = &mem_ops;
    m->x.ud = m;
    m->x.range_from = -1;
}

void memfetch_release(struct memfetch *m)
{
    mb_buf_release(&m->body);
    mb_free(m->x.url);
    m->x.url = NULL;
}
