// pipeline produce COUNT INTERVAL_MS
// pipeline transform INTERVAL_MS
// pipeline consume OUTFILE INTERVAL_MS GATE_AT GATEFILE
//
// The three stages of a shell pipeline 'produce | transform | consume', each a process of its
// own. produce writes "N" for N = 1..COUNT; transform turns each line "N" into "N N*N"; consume
// appends each line to OUTFILE (write(2), O_APPEND) and ends with "end COUNT". Each stage pauses
// INTERVAL_MS per line and the later stages are slower, so lines wait in both pipes. consume
// checks each line is the next number and its square, writes "FAILED ..." and exits 1 if not;
// after line GATE_AT it waits until GATEFILE exists, so a checkpoint lands mid-run.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int produce(long count, long interval) {
    for (long n = 1; n <= count; n++) {
        printf("%ld\n", n);
        if (fflush(stdout) != 0) return 3;
        pause_ms(interval);
    }
    return 0;
}

static int transform(long interval) {
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        long n = atol(line);
        printf("%ld %ld\n", n, n * n);
        if (fflush(stdout) != 0) return 3;
        pause_ms(interval);
    }
    return 0;
}

static int consume(const char *path, long interval, long gate_at, const char *gate) {
    int out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(path); return 2; }
    char line[64], text[128];
    long expected = 1;
    while (fgets(line, sizeof line, stdin)) {
        long n = 0, square = 0;
        if (sscanf(line, "%ld %ld", &n, &square) != 2 || n != expected || square != n * n) {
            snprintf(text, sizeof text, "FAILED expected %ld, got %s", expected, line);
            if (write(out, text, strlen(text)) < 0) return 3;
            return 1;
        }
        if (write(out, line, strlen(line)) != (ssize_t)strlen(line)) return 3;
        if (n == gate_at)
            while (access(gate, F_OK) != 0) pause_ms(10);
        expected++;
        pause_ms(interval);
    }
    snprintf(text, sizeof text, "end %ld\n", expected - 1);
    return write(out, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : 3;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "produce") == 0) return produce(atol(argv[2]), atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "transform") == 0) return transform(atol(argv[2]));
    if (argc == 6 && strcmp(argv[1], "consume") == 0) return consume(argv[2], atol(argv[3]), atol(argv[4]), argv[5]);
    fprintf(stderr, "usage: pipeline produce COUNT MS | transform MS | consume OUTFILE MS GATE_AT GATEFILE\n");
    return 2;
}
