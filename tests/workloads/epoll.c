// epoll MODE OUTFILE TICKS INTERVAL_MS [GATEFILE]
//
// run: an epoll instance whose entries are each in another state when it ticks (the
// checkpoint lands there); data N names each entry:
//   1  eventfd, level-triggered, ready
//   2  eventfd, edge-triggered, ready, its edge taken by an epoll_wait before the ticks
//   3  eventfd, edge-triggered, made ready after that epoll_wait: an edge waiting
//   4  eventfd, EPOLLONESHOT, fired in that epoll_wait (disarmed)
//   5  a nested epoll instance, whose own entry (data 50) is a ready eventfd
//   6  a pipe with a byte in it, added under fd X; the pipe then moved to another number and
//      X given to an eventfd of no entry (the kernel keys the entry by the pipe and X)
//   7  an empty pipe: never ready
//   8  eventfd, EPOLLEXCLUSIVE, ready
//   9  a pipe's write end, edge-triggered, added after that epoll_wait: an edge waiting
//   10 eventfd, EPOLLONESHOT, fired in that epoll_wait and then emptied
// After the ticks it checks the ready set (twice: edges are taken once), the nested instance,
// re-arming the oneshot, and that entry 6 is found by the pipe at X and not by the eventfd, and
// writes "check NAME ok" or "check NAME FAILED ...".
//
// orphan: an eventfd in an epoll instance; it writes "eventfd N", waits for GATEFILE, closes the
// eventfd (another process may have taken it meanwhile), then ticks.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static void add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { events, { .u64 = data } };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) { perror("epoll_ctl"); exit(2); }
}

static int counter(uint64_t count) {
    int fd = eventfd((unsigned)count, EFD_NONBLOCK);
    if (fd < 0) { perror("eventfd"); exit(2); }
    return fd;
}

/// The data of the ready entries, ascending, as "1 3 5".
static void ready(int ep, char *into, size_t size) {
    struct epoll_event evs[32];
    int n = epoll_wait(ep, evs, 32, 0);
    uint64_t data[32];
    for (int i = 0; i < n; i++) data[i] = evs[i].data.u64;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (data[j] < data[i]) { uint64_t t = data[i]; data[i] = data[j]; data[j] = t; }
    size_t used = 0;
    into[0] = 0;
    for (int i = 0; i < n && used < size; i++) used += snprintf(into + used, size - used, i ? " %llu" : "%llu", (unsigned long long)data[i]);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: epoll MODE OUTFILE TICKS INTERVAL_MS [GATEFILE]\n"); return 2; }
    const char *mode = argv[1];
    int ticks = atoi(argv[3]), interval = atoi(argv[4]);
    out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[2]); return 2; }
    int ep = epoll_create1(0);
    if (ep < 0) { perror("epoll_create1"); return 2; }

    if (!strcmp(mode, "orphan")) {
        int e = counter(1);
        add(ep, e, EPOLLIN, 1);
        snprintf(line, sizeof line, "eventfd %d\n", e);
        say(line);
        struct timespec poll = { 0, 10000000L };
        while (argc > 5 && access(argv[5], F_OK) != 0) nanosleep(&poll, NULL);
        close(e);
        ticking(ticks, interval);
        char set[256];
        ready(ep, set, sizeof set);
        check("orphan", 1, set);
        say("done\n");
        return 0;
    }

    int a = counter(1), b = counter(1), c = counter(0), d = counter(1), x = counter(1), r = counter(1);
    add(ep, a, EPOLLIN, 1);
    add(ep, b, EPOLLIN | EPOLLET, 2);
    add(ep, c, EPOLLIN | EPOLLET, 3);
    add(ep, d, EPOLLIN | EPOLLONESHOT, 4);
    int inner = epoll_create1(EPOLL_CLOEXEC);
    add(inner, counter(1), EPOLLIN, 50);
    add(ep, inner, EPOLLIN, 5);
    int p[2], q[2];
    if (pipe(p) != 0 || pipe(q) != 0 || write(p[1], "x", 1) != 1) { perror("pipe"); return 2; }
    int numbered = p[0];
    add(ep, numbered, EPOLLIN, 6);
    int moved = dup(p[0]);
    int other = counter(0);
    if (moved < 0 || dup2(other, numbered) != numbered) { perror("dup"); return 2; }
    close(other);
    add(ep, q[0], EPOLLIN, 7);
    add(ep, x, EPOLLIN | EPOLLEXCLUSIVE, 8);
    add(ep, r, EPOLLIN | EPOLLONESHOT, 10);

    char set[256], detail[512];
    ready(ep, set, sizeof set);
    if (strcmp(set, "1 2 4 5 6 8 10") != 0) { fprintf(stderr, "first ready set %s\n", set); return 2; }
    uint64_t one = 1, drained;
    if (write(c, &one, 8) != 8 || read(r, &drained, 8) != 8) { perror("eventfd"); return 2; }
    add(ep, q[1], EPOLLOUT | EPOLLET, 9);

    ticking(ticks, interval);

    ready(ep, set, sizeof set);
    snprintf(detail, sizeof detail, "ready: %s", set);
    check("ready", !strcmp(set, "1 3 5 6 8 9"), detail);
    ready(ep, set, sizeof set);
    snprintf(detail, sizeof detail, "ready: %s", set);
    check("again", !strcmp(set, "1 5 6 8"), detail);
    ready(inner, set, sizeof set);
    snprintf(detail, sizeof detail, "ready: %s", set);
    check("nested", !strcmp(set, "50"), detail);

    struct epoll_event rearm = { EPOLLIN | EPOLLONESHOT, { .u64 = 4 } };
    int modified = epoll_ctl(ep, EPOLL_CTL_MOD, d, &rearm);
    rearm.data.u64 = 10;
    int modified10 = epoll_ctl(ep, EPOLL_CTL_MOD, r, &rearm);
    ready(ep, set, sizeof set);
    snprintf(detail, sizeof detail, "rearmed %d %d, ready: %s", modified, modified10, set);
    check("oneshot", modified == 0 && modified10 == 0 && !strcmp(set, "1 4 5 6 8"), detail);

    // The entry is the pipe's under number X: the eventfd at X does not find it, the pipe does.
    struct epoll_event ev = { EPOLLIN, { .u64 = 6 } };
    int by_other = epoll_ctl(ep, EPOLL_CTL_MOD, numbered, &ev), other_errno = errno;
    int by_pipe = dup2(moved, numbered) == numbered ? epoll_ctl(ep, EPOLL_CTL_DEL, numbered, NULL) : -2;
    ready(ep, set, sizeof set);
    snprintf(detail, sizeof detail, "through the eventfd %d (%s), through the pipe %d, ready: %s", by_other, strerror(other_errno), by_pipe, set);
    check("number", by_other == -1 && other_errno == ENOENT && by_pipe == 0 && !strcmp(set, "1 5 8"), detail);
    say("done\n");
    return 0;
}
