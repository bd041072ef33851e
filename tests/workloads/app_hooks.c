// app_hooks OUTFILE
//
// The C client's event hooks (clients/c/fermata.h): registers for before_checkpoint,
// after_checkpoint and after_restart, writes "registered", then asks for a checkpoint that stops
// the job (FERMATA_STOP). Each event the hook hears is appended to OUTFILE as "event
// before_checkpoint C", "event after_checkpoint C", "event after_restart C generation G" or
// "event checkpoint_failed C: MESSAGE"; the client answers "ready" once the hook for
// before_checkpoint has returned, so the checkpoint does not wait for --hook-timeout. In the
// program restored from the checkpoint the call returns FERMATA_RESTARTED: it appends "restarted
// from checkpoint C generation G", waits (at most 10 s) until the hook has heard after_restart,
// and appends "done". Anything else it appends as "unexpected: ..." and exits 1.
//
// OUTFILE stays open (O_APPEND, one write(2) per line) so that a checkpoint captures it. The event
// thread and the main thread both write to it; the two lines after the restart come in either
// order (the reply and the event are sent independently).
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// By its path from here, so that it builds with the other workloads (gcc, no -I) as well.
#define FERMATA_IMPLEMENTATION
#include "../../clients/c/fermata.h"

static int output;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t restarted = PTHREAD_COND_INITIALIZER;
static int heard_restart;

static void append(const char *text) {
    char line[700];
    int n = snprintf(line, sizeof line, "%s\n", text);
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    if (write(output, line, (size_t)n) != n) { perror("app_hooks: write"); exit(3); }
}

static void hook(const struct fermata_event *event, void *context) {
    char line[640];
    (void)context;
    switch (event->kind) {
    case FERMATA_BEFORE_CHECKPOINT: snprintf(line, sizeof line, "event before_checkpoint %d", event->checkpoint); break;
    case FERMATA_AFTER_CHECKPOINT: snprintf(line, sizeof line, "event after_checkpoint %d", event->checkpoint); break;
    case FERMATA_AFTER_RESTART: snprintf(line, sizeof line, "event after_restart %d generation %d", event->checkpoint, event->generation); break;
    case FERMATA_CHECKPOINT_FAILED: snprintf(line, sizeof line, "event checkpoint_failed %d: %s", event->checkpoint, event->message); break;
    default: snprintf(line, sizeof line, "unexpected: event kind %d", event->kind); break;
    }
    append(line);
    if (event->kind == FERMATA_AFTER_RESTART) {
        pthread_mutex_lock(&lock);
        heard_restart = 1;
        pthread_cond_signal(&restarted);
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: app_hooks OUTFILE\n"); return 2; }
    output = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (output < 0) { perror(argv[1]); return 2; }
    char line[640];
    int rc = fermata_register(FERMATA_EV_BEFORE_CHECKPOINT | FERMATA_EV_AFTER_CHECKPOINT | FERMATA_EV_AFTER_RESTART, hook, NULL);
    if (rc != FERMATA_OK) {
        snprintf(line, sizeof line, "unexpected: register returned %d: %s", rc, fermata_last_error());
        append(line);
        return 1;
    }
    append("registered");

    struct fermata_checkpoint_result result;
    rc = fermata_checkpoint(FERMATA_STOP, &result);
    if (rc != FERMATA_RESTARTED) {
        snprintf(line, sizeof line, "unexpected: checkpoint returned %d: %s", rc, fermata_last_error());
        append(line);
        return 1;
    }
    snprintf(line, sizeof line, "restarted from checkpoint %d generation %d", result.checkpoint, result.generation);
    append(line);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&lock);
    while (!heard_restart && pthread_cond_timedwait(&restarted, &lock, &deadline) == 0) {}
    int heard = heard_restart;
    pthread_mutex_unlock(&lock);
    append(heard ? "done" : "unexpected: no after_restart event within 10 s");
    return heard ? 0 : 1;
}
