// forks OUTDIR MIB TICKS INTERVAL_MS AT GATEFILE
//
// A workload for pages shared by the processes of a job. Fills MIB MiB with a pseudo-random
// pattern, allocates another MIB MiB with calloc and stores a zero into every page of it (so
// its pages exist, and hold only zeros), then forks three children. Each of the four processes
// (number K: 0 the parent, 1..3 the children) appends "start K" and then, every INTERVAL_MS,
// "tick N memory X" to OUTDIR/K.log, X the checksum of both areas (which nobody changes, so it
// is the same in every process and at every tick). After tick AT each waits until GATEFILE
// exists. Each ends with "done"; the parent waits for its children and prints "forks: done" on
// standard output. Every file depends only on the arguments.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define CHILDREN 3

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint64_t checksum(const uint64_t *mem, size_t words, uint64_t h) {
    for (size_t i = 0; i < words; i++) h = (h ^ mem[i]) * 0x100000001b3ULL;
    return h;
}

static void run(int k, const char *dir, const uint64_t *random, const uint64_t *zeros, size_t bytes, long ticks, long interval, long at, const char *gate) {
    char path[4096], line[128];
    snprintf(path, sizeof path, "%s/%d.log", dir, k);
    int out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(path); _exit(2); }
    int n = snprintf(line, sizeof line, "start %d\n", k);
    if (write(out, line, n) != n) _exit(3);
    for (long i = 1; i <= ticks; i++) {
        pause_ms(interval);
        uint64_t sum = checksum(zeros, bytes / 8, checksum(random, bytes / 8, 1469598103934665603ULL));
        n = snprintf(line, sizeof line, "tick %ld memory %016llx\n", i, (unsigned long long)sum);
        if (write(out, line, n) != n) _exit(3);
        if (i == at) while (access(gate, F_OK) != 0) pause_ms(10);
    }
    if (write(out, "done\n", 5) != 5) _exit(3);
    close(out);
}

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: forks OUTDIR MIB TICKS INTERVAL_MS AT GATEFILE\n"); return 2; }
    size_t bytes = (size_t)atol(argv[2]) << 20;
    long ticks = atol(argv[3]), interval = atol(argv[4]), at = atol(argv[5]);
    uint64_t *random = malloc(bytes);
    uint64_t *zeros = calloc(1, bytes);
    if (!random || !zeros) { perror("malloc"); return 2; }
    uint64_t state = 0x123456789abcdefULL;
    for (size_t i = 0; i < bytes / 8; i++) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; random[i] = state; }
    for (size_t i = 0; i < bytes; i += PAGE) ((volatile char *)zeros)[i] = 0;

    pid_t children[CHILDREN];
    for (int k = 1; k <= CHILDREN; k++) {
        children[k - 1] = fork();
        if (children[k - 1] < 0) { perror("fork"); return 2; }
        if (children[k - 1] == 0) {
            run(k, argv[1], random, zeros, bytes, ticks, interval, at, argv[6]);
            _exit(0);
        }
    }
    run(0, argv[1], random, zeros, bytes, ticks, interval, at, argv[6]);
    int failed = 0;
    for (int k = 0; k < CHILDREN; k++) {
        int status;
        if (waitpid(children[k], &status, 0) != children[k] || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
    }
    printf("forks: %s\n", failed ? "a child failed" : "done");
    return failed;
}
