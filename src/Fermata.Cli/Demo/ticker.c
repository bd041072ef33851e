/* The demo's sample program: holds 64 MiB of data and ticks.
 *
 * ticker LOGFILE TICKS INTERVAL_MS
 * Fills 64 MiB with a pattern and remembers its checksum; then, every INTERVAL_MS, appends
 * "tick N" to LOGFILE. At the end it checks the memory again and writes what it found. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t checksum(const uint64_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    int log = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    long ticks = atol(argv[2]), interval = atol(argv[3]);
    size_t words = (64u << 20) / 8;
    uint64_t *data = malloc(words * 8), x = 88172645463325252ULL;
    for (size_t i = 0; i < words; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; data[i] = x; }
    uint64_t expected = checksum(data, words);
    char line[128];
    for (long i = 1; i <= ticks; i++) {
        struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        int n = snprintf(line, sizeof line, "tick %ld\n", i);
        if (write(log, line, n) != n) return 3;
    }
    int n = snprintf(line, sizeof line, "done: %ld ticks, 64 MiB of memory %s\n", ticks,
                     checksum(data, words) == expected ? "intact" : "CORRUPT");
    return write(log, line, n) == n ? 0 : 3;
}
