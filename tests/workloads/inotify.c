// inotify MODE OUTFILE WORKDIR TICKS INTERVAL_MS
//
// run: an inotify instance (non-blocking) with watches, made in WORKDIR:
//   1  dir/        IN_CREATE | IN_DELETE
//   2  file        IN_MODIFY | IN_EXCL_UNLINK
//   3  gone        removed again (watch numbers have a gap)
//   4  once        IN_OPEN | IN_ONESHOT
//   5  link        IN_ATTRIB | IN_DONT_FOLLOW: the symbolic link itself
// It reads every event so far, ticks (the checkpoint lands there), then checks that nothing is
// queued, that each watch reports its events with its number, that the oneshot fires once,
// and that the next watch gets number 6; it writes "check NAME ok" or "check NAME FAILED ...".
//
// pending: the same watches, with an event left unread during the ticks (a checkpoint refuses
// it); after the ticks it checks the event is still there.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

/// Every event queued, as "wd:mask:name" separated by spaces.
static void events(int in, char *into, size_t size) {
    char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    size_t used = 0;
    into[0] = 0;
    ssize_t n;
    while ((n = read(in, buffer, sizeof buffer)) > 0)
        for (char *p = buffer; p < buffer + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (used < size) used += snprintf(into + used, size - used, "%s%d:%x:%s", used ? " " : "", e->wd, e->mask, e->len ? e->name : "");
            p += sizeof *e + e->len;
        }
}

static void path(char *into, const char *dir, const char *name) { snprintf(into, 4096, "%s/%s", dir, name); }

static int watch(int in, const char *dir, const char *name, uint32_t mask) {
    char p[4096];
    path(p, dir, name);
    int wd = inotify_add_watch(in, p, mask);
    if (wd < 0) { perror(p); exit(2); }
    return wd;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: inotify MODE OUTFILE WORKDIR TICKS INTERVAL_MS\n"); return 2; }
    const char *mode = argv[1], *dir = argv[3];
    int ticks = atoi(argv[4]), interval = atoi(argv[5]);
    out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[2]); return 2; }
    char p[4096], q[4096];
    path(p, dir, "dir");
    mkdir(p, 0755);
    const char *files[] = { "file", "gone", "once" };
    for (int i = 0; i < 3; i++) {
        path(p, dir, files[i]);
        int fd = open(p, O_WRONLY | O_CREAT, 0644);
        if (fd < 0) { perror(p); return 2; }
        close(fd);
    }
    path(p, dir, "link");
    if (symlink("file", p) != 0 && errno != EEXIST) { perror(p); return 2; }

    int in = inotify_init1(IN_NONBLOCK);
    if (in < 0) { perror("inotify_init1"); return 2; }
    int w1 = watch(in, dir, "dir", IN_CREATE | IN_DELETE);
    int w2 = watch(in, dir, "file", IN_MODIFY | IN_EXCL_UNLINK);
    int w3 = watch(in, dir, "gone", IN_ATTRIB);
    inotify_rm_watch(in, w3);
    int w4 = watch(in, dir, "once", IN_OPEN | IN_ONESHOT);
    int w5 = watch(in, dir, "link", IN_ATTRIB | IN_DONT_FOLLOW);
    if (w1 != 1 || w2 != 2 || w3 != 3 || w4 != 4 || w5 != 5) { fprintf(stderr, "unexpected watch numbers\n"); return 2; }
    char seen[2048], detail[2560];
    events(in, seen, sizeof seen);
    if (!strcmp(mode, "pending")) {
        path(p, dir, "file");
        int fd = open(p, O_WRONLY | O_APPEND);
        if (fd < 0 || write(fd, "x", 1) != 1) { perror(p); return 2; }
        close(fd);
    }

    ticking(ticks, interval);

    if (!strcmp(mode, "pending")) {
        events(in, seen, sizeof seen);
        snprintf(detail, sizeof detail, "events: %s", seen);
        check("pending", !strcmp(seen, "2:2:"), detail);
        say("done\n");
        return 0;
    }

    int queued = -1;
    ioctl(in, FIONREAD, &queued);
    events(in, seen, sizeof seen);
    snprintf(detail, sizeof detail, "%d bytes queued: %s", queued, seen);
    check("quiet", queued == 0 && seen[0] == 0, detail);

    path(p, dir, "dir/new");
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    close(fd);
    unlink(p);
    path(p, dir, "file");
    fd = open(p, O_WRONLY | O_APPEND);
    if (fd < 0 || write(fd, "x", 1) != 1) { perror(p); return 2; }
    close(fd);
    events(in, seen, sizeof seen);
    snprintf(detail, sizeof detail, "events: %s", seen);
    check("watches", !strcmp(seen, "1:100:new 1:200:new 2:2:"), detail);

    path(p, dir, "once");
    for (int i = 0; i < 2; i++) close(open(p, O_RDONLY));
    events(in, seen, sizeof seen);
    snprintf(detail, sizeof detail, "events: %s", seen);
    check("oneshot", !strcmp(seen, "4:20: 4:8000:"), detail);

    path(p, dir, "link");
    struct timespec times[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
    utimensat(AT_FDCWD, p, times, AT_SYMLINK_NOFOLLOW);
    events(in, seen, sizeof seen);
    snprintf(detail, sizeof detail, "events: %s", seen);
    check("link", !strcmp(seen, "5:4:"), detail);

    path(q, dir, "gone");
    int next = inotify_add_watch(in, q, IN_ATTRIB);
    snprintf(detail, sizeof detail, "watch %d", next);
    check("numbers", next == 6, detail);
    say("done\n");
    return 0;
}
