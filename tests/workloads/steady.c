// steady OUTFILE GATEFILE INTERVAL_MS
//
// A process that must come through whatever happens to it unchanged. The main thread appends
// "tick N" (N = 1, 2, ...) to OUTFILE every INTERVAL_MS and looks for GATEFILE; beside it:
//  - a reader blocked in read() on a pipe (ERESTARTSYS when interrupted),
//  - a waiter blocked on a condition variable (a futex wait without timeout),
//  - a sleeper in 200 ms relative sleeps (ERESTART_RESTARTBLOCK), counting any that fail,
//  - a vector thread that keeps a pattern in ymm15 across raw nanosleep calls and counts every
//    time it comes back changed (the upper half of a ymm register lives only in the XSAVE area).
// A failure of either is also written at once, as a line with "failed" in it.
// Once GATEFILE exists, main writes "R" to the pipe, wakes the waiter, stops the others, and
// appends what each saw and "done". A run that went right ends with
// "reader got R", "waiter woke", "sleeper errors 0", "vector errors 0", "done".
#pragma GCC target("avx2")
#include <errno.h>
#include <fcntl.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int out, pipe_fds[2];
static char reader_got = '-';
static int go, waiter_woke;
static atomic_int stop;
static long sleeper_errors, vector_errors, vector_rounds;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void say(const char *text) { size_t n = strlen(text); if (write(out, text, n) != (ssize_t)n) _exit(3); }

static void *reader(void *arg) {
    (void)arg;
    char c;
    if (read(pipe_fds[0], &c, 1) == 1) reader_got = c;
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!go) pthread_cond_wait(&cond, &lock);
    waiter_woke = 1;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        struct timespec ts = { 0, 200 * 1000000L };
        int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        if (r != 0) {
            char line[100];
            snprintf(line, sizeof line, "sleeper sleep failed: %s\n", strerror(r));
            say(line);
            sleeper_errors++;
        }
    }
    return NULL;
}

static void *vector(void *arg) {
    (void)arg;
    for (long i = 1; !atomic_load(&stop); i++) {
        struct timespec ts = { 0, 2 * 1000000L };
        __m256i expected = _mm256_set_epi64x(i, i * 3, i * 5, i * 7), got;
        long rax = SYS_nanosleep;
        __asm__ volatile("vmovdqu %[e], %%ymm15\n\tsyscall\n\tvmovdqu %%ymm15, %[g]"
                         : [g] "=m"(got), "+a"(rax)
                         : [e] "m"(expected), "D"(&ts), "S"(0L)
                         : "rcx", "r11", "memory", "xmm15");
        if (rax != 0 || memcmp(&got, &expected, sizeof got) != 0) {
            char line[100];
            snprintf(line, sizeof line, "vector check failed: nanosleep %ld, ymm15 %s\n", rax,
                     memcmp(&got, &expected, sizeof got) ? "changed" : "kept");
            say(line);
            vector_errors++;
        }
        vector_rounds++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: steady OUTFILE GATEFILE INTERVAL_MS\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0 || pipe(pipe_fds) != 0) return 2;
    long interval = atol(argv[3]);
    pthread_t threads[4];
    void *(*bodies[4])(void *) = { reader, waiter, sleeper, vector };
    for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, bodies[i], NULL);
    say("start\n");
    char line[160];
    for (long i = 1; access(argv[2], F_OK) != 0; i++) {
        struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
        int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        if (r != 0) { snprintf(line, sizeof line, "main sleep failed: %s\n", strerror(r)); say(line); }
        snprintf(line, sizeof line, "tick %ld\n", i);
        say(line);
    }
    if (write(pipe_fds[1], "R", 1) != 1) say("pipe write failed\n");
    pthread_mutex_lock(&lock);
    go = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    snprintf(line, sizeof line, "reader got %c\nwaiter %s\nsleeper errors %ld\nvector errors %ld%s\ndone\n",
             reader_got, waiter_woke ? "woke" : "missing", sleeper_errors, vector_errors, vector_rounds > 0 ? "" : " (never ran)");
    say(line);
    return 0;
}
