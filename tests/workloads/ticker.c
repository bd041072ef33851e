// ticker OUTFILE TICKS INTERVAL_MS [AT:GATEFILE ...]
//
// The simplest job: appends "start", then "tick N" for N = 1..TICKS every INTERVAL_MS, then
// "done" to OUTFILE (write(2), O_APPEND, no buffering), and at the end prints "ticker: TICKS
// ticks" on standard output. After tick AT it waits until GATEFILE exists (it looks every 10 ms
// and holds no descriptor for it), so a test can be sure a checkpoint lands before the run is
// over without making the run long. The file's content depends only on TICKS: a run that was
// checkpointed and restarted must leave exactly what an uninterrupted run leaves.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int out;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(out, text, n) != (ssize_t)n) _exit(3);
}

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: ticker OUTFILE TICKS INTERVAL_MS [AT:GATEFILE ...]\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    long ticks = atol(argv[2]), interval = atol(argv[3]);
    char line[64];
    say("start\n");
    for (long i = 1; i <= ticks; i++) {
        pause_ms(interval);
        snprintf(line, sizeof line, "tick %ld\n", i);
        say(line);
        for (int g = 4; g < argc; g++) {
            char *colon = strchr(argv[g], ':');
            if (colon && atol(argv[g]) == i)
                while (access(colon + 1, F_OK) != 0) pause_ms(10);
        }
    }
    say("done\n");
    printf("ticker: %ld ticks\n", ticks);
    return 0;
}
