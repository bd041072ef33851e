// soak OUTFILE
//
// A job that checks itself without end, for the soak test's thousand checkpoint/restart cycles.
// Three processes and every kind of channel between them:
//   producer  writes the numbers 1, 2, 3, ... (8 bytes each) into a pipe, a few at a time;
//   relay     (the main process) reads them, checks each is the next one, adds it into a private
//             running sum and sends it on over a TCP connection on loopback;
//   consumer  reads them from the connection, checks each is the next one, stores it in shared
//             memory (MAP_SHARED|MAP_ANONYMOUS) and answers each hundredth over a Unix socketpair.
// The relay also checks that the consumer never runs ahead of what it sent (the shared memory),
// that the answers come in order, and that its private 4 MiB buffer (rewritten from the sequence
// as it goes) still holds what it wrote. Every 1000 numbers it appends "N ok" to OUTFILE; on any
// divergence it appends "FAILED ..." and the job exits 1. Bytes wait in the pipe, in the
// connection and in the socketpair at most moments, so a checkpoint finds data in flight.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUFFER_WORDS (4u << 20) / 8

static int out;

static void fail(const char *what, uint64_t got, uint64_t want) {
    char line[200];
    int n = snprintf(line, sizeof line, "FAILED %s: got %llu, expected %llu\n", what, (unsigned long long)got, (unsigned long long)want);
    if (write(out, line, n) < 0) _exit(3);
    kill(0, SIGKILL);
    _exit(1);
}

static void read_all(int fd, void *buffer, size_t length, const char *what) {
    char *p = buffer;
    while (length > 0) {
        ssize_t n = read(fd, p, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(what, (uint64_t)n, length);
        p += n;
        length -= (size_t)n;
    }
}

static void write_all(int fd, const void *buffer, size_t length, const char *what) {
    const char *p = buffer;
    while (length > 0) {
        ssize_t n = write(fd, p, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(what, (uint64_t)n, length);
        p += n;
        length -= (size_t)n;
    }
}

static void pause_us(long us) {
    struct timespec ts = { 0, us * 1000L };
    nanosleep(&ts, NULL);
}

static uint64_t word(uint64_t seq, uint64_t i) { return seq * 0x9e3779b97f4a7c15ull ^ i; }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: soak OUTFILE\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    setpgid(0, 0);

    volatile uint64_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int pipefd[2], pair[2];
    if (shared == MAP_FAILED || pipe(pipefd) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0) { perror("soak"); return 2; }

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t length = sizeof address;
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1) < 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) < 0) { perror("soak: listen"); return 2; }

    if (fork() == 0) { // producer
        close(pipefd[0]); close(pair[0]); close(pair[1]); close(listener);
        for (uint64_t seq = 1;; seq++) {
            write_all(pipefd[1], &seq, sizeof seq, "producer write");
            if (seq % 4 == 0) pause_us(200);
        }
    }
    if (fork() == 0) { // consumer
        close(pipefd[0]); close(pipefd[1]); close(pair[0]);
        int connection = accept(listener, NULL, NULL);
        close(listener);
        if (connection < 0) fail("accept", (uint64_t)errno, 0);
        for (uint64_t want = 1;; want++) {
            uint64_t seq;
            read_all(connection, &seq, sizeof seq, "consumer read");
            if (seq != want) fail("consumer sequence", seq, want);
            *shared = seq;
            if (seq % 100 == 0) write_all(pair[1], &seq, sizeof seq, "consumer answer");
            if (seq % 8 == 0) pause_us(300);
        }
    }
    close(pipefd[1]); close(pair[1]);
    int connection = socket(AF_INET, SOCK_STREAM, 0);
    if (connection < 0 || connect(connection, (struct sockaddr *)&address, sizeof address) < 0) fail("connect", (uint64_t)errno, 0);
    close(listener);
    int one = 1;
    setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    uint64_t *buffer = malloc(BUFFER_WORDS * 8);
    for (uint64_t i = 0; i < BUFFER_WORDS; i++) buffer[i] = word(0, i);
    uint64_t sum = 0, answered = 0;
    for (uint64_t want = 1;; want++) {
        uint64_t seq;
        read_all(pipefd[0], &seq, sizeof seq, "relay read");
        if (seq != want) fail("relay sequence", seq, want);
        sum += seq;
        if (sum != seq * (seq + 1) / 2) fail("relay sum", sum, seq * (seq + 1) / 2);
        write_all(connection, &seq, sizeof seq, "relay send");
        if (*shared > seq) fail("consumer ahead of the relay", *shared, seq);
        // Rewrite one slice of the buffer from this number, and check the slice written last time.
        uint64_t slice = (seq % 64) * (BUFFER_WORDS / 64), previous = ((seq - 1) % 64) * (BUFFER_WORDS / 64);
        for (uint64_t i = 0; i < 16; i++)
            if (seq > 1 && buffer[previous + i] != word(seq - 1, previous + i)) fail("relay memory", buffer[previous + i], word(seq - 1, previous + i));
        for (uint64_t i = 0; i < 16; i++) buffer[slice + i] = word(seq, slice + i);
        // The consumer's answers, without waiting for them.
        uint64_t answer;
        ssize_t n = recv(pair[0], &answer, sizeof answer, MSG_DONTWAIT | MSG_PEEK);
        if (n == sizeof answer) {
            read_all(pair[0], &answer, sizeof answer, "relay answer");
            answered += 100;
            if (answer != answered) fail("consumer answer", answer, answered);
        }
        if (seq % 1000 == 0) {
            char line[64];
            int k = snprintf(line, sizeof line, "%llu ok\n", (unsigned long long)seq);
            write_all(out, line, (size_t)k, "output");
        }
    }
}
