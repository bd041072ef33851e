// clocks OUTFILE GATEFILE SLEEP_MS
//
// What a program measuring time sees across a checkpoint and a later restart. The main thread
// writes "tick N" every 100 ms until GATEFILE exists, noting CLOCK_MONOTONIC and CLOCK_BOOTTIME
// at each tick; three threads start at once: one sleeps SLEEP_MS with sleep's remainder pointer
// (clock_nanosleep, relative), one until SLEEP_MS after the start on CLOCK_MONOTONIC
// (TIMER_ABSTIME), one reads an absolute CLOCK_MONOTONIC timerfd set for the same moment. Once
// the gate is open and all have finished, it checks, writing "check NAME ok" or "check NAME
// FAILED ...": neither clock went backwards or leapt between two ticks (a job's clocks count
// only the time it ran), the relative sleep lasted SLEEP_MS on CLOCK_MONOTONIC (what was left
// of it, not all of it again, after a restore), the absolute sleep and the timer ended at their
// time, and the vDSO's clock (glibc's clock_gettime) agrees with the kernel's (the system call),
// which a time namespace's vvar pages decide. Then "done".
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static long long now(clockid_t clock) { struct timespec t; clock_gettime(clock, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
static long long kernel_now(clockid_t clock) { struct timespec t; syscall(SYS_clock_gettime, clock, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
static struct timespec at(long long ns) { return (struct timespec){ ns / 1000000000LL, ns % 1000000000LL }; }

static long long start, target, sleep_ns;
static long long relative_took, absolute_late, timer_late;

static void *relative(void *arg) {
    (void)arg;
    long long before = now(CLOCK_MONOTONIC);
    struct timespec want = at(sleep_ns), left;
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &want, &left) != 0) want = left;
    relative_took = now(CLOCK_MONOTONIC) - before;
    return NULL;
}

static void *absolute(void *arg) {
    (void)arg;
    struct timespec when = at(target);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL) != 0) {}
    absolute_late = now(CLOCK_MONOTONIC) - target;
    return NULL;
}

static void *timer(void *arg) {
    (void)arg;
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec when = { { 0, 0 }, at(target) };
    uint64_t fired;
    if (fd < 0 || timerfd_settime(fd, TFD_TIMER_ABSTIME, &when, NULL) != 0 || read(fd, &fired, 8) != 8) { timer_late = -1; return NULL; }
    timer_late = now(CLOCK_MONOTONIC) - target;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: clocks OUTFILE GATEFILE SLEEP_MS\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    sleep_ns = atoll(argv[3]) * 1000000LL;
    start = now(CLOCK_MONOTONIC);
    target = start + sleep_ns;
    pthread_t threads[3];
    pthread_create(&threads[0], NULL, relative, NULL);
    pthread_create(&threads[1], NULL, absolute, NULL);
    pthread_create(&threads[2], NULL, timer, NULL);
    long long last_mono = now(CLOCK_MONOTONIC), last_boot = now(CLOCK_BOOTTIME), last_real = now(CLOCK_REALTIME);
    long long mono_gap = 0, boot_gap = 0, backwards = 0;
    for (int i = 1; access(argv[2], F_OK) != 0; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        struct timespec pause = { 0, 100000000L };
        nanosleep(&pause, NULL);
        long long m = now(CLOCK_MONOTONIC), b = now(CLOCK_BOOTTIME), r = now(CLOCK_REALTIME);
        if (m < last_mono || b < last_boot || r < last_real) backwards++;
        if (m - last_mono > mono_gap) mono_gap = m - last_mono;
        if (b - last_boot > boot_gap) boot_gap = b - last_boot;
        last_mono = m, last_boot = b, last_real = r;
    }
    for (int k = 0; k < 3; k++) pthread_join(threads[k], NULL);
    char detail[256];
    check("backwards", backwards == 0, "a clock went backwards");
    snprintf(detail, sizeof detail, "the longest step between ticks was %lld ms on CLOCK_MONOTONIC, %lld ms on CLOCK_BOOTTIME", mono_gap / 1000000, boot_gap / 1000000);
    check("no-leap", mono_gap < 1000000000LL && boot_gap < 1000000000LL, detail);
    snprintf(detail, sizeof detail, "the relative sleep of %lld ms took %lld ms", sleep_ns / 1000000, relative_took / 1000000);
    check("relative-sleep", relative_took >= sleep_ns && relative_took < sleep_ns + 1000000000LL, detail);
    snprintf(detail, sizeof detail, "the absolute sleep ended %lld ms late", absolute_late / 1000000);
    check("absolute-sleep", absolute_late >= 0 && absolute_late < 1000000000LL, detail);
    snprintf(detail, sizeof detail, "the absolute timer fired %lld ms late", timer_late / 1000000);
    check("absolute-timer", timer_late >= 0 && timer_late < 1000000000LL, detail);
    long long vdso = now(CLOCK_MONOTONIC), kernel = kernel_now(CLOCK_MONOTONIC), vboot = now(CLOCK_BOOTTIME), kboot = kernel_now(CLOCK_BOOTTIME);
    snprintf(detail, sizeof detail, "vDSO and kernel differ by %lld ms (monotonic), %lld ms (boottime)", (kernel - vdso) / 1000000, (kboot - vboot) / 1000000);
    check("vdso", kernel - vdso >= 0 && kernel - vdso < 50000000LL && kboot - vboot >= 0 && kboot - vboot < 50000000LL, detail);
    say("done\n");
    return 0;
}
