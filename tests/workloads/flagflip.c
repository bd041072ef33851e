// flagflip OUTFILE
//
// Changes the flags of one whole mapping as fast as it can, without ever changing its place or
// protection: MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_DONTFORK, MADV_DOFORK, over and over. The
// workload for a live checkpoint that reads the mappings' flags ahead of its freeze: whatever
// flags the mapping had at the freeze, its pages must come back as they were. (A mapping recorded
// without MADV_WIPEONFORK that had it at the freeze would be copied from the snapshot, where the
// kernel left it empty.)
//
// The mapping (4 MiB between two PROT_NONE pages, so it never merges with a neighbour) holds a
// fixed pattern. Every 20 ms it is checked whole and "tick N" appended to OUTFILE; a mismatch
// appends "CORRUPT ..." and exits 1.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define SIZE (4UL << 20)

static int out;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(out, text, n) != (ssize_t)n) _exit(3);
}

static uint64_t pattern(size_t i) { return (i + 1) * 0x9e3779b97f4a7c15ULL; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: flagflip OUTFILE\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    char *area = mmap(NULL, SIZE + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) { perror("mmap"); return 2; }
    uint64_t *words = (uint64_t *)(area + PAGE);
    if (mprotect(words, SIZE, PROT_READ | PROT_WRITE) != 0) { perror("mprotect"); return 2; }
    for (size_t i = 0; i < SIZE / 8; i++) words[i] = pattern(i);

    static const int advice[] = { MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_DONTFORK, MADV_DOFORK };
    char line[128];
    long tick = 0;
    double next = now();
    for (unsigned long n = 0;; n++) {
        if (madvise(words, SIZE, advice[n % 4]) != 0) { perror("madvise"); return 2; }
        if (n % 256 != 0 || now() < next) continue;
        for (size_t i = 0; i < SIZE / 8; i++) {
            if (words[i] != pattern(i)) {
                snprintf(line, sizeof line, "CORRUPT word %zu holds %016llx at tick %ld\n", i, (unsigned long long)words[i], tick + 1);
                say(line);
                return 1;
            }
        }
        snprintf(line, sizeof line, "tick %ld\n", ++tick);
        say(line);
        next = now() + 0.02;
    }
}
