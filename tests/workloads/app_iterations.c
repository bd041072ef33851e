// app_iterations OUTFILE N K
//
// A program that asks for its own checkpoints through the C client (clients/c/fermata.h): for
// i = 1..N it appends "step i" to OUTFILE, and after each step that is a
// multiple of K calls fermata_checkpoint at that iteration boundary. In the program restored from
// such a checkpoint the call returns FERMATA_RESTARTED and it appends "restarted from checkpoint C
// generation G" before going on with the next step. Between steps it sleeps 50 ms, so a test can
// kill the job between two checkpoints. On standard output it says what each call returned
// ("step i: checkpointed C", "step i: restarted from C", "step i: fermata disabled") and at the
// end "app_iterations: N steps". Run without a launcher, it writes the same steps and goes on.
//
// The file is the job's state: it stays open (O_APPEND, each line one write(2), no buffer in the
// process) for the whole run, because a checkpoint captures the files a job has open for writing
// (README, "Files a job writes"); one opened and closed again for each line would not be rolled
// back by a restart, and the steps written after the checkpoint would appear twice.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// By its path from here, so that it builds with the other workloads (gcc, no -I) as well.
#define FERMATA_IMPLEMENTATION
#include "../../clients/c/fermata.h"

static int output;

static void append(const char *text) {
    char line[160];
    int n = snprintf(line, sizeof line, "%s\n", text);
    if (write(output, line, (size_t)n) != n) {
        perror("app_iterations: write");
        exit(3);
    }
}

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: app_iterations OUTFILE N K\n"); return 2; }
    output = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (output < 0) { perror(argv[1]); return 2; }
    long n = atol(argv[2]), k = atol(argv[3]);
    if (n < 1 || k < 1) { fprintf(stderr, "app_iterations: N and K must be positive\n"); return 2; }
    char line[128];
    for (long i = 1; i <= n; i++) {
        snprintf(line, sizeof line, "step %ld", i);
        append(line);
        if (i % k == 0) {
            struct fermata_checkpoint_result result;
            switch (fermata_checkpoint(0, &result)) {
            case FERMATA_CHECKPOINTED:
                printf("step %ld: checkpointed %d\n", i, result.checkpoint);
                break;
            case FERMATA_RESTARTED:
                snprintf(line, sizeof line, "restarted from checkpoint %d generation %d", result.checkpoint, result.generation);
                append(line);
                printf("step %ld: restarted from %d\n", i, result.checkpoint);
                break;
            case FERMATA_DISABLED:
                printf("step %ld: fermata disabled\n", i);
                break;
            default:
                printf("step %ld: checkpoint failed: %s\n", i, fermata_last_error());
                break;
            }
            fflush(stdout);
        }
        pause_ms(50);
    }
    printf("app_iterations: %ld steps\n", n);
    return 0;
}
