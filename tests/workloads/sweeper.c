// sweeper OUTFILE MIB [SWEEPS [MIBPS]]
//
// Writes its memory as hard as it can and checks, as it goes, that the memory it finds is exactly
// what it left: the workload for live checkpoints, whose image must be the memory at the freeze
// even though the program kept writing while the pages were copied.
//
// A private anonymous buffer of MIB MiB is swept without pause: sweep s (from 1) writes the value
// s into every 8-byte word of each page in turn, after checking that the page's first and last
// words still hold s-1. A restore from an image that mixed pages from before and after the
// freeze finds a page a sweep ahead (or behind) of where the program stood, and says so.
// Beside it, 16 chunks of 1 MiB are each mapped afresh in turn (munmap, mmap, fill): sweep s
// replaces chunk s % 16, after checking that every word of it holds the value it was filled with
// (16 (s - 16) + k, or k at the start). So memory is unmapped and mapped again while a live checkpoint
// copies, as malloc does.
//
// After each sweep it appends "sweep S gap G" to OUTFILE (G: the longest the program went, in
// microseconds, without making progress during that sweep: how long it was stopped), and after
// SWEEPS sweeps (0, the default: no end) "done" and exits 0. A check that fails appends
// "CORRUPT ..." and exits 1. With MIBPS, it writes no faster than that many MiB per second
// (sleeping between 256 KiB stretches; the sleeps do not count as gaps): the benchmark's way to
// hold a large process that writes steadily without doubling its memory during a live copy.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define CHUNKS 16
#define CHUNK (1UL << 20)

static int out;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(out, text, n) != (ssize_t)n) _exit(3);
}

static uint64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

static uint64_t *chunks[CHUNKS];

static void fill_chunk(int k, uint64_t value) {
    uint64_t *c = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED) _exit(4);
    for (size_t i = 0; i < CHUNK / 8; i++) c[i] = value;
    chunks[k] = c;
}

static int check_chunk(int k, uint64_t value, char *why, size_t size) {
    uint64_t *c = chunks[k];
    for (size_t i = 0; i < CHUNK / 8; i++)
        if (c[i] != value) {
            snprintf(why, size, "chunk %d word %zu holds %llu, not %llu", k, i,
                     (unsigned long long)c[i], (unsigned long long)value);
            return 0;
        }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sweeper OUTFILE MIB [SWEEPS]\n");
        return 2;
    }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) return 2;
    size_t pages = (size_t)atol(argv[2]) * (1UL << 20) / PAGE;
    long sweeps = argc > 3 ? atol(argv[3]) : 0;
    double rate = argc > 4 ? atof(argv[4]) : 0; // MiB per second, 0: unlimited
    uint64_t stretch_us = rate > 0 ? (uint64_t)(64 * PAGE / (rate * 1048576.0) * 1e6) : 0;
    uint64_t *buffer = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED) return 2;
    memset(buffer, 0, pages * PAGE);
    for (int k = 0; k < CHUNKS; k++) fill_chunk(k, (uint64_t)k);
    char line[256], why[200];
    for (uint64_t s = 1; sweeps == 0 || (long)s <= sweeps; s++) {
        uint64_t last = now_us(), gap = 0;
        for (size_t p = 0; p < pages; p++) {
            uint64_t *page = buffer + p * WORDS;
            if (page[0] != s - 1 || page[WORDS - 1] != s - 1) {
                snprintf(line, sizeof line, "CORRUPT sweep %llu page %zu holds %llu/%llu, not %llu\n",
                         (unsigned long long)s, p, (unsigned long long)page[0],
                         (unsigned long long)page[WORDS - 1], (unsigned long long)(s - 1));
                say(line);
                return 1;
            }
            for (size_t w = 0; w < WORDS; w++) page[w] = s;
            if ((p & 63) == 63) {
                uint64_t t = now_us(), stalled = t - last;
                if (stretch_us > 0) {
                    // A stop during the sleep shows as a sleep that lasted too long.
                    struct timespec pause = { (time_t)(stretch_us / 1000000), (long)(stretch_us % 1000000 * 1000) };
                    nanosleep(&pause, NULL);
                    uint64_t woke = now_us();
                    if (woke - t > stretch_us) stalled += woke - t - stretch_us;
                    t = woke;
                }
                if (stalled > gap) gap = stalled;
                last = t;
            }
        }
        int k = (int)(s % CHUNKS);
        // Filled at sweep s - 16, or at the start.
        uint64_t expected = s > CHUNKS ? (s - CHUNKS) * CHUNKS + (uint64_t)k : (uint64_t)k;
        if (!check_chunk(k, expected, why, sizeof why)) {
            snprintf(line, sizeof line, "CORRUPT sweep %llu %s\n", (unsigned long long)s, why);
            say(line);
            return 1;
        }
        munmap(chunks[k], CHUNK);
        fill_chunk(k, s * CHUNKS + (uint64_t)k);
        snprintf(line, sizeof line, "sweep %llu gap %llu\n", (unsigned long long)s, (unsigned long long)gap);
        say(line);
    }
    say("done\n");
    return 0;
}
