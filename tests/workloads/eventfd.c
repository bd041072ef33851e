// eventfd OUTFILE TICKS INTERVAL_MS
//
// Eventfds with their counters: a non-blocking one at 5, a semaphore at 3, one holding more than
// 32 bits (eventfd2 cannot create it so), an empty one. It ticks (the checkpoint lands there),
// then checks each counter, mode and flag, and writes "check NAME ok" or "check NAME FAILED ...".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static int64_t take(int fd) {
    uint64_t v;
    return read(fd, &v, 8) == 8 ? (int64_t)v : -errno;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: eventfd OUTFILE TICKS INTERVAL_MS\n"); return 2; }
    int ticks = atoi(argv[2]), interval = atoi(argv[3]);
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    const uint64_t large = 0x123456789abcULL;
    int counter = eventfd(5, EFD_NONBLOCK);
    int semaphore = eventfd(3, EFD_SEMAPHORE);
    int big = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int empty = eventfd(0, EFD_NONBLOCK);
    if (counter < 0 || semaphore < 0 || big < 0 || empty < 0 || write(big, &large, 8) != 8) { perror("eventfd"); return 2; }

    ticking(ticks, interval);

    char detail[256];
    int64_t first = take(counter), second = take(counter);
    snprintf(detail, sizeof detail, "read %lld then %lld", (long long)first, (long long)second);
    check("count", first == 5 && second == -EAGAIN, detail);

    int64_t a = take(semaphore), b = take(semaphore), c = take(semaphore);
    struct pollfd p = { semaphore, POLLIN, 0 };
    int left = poll(&p, 1, 0);
    snprintf(detail, sizeof detail, "read %lld %lld %lld, then readable %d", (long long)a, (long long)b, (long long)c, left);
    check("semaphore", a == 1 && b == 1 && c == 1 && left == 0, detail);

    int64_t l = take(big);
    snprintf(detail, sizeof detail, "read 0x%llx", (unsigned long long)l);
    check("large", l == (int64_t)large, detail);

    int64_t e = take(empty);
    snprintf(detail, sizeof detail, "read %lld", (long long)e);
    check("empty", e == -EAGAIN, detail);

    int flags_ok = (fcntl(counter, F_GETFL) & O_NONBLOCK) && !(fcntl(semaphore, F_GETFL) & O_NONBLOCK)
        && (fcntl(big, F_GETFD) & FD_CLOEXEC) && !(fcntl(counter, F_GETFD) & FD_CLOEXEC);
    check("flags", flags_ok, "O_NONBLOCK or FD_CLOEXEC differ");

    uint64_t two = 2, three = 3;
    int wrote = write(counter, &two, 8) == 8 && write(counter, &three, 8) == 8;
    int64_t sum = take(counter);
    snprintf(detail, sizeof detail, "read %lld", (long long)sum);
    check("adds", wrote && sum == 5, detail);
    say("done\n");
    return 0;
}
