// sleeper OUTFILE SLEEP_MS
//
// One thread, three long sleeps one after the other, each made once and checked: a relative
// nanosleep, a relative clock_nanosleep and an absolute clock_nanosleep(TIMER_ABSTIME). Before
// each it appends "sleep N" to OUTFILE, after it "slept N" or, when the call failed,
// "sleep N failed: ERRNO", and at the end "done". Each sleep is made only once, so a sleep that a
// restore broke (EINTR) shows in the output instead of being retried away.
#include <errno.h>
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

static void report(int n, int err) {
    char line[64];
    if (err == 0) snprintf(line, sizeof line, "slept %d\n", n);
    else snprintf(line, sizeof line, "sleep %d failed: %s\n", n, strerror(err));
    say(line);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: sleeper OUTFILE SLEEP_MS\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    long ms = atol(argv[2]);
    struct timespec length = { ms / 1000, (ms % 1000) * 1000000L };

    say("sleep 1\n");
    report(1, nanosleep(&length, NULL) == 0 ? 0 : errno);

    say("sleep 2\n");
    report(2, clock_nanosleep(CLOCK_MONOTONIC, 0, &length, NULL));

    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += length.tv_sec;
    until.tv_nsec += length.tv_nsec;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    say("sleep 3\n");
    report(3, clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL));

    say("done\n");
    return 0;
}
