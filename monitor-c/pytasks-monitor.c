/* pytasks-monitor: the compiled per-task monitor, pytasks' default (installed as
 * pytasks/monitor/pytasks-monitor; PYTASKS_MONITOR=python selects the Python one).
 *
 * Speaks exactly the protocol of pytasks/monitor/daemon.py (sync pipe, control socket,
 * attach frames, exit records) and writes the same JSON files, byte for byte. The
 * protocol's ops, field names, stream ids, limits, codes and kinds come from protocol.h,
 * generated from pytasks/monitor/protocol.py (docs/architecture.md §4): no literal here
 * repeats one of them. It runs the OCI runtime only with argv that runtime.py built, given
 * in monitor.json and in exec requests; tests/contract checks both monitors alike.
 * Usage: pytasks-monitor --sync-fd N TASK_DIR
 *
 * Single-threaded: epoll + signalfd. A finished exec's objects are freed once its exit
 * record is written (a small Done entry answers for it from then on); a detached
 * attach's at once. Objects a pending epoll event may point to are freed at the top of
 * the loop (defer_free).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h" /* generated from pytasks/monitor/protocol.py */

#define DRAIN_TIMEOUT 5.0
#define CHUNK 65536
#define HIGH_WATER (1 << 18)
#define MAXP 8

extern char **environ;

/* ---------------------------------------------------------------- utilities */

static const char *g_task_id = "?";
static char *g_task_dir;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void rfc3339(int64_t ns, char *out, size_t n) {
    time_t secs = (time_t)(ns / 1000000000LL);
    long frac = (long)(ns % 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char head[32];
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%09ldZ", head, frac);
}

static void mlog(const char *fmt, ...) {
    char ts[64], msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rfc3339(now_ns(), ts, sizeof ts);
    dprintf(2, "%s monitor[%d] %s: %s\n", ts, (int)getpid(), g_task_id, msg);
}

static void xclose(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static char *read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static long long process_start_time(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    char *data = read_file(path, NULL);
    if (!data) return -1;
    char *p = strrchr(data, ')');
    long long result = -1;
    if (p && p[1] && p[2]) {
        p += 2;
        if (*p != 'Z' && *p != 'X') {
            int field = 0;
            char *save, *tok = strtok_r(p, " ", &save);
            while (tok && field < 19) {
                tok = strtok_r(NULL, " ", &save);
                field++;
            }
            if (tok) result = atoll(tok);
        }
    }
    free(data);
    return result;
}

static int pid_from_file(const char *path) {
    char *data = read_file(path, NULL);
    if (!data) return -1;
    int pid = atoi(data);
    free(data);
    return pid;
}

/* Environment without PYTASKS_* (as Runtime._env). */
static char **child_env(void) {
    size_t n = 0;
    for (char **e = environ; *e; e++) n++;
    char **env = calloc(n + 1, sizeof *env);
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "PYTASKS_", 8) != 0) env[k++] = *e;
    env[k] = NULL;
    return env;
}

static void child_reset_signals(void) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

/* ---------------------------------------------------------------- byte buffer */

typedef struct {
    char *data;
    size_t off, len, cap;
} Buf;

static size_t buf_size(Buf *b) { return b->len - b->off; }

static void buf_append(Buf *b, const void *p, size_t n) {
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off) {
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n) cap *= 2;
            b->data = realloc(b->data, cap);
            b->cap = cap;
        }
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_free(Buf *b) {
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- JSON text */

/* Python's json.dumps, byte for byte, for what a monitor writes: ASCII-only strings
 * (ensure_ascii; bytes that are not UTF-8 become U+FFFD, as decode(errors="replace")),
 * and numbers as their literal text (see keep_number_text). The layouts:
 *   JSON_LINE     protocol.encode: separators (",", ":"), one line
 *   JSON_DEFAULT  json.dumps(): separators (", ", ": ") (the attach exit frame)
 *   JSON_FILE     state.atomic.write_json: indent=2, sort_keys=True */
enum { JSON_LINE, JSON_DEFAULT, JSON_FILE };

static void json_string(Buf *out, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    char esc[16];
    buf_append(out, "\"", 1);
    while (*p) {
        unsigned cp = *p;
        int len = 1;
        if (cp < 0x80) {
            const char *e = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : cp == '\n' ? "\\n"
                          : cp == '\r' ? "\\r" : cp == '\t' ? "\\t" : cp == '\b' ? "\\b"
                          : cp == '\f' ? "\\f" : NULL;
            if (e) buf_append(out, e, 2);
            else if (cp < 0x20 || cp == 0x7f) /* all but ' '..'~', as Python */
                buf_append(out, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", cp));
            else buf_append(out, p, 1);
            p++;
            continue;
        }
        unsigned min = 0;
        if ((cp & 0xE0) == 0xC0) len = 2, cp &= 0x1F, min = 0x80;
        else if ((cp & 0xF0) == 0xE0) len = 3, cp &= 0x0F, min = 0x800;
        else if ((cp & 0xF8) == 0xF0) len = 4, cp &= 0x07, min = 0x10000;
        else len = 0;
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) { /* also stops at the terminating NUL */
                len = 0;
                break;
            }
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if (len == 0 || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            cp = 0xFFFD;
            len = 1;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            buf_append(out, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x\\u%04x",
                                                  0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)));
        } else {
            buf_append(out, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", cp));
        }
        p += len;
    }
    buf_append(out, "\"", 1);
}

static int json_key_cmp(const void *a, const void *b) {
    return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

static void json_value(Buf *out, const cJSON *item, int layout, int depth) {
    char num[64];
    switch (item->type & 0xFF) {
    case cJSON_False: buf_append(out, "false", 5); return;
    case cJSON_True: buf_append(out, "true", 4); return;
    case cJSON_NULL: buf_append(out, "null", 4); return;
    case cJSON_String: json_string(out, item->valuestring ? item->valuestring : ""); return;
    case cJSON_Raw: buf_append(out, item->valuestring, strlen(item->valuestring)); return;
    case cJSON_Number: {
        if (item->valuestring) { /* the literal as it was received */
            buf_append(out, item->valuestring, strlen(item->valuestring));
            return;
        }
        double d = item->valuedouble;
        if (d >= -9e18 && d <= 9e18 && d == (double)(long long)d)
            snprintf(num, sizeof num, "%lld", (long long)d);
        else
            snprintf(num, sizeof num, "%.17g", d);
        buf_append(out, num, strlen(num));
        return;
    }
    }
    int object = cJSON_IsObject(item), n = cJSON_GetArraySize(item);
    if (n == 0) {
        buf_append(out, object ? "{}" : "[]", 2);
        return;
    }
    const cJSON **kids = malloc((size_t)n * sizeof *kids);
    int k = 0;
    for (const cJSON *c = item->child; c && k < n; c = c->next) kids[k++] = c;
    if (object && layout == JSON_FILE) qsort(kids, (size_t)k, sizeof *kids, json_key_cmp);
    buf_append(out, object ? "{" : "[", 1);
    for (int i = 0; i < k; i++) {
        if (i) buf_append(out, layout == JSON_DEFAULT ? ", " : ",", layout == JSON_DEFAULT ? 2 : 1);
        if (layout == JSON_FILE) {
            buf_append(out, "\n", 1);
            for (int d = 0; d <= depth; d++) buf_append(out, "  ", 2);
        }
        if (object) {
            json_string(out, kids[i]->string);
            buf_append(out, layout == JSON_LINE ? ":" : ": ", layout == JSON_LINE ? 1 : 2);
        }
        json_value(out, kids[i], layout, depth + 1);
    }
    if (layout == JSON_FILE) {
        buf_append(out, "\n", 1);
        for (int d = 0; d < depth; d++) buf_append(out, "  ", 2);
    }
    buf_append(out, object ? "}" : "]", 1);
    free(kids);
}

/* item's text in a malloc'd, NUL-terminated string (*len without the NUL). */
static char *json_text(const cJSON *item, int layout, const char *end, size_t *len) {
    Buf b = {0};
    json_value(&b, item, layout, 0);
    buf_append(&b, end, strlen(end) + 1);
    *len = b.len - 1;
    return b.data;
}

/* cJSON keeps numbers as doubles only, so 2^64-1 (an unlimited rlimit in a process spec)
 * or a 19-digit timestamp would be written back rounded. Give every number parsed from
 * text its literal in valuestring (cJSON_Delete frees it, cJSON_Duplicate copies it) so
 * json_value writes it back exactly, as Python does with its ints. cJSON_Parse accepted
 * the text, so its number tokens are, in order, the tree's numbers in document order. */
static const char *next_number(const char *p, size_t *len) {
    while (*p) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1]) p++;
            if (*p) p++;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            *len = strspn(p, "+-0123456789.eE");
            return p;
        } else {
            p++;
        }
    }
    return NULL;
}

static void keep_number_text(cJSON *item, const char **cursor) {
    for (; item; item = item->next) {
        if (cJSON_IsNumber(item)) {
            size_t n;
            const char *p = next_number(*cursor, &n);
            if (!p) return;
            item->valuestring = strndup(p, n);
            *cursor = p + n;
        } else if (item->child) {
            keep_number_text(item->child, cursor);
        }
    }
}

static cJSON *parse_json(const char *text) {
    cJSON *value = cJSON_Parse(text);
    const char *cursor = text;
    if (value) keep_number_text(value, &cursor);
    return value;
}

static unsigned long write_seq;

/* tmp + rename, as pytasks.state.atomic.write_json (same name pattern and text). */
/* As state/atomic.write_atomic: through a descriptor of the parent directory opened with
 * O_NOFOLLOW, so neither a directory nor a file planted as a symlink is followed. */
static int write_json_atomic(const char *path, cJSON *value) {
    size_t len;
    char *text = json_text(value, JSON_FILE, "\n", &len);
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char dir[PATH_MAX], tmp[NAME_MAX + 64];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    snprintf(tmp, sizeof tmp, ".%.*s.tmp-%d-%lu", NAME_MAX - 40, name, (int)getpid(), write_seq++);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        free(text);
        return -1;
    }
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        free(text);
        close(dfd);
        errno = e;
        return -1;
    }
    int rc = write_all(fd, text, len);
    int e = errno;
    free(text);
    close(fd);
    if (rc == 0 && renameat(dfd, tmp, dfd, name) == 0) {
        close(dfd);
        return 0;
    }
    if (rc == 0) e = errno;
    unlinkat(dfd, tmp, 0);
    close(dfd);
    errno = e;
    return -1;
}

/* ---------------------------------------------------------------- deferred frees */

static void **g_graveyard;
static int g_ngrave, g_grave_cap;

static void defer_free(void *p) {
    if (!p) return;
    if (g_ngrave == g_grave_cap) {
        g_grave_cap = g_grave_cap ? g_grave_cap * 2 : 16;
        g_graveyard = realloc(g_graveyard, (size_t)g_grave_cap * sizeof *g_graveyard);
    }
    g_graveyard[g_ngrave++] = p;
}

static void free_deferred(void) {
    for (int i = 0; i < g_ngrave; i++) free(g_graveyard[i]);
    g_ngrave = 0;
}

/* ---------------------------------------------------------------- event objects */

enum { H_SIGNAL, H_LISTEN, H_PUMP, H_SINK, H_ATTACH, H_OOM, H_CONN };
typedef struct {
    int type;
    void *obj;
} Handler;

static int g_epfd = -1;

static void ep_add(int fd, uint32_t events, Handler *h) {
    struct epoll_event ev = {.events = events, .data.ptr = h};
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) mlog("epoll add %d: %s", fd, strerror(errno));
}

static void ep_del(int fd) { epoll_ctl(g_epfd, EPOLL_CTL_DEL, fd, NULL); }

struct Pump;
typedef struct Sink {
    Handler h;
    int fd;
    const char *name;
    int framed, close_when_done, watching, closing;
    int log; /* into the task's own log (g_log): fd unused, nothing queued */
    Buf buf;
    struct Pump *paused[MAXP];
    int npaused;
} Sink;

typedef struct Pump {
    Handler h;
    int src;
    Sink *sinks[MAXP];
    int nsinks;
    int stream;
    int eof, paused;
} Pump;

struct Proc;
typedef struct Attach {
    Handler h;
    struct Proc *proc;
    int conn;
    Sink *sink;
    Buf inbuf;
    int reading;
} Attach;

typedef struct Proc {
    const char *kind;
    char *exit_path;
    int terminal;
    int pid;
    Pump *out_pumps[2];
    int n_out_pumps;
    Sink *out_sinks[2];
    int n_out_sinks;
    Pump *stdin_pump;
    Sink *stdin_sink;
    int stdin_keepalive;
    int console;
    int status; /* -1: running */
    int64_t exited_ns;
    double deadline;
    int finished;
    int *waiters;
    int nwaiters;
    Attach *attach;
    /* terminal set-up between setup_stdio and take_console */
    int stdin_src;
    Sink *stdout_sink_t;
} Proc;

static void pump_pause(Pump *p);
static void pump_resume(Pump *p);

static Sink *sink_new(int fd, const char *name, int framed, int close_when_done) {
    Sink *s = calloc(1, sizeof *s);
    s->h.type = H_SINK;
    s->h.obj = s;
    s->fd = fd;
    s->name = name;
    s->framed = framed;
    s->close_when_done = close_when_done;
    set_nonblock(fd);
    return s;
}

static int sink_drained(Sink *s) { return s->log || s->fd < 0 || buf_size(&s->buf) == 0; }

static void sink_resume(Sink *s) {
    int n = s->npaused;
    Pump *paused[MAXP];
    memcpy(paused, s->paused, sizeof paused);
    s->npaused = 0;
    for (int i = 0; i < n; i++) pump_resume(paused[i]);
}

static void sink_close(Sink *s) {
    s->log = 0; /* the log itself stays open for the task's other processes */
    if (s->fd < 0) return;
    if (s->watching) {
        ep_del(s->fd);
        s->watching = 0;
    }
    xclose(&s->fd);
    buf_free(&s->buf);
    sink_resume(s);
}

static void sink_flush(Sink *s) {
    while (buf_size(&s->buf) && s->fd >= 0) {
        ssize_t n = write(s->fd, s->buf.data + s->buf.off, buf_size(&s->buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            mlog("%s: [Errno %d] %s; discarding its output from now on", s->name, errno,
                 strerror(errno));
            sink_close(s);
            return;
        }
        s->buf.off += (size_t)n;
    }
    if (s->fd < 0) return;
    if (buf_size(&s->buf) && !s->watching) {
        ep_add(s->fd, EPOLLOUT, &s->h);
        s->watching = 1;
    } else if (!buf_size(&s->buf)) {
        buf_free(&s->buf); /* drained: a burst may have grown it to HIGH_WATER + CHUNK */
        if (s->watching) {
            ep_del(s->fd);
            s->watching = 0;
        }
        sink_resume(s);
        if (s->closing) sink_close(s);
    }
}

static void log_write(int stream, const char *data, size_t n);

static void sink_offer(Sink *s, Pump *pump, int stream, const char *data, size_t n) {
    if (s->log) {
        log_write(stream, data, n);
        return;
    }
    if (s->fd < 0) return;
    if (s->framed) {
        unsigned char hdr[FRAME_HEADER] = {(unsigned char)stream, (unsigned char)(n >> 24),
                                (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                                (unsigned char)n};
        buf_append(&s->buf, hdr, FRAME_HEADER);
    }
    buf_append(&s->buf, data, n);
    sink_flush(s);
    if (pump && buf_size(&s->buf) > HIGH_WATER && s->fd >= 0) {
        pump_pause(pump);
        for (int i = 0; i < s->npaused; i++)
            if (s->paused[i] == pump) return;
        if (s->npaused < MAXP) s->paused[s->npaused++] = pump;
    }
}

static void sink_producer_done(Sink *s) {
    if (s->close_when_done) {
        s->closing = 1;
        if (!buf_size(&s->buf)) sink_close(s);
    }
}

static Pump *pump_new(int src, int stream) {
    Pump *p = calloc(1, sizeof *p);
    p->h.type = H_PUMP;
    p->h.obj = p;
    p->src = src;
    p->stream = stream;
    set_nonblock(src);
    ep_add(src, EPOLLIN, &p->h);
    return p;
}

static void pump_add_sink(Pump *p, Sink *s) {
    if (s && p->nsinks < MAXP) p->sinks[p->nsinks++] = s;
}

static void pump_remove_sink(Pump *p, Sink *s) {
    for (int i = 0; i < p->nsinks; i++)
        if (p->sinks[i] == s) {
            memmove(&p->sinks[i], &p->sinks[i + 1], (size_t)(p->nsinks - i - 1) * sizeof(Sink *));
            p->nsinks--;
            return;
        }
}

static void pump_pause(Pump *p) {
    if (!p->paused && !p->eof) {
        ep_del(p->src);
        p->paused = 1;
    }
}

static void pump_resume(Pump *p) {
    if (p->paused && !p->eof) {
        ep_add(p->src, EPOLLIN, &p->h);
        p->paused = 0;
    }
}

static void pump_stop(Pump *p) {
    if (!p || p->eof) return;
    if (!p->paused) ep_del(p->src);
    p->eof = 1;
    xclose(&p->src);
    for (int i = 0; i < p->nsinks; i++) sink_producer_done(p->sinks[i]);
}

static char g_chunk[CHUNK];

static void pump_readable(Pump *p) {
    if (p->eof || p->paused) return;
    ssize_t n = read(p->src, g_chunk, CHUNK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        n = 0; /* EIO from a pty master once the slave side is gone */
    }
    if (n == 0) {
        pump_stop(p);
        return;
    }
    Sink *sinks[MAXP];
    int ns = p->nsinks;
    memcpy(sinks, p->sinks, sizeof sinks);
    for (int i = 0; i < ns; i++) sink_offer(sinks[i], p, p->stream, g_chunk, (size_t)n);
}

/* ---------------------------------------------------------------- the task's own log */

/* As daemon.py's TaskLog: the task's own log (state/task_log.py), one per monitor, shared
 * by the init and every exec that writes to it. Records, not raw bytes, written at once (a
 * file never makes us wait: nothing is queued, no pump is paused for it). A write that
 * fails (a full disk, EIO) never stops the task nor closes the log: what it wrote is taken
 * off again, its bytes are counted per stream, and the first write that succeeds
 * afterwards begins with a marker of each stream's count. Past max bytes the file becomes
 * LOG_ROTATED_NAME (replacing the older one) and a new one is begun. */
static struct {
    char *path, *rotated;
    int fd; /* -1: not open; the next write tries again */
    off_t size, max; /* size: of the current generation; only we write it */
    long long dropped[3]; /* by stream id (STREAM_STDOUT, STREAM_STDERR) */
    int torn; /* a failed write could not be taken off: end its line first */
    int failing, rotate_failed;
} g_log = {.fd = -1};

/* One chunk's records go out with writev from the chunk itself: no copy of the output and
 * no buffer that would stay with every monitor after a burst. */
#define LOG_IOV 1024
static struct iovec g_iov[LOG_IOV];
static int g_niov;

static const char *log_stream(int stream) { return stream == STREAM_STDERR ? LOG_STDERR : LOG_STDOUT; }

static int log_reopen(void) {
    /* O_NONBLOCK: a FIFO planted there fails the open (ENXIO) instead of hanging us. */
    int fd = open(g_log.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                  0600);
    if (fd < 0) return -1;
    struct stat st;
    g_log.size = fstat(fd, &st) == 0 ? st.st_size : 0;
    g_log.fd = fd;
    return 0;
}

/* Write the queued pieces; 0, or the errno of the write that failed. */
static int log_flush(void) {
    struct iovec *v = g_iov;
    int n = g_niov;
    g_niov = 0;
    while (n > 0) {
        ssize_t w = writev(g_log.fd, v, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : ENOSPC;
        for (; n > 0 && (size_t)w >= v->iov_len; v++, n--) w -= (ssize_t)v->iov_len;
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int log_put(const void *p, size_t n, size_t *total) {
    int err = g_niov == LOG_IOV ? log_flush() : 0;
    if (!err && n) g_iov[g_niov++] = (struct iovec){(void *)p, n};
    *total += n;
    return err;
}

static void log_drop(int stream, size_t n, int err) {
    g_log.dropped[stream == STREAM_STDERR ? STREAM_STDERR : STREAM_STDOUT] += (long long)n;
    if (g_log.fd >= 0 && ftruncate(g_log.fd, g_log.size) < 0) { /* no part of it stays */
        g_log.torn = 1;
        struct stat st;
        if (fstat(g_log.fd, &st) == 0) g_log.size = st.st_size;
    }
    if (!g_log.failing) {
        g_log.failing = 1;
        mlog("%s: [Errno %d] %s; dropping output until a write succeeds", g_log.path, err, strerror(err));
    }
}

static void log_rotate(void) {
    /* A log removed by hand is begun again; another failure is said once and retried. */
    if (rename(g_log.path, g_log.rotated) < 0 && errno != ENOENT) {
        if (!g_log.rotate_failed) mlog("rotating %s: [Errno %d] %s", g_log.path, errno, strerror(errno));
        g_log.rotate_failed = 1;
        return;
    }
    g_log.rotate_failed = 0;
    xclose(&g_log.fd);
    if (log_reopen() < 0) /* the next write tries again, dropping until it can */
        mlog("%s: [Errno %d] %s", g_log.path, errno, strerror(errno));
}

/* task_log.frame, after the markers of what was dropped before: one F record per newline,
 * a P record for a rest without one. Only newlines are looked for (memchr): the framing
 * stays cheap on the pump's path. */
static void log_write(int stream, const char *data, size_t n) {
    static const int streams[2] = {STREAM_STDOUT, STREAM_STDERR};
    char stamp[64], full[96], partial[96], marks[2 + 2 * 128];
    rfc3339(now_ns(), stamp, sizeof stamp);
    size_t lf = (size_t)snprintf(full, sizeof full, "%s %s %s ", stamp, log_stream(stream), LOG_FULL);
    size_t lp = (size_t)snprintf(partial, sizeof partial, "%s %s %s ", stamp, log_stream(stream),
                                 LOG_PARTIAL);
    size_t lm = (size_t)snprintf(marks, sizeof marks, "%s", g_log.torn ? "\n" : "");
    for (int i = 0; i < 2; i++)
        if (g_log.dropped[streams[i]])
            lm += (size_t)snprintf(marks + lm, sizeof marks - lm, "%s %s %s %lld\n", stamp,
                                   log_stream(streams[i]), LOG_DROPPED, g_log.dropped[streams[i]]);
    size_t total = 0;
    g_niov = 0;
    int err = g_log.fd < 0 && log_reopen() < 0 ? errno : 0;
    if (!err) err = log_put(marks, lm, &total);
    for (const char *p = data, *end = data + n; !err && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        err = log_put(nl ? full : partial, nl ? lf : lp, &total);
        if (!err) err = log_put(p, (size_t)((nl ? nl + 1 : end) - p), &total);
        if (!err && !nl) err = log_put("\n", 1, &total);
        p = nl ? nl + 1 : end;
    }
    if (!err) err = log_flush();
    if (err) {
        log_drop(stream, n, err);
        return;
    }
    g_log.size += (off_t)total;
    if (g_log.failing) {
        g_log.failing = 0;
        mlog("%s: writing again, after dropping %lld bytes of stdout, %lld bytes of stderr",
             g_log.path, g_log.dropped[STREAM_STDOUT], g_log.dropped[STREAM_STDERR]);
    }
    memset(g_log.dropped, 0, sizeof g_log.dropped);
    g_log.torn = 0;
    if (g_log.size >= g_log.max) log_rotate();
}

/* Whether a stdio path is the task's own log (LOG_NAME in the task dir), as daemon.py's
 * is_own_log: the directory is compared as a file, not as a string. */
static int is_own_log(const char *path) {
    if (strncmp(path, "file://", 7) == 0) path += 7;
    const char *slash = strrchr(path, '/');
    if (strcmp(slash ? slash + 1 : path, LOG_NAME) != 0) return 0;
    char dir[PATH_MAX];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat a, b;
    return stat(dir, &a) == 0 && stat(g_task_dir, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* ---------------------------------------------------------------- monitor state */

static cJSON *g_config;
static int g_sync_fd = -1;
static char g_runtime_log[PATH_MAX];
static Proc g_init;
static Proc **g_execs;
static int g_nexecs;
static struct {
    int pid, status;
} *g_early;
static int g_nearly;
static int g_listener = -1;
static int g_ready;
static Handler g_listen_h = {H_LISTEN, NULL}, g_signal_h = {H_SIGNAL, NULL};

static void proc_init(Proc *p, const char *kind, const char *exit_path, int terminal) {
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->exit_path = exit_path ? strdup(exit_path) : NULL;
    p->terminal = terminal;
    p->stdin_keepalive = -1;
    p->console = -1;
    p->status = -1;
    p->stdin_src = -1;
}

static void report(cJSON *msg, int close_it) {
    if (g_sync_fd >= 0) {
        size_t len;
        char *text = json_text(msg, JSON_LINE, "\n", &len);
        write_all(g_sync_fd, text, len);
        free(text);
        if (close_it) xclose(&g_sync_fd);
    }
}

/* ---------------------------------------------------------------- runtime calls */

static long runtime_log_offset(void) {
    struct stat st;
    return stat(g_runtime_log, &st) == 0 ? (long)st.st_size : 0;
}

/* Fallback: runc without --log prints `time="..." level=error msg="..."`. */
static char *fallback_message(const char *text) {
    if (!text) return NULL;
    /* last non-empty line, stripped */
    const char *end = text + strlen(text);
    while (end > text && isspace((unsigned char)end[-1])) end--;
    const char *start = end;
    while (start > text && start[-1] != '\n') start--;
    while (start < end && isspace((unsigned char)*start)) start++;
    if (start >= end) return NULL;
    char *line = strndup(start, (size_t)(end - start));
    char *m = strstr(line, "msg=\"");
    if (m) {
        char *out = malloc(strlen(line) + 1), *o = out;
        const char *q = m + 5;
        while (*q && *q != '"') {
            if (*q == '\\' && q[1]) {
                if (q[1] == '"') {
                    *o++ = '"';
                    q += 2;
                    continue;
                }
                *o++ = *q++;
                *o++ = *q++;
                continue;
            }
            *o++ = *q++;
        }
        if (*q == '"') {
            *o = 0;
            free(line);
            return out;
        }
        free(out);
    }
    return line;
}

static char *runtime_last_error(long offset, const char *fallback) {
    char *message = NULL;
    size_t len;
    char *data = read_file(g_runtime_log, &len);
    if (data) {
        if ((size_t)offset > len) offset = (long)len;
        char *save, *line = strtok_r(data + offset, "\n", &save);
        for (; line; line = strtok_r(NULL, "\n", &save)) {
            cJSON *e = cJSON_Parse(line);
            if (!e) continue;
            cJSON *lv = cJSON_GetObjectItemCaseSensitive(e, "level");
            if (cJSON_IsObject(e) && cJSON_IsString(lv) && strcmp(lv->valuestring, "error") == 0) {
                cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "msg");
                free(message);
                message = strdup(cJSON_IsString(msg) ? msg->valuestring : "");
            }
            cJSON_Delete(e);
        }
        free(data);
    }
    if (!message || !*message) {
        free(message);
        message = fallback_message(fallback);
    }
    if (!message || !*message) {
        free(message);
        message = strdup("OCI runtime failed without a message");
    }
    return message;
}

/* Runtime argv come complete, built by runtime.py: monitor.json's CONFIG_RUNTIME_ARGV and each
 * exec request's. The monitor runs them and never composes one (docs/architecture.md §4);
 * the one placeholder is ARGV_SIGNAL in the kill argv (protocol.py). */

/* A NULL-terminated array pointing into a JSON array of strings (free only the array), or
 * NULL unless it is a non-empty array of strings. */
static char **argv_of(cJSON *arr) {
    if (!cJSON_IsArray(arr) || !arr->child) return NULL;
    char **v = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *v);
    int k = 0;
    cJSON *a;
    cJSON_ArrayForEach(a, arr) {
        if (!cJSON_IsString(a)) {
            free(v);
            return NULL;
        }
        v[k++] = a->valuestring;
    }
    return v;
}

/* monitor.json's argv for key (protocol.ARGV_*), or NULL. */
static char **config_argv(const char *key) {
    return argv_of(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(g_config, CONFIG_RUNTIME_ARGV), key));
}

/* posix_spawn-like run capturing stdout+stderr; waits on that pid only. Returns exit
 * status (or 128+sig / 127 when exec failed); *out receives stderr-or-stdout text. */
static int run_process(char *const argv[], char **out) {
    int op[2], ep[2];
    if (pipe2(op, O_CLOEXEC) < 0) return -1;
    if (pipe2(ep, O_CLOEXEC) < 0) {
        close(op[0]);
        close(op[1]);
        return -1;
    }
    char **env = child_env();
    pid_t pid = fork();
    if (pid == 0) {
        child_reset_signals();
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int o = fcntl(op[1], F_DUPFD_CLOEXEC, 10), e = fcntl(ep[1], F_DUPFD_CLOEXEC, 10);
        int n = fcntl(null, F_DUPFD_CLOEXEC, 10);
        dup2(n, 0);
        dup2(o, 1);
        dup2(e, 2);
        execve(argv[0], argv, env);
        _exit(127);
    }
    free(env);
    close(op[1]);
    close(ep[1]);
    if (pid < 0) {
        close(op[0]);
        close(ep[0]);
        return -1;
    }
    Buf bo = {0}, be = {0};
    struct pollfd pf[2] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents) continue;
            ssize_t r = read(pf[i].fd, g_chunk, CHUNK);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            } else {
                buf_append(i ? &be : &bo, g_chunk, (size_t)r);
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (out) {
        Buf *b = buf_size(&be) ? &be : &bo;
        buf_append(b, "", 1);
        *out = strdup(b->data + b->off);
    }
    buf_free(&bo);
    buf_free(&be);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

/* Runs a runtime command; on failure returns its last error message (malloc'd). */
static char *runtime_run(char *const argv[], int check) {
    long offset = runtime_log_offset();
    char *out = NULL;
    int rc = run_process(argv, &out);
    char *err = NULL;
    if (check && rc != 0) err = runtime_last_error(offset, out);
    free(out);
    return err;
}

/* create/exec: fds as 0..2 and the task dir as fd 3; waits on that pid only. Closes fds.
 * Returns NULL or the runtime's error message. */
static char *spawn_runtime(char *const argv[], int fds[3]) {
    long offset = runtime_log_offset();
    int dir_fd = open(g_task_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char **env = child_env();
    pid_t pid = fork();
    if (pid == 0) {
        child_reset_signals();
        int hi[4];
        /* Close-on-exec copies: dup2 clears the flag on 0..3 only, as posix_spawn's DUP2. */
        for (int i = 0; i < 3; i++) hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        hi[3] = fcntl(dir_fd, F_DUPFD_CLOEXEC, 10);
        for (int i = 0; i < 4; i++) dup2(hi[i], i);
        execve(argv[0], argv, env);
        _exit(127);
    }
    free(env);
    int closed[4] = {-1, -1, -1, -1}, nc = 0;
    int all[4] = {fds[0], fds[1], fds[2], dir_fd};
    for (int i = 0; i < 4; i++) {
        int dup = 0;
        for (int j = 0; j < nc; j++)
            if (closed[j] == all[i]) dup = 1;
        if (!dup && all[i] >= 0) {
            close(all[i]);
            closed[nc++] = all[i];
        }
    }
    if (pid < 0) return strdup("fork failed");
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WIFEXITED(status) ? WEXITSTATUS(status) : 255;
    if (code == 0) return NULL;
    return runtime_last_error(offset, "");
}

/* ---------------------------------------------------------------- errors */

typedef struct {
    const char *code, *kind;
    char *message;
    const char *step; /* runtime step, or NULL */
} Err;

static Err *err_new(const char *code, const char *kind, const char *fmt, ...) {
    Err *e = calloc(1, sizeof *e);
    e->code = code;
    e->kind = kind;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->message = strdup(msg);
    return e;
}

static Err *err_runtime(char *message, const char *step) {
    Err *e = calloc(1, sizeof *e);
    e->code = CODE_UNKNOWN;
    e->kind = KIND_NONE;
    e->message = message;
    e->step = step;
    return e;
}

static Err *missing_argv(const char *key) {
    return err_new(CODE_INTERNAL, KIND_INTERNAL, "monitor failed: monitor.json has no runtime argv '%s'", key);
}

/* The kill argv ("kill", or "kill_all") with sig in place of ARGV_SIGNAL, run; returns its
 * error message when check is set (NULL: it worked). When monitor.json has no such argv,
 * *missing is set (NULL missing: logged). */
static char *runtime_kill(int sig, int all, int check, Err **missing) {
    const char *key = all ? ARGV_KILL_ALL : ARGV_KILL;
    char **argv = config_argv(key);
    if (!argv) {
        Err *e = missing_argv(key);
        if (missing) {
            *missing = e;
        } else { /* an unchecked kill: logged and skipped, as daemon.py's run_unchecked */
            mlog("%s", e->message);
            free(e->message);
            free(e);
        }
        return NULL;
    }
    char sigbuf[16];
    snprintf(sigbuf, sizeof sigbuf, "%d", sig);
    for (char **a = argv; *a; a++)
        if (strcmp(*a, ARGV_SIGNAL) == 0) *a = sigbuf;
    char *msg = runtime_run(argv, check);
    free(argv);
    return msg;
}

static cJSON *err_reply(Err *e) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, REPLY_ERROR, e->message);
    cJSON_AddStringToObject(r, REPLY_CODE, e->code);
    cJSON_AddStringToObject(r, REPLY_KIND, e->kind);
    if (e->step) cJSON_AddStringToObject(r, REPLY_RUNTIME_STEP, e->step);
    free(e->message);
    free(e);
    return r;
}

/* ---------------------------------------------------------------- stdio */

/* As daemon.py's open_output: a file of the task dir itself (output.log) is never reached
 * through a symlink, one planted there would have us append the output to its target. */
static int open_output(const char *path) {
    if (strncmp(path, "file://", 7) == 0) path += 7;
    size_t n = strlen(g_task_dir);
    int own = strncmp(path, g_task_dir, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/');
    int nofollow = own ? O_NOFOLLOW : 0;
    struct stat st;
    if ((own ? lstat(path, &st) : stat(path, &st)) == 0 && S_ISFIFO(st.st_mode))
        return open(path, O_RDWR | O_CLOEXEC | nofollow);
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | nofollow, 0600);
}

static const char *strip_file(const char *p) { return strncmp(p, "file://", 7) == 0 ? p + 7 : p; }

static const char *json_str(cJSON *obj, const char *key) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int bind_unix(const char *name, int backlog) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", name);
    unlink(name);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, backlog) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* A sink for a stdout or stderr path: the task's own log (opened by the first process
 * writing to it), or a FIFO or file as open_output opens it. NULL with errno set. */
static Sink *output_sink(const char *path, const char *name) {
    if (!is_own_log(path)) {
        int fd = open_output(path);
        return fd < 0 ? NULL : sink_new(fd, name, 0, 0);
    }
    if (!g_log.path) {
        const char *file = strip_file(path);
        const char *slash = strrchr(file, '/');
        g_log.path = strdup(file);
        if (asprintf(&g_log.rotated, "%.*s%s", slash ? (int)(slash - file + 1) : 0, file,
                     LOG_ROTATED_NAME) < 0)
            g_log.rotated = NULL;
        cJSON *max = cJSON_GetObjectItemCaseSensitive(g_config, CONFIG_LOG_MAX_BYTES);
        int given = cJSON_IsNumber(max) && max->valuedouble >= 1 && max->valuedouble < 9e18 &&
                    max->valuedouble == (double)(long long)max->valuedouble;
        g_log.max = given ? (off_t)max->valuedouble : (off_t)LOG_MAX_BYTES;
        if (!g_log.rotated || log_reopen() < 0) {
            int e = g_log.rotated ? errno : ENOMEM;
            free(g_log.path);
            free(g_log.rotated);
            g_log.path = g_log.rotated = NULL;
            errno = e;
            return NULL;
        }
    }
    Sink *s = calloc(1, sizeof *s);
    s->h.type = H_SINK;
    s->h.obj = s;
    s->fd = -1;
    s->name = name;
    s->log = 1;
    return s;
}

/* Returns 0 and the runtime's fds 0..2 (and *listener for a terminal), or an error. */
static int g_in_create;

/* An OSError from opening stdio: daemon.py reports it as a bad control request (exec)
 * or as a monitor crash (create). */
/* As daemon.py's os_error_reply: no space is ResourceExhausted, no permission
 * PermissionDenied, the rest a bad request. */
static Err *request_os_error(int e, const char *path) {
    if (e == ENOSPC || e == EDQUOT)
        return err_new(CODE_RESOURCE_EXHAUSTED, KIND_RESOURCE_EXHAUSTED, "no space left on device: %s", path);
    if (e == EACCES || e == EPERM)
        return err_new(CODE_PERMISSION_DENIED, KIND_PERMISSION_DENIED, "permission denied: %s", path);
    return err_new(CODE_INVALID_ARGUMENT, KIND_NONE, "bad control request: [Errno %d] %s: '%s'", e, strerror(e), path);
}

static Err *os_error(const char *path) {
    int e = errno;
    if (g_in_create)
        return err_new(CODE_INTERNAL, KIND_NONE, "monitor failed: OSError: [Errno %d] %s: '%s'", e, strerror(e), path);
    return request_os_error(e, path);
}

static Err *setup_stdio(Proc *p, const char *in, const char *out, const char *errp,
                        const char *console_name, int fds[3], int *listener) {
    *listener = -1;
    Sink *s_out = NULL, *s_err = NULL;
    if (*out) {
        s_out = output_sink(out, STDIO_STDOUT);
        if (!s_out) return os_error(strip_file(out));
        p->out_sinks[p->n_out_sinks++] = s_out;
    }
    if (*errp && !p->terminal) { /* a terminal has one output stream: stdout */
        if (s_out && strcmp(out, errp) == 0) {
            s_err = s_out;
        } else {
            s_err = output_sink(errp, STDIO_STDERR);
            if (!s_err) return os_error(strip_file(errp));
            p->out_sinks[p->n_out_sinks++] = s_err;
        }
    }
    int stdin_src = -1;
    if (*in) {
        stdin_src = open(strip_file(in), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (stdin_src < 0) return os_error(strip_file(in));
        struct stat st;
        if (fstat(stdin_src, &st) == 0 && S_ISFIFO(st.st_mode))
            p->stdin_keepalive = open(strip_file(in), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    }
    if (p->terminal) {
        *listener = bind_unix(console_name, 1);
        if (*listener < 0) {
            if (stdin_src >= 0) close(stdin_src);
            return err_new(CODE_INTERNAL, KIND_NONE, "console socket %s: %s", console_name, strerror(errno));
        }
        p->stdin_src = stdin_src;
        p->stdout_sink_t = s_out;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        fds[0] = fds[1] = fds[2] = null;
        return NULL;
    }
    int ip[2], opp[2], epp[2];
    pipe2(ip, O_CLOEXEC);
    pipe2(opp, O_CLOEXEC);
    pipe2(epp, O_CLOEXEC);
    Pump *po = pump_new(opp[0], STREAM_STDOUT);
    pump_add_sink(po, s_out);
    Pump *pe = pump_new(epp[0], STREAM_STDERR);
    pump_add_sink(pe, s_err);
    p->out_pumps[p->n_out_pumps++] = po;
    p->out_pumps[p->n_out_pumps++] = pe;
    if (stdin_src >= 0) {
        p->stdin_sink = sink_new(ip[1], "stdin", 0, 1);
        p->stdin_pump = pump_new(stdin_src, STREAM_STDIN);
        pump_add_sink(p->stdin_pump, p->stdin_sink);
    } else {
        close(ip[1]);
    }
    fds[0] = ip[0];
    fds[1] = opp[1];
    fds[2] = epp[1];
    return NULL;
}

static Err *take_console(Proc *p, int listener, const char *name) {
    struct pollfd pf = {listener, POLLIN, 0};
    int master = -1;
    int r;
    do r = poll(&pf, 1, 5000);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (conn >= 0) {
            char data[1024];
            char cbuf[CMSG_SPACE(sizeof(int))];
            struct iovec iov = {data, sizeof data};
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                .msg_controllen = sizeof cbuf};
            struct timeval tv = {5, 0};
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (recvmsg(conn, &mh, MSG_CMSG_CLOEXEC) >= 0) {
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(&master, CMSG_DATA(c), sizeof master);
            }
            close(conn);
        }
    }
    unlink(name);
    if (master < 0) return err_new(CODE_UNKNOWN, KIND_RUNTIME_FAILED, "runtime did not send the console");
    p->console = master;
    Pump *po = pump_new(fcntl(master, F_DUPFD_CLOEXEC, 0), STREAM_STDOUT);
    pump_add_sink(po, p->stdout_sink_t);
    p->out_pumps[p->n_out_pumps++] = po;
    p->stdin_sink = sink_new(fcntl(master, F_DUPFD_CLOEXEC, 0), "console", 0, 0);
    if (p->stdin_src >= 0) {
        p->stdin_pump = pump_new(p->stdin_src, STREAM_STDIN);
        pump_add_sink(p->stdin_pump, p->stdin_sink);
        p->stdin_src = -1;
    }
    return NULL;
}

static void proc_close_stdin(Proc *p) { xclose(&p->stdin_keepalive); }

static void proc_on_exit(Proc *p, int status) {
    if (p->status >= 0) return;
    p->status = status;
    p->exited_ns = now_ns();
    p->deadline = mono() + DRAIN_TIMEOUT;
    mlog("%s %d exited with status %d", p->kind, p->pid, status);
    if (p->stdin_pump) pump_stop(p->stdin_pump);
    proc_close_stdin(p);
}

static int proc_output_drained(Proc *p) {
    for (int i = 0; i < p->n_out_sinks; i++)
        if (!sink_drained(p->out_sinks[i])) return 0;
    if (p->attach && !sink_drained(p->attach->sink)) return 0;
    for (int i = 0; i < p->n_out_pumps; i++)
        if (!p->out_pumps[i]->eof) return 0;
    return 1;
}

/* cJSON prints large numbers as doubles with %1.15g, losing ns precision: print ints
 * ourselves by using raw numbers. */
static cJSON *raw_int(long long v) {
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return cJSON_CreateRaw(b);
}

static long long g_oom_baseline, g_oom_seen;

static cJSON *exit_info_exact(Proc *p) {
    char ts[64];
    rfc3339(p->exited_ns, ts, sizeof ts);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, EXIT_PID, raw_int(p->pid));
    cJSON_AddItemToObject(r, EXIT_STATUS, raw_int(p->status >= 0 ? p->status : 255));
    cJSON_AddItemToObject(r, EXIT_AT_NS, raw_int(p->exited_ns));
    cJSON_AddStringToObject(r, EXIT_AT, ts);
    if (p == &g_init && g_oom_seen > g_oom_baseline) cJSON_AddTrueToObject(r, EXIT_OOM_KILLED);
    return r;
}

static void send_reply(int conn, cJSON *msg) {
    size_t n;
    char *text = json_text(msg, JSON_LINE, "\n", &n);
    cJSON_Delete(msg);
    int fl = fcntl(conn, F_GETFL);
    fcntl(conn, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {2, 0};
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(conn, text + off, n - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        off += (size_t)w;
    }
    free(text);
}

static void attach_detach(Attach *a);

static cJSON *ok_with_info(Proc *p) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddTrueToObject(r, REPLY_OK);
    cJSON *info = exit_info_exact(p);
    cJSON *c = info->child;
    while (c) {
        cJSON *next = c->next;
        cJSON_AddItemToObject(r, c->string, cJSON_DetachItemViaPointer(info, c));
        c = next;
    }
    cJSON_Delete(info);
    return r;
}

static void attach_send_exit(Attach *a, cJSON *info) {
    size_t len;
    char *text = json_text(info, JSON_DEFAULT, "", &len);
    sink_offer(a->sink, NULL, STREAM_EXIT, text, len);
    free(text);
    double deadline = mono() + 2.0;
    while (!sink_drained(a->sink) && mono() < deadline) {
        struct pollfd pf = {a->sink->fd, POLLOUT, 0};
        int ms = (int)((deadline - mono()) * 1000);
        poll(&pf, 1, ms > 0 ? ms : 0);
        sink_flush(a->sink);
    }
    attach_detach(a);
}

/* One event in the namespace's journal (docs/architecture.md §7), the same line the
 * Python monitor writes (state/event_journal.py): one write(2) on O_APPEND, so it never
 * tears with another writer's; rotated past events_max_bytes under an flock of the dir.
 * Takes ev. */
static void journal(const char *topic, cJSON *ev) {
    const char *dir = json_str(g_config, CONFIG_EVENTS_DIR);
    if (!*dir) {
        cJSON_Delete(ev);
        return;
    }
    char now[64];
    rfc3339(now_ns(), now, sizeof now);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, LINE_TIMESTAMP, now);
    cJSON_AddStringToObject(doc, LINE_NAMESPACE, json_str(g_config, CONFIG_NAMESPACE));
    cJSON_AddStringToObject(doc, LINE_TOPIC, topic);
    cJSON_AddStringToObject(doc, LINE_ID, json_str(g_config, "id"));
    cJSON_AddItemToObject(doc, LINE_EVENT, ev);
    size_t n;
    char *text = json_text(doc, JSON_LINE, "\n", &n);
    cJSON_Delete(doc);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT && mkdir(dir, 0700) == 0)
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = dfd < 0 ? -1 : openat(dfd, JOURNAL_NAME, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        mlog("journaling %s: %s: %s", topic, dir, strerror(errno));
    } else {
        ssize_t w = write(fd, text, n);
        if (w != (ssize_t)n) mlog("journaling %s: %s", topic, w < 0 ? strerror(errno) : "short write");
        struct stat st;
        cJSON *max = cJSON_GetObjectItemCaseSensitive(g_config, CONFIG_EVENTS_MAX_BYTES);
        off_t limit = cJSON_IsNumber(max) ? (off_t)max->valuedouble : (off_t)1 << 20;
        if (fstat(fd, &st) == 0 && st.st_size > limit && flock(dfd, LOCK_EX) == 0) {
            if (fstatat(dfd, JOURNAL_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size > limit)
                renameat(dfd, JOURNAL_NAME, dfd, JOURNAL_ROTATED_NAME);
            flock(dfd, LOCK_UN);
        }
        close(fd);
    }
    if (dfd >= 0) close(dfd);
    free(text);
}

/* /tasks/exit, before the exit record, once: this monitor is the exit's one witness. */
static void journal_exit(Proc *p) {
    const char *id = json_str(g_config, "id");
    char exec_id[24], at[64];
    snprintf(exec_id, sizeof exec_id, "%d", (int)p->pid);
    rfc3339(p->exited_ns, at, sizeof at);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, EVENT_CONTAINER_ID, id);
    cJSON_AddStringToObject(ev, EVENT_ID, p == &g_init ? id : exec_id);
    cJSON_AddItemToObject(ev, EXIT_PID, raw_int(p->pid));
    cJSON_AddItemToObject(ev, EXIT_STATUS, raw_int(p->status >= 0 ? p->status : 255));
    cJSON_AddStringToObject(ev, EXIT_AT, at);
    journal(TOPIC_EXIT, ev);
}

/* /tasks/exec-added and exec-started once the runtime gave the pid (the exec id), before
 * any exit of it can be journaled. */
static void journal_exec(Proc *p) {
    const char *id = json_str(g_config, "id");
    char exec_id[24];
    snprintf(exec_id, sizeof exec_id, "%d", (int)p->pid);
    cJSON *added = cJSON_CreateObject();
    cJSON_AddStringToObject(added, EVENT_CONTAINER_ID, id);
    cJSON_AddStringToObject(added, EVENT_EXEC_ID, exec_id);
    journal(TOPIC_EXEC_ADDED, added);
    cJSON *started = cJSON_CreateObject();
    cJSON_AddStringToObject(started, EVENT_CONTAINER_ID, id);
    cJSON_AddStringToObject(started, EVENT_EXEC_ID, exec_id);
    cJSON_AddItemToObject(started, EXIT_PID, raw_int(p->pid));
    journal(TOPIC_EXEC_STARTED, started);
}

/* As daemon.py's OomWatch: the kernel's OOM kills in the task's memory cgroup, woken by an
 * eventfd (v1's cgroup.event_control) or inotify on memory.events (v2). */
static int g_oom_fd = -1;
static Handler g_oom_h = {H_OOM, NULL};

static long long oom_count(void) {
    size_t len;
    char *text = read_file(json_str(g_config, CONFIG_OOM_FILE), &len);
    if (!text) return g_oom_seen; /* the cgroup is gone: nothing new can have happened */
    long long n = 0;
    size_t klen = strlen(OOM_KILL_KEY);
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (strncmp(line, OOM_KILL_KEY, klen) == 0 && line[klen] == ' ' && isdigit((unsigned char)line[klen + 1])) {
            n = strtoll(line + klen + 1, NULL, 10);
            break;
        }
        line = next;
    }
    free(text);
    return n;
}

static void oom_check(void) {
    if (!*json_str(g_config, CONFIG_OOM_FILE)) return;
    long long n = oom_count();
    if (n <= g_oom_seen) return;
    g_oom_seen = n;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, EVENT_CONTAINER_ID, json_str(g_config, "id"));
    journal(TOPIC_OOM, ev);
}

/* After the runtime's create: the cgroup exists from then on. */
static void oom_start(void) {
    const char *file = json_str(g_config, CONFIG_OOM_FILE), *control = json_str(g_config, CONFIG_OOM_EVENT_CONTROL);
    if (!*file) return;
    g_oom_baseline = g_oom_seen = oom_count();
    int fd;
    if (*control) {
        fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        int counter = fd < 0 ? -1 : open(file, O_RDONLY | O_CLOEXEC);
        int cfd = counter < 0 ? -1 : open(control, O_WRONLY | O_CLOEXEC);
        char line[32];
        int n = snprintf(line, sizeof line, "%d %d", fd, counter);
        int ok = cfd >= 0 && write(cfd, line, (size_t)n) == n;
        int saved = errno;
        if (cfd >= 0) close(cfd);
        if (counter >= 0) close(counter); /* the registration holds what it needs */
        if (!ok) {
            if (fd >= 0) close(fd);
            mlog("not watching for OOM kills: %s: %s", control, strerror(saved));
            return;
        }
    } else {
        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0 || inotify_add_watch(fd, file, IN_MODIFY | IN_MOVED_TO | IN_CREATE) < 0) {
            mlog("not watching for OOM kills: %s: %s", file, strerror(errno));
            if (fd >= 0) close(fd);
            return;
        }
    }
    g_oom_fd = fd;
    ep_add(fd, EPOLLIN, &g_oom_h);
}

static void oom_readable(void) {
    char drain[4096];
    while (read(g_oom_fd, drain, sizeof drain) > 0) {
    }
    oom_check();
}

/* As daemon.py's record/retry_records: an exit record that finds no space is kept and
 * written again every RECORD_RETRY_MS until it lands (the task dir removed: dropped). */
typedef struct {
    char *path;
    cJSON *info;
} Unwritten;
static Unwritten *g_unwritten;
static int g_nunwritten;

static void record_exit(const char *path, cJSON *info) {
    if (write_json_atomic(path, info) == 0) return;
    mlog("writing %s: %s; retrying until it lands", path, strerror(errno));
    g_unwritten = realloc(g_unwritten, (size_t)(g_nunwritten + 1) * sizeof *g_unwritten);
    g_unwritten[g_nunwritten].path = strdup(path);
    g_unwritten[g_nunwritten].info = cJSON_Duplicate(info, 1);
    g_nunwritten++;
}

/* The ms until the next try (-1: nothing kept). */
static int retry_records(void) {
    for (int i = 0; i < g_nunwritten;) {
        Unwritten *u = &g_unwritten[i];
        if (write_json_atomic(u->path, u->info) < 0 && errno != ENOENT) {
            i++;
            continue;
        }
        free(u->path);
        cJSON_Delete(u->info);
        g_unwritten[i] = g_unwritten[--g_nunwritten];
    }
    return g_nunwritten ? RECORD_RETRY_MS : -1;
}

static void proc_finish(Proc *p) {
    for (int i = 0; i < p->n_out_pumps; i++) pump_stop(p->out_pumps[i]);
    for (int i = 0; i < p->n_out_sinks; i++) sink_close(p->out_sinks[i]);
    if (p->stdin_sink) sink_close(p->stdin_sink);
    xclose(&p->console);
    oom_check(); /* the kill's event before the exit it caused */
    cJSON *info = exit_info_exact(p);
    journal_exit(p);
    record_exit(p->exit_path, info);
    p->finished = 1;
    if (p->attach) attach_send_exit(p->attach, info);
    for (int i = 0; i < p->nwaiters; i++) {
        cJSON *r = ok_with_info(p);
        send_reply(p->waiters[i], r);
        close(p->waiters[i]);
    }
    p->nwaiters = 0;
    cJSON_Delete(info);
}

/* ---------------------------------------------------------------- attach */

static void attach_detach(Attach *a) {
    Proc *p = a->proc;
    if (p->attach != a) return;
    p->attach = NULL;
    for (int i = 0; i < p->n_out_pumps; i++) pump_remove_sink(p->out_pumps[i], a->sink);
    sink_close(a->sink);
    ep_del(a->conn);
    xclose(&a->conn);
    buf_free(&a->inbuf);
    defer_free(a->sink); /* an event of this batch may still name them */
    defer_free(a);
}

static void attach_readable(Attach *a) {
    if (a->conn < 0) return;
    ssize_t n = recv(a->conn, g_chunk, CHUNK, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        n = 0;
    }
    if (n == 0) {
        attach_detach(a);
        return;
    }
    if (!a->reading) return;
    buf_append(&a->inbuf, g_chunk, (size_t)n);
    for (;;) {
        size_t have = buf_size(&a->inbuf);
        if (have < FRAME_HEADER) break;
        unsigned char *b = (unsigned char *)a->inbuf.data + a->inbuf.off;
        uint32_t size = ((uint32_t)b[1] << 24) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 8) | b[4];
        if (size > MAX_LINE) {
            attach_detach(a);
            return;
        }
        if (have < FRAME_HEADER + (size_t)size) break;
        int stream = b[0];
        a->inbuf.off += FRAME_HEADER + size;
        if (stream == STREAM_STDIN && a->proc->stdin_sink)
            sink_offer(a->proc->stdin_sink, NULL, STREAM_STDIN, (char *)b + FRAME_HEADER, size);
    }
}

/* ---------------------------------------------------------------- finished execs */

/* What daemon.py's finished Proc still answers with (wait: the exit info; kill, attach:
 * "process already finished"; resize, close-stdin: nothing to do; state: its status),
 * in 16 bytes instead of the Proc, its pumps and sinks. */
typedef struct {
    int pid, status;
    int64_t exited_ns;
} Done;

static Done *g_done;
static int g_ndone, g_done_cap;

static void remember_done(Proc *p) {
    if (g_ndone == g_done_cap) {
        /* Forget the execs whose exit record DeleteProcess removed: clients answer
         * NOT_FOUND for those from the records without asking us (service._exec_files;
         * kill asks, and still gets NOT_FOUND), so this table follows the records. */
        int kept = 0;
        for (int i = 0; i < g_ndone; i++) {
            char path[64];
            snprintf(path, sizeof path, "exec/%d.exit", g_done[i].pid); /* cwd: task dir */
            if (access(path, F_OK) == 0) g_done[kept++] = g_done[i];
        }
        g_ndone = kept;
        if (g_ndone == g_done_cap) {
            g_done_cap = g_done_cap ? g_done_cap * 2 : 16;
            g_done = realloc(g_done, (size_t)g_done_cap * sizeof *g_done);
        }
    }
    g_done[g_ndone++] = (Done){p->pid, p->status, p->exited_ns};
}

static void forget_done(int pid) {
    for (int i = 0; i < g_ndone; i++)
        if (g_done[i].pid == pid) {
            g_done[i] = g_done[--g_ndone];
            return;
        }
}

/* Free an exec that is finished (or never started): its fds first, memory deferred. */
static void exec_free(Proc *p) {
    if (p->attach) attach_detach(p->attach);
    for (int i = 0; i < p->n_out_pumps; i++) {
        pump_stop(p->out_pumps[i]);
        defer_free(p->out_pumps[i]);
    }
    if (p->stdin_pump) {
        pump_stop(p->stdin_pump);
        defer_free(p->stdin_pump);
    }
    for (int i = 0; i < p->n_out_sinks; i++) {
        sink_close(p->out_sinks[i]);
        defer_free(p->out_sinks[i]);
    }
    if (p->stdin_sink) {
        sink_close(p->stdin_sink);
        defer_free(p->stdin_sink);
    }
    xclose(&p->stdin_src);
    xclose(&p->console);
    proc_close_stdin(p);
    for (int i = 0; i < p->nwaiters; i++) close(p->waiters[i]);
    free(p->waiters);
    free(p->exit_path);
    defer_free(p);
}

/* ---------------------------------------------------------------- control requests */

/* A task restored from a checkpoint (protocol.ARGV_RESTORE): the runtime's fds and the
 * console listener made at set-up, held until OP_START runs the restore with them. */
static int g_restore_pending, g_restore_failed;
static int g_restore_fds[3] = {-1, -1, -1}, g_restore_listener = -1;

static Err *do_restore(void);
static void abandon_restore(int sig);


static Proc *find_proc(int pid, Err **err) {
    if (pid == 0 || pid == g_init.pid) return &g_init;
    for (int i = 0; i < g_nexecs; i++)
        if (g_execs[i]->pid == pid) return g_execs[i];
    for (int i = 0; i < g_ndone; i++)
        if (g_done[i].pid == pid) { /* valid until the next request */
            static Proc done;
            proc_init(&done, "exec", NULL, 0);
            done.pid = pid;
            done.status = g_done[i].status;
            done.exited_ns = g_done[i].exited_ns;
            done.finished = 1;
            return &done;
        }
    *err = err_new(CODE_NOT_FOUND, KIND_NOT_FOUND, "process %d not found in task %s", pid, g_task_id);
    return NULL;
}

/* req[key] when it is a JSON integer in lo..hi (absent or null: dflt); otherwise *bad is
 * set and the caller answers with bad_number(): as protocol.integer, no fraction, bool,
 * string or out-of-range value is ever converted (a cast once wrapped 2**32 + pid to pid). */
static long long json_integer(cJSON *req, const char *key, long long dflt, long long lo,
                              long long hi, int *bad) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo || v->valuedouble > (double)hi ||
        (double)(long long)v->valuedouble != v->valuedouble) {
        *bad = 1;
        return 0;
    }
    return (long long)v->valuedouble;
}

static cJSON *bad_number(const char *key, long long lo, long long hi) {
    return err_reply(err_new(CODE_INVALID_ARGUMENT, KIND_NONE,
                             "bad control request: %s must be an integer %lld..%lld", key, lo, hi));
}

static int json_truthy(cJSON *req, const char *key) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    if (cJSON_IsString(v)) return v->valuestring[0] != 0;
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != NULL;
    return 1;
}

static cJSON *ok_reply(void) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddTrueToObject(r, REPLY_OK);
    return r;
}

static void add_exec(Proc *p) {
    forget_done(p->pid); /* a reused pid: the new process is the one it names now */
    g_execs = realloc(g_execs, (size_t)(g_nexecs + 1) * sizeof *g_execs);
    g_execs[g_nexecs++] = p;
}

static Err *do_exec(cJSON *request, int *out_pid) {
    if (g_init.status >= 0) return err_new(CODE_FAILED_PRECONDITION, KIND_FAILED_PRECONDITION, "cannot exec in a stopped task");
    cJSON *process = cJSON_GetObjectItemCaseSensitive(request, REQ_PROCESS);
    if (!process) return err_new(CODE_INVALID_ARGUMENT, KIND_NONE, "bad control request: '" REQ_PROCESS "'");
    cJSON *args = cJSON_IsObject(process) ? cJSON_GetObjectItemCaseSensitive(process, "args") : NULL;
    if (!cJSON_IsObject(process) || !args || cJSON_IsNull(args) || cJSON_IsFalse(args) ||
        ((cJSON_IsArray(args) || cJSON_IsObject(args)) && !args->child) ||
        (cJSON_IsString(args) && !args->valuestring[0]))
        return err_new(CODE_INVALID_ARGUMENT, KIND_INVALID_ARGUMENT, "exec process spec needs non-empty args");
    int terminal = json_truthy(request, REQ_TERMINAL);
    /* The client chose these paths and built the argv naming them (protocol.py). */
    char **argv = argv_of(cJSON_GetObjectItemCaseSensitive(request, EXEC_RUNTIME_ARGV));
    const char *process_file = json_str(request, EXEC_PROCESS_FILE);
    const char *pid_file = json_str(request, EXEC_PID_FILE);
    cJSON *cj = cJSON_GetObjectItemCaseSensitive(request, EXEC_CONSOLE_SOCKET);
    const char *console = cJSON_IsString(cj) ? cj->valuestring : "";
    int console_ok = cJSON_IsString(cj) || !json_truthy(request, EXEC_CONSOLE_SOCKET);
    if (!argv || !*process_file || !*pid_file || !console_ok || (terminal && !*console)) {
        free(argv);
        return err_new(CODE_INVALID_ARGUMENT, KIND_INVALID_ARGUMENT,
                       "exec request needs runtime_argv (a non-empty list of strings), process_file, "
                       "pid_file and, with a terminal, console_socket");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(process, "terminal");
    cJSON_AddBoolToObject(process, "terminal", terminal);
    mkdir("exec", 0700);
    if (write_json_atomic(process_file, process) < 0) {
        int e = errno;
        free(argv);
        return request_os_error(e, process_file);
    }
    Proc *p = calloc(1, sizeof *p);
    proc_init(p, "exec", "pending.exit", terminal);
    cJSON *stdio = cJSON_GetObjectItemCaseSensitive(request, REQ_STDIO);
    char *in = strdup(json_str(stdio, STDIO_STDIN)), *out = strdup(json_str(stdio, STDIO_STDOUT)),
         *errp = strdup(json_str(stdio, STDIO_STDERR));
    int fds[3], listener = -1;
    Err *e = setup_stdio(p, in, out, errp, console, fds, &listener);
    if (!e) {
        char *msg = spawn_runtime(argv, fds);
        if (msg) e = err_runtime(msg, STEP_EXEC);
        else if (listener >= 0) e = take_console(p, listener, console);
        if (listener >= 0) {
            close(listener);
            unlink(console);
        }
        if (!e) {
            p->pid = pid_from_file(pid_file);
            if (p->pid <= 0) e = err_new(CODE_INTERNAL, KIND_NONE, "monitor failed: cannot read %s", pid_file);
        }
    }
    free(argv);
    unlink(process_file);
    unlink(pid_file);
    if (e) {
        exec_free(p);
        free(in);
        free(out);
        free(errp);
        return e;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/exec/%d.exit", g_task_dir, p->pid);
    free(p->exit_path);
    p->exit_path = strdup(path);
    char created[64];
    rfc3339(now_ns(), created, sizeof created);
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddItemToObject(rec, REC_PID, raw_int(p->pid));
    cJSON *pargs = cJSON_GetObjectItemCaseSensitive(process, "args");
    cJSON_AddItemToObject(rec, REC_ARGS, pargs ? cJSON_Duplicate(pargs, 1) : cJSON_CreateArray());
    cJSON *cwd = cJSON_GetObjectItemCaseSensitive(process, "cwd");
    cJSON_AddItemToObject(rec, REC_CWD, cwd ? cJSON_Duplicate(cwd, 1) : cJSON_CreateString("/"));
    cJSON *user = cJSON_GetObjectItemCaseSensitive(process, "user");
    cJSON_AddItemToObject(rec, REC_USER, user ? cJSON_Duplicate(user, 1) : cJSON_CreateObject());
    cJSON_AddBoolToObject(rec, REC_TERMINAL, terminal);
    cJSON_AddStringToObject(rec, STDIO_STDIN, in);
    cJSON_AddStringToObject(rec, STDIO_STDOUT, out);
    cJSON_AddStringToObject(rec, STDIO_STDERR, errp);
    long long st = process_start_time(p->pid);
    cJSON_AddItemToObject(rec, REC_START_TIME, st >= 0 ? raw_int(st) : cJSON_CreateNull());
    cJSON_AddStringToObject(rec, REC_CREATED_AT, created);
    snprintf(path, sizeof path, "%s/exec/%d.json", g_task_dir, p->pid);
    write_json_atomic(path, rec);
    cJSON_Delete(rec);
    free(in);
    free(out);
    free(errp);
    add_exec(p);
    journal_exec(p);
    for (int i = 0; i < g_nearly; i++)
        if (g_early[i].pid == p->pid) {
            int status = g_early[i].status;
            g_early[i] = g_early[--g_nearly];
            proc_on_exit(p, status);
            break;
        }
    *out_pid = p->pid;
    return NULL;
}

static char *py_repr_op(cJSON *op) {
    char buf[512];
    if (!op || cJSON_IsNull(op)) return strdup("None");
    if (cJSON_IsString(op)) {
        snprintf(buf, sizeof buf, "'%s'", op->valuestring);
        return strdup(buf);
    }
    char *t = cJSON_PrintUnformatted(op);
    return t;
}

/* Returns a reply, or NULL when the connection was kept (wait, attach). */
static cJSON *handle(int conn, cJSON *request, int *keep) {
    *keep = 0;
    Err *e = NULL;
    cJSON *opj = cJSON_GetObjectItemCaseSensitive(request, REQ_OP);
    const char *op = cJSON_IsString(opj) ? opj->valuestring : "";
    int bad = 0;
    int pid = (int)json_integer(request, REQ_PID, 0, 0, PID_MAX, &bad);
    if (bad) return bad_number(REQ_PID, 0, PID_MAX);
    if (strcmp(op, OP_STATE) == 0) {
        cJSON *r = ok_reply();
        cJSON_AddItemToObject(r, STATE_INIT_PID, raw_int(g_init.pid));
        cJSON_AddBoolToObject(r, STATE_EXITED, g_init.status >= 0);
        cJSON *ex = cJSON_AddObjectToObject(r, STATE_EXECS);
        for (int i = 0; i < g_nexecs; i++) {
            char k[16];
            snprintf(k, sizeof k, "%d", g_execs[i]->pid);
            cJSON_AddItemToObject(ex, k, g_execs[i]->status >= 0 ? raw_int(g_execs[i]->status) : cJSON_CreateNull());
        }
        for (int i = 0; i < g_ndone; i++) {
            char k[16];
            snprintf(k, sizeof k, "%d", g_done[i].pid);
            cJSON_AddItemToObject(ex, k, raw_int(g_done[i].status));
        }
        return r;
    }
    if (strcmp(op, OP_WAIT) == 0) {
        Proc *p = find_proc(pid, &e);
        if (!p) return err_reply(e);
        if (p->finished) return ok_with_info(p);
        p->waiters = realloc(p->waiters, (size_t)(p->nwaiters + 1) * sizeof(int));
        p->waiters[p->nwaiters++] = conn;
        struct timeval tv = {0, 0};
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        *keep = 1;
        return NULL;
    }
    if (strcmp(op, OP_START) == 0) {
        if (g_init.status >= 0)
            return err_reply(err_new(CODE_FAILED_PRECONDITION, KIND_INVALID_STATE, "cannot start task in stopped state"));
        if (g_restore_pending || g_restore_failed) {
            e = do_restore();
            if (e) return err_reply(e);
        } else {
            char **argv = config_argv(ARGV_START);
            if (!argv) return err_reply(missing_argv(ARGV_START));
            char *msg = runtime_run(argv, 1);
            free(argv);
            if (msg) return err_reply(err_runtime(msg, STEP_START));
        }
        cJSON *r = ok_reply();
        cJSON_AddItemToObject(r, START_PID, raw_int(g_init.pid));
        return r;
    }
    if (strcmp(op, OP_KILL) == 0) {
        int sig = (int)json_integer(request, REQ_SIGNAL, SIGTERM, 1, SIGNAL_MAX, &bad);
        if (bad) return bad_number(REQ_SIGNAL, 1, SIGNAL_MAX);
        int all = json_truthy(request, REQ_ALL);
        Proc *p = find_proc(pid, &e);
        if (!p) return err_reply(e);
        if (p->status >= 0) return err_reply(err_new(CODE_NOT_FOUND, KIND_NOT_FOUND, "process already finished"));
        if (p == &g_init && !g_init.pid) { /* a restore not run (or failed) */
            abandon_restore(sig);
            return ok_reply();
        }
        cJSON *pidns = cJSON_GetObjectItemCaseSensitive(g_config, "pid_namespace");
        int own_pidns = !(pidns && cJSON_IsFalse(pidns));
        /* As daemon.py: the init is our unreaped child (we are its subreaper), so its pid
         * cannot have been reused and kill(2) is runc kill without a runtime process; with
         * its own pid namespace, SIGKILL to the init takes every process of the task. */
        if (p == &g_init && all && !(sig == SIGKILL && own_pidns)) {
            Err *missing = NULL;
            char *msg = runtime_kill(sig, all, 1, &missing);
            if (missing) return err_reply(missing);
            if (msg) return err_reply(err_runtime(msg, STEP_KILL));
        } else if (kill(p->pid, sig) < 0) {
            return err_reply(err_new(CODE_INVALID_ARGUMENT, KIND_NONE, "bad control request: [Errno %d] %s", errno, strerror(errno)));
        }
        return ok_reply();
    }
    if (strcmp(op, OP_EXEC) == 0) {
        int npid = 0;
        e = do_exec(request, &npid);
        if (e) return err_reply(e);
        cJSON *r = ok_reply();
        cJSON_AddItemToObject(r, EXEC_PID, raw_int(npid));
        return r;
    }
    if (strcmp(op, OP_RESIZE) == 0) {
        Proc *p = find_proc(pid, &e);
        if (!p) return err_reply(e);
        const char *keys[2] = {REQ_WIDTH, REQ_HEIGHT};
        long long dims[2];
        for (int i = 0; i < 2; i++) {
            dims[i] = json_integer(request, keys[i], 0, -NUMBER_EXACT, NUMBER_EXACT, &bad);
            if (bad) return bad_number(keys[i], -NUMBER_EXACT, NUMBER_EXACT);
            if (dims[i] < 1 || dims[i] > TERM_SIZE_MAX)
                return err_reply(err_new(CODE_INVALID_ARGUMENT, KIND_INVALID_ARGUMENT, "%s must be 1..%d, got %lld", keys[i], TERM_SIZE_MAX, dims[i]));
        }
        if (p->console >= 0 && p->status < 0) {
            struct winsize ws = {.ws_row = (unsigned short)dims[1], .ws_col = (unsigned short)dims[0]};
            if (ioctl(p->console, TIOCSWINSZ, &ws) < 0)
                return err_reply(err_new(CODE_INVALID_ARGUMENT, KIND_NONE, "bad control request: [Errno %d] %s", errno, strerror(errno)));
        }
        return ok_reply();
    }
    if (strcmp(op, OP_CLOSE_STDIN) == 0) {
        Proc *p = find_proc(pid, &e);
        if (!p) return err_reply(e);
        proc_close_stdin(p);
        return ok_reply();
    }
    if (strcmp(op, OP_ATTACH) == 0) {
        Proc *p = find_proc(pid, &e);
        if (!p) return err_reply(e);
        if (p->finished || p->status >= 0)
            return err_reply(err_new(CODE_NOT_FOUND, KIND_NOT_FOUND, "process already finished"));
        if (p->attach)
            return err_reply(err_new(CODE_FAILED_PRECONDITION, KIND_FAILED_PRECONDITION,
                                     "process %d of task %s already has an attached client", p->pid, g_task_id));
        int want_stdin = json_truthy(request, REQ_STDIN);
        cJSON *r = ok_reply();
        cJSON_AddBoolToObject(r, ATTACH_TERMINAL, p->terminal);
        cJSON_AddBoolToObject(r, ATTACH_STDIN, want_stdin && p->stdin_sink != NULL);
        send_reply(conn, r);
        Attach *a = calloc(1, sizeof *a);
        a->h.type = H_ATTACH;
        a->h.obj = a;
        a->proc = p;
        a->conn = conn;
        set_nonblock(conn);
        a->sink = sink_new(fcntl(conn, F_DUPFD_CLOEXEC, 0), "attach", 1, 0);
        for (int i = 0; i < p->n_out_pumps; i++) pump_add_sink(p->out_pumps[i], a->sink);
        a->reading = want_stdin && p->stdin_sink != NULL;
        p->attach = a;
        ep_add(conn, EPOLLIN, &a->h);
        *keep = 1;
        return NULL;
    }
    char *repr = py_repr_op(opj);
    cJSON *r = err_reply(err_new(CODE_INVALID_ARGUMENT, KIND_INVALID_ARGUMENT, "unknown control operation %s", repr));
    free(repr);
    return r;
}

/* As daemon.py's on_accept/on_request/serve: every waiting connection is taken, and each
 * request line is read as it comes, side by side with the others, within
 * REQUEST_DEADLINE_MS of its accept; at most MAX_PENDING at once; root and our own uid
 * only (SO_PEERCRED). */
typedef struct {
    Handler h;
    int fd;
    Buf line;
    double deadline;
} Conn;
static Conn *g_conns[MAX_PENDING];
static int g_nconns;

static void serve(Conn *c, const char *failure) {
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i] == c) {
            g_conns[i] = g_conns[--g_nconns];
            break;
        }
    ep_del(c->fd);
    int conn = c->fd;
    c->fd = -1;
    int fl = fcntl(conn, F_GETFL);
    fcntl(conn, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {2, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char bad[256] = "";
    if (failure) snprintf(bad, sizeof bad, "bad control request: %s", failure);
    cJSON *reply = NULL;
    int keep = 0;
    if (!bad[0]) {
        buf_append(&c->line, "", 1);
        cJSON *req = parse_json(c->line.data + c->line.off);
        if (!req || !cJSON_IsObject(req)) {
            snprintf(bad, sizeof bad, req ? "bad control request: message is not a JSON object"
                                          : "bad control request: invalid JSON");
        } else {
            reply = handle(conn, req, &keep);
        }
        cJSON_Delete(req);
    }
    buf_free(&c->line);
    defer_free(c); /* an event of this batch may still name it */
    if (bad[0]) reply = err_reply(err_new(CODE_INVALID_ARGUMENT, KIND_NONE, "%s", bad));
    if (reply) {
        send_reply(conn, reply);
        close(conn);
    } else if (!keep) {
        close(conn);
    }
}

static void conn_readable(Conn *c) {
    if (c->fd < 0) return;
    for (;;) {
        char tmp[4096];
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return; /* more to come */
        if (n < 0) {
            char why[160];
            snprintf(why, sizeof why, "[Errno %d] %s", errno, strerror(errno));
            serve(c, why);
            return;
        }
        if (n == 0) break;
        buf_append(&c->line, tmp, (size_t)n);
        if (c->line.data[c->line.len - 1] == '\n') break;
        if (buf_size(&c->line) > MAX_LINE) {
            serve(c, "request too long");
            return;
        }
    }
    serve(c, NULL);
}

/* Answer requests past their deadline; the ms until the next one (-1: none). */
static int expire_requests(void) {
    double now = mono(), next = -1;
    for (int i = 0; i < g_nconns;) {
        Conn *c = g_conns[i];
        if (c->deadline <= now) {
            char why[64];
            snprintf(why, sizeof why, "no complete line within %d ms", REQUEST_DEADLINE_MS);
            serve(c, why); /* moves the last one here */
            continue;
        }
        if (next < 0 || c->deadline - now < next) next = c->deadline - now;
        i++;
    }
    return next < 0 ? -1 : (int)(next * 1000) + 1;
}

static void on_accept(void) {
    for (;;) {
        int conn = accept4(g_listener, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) mlog("accept: %s", strerror(errno));
            return;
        }
        struct ucred cr;
        socklen_t len = sizeof cr;
        cJSON *refusal = NULL;
        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
            refusal = err_reply(err_new(CODE_PERMISSION_DENIED, KIND_PERMISSION_DENIED,
                                        "cannot tell who is calling the monitor of task %s: %s", g_task_id,
                                        strerror(errno)));
        } else if (cr.uid != 0 && cr.uid != geteuid()) {
            refusal = err_reply(err_new(CODE_PERMISSION_DENIED, KIND_PERMISSION_DENIED,
                                        "uid %d may not use the monitor of task %s", (int)cr.uid, g_task_id));
        } else if (g_nconns >= MAX_PENDING) {
            refusal = err_reply(err_new(CODE_UNAVAILABLE, KIND_UNAVAILABLE,
                                        "the monitor of task %s is busy: %d requests are being read; try again",
                                        g_task_id, MAX_PENDING));
        }
        if (refusal) {
            send_reply(conn, refusal);
            close(conn);
            continue;
        }
        Conn *c = calloc(1, sizeof *c);
        c->h.type = H_CONN;
        c->h.obj = c;
        c->fd = conn;
        c->deadline = mono() + REQUEST_DEADLINE_MS / 1000.0;
        set_nonblock(conn);
        g_conns[g_nconns++] = c;
        ep_add(conn, EPOLLIN, &c->h);
        /* A line already there is served now: requests keep the order of their connections
         * (a wait sent before a kill is registered before the exit). */
        conn_readable(c);
    }
}

/* ---------------------------------------------------------------- exits */

static void on_init_exit(int status) {
    proc_on_exit(&g_init, status);
    cJSON *pidns = cJSON_GetObjectItemCaseSensitive(g_config, "pid_namespace");
    if (pidns && cJSON_IsFalse(pidns)) {
        free(runtime_kill(SIGKILL, 1, 0, NULL));
    }
    for (int i = 0; i < g_nexecs; i++)
        if (g_execs[i]->status < 0) kill(g_execs[i]->pid, SIGKILL);
}

static void reap(void) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            if (pid < 0 && errno == EINTR) continue;
            return;
        }
        int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WIFEXITED(status) ? WEXITSTATUS(status) : 255;
        if (pid == g_init.pid) {
            on_init_exit(code);
            continue;
        }
        int found = 0;
        for (int i = 0; i < g_nexecs; i++)
            if (g_execs[i]->pid == pid) {
                proc_on_exit(g_execs[i], code);
                found = 1;
                break;
            }
        if (!found) {
            g_early = realloc(g_early, (size_t)(g_nearly + 1) * sizeof *g_early);
            g_early[g_nearly].pid = pid;
            g_early[g_nearly].status = code;
            g_nearly++;
        }
    }
}

/* Finish processes whose output drained; returns the epoll timeout in ms (-1: none). */
static int step_exits(void) {
    double now = mono();
    double timeout = -1;
    for (int i = 0; i < g_nexecs; i++) {
        Proc *p = g_execs[i];
        if (p->status >= 0 && !p->finished) {
            if (proc_output_drained(p) || now >= p->deadline) {
                proc_finish(p);
                remember_done(p);
                exec_free(p);
                g_execs[i] = g_execs[--g_nexecs];
                i--; /* the one moved here is next */
            } else {
                double t = p->deadline - now;
                if (t < 0) t = 0;
                if (t > 1.0) t = 1.0;
                if (timeout < 0 || t < timeout) timeout = t;
            }
        }
    }
    if (g_init.status >= 0 && !g_init.finished) {
        int execs_done = g_nexecs == 0; /* finished execs left g_execs */
        if (execs_done && (proc_output_drained(&g_init) || now >= g_init.deadline)) {
            proc_finish(&g_init);
        } else {
            double t = g_init.deadline - now + 0.01;
            if (t < 0) t = 0;
            if (t > 1.0) t = 1.0;
            if (timeout < 0 || t < timeout) timeout = t;
        }
    }
    return timeout < 0 ? -1 : (int)(timeout * 1000) + 1;
}

static void on_signals(int sfd) {
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
        int signum = (int)si.ssi_signo;
        if (signum == SIGCHLD) {
            reap();
        } else if ((signum == SIGTERM || signum == SIGINT || signum == SIGQUIT) && g_init.status < 0 &&
                   g_init.pid) {
            free(runtime_kill(signum, 0, 0, NULL));
        }
    }
}

static void shutdown_monitor(void) {
    if (g_oom_fd >= 0) {
        ep_del(g_oom_fd);
        xclose(&g_oom_fd);
    }
    if (g_listener >= 0) {
        ep_del(g_listener);
        xclose(&g_listener);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/monitor.sock", g_task_dir);
        unlink(path);
    }
}

/* ---------------------------------------------------------------- set-up */

static Err *mount_cmd(const char *const *args, int nargs) {
    char *argv[64];
    int n = 0;
    argv[n++] = "/bin/mount";
    for (int i = 0; i < nargs && n < 63; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    char *out = NULL;
    int rc = run_process(argv, &out);
    if (rc == 0) {
        free(out);
        return NULL;
    }
    char joined[4096] = "";
    for (int i = 0; i < nargs; i++) {
        if (i) strncat(joined, " ", sizeof joined - strlen(joined) - 1);
        strncat(joined, args[i], sizeof joined - strlen(joined) - 1);
    }
    /* strip */
    char *t = out ? out : strdup("");
    while (*t && isspace((unsigned char)*t)) t++;
    char *end = t + strlen(t);
    while (end > t && isspace((unsigned char)end[-1])) *--end = 0;
    Err *e = err_new(CODE_INVALID_ARGUMENT, KIND_INVALID_ARGUMENT, "mount %s: %s", joined, *t ? t : "failed");
    free(out);
    return e;
}

static Err *prepare_rootfs(void) {
    cJSON *mounts = cJSON_GetObjectItemCaseSensitive(g_config, "rootfs_mounts");
    if (!cJSON_IsArray(mounts) || !mounts->child) return NULL;
    if (unshare(CLONE_NEWNS) != 0)
        return err_new(CODE_PERMISSION_DENIED, KIND_PERMISSION_DENIED, "unshare(CLONE_NEWNS): %s", strerror(errno));
    const char *rs[2] = {"--make-rslave", "/"};
    Err *e = mount_cmd(rs, 2);
    if (e) return e;
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/rootfs", g_task_dir);
    cJSON *m;
    cJSON_ArrayForEach(m, mounts) {
        const char *args[8];
        int n = 0;
        const char *type = json_str(m, "type");
        if (*type) {
            args[n++] = "-t";
            args[n++] = type;
        }
        char opts[4096] = "";
        cJSON *o, *options = cJSON_GetObjectItemCaseSensitive(m, "options");
        if (cJSON_IsArray(options)) {
            cJSON_ArrayForEach(o, options) {
                if (!cJSON_IsString(o) || !o->valuestring[0]) continue;
                if (opts[0]) strncat(opts, ",", sizeof opts - strlen(opts) - 1);
                strncat(opts, o->valuestring, sizeof opts - strlen(opts) - 1);
            }
        }
        if (opts[0]) {
            args[n++] = "-o";
            args[n++] = opts;
        }
        const char *src = json_str(m, "source");
        args[n++] = *src ? src : "none";
        args[n++] = target;
        e = mount_cmd(args, n);
        if (e) return e;
    }
    return NULL;
}

static Err *create(void) {
    /* create, or run --detach for a task started at once: monitor.json says which; or,
     * for a restore, nothing until OP_START (protocol.ARGV_RESTORE) */
    int restore = cJSON_GetObjectItemCaseSensitive(
                      cJSON_GetObjectItemCaseSensitive(g_config, CONFIG_RUNTIME_ARGV), ARGV_RESTORE) != NULL;
    const char *key = restore ? ARGV_RESTORE : ARGV_CREATE;
    char **argv = config_argv(key);
    if (!argv) return missing_argv(key);
    const char *pid_file = json_str(g_config, CONFIG_PID_FILE);
    const char *console = json_str(g_config, CONFIG_CONSOLE_SOCKET);
    if (!*pid_file || (g_init.terminal && !*console)) {
        free(argv);
        return err_new(CODE_INTERNAL, KIND_INTERNAL, "monitor failed: monitor.json has no %s",
                       *pid_file ? "console socket for a terminal" : "pid file");
    }
    cJSON *stdio = cJSON_GetObjectItemCaseSensitive(g_config, "stdio");
    int fds[3], listener = -1;
    g_in_create = 1;
    Err *e = setup_stdio(&g_init, json_str(stdio, STDIO_STDIN), json_str(stdio, STDIO_STDOUT),
                         json_str(stdio, STDIO_STDERR), console, fds, &listener);
    g_in_create = 0;
    if (e) {
        free(argv);
        return e;
    }
    if (restore) {
        free(argv);
        memcpy(g_restore_fds, fds, sizeof g_restore_fds);
        g_restore_listener = listener;
        g_restore_pending = 1;
        return NULL;
    }
    char *msg = spawn_runtime(argv, fds);
    free(argv);
    if (msg) e = err_runtime(msg, STEP_CREATE);
    else if (listener >= 0) e = take_console(&g_init, listener, console);
    if (listener >= 0) close(listener);
    if (e) return e;
    g_init.pid = pid_from_file(pid_file);
    if (g_init.pid <= 0) return err_new(CODE_INTERNAL, KIND_NONE, "monitor failed: cannot read %s", pid_file);
    return NULL;
}

/* OP_START of a restored task, as daemon.py's restore(): the runtime's restore with the
 * stdio made at set-up; the restored init becomes our child (we are the subreaper). A
 * failed restore is final: the task waits for its kill (or delete). */
static Err *do_restore(void) {
    if (!g_restore_pending)
        return err_new(CODE_FAILED_PRECONDITION, KIND_FAILED_PRECONDITION, "task %s: its restore failed; delete the task",
                       g_task_id);
    char **argv = config_argv(ARGV_RESTORE);
    if (!argv) return missing_argv(ARGV_RESTORE);
    g_restore_pending = 0;
    int listener = g_restore_listener;
    g_restore_listener = -1;
    char *msg = spawn_runtime(argv, g_restore_fds); /* closes them */
    for (int i = 0; i < 3; i++) g_restore_fds[i] = -1;
    free(argv);
    Err *e = NULL;
    if (msg) e = err_runtime(msg, STEP_RESTORE);
    else if (listener >= 0) e = take_console(&g_init, listener, json_str(g_config, CONFIG_CONSOLE_SOCKET));
    if (listener >= 0) close(listener);
    if (!e) {
        const char *pid_file = json_str(g_config, CONFIG_PID_FILE);
        g_init.pid = pid_from_file(pid_file);
        if (g_init.pid <= 0) e = err_new(CODE_INTERNAL, KIND_NONE, "monitor failed: cannot read %s", pid_file);
    }
    if (e) {
        g_init.pid = 0;
        g_restore_failed = 1;
        return e;
    }
    oom_start(); /* the restore made the cgroup */
    for (int i = 0; i < g_nearly; i++)
        if (g_early[i].pid == g_init.pid) {
            int status = g_early[i].status;
            g_early[i] = g_early[--g_nearly];
            on_init_exit(status);
            break;
        }
    return NULL;
}

/* A kill of a restored task's init before it exists: its exit is the signal's status (no
 * process got it), and its stdio are closed so the exit completes. */
static void abandon_restore(int sig) {
    if (g_restore_pending) {
        g_restore_pending = 0;
        for (int i = 0; i < 3; i++) {
            int fd = g_restore_fds[i];
            for (int j = i; j < 3; j++)
                if (g_restore_fds[j] == fd) g_restore_fds[j] = -1;
            if (fd >= 0) close(fd);
        }
        xclose(&g_restore_listener);
    }
    proc_on_exit(&g_init, 128 + sig);
}

static Err *listen_control(void) {
    g_listener = bind_unix("monitor.sock", 64);
    if (g_listener < 0) return err_new(CODE_INTERNAL, KIND_NONE, "monitor failed: monitor.sock: %s", strerror(errno));
    chmod("monitor.sock", 0600);
    set_nonblock(g_listener);
    ep_add(g_listener, EPOLLIN, &g_listen_h);
    return NULL;
}

static void daemonize(int keep_fd) {
    char logpath[PATH_MAX];
    snprintf(logpath, sizeof logpath, "%s/monitor.log", g_task_dir);
    pid_t pid = fork();
    if (pid < 0) exit(1);
    if (pid > 0) _exit(0);
    setsid();
    pid = fork();
    if (pid < 0) _exit(1);
    if (pid > 0) _exit(0);
    umask(077);
    if (chdir(g_task_dir) < 0) _exit(1);
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    int null = open("/dev/null", O_RDWR);
    int log = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600); /* no symlink */
    dup2(null, 0);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
    } else {
        dup2(null, 1);
        dup2(null, 2);
    }
    /* close everything else but the sync fd */
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int dfd = dirfd(d);
        struct dirent *de;
        int tofree[1024], n = 0;
        while ((de = readdir(d)) && n < 1024) {
            if (!isdigit((unsigned char)de->d_name[0])) continue;
            int fd = atoi(de->d_name);
            if (fd > 2 && fd != keep_fd && fd != dfd) tofree[n++] = fd;
        }
        closedir(d);
        for (int i = 0; i < n; i++) close(tofree[i]);
    }
    fcntl(keep_fd, F_SETFD, FD_CLOEXEC);
    signal(SIGTSTP, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}

static void fail_setup(Err *e) {
    mlog("failed: %s", e->message);
    cJSON *r = err_reply(e);
    report(r, 0);
    cJSON_Delete(r);
    char **argv = config_argv(ARGV_DELETE);
    if (argv) free(runtime_run(argv, 0)); /* none: the report above names what is missing */
    free(argv);
    xclose(&g_sync_fd);
    shutdown_monitor();
}

int main(int argc, char **argv) {
    if (argc != 4 || strcmp(argv[1], SYNC_FD_FLAG) != 0 || !*argv[2] ||
        strspn(argv[2], "0123456789") != strlen(argv[2])) {
        fprintf(stderr, "usage: pytasks-monitor " SYNC_FD_FLAG " N TASK_DIR\n");
        return 2;
    }
    g_sync_fd = atoi(argv[2]);
    g_task_dir = realpath(argv[3], NULL);
    if (!g_task_dir) {
        perror(argv[3]);
        return 1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/monitor.json", g_task_dir);
    char *text = read_file(path, NULL);
    g_config = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!cJSON_IsObject(g_config)) {
        fprintf(stderr, "pytasks-monitor: cannot read %s\n", path);
        return 1;
    }
    g_task_id = json_str(g_config, "id");
    snprintf(g_runtime_log, sizeof g_runtime_log, "%s/runtime.log", g_task_dir);
    cJSON *stdio = cJSON_GetObjectItemCaseSensitive(g_config, "stdio");
    snprintf(path, sizeof path, "%s/init.exit", g_task_dir);
    proc_init(&g_init, "init", path, json_truthy(stdio, "terminal"));

    daemonize(g_sync_fd);

    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        fail_setup(err_new(CODE_INTERNAL, KIND_OS_ERROR, "monitor failed: OSError: prctl(PR_SET_CHILD_SUBREAPER): %s",
                           strerror(errno)));
        return 1;
    }
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGQUIT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    ep_add(sfd, EPOLLIN, &g_signal_h);

    Err *e = prepare_rootfs();
    if (!e) e = create();
    if (!e && !g_restore_pending) oom_start();
    if (!e) e = listen_control();
    if (e) {
        fail_setup(e);
        return 1;
    }
    g_ready = 1;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, READY_PID, raw_int(g_init.pid));
    cJSON_AddItemToObject(r, READY_MONITOR_PID, raw_int(getpid()));
    long long st = process_start_time(getpid());
    cJSON_AddItemToObject(r, READY_MONITOR_START_TIME, st >= 0 ? raw_int(st) : cJSON_CreateNull());
    report(r, 1);
    cJSON_Delete(r);
    reap();
    struct epoll_event evs[32];
    while (!g_init.finished || g_nunwritten) {
        int timeout = step_exits();
        int retry = retry_records();
        free_deferred(); /* no event of the last batch is pending now */
        if (g_init.finished && !g_nunwritten) break;
        int deadline = expire_requests();
        if (deadline >= 0 && (timeout < 0 || deadline < timeout)) timeout = deadline;
        if (retry >= 0 && (timeout < 0 || retry < timeout)) timeout = retry;
        int n = epoll_wait(g_epfd, evs, 32, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            mlog("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            Handler *h = evs[i].data.ptr;
            switch (h->type) {
            case H_SIGNAL: on_signals(sfd); break;
            case H_LISTEN: on_accept(); break;
            case H_PUMP: pump_readable(h->obj); break;
            case H_SINK: {
                Sink *s = h->obj;
                if (s->fd >= 0 && s->watching) sink_flush(s);
                break;
            }
            case H_ATTACH: attach_readable(h->obj); break;
            case H_OOM: oom_readable(); break;
            case H_CONN: conn_readable(h->obj); break;
            }
        }
    }
    shutdown_monitor();
    return 0;
}
