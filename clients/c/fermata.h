/*
 * fermata.h: the C (and C++, and through clients/fortran, Fortran) client of Fermata's program
 * protocol (docs/protocol.md). A program running under `fermata launch`, `run` or `restart` asks
 * for its own checkpoint, learns that it was restored, and prepares for either, over the Unix
 * socket its launcher names in FERMATA_SOCKET. Without that variable every call reports Fermata as
 * not enabled and does nothing, so the same program runs with and without Fermata.
 *
 * A single header: every translation unit includes it for the declarations; exactly one defines
 * FERMATA_IMPLEMENTATION before including it, and gets the definitions (not static, so Fortran and
 * other languages can link against them; clients/c/fermata.c is such a unit). The implementation
 * needs POSIX 2008: compile that unit with the compiler's default GNU dialect, or with
 * -D_POSIX_C_SOURCE=200809L under a strict -std=c99; link with -pthread.
 *
 *     #define FERMATA_IMPLEMENTATION
 *     #include "fermata.h"
 *     ...
 *     struct fermata_checkpoint_result r;
 *     switch (fermata_checkpoint(0, &r)) {
 *     case FERMATA_CHECKPOINTED: break;                       // saved, going on
 *     case FERMATA_RESTARTED: reopen_connections(); break;    // this is the restored program
 *     case FERMATA_DISABLED: break;                           // not under Fermata
 *     default: fprintf(stderr, "%s\n", fermata_last_error());  // refused or failed; runs on
 *     }
 */
#ifndef FERMATA_H
#define FERMATA_H

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol version every request names. */
#define FERMATA_PROTOCOL_VERSION 1

/* The longest message either side sends, newline included. */
#define FERMATA_LINE_MAX 4096

/* Results. A call that does nothing because no launcher is there returns FERMATA_DISABLED (0),
 * so `if (fermata_checkpoint(0, NULL) > 0)` reads "a checkpoint was taken". fermata_info and
 * fermata_register return FERMATA_OK (1) on success for the same reason: 0 always means "not
 * enabled", -1 always means an error (see fermata_last_error). */
#define FERMATA_ERROR (-1)
#define FERMATA_DISABLED 0
#define FERMATA_OK 1
#define FERMATA_CHECKPOINTED 1 /* fermata_checkpoint: the program that goes on after it */
#define FERMATA_RESTARTED 2    /* fermata_checkpoint: the program restored from it */

/* fermata_checkpoint's flags. */
#define FERMATA_NEXT_INTERVAL 1 /* wait for the job's next periodic (--interval) checkpoint */
#define FERMATA_STOP 2          /* stop the job after the checkpoint: only FERMATA_RESTARTED comes */

/* The events a program may register for (fermata_register's bitmask). A program registered for
 * after_checkpoint also hears of a checkpoint that failed, so it can resume what it paused. */
#define FERMATA_EV_BEFORE_CHECKPOINT 1u
#define FERMATA_EV_AFTER_CHECKPOINT 2u
#define FERMATA_EV_AFTER_RESTART 4u

/* struct fermata_event's kind. */
#define FERMATA_BEFORE_CHECKPOINT 1 /* about to be frozen: prepare; the client answers "ready" when the hook returns */
#define FERMATA_AFTER_CHECKPOINT 2  /* the checkpoint is on disk and the job runs on */
#define FERMATA_AFTER_RESTART 3     /* this is the restored program, and the whole job runs again */
#define FERMATA_CHECKPOINT_FAILED 4 /* the checkpoint announced by before_checkpoint failed; message says why */

/* What the launcher knows of the job (the "info" request). */
struct fermata_info {
    int generation;                  /* 1 after launch, one more after each restart */
    int restored_from;               /* the checkpoint this generation was restored from; 0 after launch */
    int checkpoint;                  /* the job's latest checkpoint; 0 when there is none yet */
    double seconds_since_checkpoint; /* since the latest checkpoint (or the launch when none) */
    double interval;                 /* the job's --interval in seconds; 0 when none */
    char directory[4096];            /* the job's checkpoint directory */
    char latest[4096];               /* the latest checkpoint's path; "" when none */
};

/* Which checkpoint a fermata_checkpoint call took part in. */
struct fermata_checkpoint_result {
    int checkpoint;  /* its number */
    int generation;  /* the generation the program now runs in (one more in the restored program) */
    char path[4096]; /* its directory */
};

/* One event, as a hook receives it; fields an event does not carry are 0 or "". */
struct fermata_event {
    int kind;          /* FERMATA_BEFORE_CHECKPOINT, ... */
    int checkpoint;    /* the checkpoint it is about */
    int generation;    /* after_restart: the generation now running */
    char path[4096];   /* after_checkpoint: the checkpoint's directory */
    char message[512]; /* checkpoint_failed: the launcher's reason */
};

/* Called on the client's event thread, one event at a time, in the order the launcher sent them.
 * For before_checkpoint the launcher waits (up to its --hook-timeout) until the hook returns. */
typedef void (*fermata_hook)(const struct fermata_event *event, void *context);

/* 1 when FERMATA_SOCKET is set and the launcher answers, else 0: whether the other calls do
 * anything. It asks the launcher (an info request), so it waits its turn behind another thread's
 * request, such as a checkpoint in progress. */
int fermata_is_enabled(void);

/* Fills *out with what the launcher knows of the job. FERMATA_OK, FERMATA_DISABLED, or -1. */
int fermata_info(struct fermata_info *out);

/* Asks for a checkpoint of the whole job and waits for it (which may take long). Returns twice in
 * a sense, like fork: FERMATA_CHECKPOINTED in the program that goes on, and later
 * FERMATA_RESTARTED in the program restored from that checkpoint. FERMATA_DISABLED when not under
 * Fermata; -1 when the checkpoint failed or was refused (fermata_last_error has the launcher's
 * reason), and the job runs on. flags: 0, FERMATA_NEXT_INTERVAL, FERMATA_STOP, or both. out may
 * be NULL. Threads may call it concurrently: the process's requests take turns. */
int fermata_checkpoint(int flags, struct fermata_checkpoint_result *out);

/* Opens an event connection for the events in the bitmask and runs a detached thread that calls
 * hook(event, context) for each; for before_checkpoint it answers the launcher once the hook has
 * returned. Returns FERMATA_OK, FERMATA_DISABLED, or -1. May be called more than once (each call
 * its own connection and thread). A forked child does not inherit registrations: it registers
 * itself if it wants events. */
int fermata_register(unsigned events, fermata_hook hook, void *context);

/* Why the calling thread's last call failed, or returned FERMATA_DISABLED (the launcher's
 * message, or a system error), for messages; "" when it succeeded. Valid until the thread's next
 * call. */
const char *fermata_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* FERMATA_H */

#if defined(FERMATA_IMPLEMENTATION) && !defined(FERMATA_IMPLEMENTATION_INCLUDED)
#define FERMATA_IMPLEMENTATION_INCLUDED

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors: one message per thread, since threads may call concurrently. ---- */

static pthread_key_t fermata__error_key;
static pthread_once_t fermata__error_once = PTHREAD_ONCE_INIT;
static char fermata__error_fallback[512]; /* when a thread's buffer cannot be allocated */

static void fermata__error_key_make(void) { (void)pthread_key_create(&fermata__error_key, free); }

static char *fermata__error_buffer(void) {
    char *buffer;
    (void)pthread_once(&fermata__error_once, fermata__error_key_make);
    buffer = (char *)pthread_getspecific(fermata__error_key);
    if (buffer == NULL) {
        buffer = (char *)calloc(1, 512);
        if (buffer == NULL || pthread_setspecific(fermata__error_key, buffer) != 0) {
            free(buffer);
            return fermata__error_fallback;
        }
    }
    return buffer;
}

static void fermata__fail(const char *format, ...) {
    int saved = errno;
    va_list args;
    va_start(args, format);
    vsnprintf(fermata__error_buffer(), 512, format, args);
    va_end(args);
    errno = saved;
}

/* Each call starts with no error, so a message never outlives the call that failed. */
static void fermata__clear_error(void) { fermata__error_buffer()[0] = '\0'; }

const char *fermata_last_error(void) { return fermata__error_buffer(); }

/* ---- A tiny JSON reader for the launcher's replies and events: flat objects of strings,
 * numbers, booleans and null. Values of other kinds (a later version's fields) are skipped, as
 * the protocol says unknown fields are. Locale-independent: a program's LC_NUMERIC must not
 * change how "12.5" reads. ---- */

enum { FERMATA__JSON_STRING, FERMATA__JSON_NUMBER, FERMATA__JSON_BOOL, FERMATA__JSON_NULL, FERMATA__JSON_OTHER };

struct fermata__json_value {
    int type;
    double number;
    int boolean;
    char *text; /* a string value is decoded here (UTF-8), truncated to capacity - 1 */
    size_t capacity;
};

static const char *fermata__json_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static int fermata__hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static const char *fermata__json_hex4(const char *p, unsigned *out) {
    unsigned value = 0;
    int i;
    for (i = 0; i < 4; i++) {
        int digit = fermata__hex(p[i]);
        if (digit < 0) return NULL;
        value = value * 16 + (unsigned)digit;
    }
    *out = value;
    return p + 4;
}

/* Appends one byte to out (when there is room), keeping it terminated. */
static void fermata__put(char *out, size_t capacity, size_t *length, char c) {
    if (out != NULL && *length + 1 < capacity) {
        out[*length] = c;
        out[*length + 1] = '\0';
    }
    (*length)++;
}

/* Reads the string that starts at p (at its quote), decoding escapes into out when out is not
 * NULL. Returns the position after the closing quote, or NULL when malformed. */
static const char *fermata__json_string(const char *p, char *out, size_t capacity) {
    size_t length = 0;
    if (*p++ != '"') return NULL;
    if (out != NULL && capacity > 0) out[0] = '\0';
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"') return p;
        if (c < 0x20) return NULL; /* the end of the line, or a control character JSON forbids */
        if (c != '\\') {
            fermata__put(out, capacity, &length, (char)c);
            continue;
        }
        c = (unsigned char)*p++;
        switch (c) {
        case '"': case '\\': case '/': fermata__put(out, capacity, &length, (char)c); break;
        case 'b': fermata__put(out, capacity, &length, '\b'); break;
        case 'f': fermata__put(out, capacity, &length, '\f'); break;
        case 'n': fermata__put(out, capacity, &length, '\n'); break;
        case 'r': fermata__put(out, capacity, &length, '\r'); break;
        case 't': fermata__put(out, capacity, &length, '\t'); break;
        case 'u': {
            unsigned code, low;
            if ((p = fermata__json_hex4(p, &code)) == NULL) return NULL;
            if (code >= 0xD800 && code <= 0xDBFF) { /* a surrogate pair makes one code point */
                if (p[0] != '\\' || p[1] != 'u' || fermata__json_hex4(p + 2, &low) == NULL || low < 0xDC00 || low > 0xDFFF) return NULL;
                p += 6;
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            } else if (code >= 0xDC00 && code <= 0xDFFF) {
                return NULL;
            }
            if (code < 0x80) {
                fermata__put(out, capacity, &length, (char)code);
            } else if (code < 0x800) {
                fermata__put(out, capacity, &length, (char)(0xC0 | (code >> 6)));
                fermata__put(out, capacity, &length, (char)(0x80 | (code & 0x3F)));
            } else if (code < 0x10000) {
                fermata__put(out, capacity, &length, (char)(0xE0 | (code >> 12)));
                fermata__put(out, capacity, &length, (char)(0x80 | ((code >> 6) & 0x3F)));
                fermata__put(out, capacity, &length, (char)(0x80 | (code & 0x3F)));
            } else {
                fermata__put(out, capacity, &length, (char)(0xF0 | (code >> 18)));
                fermata__put(out, capacity, &length, (char)(0x80 | ((code >> 12) & 0x3F)));
                fermata__put(out, capacity, &length, (char)(0x80 | ((code >> 6) & 0x3F)));
                fermata__put(out, capacity, &length, (char)(0x80 | (code & 0x3F)));
            }
            break;
        }
        default: return NULL;
        }
    }
}

/* Reads a number by JSON's grammar, without strtod (whose decimal point is the locale's). */
static const char *fermata__json_number(const char *p, double *out) {
    double value = 0, scale = 1;
    int negative = 0, exponent = 0, exponent_negative = 0, digits = 0;
    if (*p == '-') { negative = 1; p++; }
    if (*p == '0') { p++; digits = 1; }
    else while (*p >= '0' && *p <= '9') { value = value * 10 + (*p++ - '0'); digits++; }
    if (digits == 0) return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) return NULL;
        while (*p >= '0' && *p <= '9') { scale /= 10; value += (*p++ - '0') * scale; }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') exponent_negative = *p++ == '-';
        if (!(*p >= '0' && *p <= '9')) return NULL;
        while (*p >= '0' && *p <= '9') { if (exponent < 400) exponent = exponent * 10 + (*p - '0'); p++; }
        while (exponent-- > 0) value = exponent_negative ? value / 10 : value * 10;
    }
    *out = negative ? -value : value;
    return p;
}

static const char *fermata__json_skip(const char *p, int depth);

/* Reads any value; fills *v (when not NULL) for the flat kinds, skips nested ones. */
static const char *fermata__json_value(const char *p, struct fermata__json_value *v, int depth) {
    p = fermata__json_space(p);
    if (*p == '"') {
        if (v != NULL) v->type = FERMATA__JSON_STRING;
        return fermata__json_string(p, v != NULL ? v->text : NULL, v != NULL ? v->capacity : 0);
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        double number = 0;
        if ((p = fermata__json_number(p, &number)) == NULL) return NULL;
        if (v != NULL) { v->type = FERMATA__JSON_NUMBER; v->number = number; }
        return p;
    }
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
        int truth = *p == 't';
        if (v != NULL) { v->type = FERMATA__JSON_BOOL; v->boolean = truth; }
        return p + (truth ? 4 : 5);
    }
    if (strncmp(p, "null", 4) == 0) {
        if (v != NULL) v->type = FERMATA__JSON_NULL;
        return p + 4;
    }
    if (*p == '[' || *p == '{') {
        if (v != NULL) v->type = FERMATA__JSON_OTHER;
        return fermata__json_skip(p, depth);
    }
    return NULL;
}

/* Skips an array or object (depth-limited: a line is at most 4096 bytes anyway). */
static const char *fermata__json_skip(const char *p, int depth) {
    char close = *p == '[' ? ']' : '}';
    if (depth > 32) return NULL;
    p = fermata__json_space(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (close == '}') {
            if ((p = fermata__json_string(p, NULL, 0)) == NULL) return NULL;
            p = fermata__json_space(p);
            if (*p++ != ':') return NULL;
        }
        if ((p = fermata__json_value(p, NULL, depth + 1)) == NULL) return NULL;
        p = fermata__json_space(p);
        if (*p == close) return p + 1;
        if (*p++ != ',') return NULL;
        p = fermata__json_space(p);
    }
}

/* Looks up key among the members of the object in json (a whole line, the object alone).
 * Returns 1 and fills *v when found, 0 when the object has no such member, -1 when the line is
 * not one well-formed object. The whole line is checked either way. */
static int fermata__json_get(const char *json, const char *key, struct fermata__json_value *v) {
    char name[64];
    int found = 0;
    const char *p = fermata__json_space(json);
    if (*p++ != '{') return -1;
    p = fermata__json_space(p);
    if (*p == '}') return *fermata__json_space(p + 1) == '\0' ? 0 : -1;
    for (;;) {
        const char *after = fermata__json_string(p, name, sizeof name);
        int match;
        if (after == NULL) return -1;
        /* A name that filled the buffer was truncated: it cannot equal a key of ours. */
        match = !found && strlen(name) < sizeof name - 1 && strcmp(name, key) == 0;
        p = fermata__json_space(after);
        if (*p++ != ':') return -1;
        if ((p = fermata__json_value(p, match ? v : NULL, 0)) == NULL) return -1;
        found |= match;
        p = fermata__json_space(p);
        if (*p == '}') return *fermata__json_space(p + 1) == '\0' ? found : -1;
        if (*p++ != ',') return -1;
        p = fermata__json_space(p);
    }
}

/* The member key as a string into out; "" when absent or not a string. -1 when malformed. */
static int fermata__json_text(const char *json, const char *key, char *out, size_t capacity) {
    struct fermata__json_value v;
    int found;
    memset(&v, 0, sizeof v);
    v.text = out;
    v.capacity = capacity;
    found = fermata__json_get(json, key, &v);
    if (found <= 0 || v.type != FERMATA__JSON_STRING) out[0] = '\0';
    return found < 0 ? -1 : 0;
}

/* The member key as a number; fallback when absent or not a number. */
static double fermata__json_number_of(const char *json, const char *key, double fallback) {
    char scratch[8];
    struct fermata__json_value v;
    memset(&v, 0, sizeof v);
    v.text = scratch;
    v.capacity = sizeof scratch;
    return fermata__json_get(json, key, &v) == 1 && v.type == FERMATA__JSON_NUMBER ? v.number : fallback;
}

static int fermata__json_int(const char *json, const char *key) {
    double number = fermata__json_number_of(json, key, 0);
    return number > 2147483647.0 || number < -2147483648.0 ? 0 : (int)number;
}

/* ---- Connections: lines over a Unix stream socket. ---- */

struct fermata__connection {
    int fd;       /* -1 when closed */
    pid_t pid;    /* the process that opened it: a forked child must not use its parent's */
    size_t have;  /* bytes of the next line(s) already read */
    char buffer[FERMATA_LINE_MAX];
};

/* Connects to the launcher. FERMATA_OK; FERMATA_DISABLED when FERMATA_SOCKET is not set or no
 * launcher listens there (the program was restored without one, or the variable leaked into a
 * program outside the job); -1 on any other failure. */
static int fermata__connect(struct fermata__connection *c) {
    const char *path = getenv("FERMATA_SOCKET");
    struct sockaddr_un address;
    int fd;
    c->fd = -1;
    c->have = 0;
    if (path == NULL || path[0] == '\0') {
        fermata__fail("FERMATA_SOCKET is not set: not running under a Fermata launcher");
        return FERMATA_DISABLED;
    }
    if (strlen(path) >= sizeof address.sun_path) {
        fermata__fail("FERMATA_SOCKET is longer than a socket path may be: %s", path);
        errno = ENAMETOOLONG;
        return FERMATA_ERROR;
    }
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    strcpy(address.sun_path, path);
    /* Close-on-exec: a program the job execs speaks for itself, on a connection of its own. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fermata__fail("cannot make a socket: %s", strerror(errno));
        return FERMATA_ERROR;
    }
    while (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int error = errno;
        if (error == EINTR) continue;
        close(fd);
        errno = error;
        fermata__fail("cannot reach the launcher at %s: %s", path, strerror(error));
        return error == ENOENT || error == ECONNREFUSED ? FERMATA_DISABLED : FERMATA_ERROR;
    }
    c->fd = fd;
    c->pid = getpid();
    return FERMATA_OK;
}

static void fermata__close(struct fermata__connection *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->have = 0;
}

/* Sends one line whole. 0, or -1 with errno (EPIPE when the launcher closed the connection;
 * MSG_NOSIGNAL keeps that from raising SIGPIPE). */
static int fermata__send(int fd, const char *line, size_t length) {
    while (length > 0) {
        ssize_t n = send(fd, line, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        line += n;
        length -= (size_t)n;
    }
    return 0;
}

/* Reads the next line (without its newline) into line, blocking as long as it takes: a
 * checkpoint's reply comes when the checkpoint is done, or in the restored program. 1 for a
 * line; 0 at end of file; -1 with errno on an error, or EMSGSIZE for a line over the limit. */
static int fermata__read_line(struct fermata__connection *c, char *line) {
    for (;;) {
        char *end = (char *)memchr(c->buffer, '\n', c->have);
        ssize_t n;
        if (end != NULL) {
            size_t length = (size_t)(end - c->buffer);
            memcpy(line, c->buffer, length);
            line[length] = '\0';
            c->have -= length + 1;
            memmove(c->buffer, end + 1, c->have);
            return 1;
        }
        if (c->have == sizeof c->buffer) {
            errno = EMSGSIZE;
            return -1;
        }
        n = recv(c->fd, c->buffer + c->have, sizeof c->buffer - c->have, 0);
        if (n < 0) {
            if (errno == EINTR) continue; /* a signal handler ran; the reply is still to come */
            return errno == ECONNRESET ? 0 : -1;
        }
        if (n == 0) return 0;
        c->have += (size_t)n;
    }
}

/* Reads the reply line and says whether it is an "ok": FERMATA_OK, or -1 with the launcher's
 * message (or what was wrong with the line) in fermata_last_error. */
static int fermata__check_reply(const char *reply) {
    char status[16], message[512];
    if (fermata__json_text(reply, "status", status, sizeof status) < 0) {
        fermata__fail("the launcher's reply is not a JSON object: %.200s", reply);
        errno = EPROTO;
        return FERMATA_ERROR;
    }
    if (strcmp(status, "ok") == 0) return FERMATA_OK;
    fermata__json_text(reply, "message", message, sizeof message);
    if (strcmp(status, "error") == 0) fermata__fail("%s", message[0] ? message : "the launcher refused the request");
    else fermata__fail("the launcher's reply has no status: %.200s", reply);
    errno = strcmp(status, "error") == 0 ? ECANCELED : EPROTO;
    return FERMATA_ERROR;
}

/* ---- The request connection: one per process, shared by its threads in turn. ---- */

static pthread_mutex_t fermata__request_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fermata__connection fermata__requests = { -1, 0, 0, { 0 } };

/* The event connections' descriptors, so that a forked child closes its copies (its parent's
 * event threads are not in it, and the launcher would count the copies as the parent's). */
#define FERMATA__MAX_EVENT_CONNECTIONS 64
static pthread_mutex_t fermata__events_lock = PTHREAD_MUTEX_INITIALIZER;
static int fermata__event_fds[FERMATA__MAX_EVENT_CONNECTIONS];
static int fermata__event_count;

static void fermata__before_fork(void) { pthread_mutex_lock(&fermata__events_lock); }
static void fermata__after_fork_parent(void) { pthread_mutex_unlock(&fermata__events_lock); }

/* In a forked child: drop the parent's connections. The request lock is made anew rather than
 * held across fork, because the parent may be in the middle of a long checkpoint request. */
static void fermata__after_fork_child(void) {
    int i;
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    for (i = 0; i < fermata__event_count; i++) close(fermata__event_fds[i]);
    fermata__event_count = 0;
    pthread_mutex_unlock(&fermata__events_lock);
    memcpy(&fermata__request_lock, &fresh, sizeof fresh);
    fermata__close(&fermata__requests);
}

static pthread_once_t fermata__fork_once = PTHREAD_ONCE_INIT;
static void fermata__fork_handlers(void) {
    (void)pthread_atfork(fermata__before_fork, fermata__after_fork_parent, fermata__after_fork_child);
}

/* Sends request and reads its reply into reply (FERMATA_LINE_MAX bytes). Opens the connection
 * when there is none, or when it was opened by another process (a child forked without going
 * through pthread_atfork, by a raw clone); when the launcher closed it (end of file or EPIPE,
 * before any reply), connects once more and sends again. FERMATA_OK for any reply (ok or error),
 * FERMATA_DISABLED, or -1. */
static int fermata__request(const char *request, char *reply) {
    int attempt, result = FERMATA_ERROR;
    (void)pthread_once(&fermata__fork_once, fermata__fork_handlers);
    pthread_mutex_lock(&fermata__request_lock);
    if (fermata__requests.fd >= 0 && fermata__requests.pid != getpid()) fermata__close(&fermata__requests);
    for (attempt = 0; attempt < 2; attempt++) {
        int got;
        if (fermata__requests.fd < 0 && (result = fermata__connect(&fermata__requests)) != FERMATA_OK) break;
        if (fermata__send(fermata__requests.fd, request, strlen(request)) != 0) {
            int error = errno;
            fermata__close(&fermata__requests);
            result = FERMATA_ERROR;
            errno = error;
            fermata__fail("cannot send to the launcher: %s", strerror(error));
            if (error == EPIPE || error == ECONNRESET) continue;
            break;
        }
        got = fermata__read_line(&fermata__requests, reply);
        if (got == 1) {
            result = FERMATA_OK;
            break;
        }
        {
            int error = errno;
            fermata__close(&fermata__requests);
            result = FERMATA_ERROR;
            errno = got == 0 ? ECONNRESET : error;
            fermata__fail(got == 0 ? "the launcher closed the connection" : "cannot read the launcher's reply: %s", strerror(errno));
            if (got != 0) break;
        }
    }
    pthread_mutex_unlock(&fermata__request_lock);
    return result;
}

int fermata_is_enabled(void) {
    char reply[FERMATA_LINE_MAX];
    int saved = errno, result;
    fermata__clear_error();
    result = fermata__request("{\"version\":1,\"kind\":\"info\"}\n", reply);
    errno = saved;
    return result == FERMATA_OK;
}

int fermata_info(struct fermata_info *out) {
    char reply[FERMATA_LINE_MAX];
    int result;
    fermata__clear_error();
    if (out != NULL) memset(out, 0, sizeof *out); /* zeros and "" whenever there is nothing to say */
    result = fermata__request("{\"version\":1,\"kind\":\"info\"}\n", reply);
    if (result != FERMATA_OK || (result = fermata__check_reply(reply)) != FERMATA_OK) return result;
    if (out != NULL) {
        out->generation = fermata__json_int(reply, "generation");
        out->restored_from = fermata__json_int(reply, "restored_from");
        out->checkpoint = fermata__json_int(reply, "checkpoint");
        out->seconds_since_checkpoint = fermata__json_number_of(reply, "seconds_since_checkpoint", 0);
        out->interval = fermata__json_number_of(reply, "interval", 0);
        fermata__json_text(reply, "directory", out->directory, sizeof out->directory);
        fermata__json_text(reply, "latest", out->latest, sizeof out->latest);
    }
    return FERMATA_OK;
}

int fermata_checkpoint(int flags, struct fermata_checkpoint_result *out) {
    char request[128], reply[FERMATA_LINE_MAX], resumed[32];
    int result;
    fermata__clear_error();
    if (out != NULL) memset(out, 0, sizeof *out);
    if ((flags & ~(FERMATA_NEXT_INTERVAL | FERMATA_STOP)) != 0) {
        fermata__fail("unknown flags %#x", (unsigned)flags);
        errno = EINVAL;
        return FERMATA_ERROR;
    }
    snprintf(request, sizeof request, "{\"version\":1,\"kind\":\"checkpoint\",\"when\":\"%s\",\"stop\":%s}\n",
             flags & FERMATA_NEXT_INTERVAL ? "next_interval" : "now", flags & FERMATA_STOP ? "true" : "false");
    result = fermata__request(request, reply);
    if (result != FERMATA_OK || (result = fermata__check_reply(reply)) != FERMATA_OK) return result;
    fermata__json_text(reply, "resumed", resumed, sizeof resumed);
    if (strcmp(resumed, "checkpointed") == 0) result = FERMATA_CHECKPOINTED;
    else if (strcmp(resumed, "restarted") == 0) result = FERMATA_RESTARTED;
    else {
        fermata__fail("the launcher's reply says neither checkpointed nor restarted: %.200s", reply);
        errno = EPROTO;
        return FERMATA_ERROR;
    }
    if (out != NULL) {
        out->checkpoint = fermata__json_int(reply, "checkpoint");
        out->generation = fermata__json_int(reply, "generation");
        fermata__json_text(reply, "path", out->path, sizeof out->path);
    }
    return result;
}

/* ---- Event connections: each read by a detached thread of its own. ---- */

struct fermata__listener {
    struct fermata__connection connection;
    unsigned events;
    fermata_hook hook;
    void *context;
};

static void fermata__forget_event_fd(int fd) {
    int i;
    pthread_mutex_lock(&fermata__events_lock);
    for (i = 0; i < fermata__event_count; i++)
        if (fermata__event_fds[i] == fd) {
            fermata__event_fds[i] = fermata__event_fds[--fermata__event_count];
            break;
        }
    pthread_mutex_unlock(&fermata__events_lock);
}

/* Turns an event line into *event; 0 when it is no event this client knows (skipped). */
static int fermata__parse_event(const char *line, struct fermata_event *event) {
    char name[32];
    memset(event, 0, sizeof *event);
    if (fermata__json_text(line, "event", name, sizeof name) < 0) return 0;
    if (strcmp(name, "before_checkpoint") == 0) event->kind = FERMATA_BEFORE_CHECKPOINT;
    else if (strcmp(name, "after_checkpoint") == 0) event->kind = FERMATA_AFTER_CHECKPOINT;
    else if (strcmp(name, "after_restart") == 0) event->kind = FERMATA_AFTER_RESTART;
    else if (strcmp(name, "checkpoint_failed") == 0) event->kind = FERMATA_CHECKPOINT_FAILED;
    else return 0;
    event->checkpoint = fermata__json_int(line, "checkpoint");
    event->generation = fermata__json_int(line, "generation");
    fermata__json_text(line, "path", event->path, sizeof event->path);
    fermata__json_text(line, "message", event->message, sizeof event->message);
    return 1;
}

static void *fermata__listen(void *argument) {
    struct fermata__listener *listener = (struct fermata__listener *)argument;
    static const char ready[] = "{\"version\":1,\"kind\":\"ready\"}\n";
    char line[FERMATA_LINE_MAX];
    struct fermata_event event;
    /* Until the launcher closes the connection (the job ends, or was restored without one). */
    while (fermata__read_line(&listener->connection, line) == 1) {
        if (!fermata__parse_event(line, &event)) continue;
        listener->hook(&event, listener->context);
        if (event.kind == FERMATA_BEFORE_CHECKPOINT &&
            fermata__send(listener->connection.fd, ready, sizeof ready - 1) != 0)
            break;
    }
    fermata__forget_event_fd(listener->connection.fd);
    fermata__close(&listener->connection);
    free(listener);
    return NULL;
}

int fermata_register(unsigned events, fermata_hook hook, void *context) {
    char request[160], reply[FERMATA_LINE_MAX];
    struct fermata__listener *listener;
    pthread_t thread;
    pthread_attr_t attributes;
    sigset_t all, previous;
    int result, error;
    fermata__clear_error();
    if (events == 0 || (events & ~(FERMATA_EV_BEFORE_CHECKPOINT | FERMATA_EV_AFTER_CHECKPOINT | FERMATA_EV_AFTER_RESTART)) != 0 || hook == NULL) {
        fermata__fail(hook == NULL ? "no hook" : "events must name at least one of FERMATA_EV_*, and nothing else");
        errno = EINVAL;
        return FERMATA_ERROR;
    }
    (void)pthread_once(&fermata__fork_once, fermata__fork_handlers);
    listener = (struct fermata__listener *)calloc(1, sizeof *listener);
    if (listener == NULL) {
        fermata__fail("out of memory");
        return FERMATA_ERROR;
    }
    listener->events = events;
    listener->hook = hook;
    listener->context = context;
    if ((result = fermata__connect(&listener->connection)) != FERMATA_OK) {
        free(listener);
        return result;
    }
    snprintf(request, sizeof request, "{\"version\":1,\"kind\":\"register\",\"events\":[%s%s%s%s%s]}\n",
             events & FERMATA_EV_BEFORE_CHECKPOINT ? "\"before_checkpoint\"" : "",
             (events & FERMATA_EV_BEFORE_CHECKPOINT) && (events & ~FERMATA_EV_BEFORE_CHECKPOINT & 6u) ? "," : "",
             events & FERMATA_EV_AFTER_CHECKPOINT ? "\"after_checkpoint\"" : "",
             (events & FERMATA_EV_AFTER_CHECKPOINT) && (events & FERMATA_EV_AFTER_RESTART) ? "," : "",
             events & FERMATA_EV_AFTER_RESTART ? "\"after_restart\"" : "");
    if (fermata__send(listener->connection.fd, request, strlen(request)) != 0) {
        fermata__fail("cannot send to the launcher: %s", strerror(errno));
        result = FERMATA_ERROR;
    } else if ((result = fermata__read_line(&listener->connection, reply)) != 1) {
        fermata__fail(result == 0 ? "the launcher closed the connection" : "cannot read the launcher's reply: %s", strerror(errno));
        result = FERMATA_ERROR;
    } else {
        result = fermata__check_reply(reply);
    }
    if (result != FERMATA_OK) {
        error = errno;
        fermata__close(&listener->connection);
        free(listener);
        errno = error;
        return result;
    }

    pthread_mutex_lock(&fermata__events_lock);
    if (fermata__event_count < FERMATA__MAX_EVENT_CONNECTIONS) fermata__event_fds[fermata__event_count++] = listener->connection.fd;
    pthread_mutex_unlock(&fermata__events_lock);
    /* The thread blocks every signal, so the program's handlers run on its own threads as before. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    error = pthread_create(&thread, &attributes, fermata__listen, listener);
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (error != 0) {
        fermata__forget_event_fd(listener->connection.fd);
        fermata__close(&listener->connection);
        free(listener);
        errno = error;
        fermata__fail("cannot start the event thread: %s", strerror(error));
        return FERMATA_ERROR;
    }
    return FERMATA_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* FERMATA_IMPLEMENTATION */
