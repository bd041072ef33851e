// conns READYFILE COUNT
//
// A server and its client (a forked child) holding COUNT TCP connections between them over
// loopback, each with a few bytes waiting in both directions. When both have set up, READYFILE
// says "ready". On SIGUSR1 the client reads what waits on each connection, sends one more
// message on each, the server answers each, and READYFILE.checked says "ok COUNT" (or what went
// wrong): a restored job is checked connection by connection.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static void on_usr1(int s) { (void)s; go = 1; }

static void say(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static int read_exactly(int fd, char *buf, int n) {
    int have = 0;
    while (have < n) {
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, 10000);
        if (ready < 0 && errno == EINTR) continue;
        if (ready != 1) return 0;
        ssize_t r = recv(fd, buf + have, n - have, 0);
        if (r <= 0) return 0;
        have += r;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: conns READYFILE COUNT\n"); return 2; }
    const char *ready = argv[1];
    int count = atoi(argv[2]);
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096) || getsockname(l, (struct sockaddr *)&a, &len)) { perror("listen"); return 2; }
    signal(SIGUSR1, on_usr1);
    char checked[4096];
    snprintf(checked, sizeof checked, "%s.checked", ready);
    pid_t child = fork();
    if (child == 0) {
        int *c = malloc(sizeof(int) * count);
        for (int i = 0; i < count; i++) {
            c[i] = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c[i], (struct sockaddr *)&a, sizeof a)) { perror("connect"); _exit(2); }
            char msg[32];
            int n = snprintf(msg, sizeof msg, "hello %06d\n", i);
            send(c[i], msg, n, 0);
        }
        while (!go) pause();
        int ok = 0;
        for (int i = 0; i < count; i++) {
            char want[32], got[32];
            int n = snprintf(want, sizeof want, "welcome %06d\n", i);
            if (read_exactly(c[i], got, n) && !memcmp(got, want, n)) {
                n = snprintf(want, sizeof want, "again %06d\n", i);
                send(c[i], want, n, 0);
                n = snprintf(want, sizeof want, "fine %06d\n", i);
                if (read_exactly(c[i], got, n) && !memcmp(got, want, n)) ok++;
            }
        }
        char text[64];
        snprintf(text, sizeof text, "%s %d\n", ok == count ? "ok" : "FAILED", ok);
        say(checked, text);
        _exit(0);
    }
    signal(SIGUSR1, SIG_IGN); // the signal is the client's; the server just answers
    int *s = malloc(sizeof(int) * count);
    for (int i = 0; i < count; i++) {
        s[i] = accept(l, NULL, NULL);
        if (s[i] < 0) { perror("accept"); return 2; }
        char msg[32];
        int n = snprintf(msg, sizeof msg, "welcome %06d\n", i);
        send(s[i], msg, n, 0);
    }
    // Each connection's first message arrives in order: which accepted socket has which client.
    int *index = malloc(sizeof(int) * count);
    for (int i = 0; i < count; i++) {
        char got[32];
        if (!read_exactly(s[i], got, 13)) { fprintf(stderr, "no hello\n"); return 2; }
        index[i] = atoi(got + 6);
    }
    say(ready, "ready\n");
    for (int i = 0; i < count; i++) {
        char got[32], msg[32];
        if (!read_exactly(s[i], got, 13)) continue;
        int n = snprintf(msg, sizeof msg, "fine %06d\n", index[i]);
        send(s[i], msg, n, 0);
    }
    int status;
    waitpid(child, &status, 0);
    return 0;
}
