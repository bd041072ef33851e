// sandbox OUTFILE TICKS INTERVAL_MS
//
// A process under seccomp filters, as a sandboxed program or a container payload runs. Before
// making its threads it installs filter A (uname fails with EPERM, its actions logged) and one
// under which prctl fails with EPERM (Fermata's own calls use it); with two
// threads running it installs filter B on every thread at once (TSYNC: getpgrp fails with
// EACCES); the second thread adds filter C of its own (getsid fails with EINVAL). It ticks
// TICKS times, then each thread checks its calls fail as its filters say and its count of filters
// (Seccomp_filters: 3, 3 and 4), and the main thread tries one more filter with TSYNC, which the
// kernel refuses naming the second thread (it has a filter the main thread lacks), as long as the
// first thread's filters are still the main thread's own. It writes "check
// NAME ok" or "check NAME FAILED ...", then "done".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "checks.h"

static pthread_barrier_t ready, go, done;
static pthread_mutex_t say_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile long second;

static int install(int nr, int err, unsigned flags) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog p = { nr < 0 ? 1 : 4, nr < 0 ? f + 3 : f };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p);
}

static int filters(void) {
    char text[4096];
    // thread-self: a job's /proc counts TIDs in the host's namespace, not the job's.
    int fd = open("/proc/thread-self/status", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
    if (fd >= 0) close(fd);
    if (n <= 0) return -1;
    text[n] = 0;
    char *at = strstr(text, "Seccomp_filters:");
    return at ? atoi(at + strlen("Seccomp_filters:")) : -1;
}

static int fails(long nr, int err) { errno = 0; return syscall(nr, 0) == -1 && errno == err; }

static void verify(const char *name, int own, int count) {
    char detail[160];
    int f = filters();
    snprintf(detail, sizeof detail, "uname %d prctl %d getpgrp %d getsid %d filters %d", fails(SYS_uname, EPERM), fails(SYS_prctl, EPERM), fails(SYS_getpgrp, EACCES), fails(SYS_getsid, EINVAL), f);
    pthread_mutex_lock(&say_lock);
    check(name, fails(SYS_uname, EPERM) && fails(SYS_prctl, EPERM) && fails(SYS_getpgrp, EACCES) && fails(SYS_getsid, EINVAL) == own && f == count, detail);
    pthread_mutex_unlock(&say_lock);
}

static void *worker(void *arg) {
    long own = (long)arg;
    if (own) second = syscall(SYS_gettid);
    pthread_barrier_wait(&ready); // filter B comes now
    pthread_barrier_wait(&go);
    if (own && install(SYS_getsid, EINVAL, 0) != 0) { perror("filter C"); exit(2); }
    pthread_barrier_wait(&done); // the main thread ticks
    pthread_barrier_wait(&go);
    verify(own ? "thread2" : "thread1", (int)own, own ? 4 : 3);
    pthread_barrier_wait(&done); // alive while the main thread synchronizes one more filter
    pthread_barrier_wait(&go);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: sandbox OUTFILE TICKS INTERVAL_MS\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    // Filter A, and one forbidding prctl, which Fermata's own calls use at a checkpoint and a restore.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || install(SYS_uname, EPERM, SECCOMP_FILTER_FLAG_LOG) != 0
        || install(SYS_prctl, EPERM, 0) != 0) { perror("filter A"); return 2; }
    pthread_barrier_init(&ready, NULL, 3);
    pthread_barrier_init(&go, NULL, 3);
    pthread_barrier_init(&done, NULL, 3);
    pthread_t t[2];
    for (long k = 0; k < 2; k++) pthread_create(&t[k], NULL, worker, (void *)k);
    pthread_barrier_wait(&ready);
    if (install(SYS_getpgrp, EACCES, SECCOMP_FILTER_FLAG_TSYNC) != 0) { perror("filter B"); return 2; }
    pthread_barrier_wait(&go);
    pthread_barrier_wait(&done);
    ticking(atoi(argv[2]), atoi(argv[3]));
    pthread_barrier_wait(&go);
    verify("main", 0, 3);
    pthread_barrier_wait(&done);
    // TSYNC fails naming a thread with a filter the caller lacks: the second thread's own, and
    // it alone (the first thread's filters are the main thread's, as before).
    int r = install(-1, 0, SECCOMP_FILTER_FLAG_TSYNC);
    pthread_barrier_wait(&go);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    char detail[64];
    snprintf(detail, sizeof detail, "returned %d, not the second thread's %ld", r, second);
    check("tsync", r == second, detail);
    say("done\n");
    return 0;
}
