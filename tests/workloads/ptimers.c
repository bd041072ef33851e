// ptimers OUTFILE TICKS INTERVAL_MS
//
// POSIX timers across a checkpoint. Timer 0 signals the process (SIGUSR1, value 0x1234) every
// 50 ms on CLOCK_MONOTONIC; timer 1 is deleted at once (a gap); timer 2 signals a worker thread
// (SIGEV_THREAD_ID, SIGRTMIN+1, value 77) every 70 ms; timer 3 notifies nothing (SIGEV_NONE) and
// expires once, in 1000 s, on CLOCK_REALTIME; timer 4 is on CLOCK_BOOTTIME, disarmed. The
// process ticks TICKS times; then it checks, writing "check NAME ok" or "check NAME FAILED ...":
// /proc/self/timers lists timers 0, 2, 3 and 4 with their clocks and notifications; both periodic
// timers still fire, with their values, timer 2 on the worker only; timer 3 has less than 1000 s
// and more than 900 s left and timer 4 none; and the next timer made is timer 5. Then "done".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static volatile int usr1, usr1_bad, rt, rt_bad;
static volatile pid_t worker_tid;
static char detail[512];

static void on_usr1(int sig, siginfo_t *info, void *context) {
    (void)sig, (void)context;
    usr1++;
    if (info->si_code != SI_TIMER || info->si_value.sival_ptr != (void *)0x1234 || info->si_timerid != 0) usr1_bad++;
}

static void on_rt(int sig, siginfo_t *info, void *context) {
    (void)sig, (void)context;
    rt++;
    if (info->si_value.sival_int != 77 || info->si_timerid != 2 || syscall(SYS_gettid) != worker_tid) rt_bad++;
}

static void *worker(void *arg) {
    (void)arg;
    worker_tid = (pid_t)syscall(SYS_gettid);
    for (;;) pause();
    return NULL;
}

static timer_t make(clockid_t clock, int notify, int signal, union sigval value, pid_t tid) {
    struct sigevent ev = { 0 };
    ev.sigev_notify = notify;
    ev.sigev_signo = signal;
    ev.sigev_value = value;
    ev._sigev_un._tid = tid;
    timer_t t;
    if (timer_create(clock, &ev, &t) != 0) { perror("timer_create"); exit(2); }
    return t;
}

static void arm(timer_t t, long value_ms, long interval_ms) {
    struct itimerspec s = { { interval_ms / 1000, (interval_ms % 1000) * 1000000L }, { value_ms / 1000, (value_ms % 1000) * 1000000L } };
    if (timer_settime(t, 0, &s, NULL) != 0) { perror("timer_settime"); exit(2); }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: ptimers OUTFILE TICKS INTERVAL_MS\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    struct sigaction a = { .sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigaction(SIGUSR1, &a, NULL);
    a.sa_sigaction = on_rt;
    sigaction(SIGRTMIN + 1, &a, NULL);
    // Only the worker takes timer 2's signal: the main thread blocks it.
    sigset_t rtset;
    sigemptyset(&rtset);
    sigaddset(&rtset, SIGRTMIN + 1);
    pthread_t w;
    pthread_create(&w, NULL, worker, NULL);
    pthread_sigmask(SIG_BLOCK, &rtset, NULL);
    while (!worker_tid) usleep(1000);
    timer_t t0 = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, (union sigval){ .sival_ptr = (void *)0x1234 }, 0);
    timer_t t1 = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, (union sigval){ 0 }, 0);
    timer_t t2 = make(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN + 1, (union sigval){ .sival_int = 77 }, worker_tid);
    timer_t t3 = make(CLOCK_REALTIME, SIGEV_NONE, 0, (union sigval){ 0 }, 0);
    timer_t t4 = make(CLOCK_BOOTTIME, SIGEV_NONE, 0, (union sigval){ 0 }, 0);
    timer_delete(t1);
    arm(t0, 50, 50);
    arm(t2, 70, 70);
    arm(t3, 1000000, 0);
    (void)t4;
    ticking(atoi(argv[2]), atoi(argv[3]));

    char timers[4096] = "";
    int fd = open("/proc/self/timers", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, timers, sizeof timers - 1);
    if (n > 0) timers[n] = 0;
    snprintf(detail, sizeof detail, "%s", timers);
    for (char *p = detail; *p; p++) if (*p == '\n') *p = ' ';
    // Each timer's block starts with "ID: N" at the start of a line ("ClockID: N" ends one).
    char lines[4100] = "\n";
    strcat(lines, timers);
    int listed = strstr(lines, "\nID: 0\n") && !strstr(lines, "\nID: 1\n") && strstr(lines, "\nID: 2\n") && strstr(lines, "\nID: 3\n") && strstr(lines, "\nID: 4\n")
        && strstr(timers, "signal: 10/0000000000001234") && strstr(timers, "notify: signal/tid.") && strstr(timers, "ClockID: 7");
    check("listed", listed, detail);
    struct itimerspec s;
    check("gap", timer_gettime(t1, &s) != 0 && errno == EINVAL, "timer 1 exists");
    int before0 = usr1, before2 = rt;
    struct timespec half = { 0, 500000000L };
    while (nanosleep(&half, &half) != 0) {}
    snprintf(detail, sizeof detail, "in half a second timer 0 fired %d times (%d wrong), timer 2 %d times (%d wrong)", usr1 - before0, usr1_bad, rt - before2, rt_bad);
    check("firing", usr1 - before0 >= 3 && rt - before2 >= 2 && usr1_bad == 0 && rt_bad == 0, detail);
    timer_gettime(t3, &s);
    snprintf(detail, sizeof detail, "timer 3 has %ld s left, interval %ld", (long)s.it_value.tv_sec, (long)s.it_interval.tv_sec);
    check("one-shot", s.it_value.tv_sec > 900 && s.it_value.tv_sec < 1000 && s.it_interval.tv_sec == 0, detail);
    timer_gettime(t4, &s);
    check("disarmed", s.it_value.tv_sec == 0 && s.it_value.tv_nsec == 0, "timer 4 is armed");
    timer_t t5 = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, (union sigval){ 0 }, 0);
    snprintf(detail, sizeof detail, "the next timer is %ld", (long)t5);
    check("next-id", (long)t5 == 5, detail);
    say("done\n");
    return 0;
}
