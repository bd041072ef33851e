// swarm N LOGFILE READYFILE TICKS INTERVAL_MS AT GATEFILE
//
// A job of many small processes. The parent forks N children; child K (1..N) appends
// "K I" to LOGFILE (O_APPEND, one write a line) for I = 1..TICKS, one every INTERVAL_MS, and
// after tick AT waits until GATEFILE exists. Once every child has written its first tick the
// parent creates READYFILE; it then waits for all of them and prints "swarm: done N" on
// standard output. An uninterrupted run leaves each child's lines 1..TICKS, in order, once each.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void child(int k, int log, int started, long ticks, long interval, long at, const char *gate) {
    char line[64];
    for (long i = 1; i <= ticks; i++) {
        int n = snprintf(line, sizeof line, "%d %ld\n", k, i);
        if (write(log, line, n) != n) _exit(3);
        if (i == 1) {
            if (write(started, "s", 1) != 1) _exit(3);
            close(started);
        }
        if (i == at) while (access(gate, F_OK) != 0) pause_ms(20);
        if (i < ticks) pause_ms(interval);
    }
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: swarm N LOGFILE READYFILE TICKS INTERVAL_MS AT GATEFILE\n"); return 2; }
    int n = atoi(argv[1]);
    long ticks = atol(argv[4]), interval = atol(argv[5]), at = atol(argv[6]);
    int log = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log < 0) { perror(argv[2]); return 2; }
    int started[2];
    if (pipe(started) != 0) { perror("pipe"); return 2; }
    for (int k = 1; k <= n; k++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 2; }
        if (pid == 0) {
            close(started[0]);
            child(k, log, started[1], ticks, interval, at, argv[7]);
        }
    }
    close(started[1]);
    char c;
    for (int k = 0; k < n; k++)
        if (read(started[0], &c, 1) != 1) { fprintf(stderr, "swarm: a child ended early\n"); return 2; }
    close(started[0]);
    int ready = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (ready < 0) { perror(argv[3]); return 2; }
    close(ready);
    int failed = 0;
    for (int k = 0; k < n; k++) {
        int status;
        if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    }
    if (failed) { fprintf(stderr, "swarm: %d children failed\n", failed); return 1; }
    printf("swarm: done %d\n", n);
    return 0;
}
