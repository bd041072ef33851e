// counter OUTFILE MIB TICKS [INTERVAL_MS]
//
// Fills MIB MiB with a pseudo-random pattern, then every INTERVAL_MS appends "tick N" to OUTFILE
// (with write(2), no buffering) and re-verifies one 16 MiB slice of the memory against the
// checksums taken at start, writing CORRUPT if anything changed. Ends with the checksum of all
// memory and "done". Its whole output depends only on its arguments, so a restored run can be
// compared byte for byte with an uninterrupted one.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLICE (16u << 20)

static uint64_t mix(uint64_t x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; return x; }

static uint64_t sum(const uint64_t *p, size_t words) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < words; i++) h = mix(h ^ p[i]) + i;
    return h;
}

static void say(int fd, const char *text) {
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) _exit(3);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: counter OUTFILE MIB TICKS [INTERVAL_MS]\n"); return 2; }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    size_t bytes = (size_t)atol(argv[2]) << 20;
    long ticks = atol(argv[3]);
    long interval = argc > 4 ? atol(argv[4]) : 5;
    size_t slices = bytes / SLICE ? bytes / SLICE : 1;
    uint64_t *mem = malloc(bytes ? bytes : 8);
    uint64_t *sums = calloc(slices, sizeof *sums);
    uint64_t state = 0x123456789abcdefULL;
    for (size_t i = 0; i < bytes / 8; i++) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; mem[i] = state; }
    size_t slice_words = (bytes < SLICE ? bytes : SLICE) / 8;
    for (size_t s = 0; s < slices; s++) sums[s] = sum(mem + s * slice_words, slice_words);
    char line[128];
    snprintf(line, sizeof line, "start %zu MiB\n", bytes >> 20);
    say(out, line);
    for (long i = 1; i <= ticks; i++) {
        struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        size_t s = (size_t)i % slices;
        if (bytes && sum(mem + s * slice_words, slice_words) != sums[s]) {
            snprintf(line, sizeof line, "CORRUPT slice %zu at tick %ld\n", s, i);
            say(out, line);
        }
        snprintf(line, sizeof line, "tick %ld\n", i);
        say(out, line);
    }
    uint64_t all = bytes ? sum(mem, bytes / 8) : 0;
    snprintf(line, sizeof line, "memory %016llx\ndone\n", (unsigned long long)all);
    say(out, line);
    return 0;
}
