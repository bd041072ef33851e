// timerfd OUTFILE TICKS INTERVAL_MS
//
// Timerfds of every kind, armed before it ticks (the checkpoint lands in the ticks):
//   relative   CLOCK_MONOTONIC, relative, due 2.5 s after the ticks end
//   absmono    CLOCK_MONOTONIC, absolute, due 3 s after the ticks end
//   realtime   CLOCK_REALTIME, absolute (and cancelled if the clock is set), due 1 s after the
//              ticks end, on the clock
//   periodic   CLOCK_MONOTONIC, every 50 ms, never read until the end (non-blocking)
//   expired    CLOCK_BOOTTIME, a one-shot that has fired once and was not read (non-blocking)
//   disarmed   an interval of 1 s but no time set
// Time the program spends stopped (between a checkpoint and its restore) shows as one tick
// that took far longer than the others; a timer set relative to now (or on CLOCK_MONOTONIC)
// does not count it, one set for a time of day does. After the ticks it reads each timer,
// measuring with CLOCK_MONOTONIC and CLOCK_REALTIME around the read when it fires, and writes
// "check NAME ok" or "check NAME FAILED ...". The slack is generous: it catches a timer that
// restarted its whole time or fired at once, not scheduling noise.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static int64_t now_ms(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct timespec ms(int64_t v) { struct timespec t = { v / 1000, (long)(v % 1000) * 1000000L }; return t; }

static int timer(clockid_t clock, int flags, int set_flags, int64_t value_ms, int64_t interval_ms) {
    int fd = timerfd_create(clock, flags);
    struct itimerspec s = { ms(interval_ms), ms(value_ms) };
    if (fd < 0 || timerfd_settime(fd, set_flags, &s, NULL) != 0) { perror("timerfd"); exit(2); }
    return fd;
}

/// Expirations read (blocking or not), or -errno.
static int64_t take(int fd) {
    uint64_t v;
    return read(fd, &v, 8) == 8 ? (int64_t)v : -errno;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: timerfd OUTFILE TICKS INTERVAL_MS\n"); return 2; }
    int ticks = atoi(argv[2]), interval = atoi(argv[3]);
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    int64_t run = (int64_t)ticks * interval;
    int64_t start = now_ms(CLOCK_MONOTONIC), wall = now_ms(CLOCK_REALTIME);
    int relative = timer(CLOCK_MONOTONIC, 0, 0, run + 2500, 0);
    int absmono = timer(CLOCK_MONOTONIC, 0, TFD_TIMER_ABSTIME, start + run + 3000, 0);
    int64_t due = wall + run + 1000;
    int realtime = timer(CLOCK_REALTIME, 0, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, due, 0);
    int periodic = timer(CLOCK_MONOTONIC, TFD_NONBLOCK, 0, 50, 50);
    int expired = timer(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC, 0, 1, 0);
    int disarmed = timer(CLOCK_MONOTONIC, 0, 0, 0, 1000);
    struct timespec wait = ms(20);
    nanosleep(&wait, NULL);

    // Time stopped: what a tick took beyond its interval, where it took half a second more.
    int64_t stopped = 0, last = now_ms(CLOCK_MONOTONIC);
    struct timespec pause = ms(interval);
    for (int i = 1; i <= ticks; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        nanosleep(&pause, NULL);
        int64_t t = now_ms(CLOCK_MONOTONIC);
        if (t - last > interval + 500) stopped += t - last - interval;
        last = t;
    }

    char detail[256];
    int64_t e = take(expired), e2 = take(expired);
    snprintf(detail, sizeof detail, "read %lld then %lld", (long long)e, (long long)e2);
    check("expired", e == 1 && e2 == -EAGAIN, detail);

    int64_t running = now_ms(CLOCK_MONOTONIC) - start - stopped, want = running / 50;
    int64_t p = take(periodic);
    snprintf(detail, sizeof detail, "read %lld expirations in %lld ms running", (long long)p, (long long)running);
    check("periodic", p >= want - want / 4 - 10 && p <= want + want / 4 + 10, detail);

    struct itimerspec d;
    timerfd_gettime(disarmed, &d);
    check("disarmed", d.it_value.tv_sec == 0 && d.it_value.tv_nsec == 0 && d.it_interval.tv_sec == 1 && d.it_interval.tv_nsec == 0,
          "it_value or it_interval differ");

    // A time of day: not before it, and at once when it has passed.
    int64_t before = now_ms(CLOCK_REALTIME);
    int64_t r = take(realtime), fired = now_ms(CLOCK_REALTIME);
    int64_t latest = (before > due ? before : due) + 1500;
    snprintf(detail, sizeof detail, "read %lld at %+lld ms from its time (read from %+lld ms)", (long long)r, (long long)(fired - due), (long long)(before - due));
    check("realtime", r == 1 && fired >= due - 10 && fired <= latest, detail);

    // Time left: due when the time it had left has run, the time stopped not counted (but
    // the end of a restore, after the timer is set, counts as stopped: hence the early slack).
    int64_t m = take(relative), at = now_ms(CLOCK_MONOTONIC) - start - stopped;
    snprintf(detail, sizeof detail, "read %lld at %lld ms of running time, due at %lld", (long long)m, (long long)at, (long long)(run + 2500));
    check("relative", m == 1 && at >= run + 2500 - 1500 && at <= run + 2500 + 2000, detail);

    int64_t a = take(absmono), at2 = now_ms(CLOCK_MONOTONIC) - start - stopped;
    snprintf(detail, sizeof detail, "read %lld at %lld ms of running time, due at %lld", (long long)a, (long long)at2, (long long)(run + 3000));
    check("absmono", a == 1 && at2 >= run + 3000 - 1500 && at2 <= run + 3000 + 2000, detail);

    int flags_ok = (fcntl(periodic, F_GETFL) & O_NONBLOCK) && !(fcntl(relative, F_GETFL) & O_NONBLOCK)
        && (fcntl(expired, F_GETFD) & FD_CLOEXEC) && !(fcntl(periodic, F_GETFD) & FD_CLOEXEC);
    check("flags", flags_ok, "O_NONBLOCK or FD_CLOEXEC differ");
    say("done\n");
    return 0;
}
