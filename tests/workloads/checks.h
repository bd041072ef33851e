// checks.h: what the workloads that check their own state after a restore share. Each appends
// to one output file (out, opened by the workload): "tick N" while it runs (a checkpoint lands
// there), then a line "check NAME ok" or "check NAME FAILED DETAIL" per thing it checks.
#ifndef CHECKS_H
#define CHECKS_H
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int out;
static char line[1024];

static inline void say(const char *text) { size_t n = strlen(text); if (write(out, text, n) != (ssize_t)n) _exit(3); }

static inline void check(const char *name, int ok, const char *detail) {
    snprintf(line, sizeof line, "check %s %s%s%s\n", name, ok ? "ok" : "FAILED", ok ? "" : " ", ok ? "" : detail);
    say(line);
}

/// "tick 1" to "tick TICKS", INTERVAL_MS apart.
static inline void ticking(int ticks, int interval_ms) {
    struct timespec pause = { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L };
    for (int i = 1; i <= ticks; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        nanosleep(&pause, NULL);
    }
}
#endif
