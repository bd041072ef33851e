// signalfd OUTFILE TICKS INTERVAL_MS
//
// Two signalfds: a non-blocking one for SIGUSR1 and SIGRTMIN+1, a blocking one for SIGUSR2, with
// SIGUSR1 and a queued SIGRTMIN+1 (value 42) pending before it ticks (the checkpoint lands
// there). Then it checks that the pending signals are read through the first, in order and with
// their value, that each takes only the signals of its mask, and their flags, and writes
// "check NAME ok" or "check NAME FAILED ...".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

/// The signal read from a signalfd (its value in *value), or -errno.
static int take(int fd, int *value) {
    struct signalfd_siginfo info;
    if (read(fd, &info, sizeof info) != sizeof info) return -errno;
    if (value) *value = info.ssi_int;
    return (int)info.ssi_signo;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: signalfd OUTFILE TICKS INTERVAL_MS\n"); return 2; }
    int ticks = atoi(argv[2]), interval = atoi(argv[3]);
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    sigset_t blocked, first, second;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGUSR2);
    sigaddset(&blocked, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    sigemptyset(&first);
    sigaddset(&first, SIGUSR1);
    sigaddset(&first, SIGRTMIN + 1);
    sigemptyset(&second);
    sigaddset(&second, SIGUSR2);
    int nonblocking = signalfd(-1, &first, SFD_NONBLOCK | SFD_CLOEXEC);
    int blocking = signalfd(-1, &second, 0);
    if (nonblocking < 0 || blocking < 0) { perror("signalfd"); return 2; }
    union sigval v = { .sival_int = 42 };
    if (kill(getpid(), SIGUSR1) != 0 || sigqueue(getpid(), SIGRTMIN + 1, v) != 0) { perror("signal"); return 2; }

    ticking(ticks, interval);

    char detail[256];
    int value = 0;
    int a = take(nonblocking, NULL), b = take(nonblocking, &value), c = take(nonblocking, NULL);
    snprintf(detail, sizeof detail, "read %d, %d (value %d), %d", a, b, value, c);
    check("pending", a == SIGUSR1 && b == SIGRTMIN + 1 && value == 42 && c == -EAGAIN, detail);

    raise(SIGUSR2);
    int other = take(nonblocking, NULL), usr2 = take(blocking, NULL);
    snprintf(detail, sizeof detail, "first read %d, second %d", other, usr2);
    check("mask", other == -EAGAIN && usr2 == SIGUSR2, detail);

    kill(getpid(), SIGUSR1);
    int again = take(nonblocking, NULL);
    snprintf(detail, sizeof detail, "read %d", again);
    check("new", again == SIGUSR1, detail);

    int flags_ok = (fcntl(nonblocking, F_GETFL) & O_NONBLOCK) && (fcntl(nonblocking, F_GETFD) & FD_CLOEXEC)
        && !(fcntl(blocking, F_GETFL) & O_NONBLOCK) && !(fcntl(blocking, F_GETFD) & FD_CLOEXEC);
    check("flags", flags_ok, "O_NONBLOCK or FD_CLOEXEC differ");
    say("done\n");
    return 0;
}
