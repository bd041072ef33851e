// eventjob OUTFILE WORKDIR TICKS INTERVAL_MS GATE_AT GATEFILE
//
// A job holding one of each event object, for checkpointing as a job. The parent makes an
// eventfd E and an epoll instance P watching E (data 1) and a second eventfd S (data 3), then
// forks; both share E and P. The parent then closes S, which the child still holds: P watches a
// file only the child has. The parent also holds a timerfd firing every 10 ms, a signalfd for SIGUSR1
// (one pending) and an inotify instance watching WORKDIR. It ticks into OUTFILE and after tick
// GATE_AT waits until GATEFILE exists; the child waits for it too. Then the child adds an
// eventfd of its own to P (data 99), writes 1 to S and 7 to E, and waits for the parent, which
// checks through P that it sees all three (one instance, shared), reads 7 from E, lets the child
// finish, and checks its other objects. It writes "check NAME ok" or "check NAME FAILED ...".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void add(int ep, int fd, uint64_t data) {
    struct epoll_event ev = { EPOLLIN, { .u64 = data } };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) { perror("epoll_ctl"); exit(2); }
}

/// The data of the entries ready within timeout_ms, ascending, as "1 3 99".
static void ready(int ep, int timeout_ms, char *into, size_t size) {
    struct epoll_event evs[16];
    int n = epoll_wait(ep, evs, 16, timeout_ms);
    uint64_t data[16];
    for (int i = 0; i < n; i++) data[i] = evs[i].data.u64;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (data[j] < data[i]) { uint64_t t = data[i]; data[i] = data[j]; data[j] = t; }
    size_t used = 0;
    into[0] = 0;
    for (int i = 0; i < n && used < size; i++) used += snprintf(into + used, size - used, i ? " %llu" : "%llu", (unsigned long long)data[i]);
}

static void child(int ep, int e, int s, int go, const char *gate) {
    while (access(gate, F_OK) != 0) pause_ms(10);
    int mine = eventfd(1, EFD_NONBLOCK);
    add(ep, mine, 99);
    uint64_t one = 1, seven = 7;
    if (write(s, &one, 8) != 8 || write(e, &seven, 8) != 8) _exit(4);
    char c;
    if (read(go, &c, 1) != 1) _exit(5);
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: eventjob OUTFILE WORKDIR TICKS INTERVAL_MS GATE_AT GATEFILE\n"); return 2; }
    int ticks = atoi(argv[3]), interval = atoi(argv[4]), at = atoi(argv[5]);
    const char *dir = argv[2], *gate = argv[6];
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    int e = eventfd(0, EFD_NONBLOCK), s = eventfd(0, EFD_NONBLOCK), ep = epoll_create1(0), go[2];
    if (e < 0 || s < 0 || ep < 0 || pipe(go) != 0) { perror("setup"); return 2; }
    add(ep, e, 1);
    add(ep, s, 3);
    int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec every = { { 0, 10000000L }, { 0, 10000000L } };
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    int sf = signalfd(-1, &usr1, SFD_NONBLOCK);
    int in = inotify_init1(IN_NONBLOCK);
    if (tf < 0 || timerfd_settime(tf, 0, &every, NULL) != 0 || sf < 0 || in < 0 || inotify_add_watch(in, dir, IN_CREATE) != 1) { perror("objects"); return 2; }
    kill(getpid(), SIGUSR1);

    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        close(go[1]);
        child(ep, e, s, go[0], gate);
    }
    close(go[0]);
    close(s);
    for (int i = 1; i <= ticks; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        pause_ms(interval);
        if (i == at) while (access(gate, F_OK) != 0) pause_ms(10);
    }

    // Level-triggered: once E is ready, all three stay ready.
    char set[256] = "", detail[512];
    for (int waited = 0; waited < 10000 && strcmp(set, "1 3 99") != 0; waited += 100) ready(ep, 100, set, sizeof set);
    ready(ep, 0, set, sizeof set);
    snprintf(detail, sizeof detail, "ready: %s", set);
    check("epoll", !strcmp(set, "1 3 99"), detail);

    uint64_t v = 0;
    int got = read(e, &v, 8) == 8;
    snprintf(detail, sizeof detail, "read %llu", (unsigned long long)v);
    check("eventfd", got && v == 7, detail);

    int status = -1;
    if (write(go[1], "x", 1) != 1 || waitpid(pid, &status, 0) != pid) status = -1;
    snprintf(detail, sizeof detail, "status %d", status);
    check("child", WIFEXITED(status) && WEXITSTATUS(status) == 0, detail);

    struct signalfd_siginfo info;
    int sig = read(sf, &info, sizeof info) == sizeof info ? (int)info.ssi_signo : -errno;
    snprintf(detail, sizeof detail, "read %d", sig);
    check("signalfd", sig == SIGUSR1, detail);

    struct itimerspec now;
    uint64_t expirations = 0;
    pause_ms(20);
    int timer_ok = read(tf, &expirations, 8) == 8 && timerfd_gettime(tf, &now) == 0 && now.it_interval.tv_nsec == 10000000L;
    snprintf(detail, sizeof detail, "%llu expirations, every %ld ns", (unsigned long long)expirations, now.it_interval.tv_nsec);
    check("timerfd", timer_ok && expirations >= 1, detail);

    char path[4096], buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    snprintf(path, sizeof path, "%s/made", dir);
    close(open(path, O_WRONLY | O_CREAT, 0644));
    ssize_t n = read(in, buffer, sizeof buffer);
    struct inotify_event *ev = (struct inotify_event *)buffer;
    int inotify_ok = n > 0 && ev->wd == 1 && ev->mask == IN_CREATE && ev->len > 0 && !strcmp(ev->name, "made") && (size_t)n == sizeof *ev + ev->len;
    snprintf(detail, sizeof detail, "read %zd bytes, watch %d mask %x", n, n > 0 ? ev->wd : 0, n > 0 ? ev->mask : 0);
    check("inotify", inotify_ok, detail);
    say("done\n");
    return 0;
}
