// threads OUTFILE MIB TICKS INTERVAL_MS SLEEP_MS
//
// Main thread: fills MIB MiB with a pattern, then for TICKS ticks appends "tick N" to OUTFILE and
// re-verifies one slice of memory (CORRUPT if it changed). Around it:
//  - 4 workers, each advancing its own thread-local counter in lock step with the ticks;
//  - a sleeper in one long sleep (SLEEP_MS);
//  - a reader blocked in read() on a pipe that main writes to at 3/4 of the ticks;
//  - a waiter blocked on a condition variable (a futex) that main signals at half the ticks.
// Only main writes output, and all results are printed at the end, so the output depends only on
// the arguments and a restored run must match an uninterrupted one byte for byte.
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4
#define SLICE (16u << 20)

static __thread uint64_t tls_counter;
static _Atomic long current_tick;
static long ticks;
static uint64_t results[WORKERS];
static int pipe_fds[2];
static char reader_got;
static long sleep_ms;
static int sleeper_done, waiter_done, go;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static uint64_t mix(uint64_t x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; return x; }
static uint64_t sum(const uint64_t *p, size_t words) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < words; i++) h = mix(h ^ p[i]) + i;
    return h;
}
static void say(int fd, const char *text) { size_t n = strlen(text); if (write(fd, text, n) != (ssize_t)n) _exit(3); }
static void pause_us(long us) { struct timespec ts = { us / 1000000, (us % 1000000) * 1000 }; nanosleep(&ts, NULL); }

static void *worker(void *arg) {
    long id = (long)arg;
    for (long j = 1; j <= ticks; j++) {
        while (atomic_load(&current_tick) < j) pause_us(300);
        tls_counter = mix(tls_counter + (uint64_t)(j * (id + 1)));
    }
    results[id] = tls_counter;
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) { }
    sleeper_done = 1;
    return NULL;
}

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
    waiter_done = 1;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: threads OUTFILE MIB TICKS INTERVAL_MS SLEEP_MS\n"); return 2; }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    size_t bytes = (size_t)atol(argv[2]) << 20;
    ticks = atol(argv[3]);
    long interval = atol(argv[4]);
    sleep_ms = atol(argv[5]);
    if (pipe(pipe_fds) != 0) return 2;
    size_t slices = bytes / SLICE ? bytes / SLICE : 1;
    uint64_t *mem = malloc(bytes ? bytes : 8), *sums = calloc(slices, sizeof *sums);
    uint64_t state = 0x2545f4914f6cdd1dULL;
    for (size_t i = 0; i < bytes / 8; i++) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; mem[i] = state; }
    size_t slice_words = (bytes < SLICE ? bytes : SLICE) / 8;
    for (size_t s = 0; s < slices; s++) sums[s] = sum(mem + s * slice_words, slice_words);

    pthread_t workers[WORKERS], t_sleeper, t_reader, t_waiter;
    for (long i = 0; i < WORKERS; i++) pthread_create(&workers[i], NULL, worker, (void *)i);
    pthread_create(&t_sleeper, NULL, sleeper, NULL);
    pthread_create(&t_reader, NULL, reader, NULL);
    pthread_create(&t_waiter, NULL, waiter, NULL);

    char line[160];
    snprintf(line, sizeof line, "start %zu MiB, %d workers\n", bytes >> 20, WORKERS);
    say(out, line);
    for (long i = 1; i <= ticks; i++) {
        pause_us(interval * 1000);
        size_t s = (size_t)i % slices;
        if (bytes && sum(mem + s * slice_words, slice_words) != sums[s]) {
            snprintf(line, sizeof line, "CORRUPT slice %zu at tick %ld\n", s, i);
            say(out, line);
        }
        atomic_store(&current_tick, i);
        snprintf(line, sizeof line, "tick %ld\n", i);
        say(out, line);
        if (i == ticks / 2) { pthread_mutex_lock(&lock); go = 1; pthread_cond_signal(&cond); pthread_mutex_unlock(&lock); }
        if (i == ticks * 3 / 4 && write(pipe_fds[1], "R", 1) != 1) say(out, "pipe write failed\n");
    }
    for (int i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
    pthread_join(t_sleeper, NULL);
    pthread_join(t_reader, NULL);
    pthread_join(t_waiter, NULL);
    for (int i = 0; i < WORKERS; i++) {
        snprintf(line, sizeof line, "worker %d tls %016llx\n", i, (unsigned long long)results[i]);
        say(out, line);
    }
    snprintf(line, sizeof line, "sleeper %s\nreader got %c\nwaiter %s\nmemory %016llx\ndone\n",
             sleeper_done ? "slept" : "missing", reader_got ? reader_got : '-', waiter_done ? "woke" : "missing",
             (unsigned long long)(bytes ? sum(mem, bytes / 8) : 0));
    say(out, line);
    return 0;
}
