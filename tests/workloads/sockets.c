// sockets MODE OUTFILE WORKDIR TICKS INTERVAL_MS
//
// Sets up sockets of one kind with data waiting in them, ticks (the checkpoint lands there),
// then checks each socket's own state and writes "check NAME ok" or "check NAME FAILED ...".
// The lines hold no PIDs or ports, so a restored run's output must equal an uninterrupted run's.
//   unix     socket pairs of the three types with data queued both ways, a half-closed pair, a
//            pair whose peer was closed, options (buffer sizes, SO_PASSCRED, non-blocking)
//   listen   Unix listeners bound to a path and to an abstract name, one connection accepted
//            with data both ways and one still queued, datagram sockets bound to names with
//            messages from named and unnamed senders; a new client connects after the ticks
//   tcp      a TCP listener, an accepted connection with data queued both ways, one connection
//            not accepted yet, a half-closed connection, TCP_NODELAY and keepalive settings; a new
//            client connects after the ticks
//   udp      UDP sockets bound and connected, with datagrams queued from a sibling socket
//   netlink  a NETLINK_ROUTE socket bound to the link group, asked for the links after the ticks
//   outside  connects to WORKDIR/outside.sock (served by the test, outside the checkpoint), then
//            reports what a read and a write on that connection do after the ticks
//   outsidetcp  the same over TCP, to the port written in WORKDIR/outside.port
//   flood    a TCP writer that filled its connection (its reader reads only after the ticks)
//   inflight a descriptor sent over a socket pair (SCM_RIGHTS) and not yet received
//   raw      holds a raw ICMP socket (needs root); nothing to check: a checkpoint must refuse it
//   family   fork: the parent serves over a Unix listener and TCP, the child is the client, and
//            each checks the other's peer credentials and what it was sent (run as a job)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int out;
static char line[1024];
static const char *workdir;
static int ticks, interval;

static void say(const char *text) { size_t n = strlen(text); if (write(out, text, n) != (ssize_t)n) _exit(3); }
static void check(const char *name, int ok, const char *detail) {
    snprintf(line, sizeof line, "check %s %s%s%s\n", name, ok ? "ok" : "FAILED", ok ? "" : " ", ok ? "" : detail);
    say(line);
}
static void die(const char *what) { perror(what); exit(2); }
static void tick_all(void) {
    struct timespec pause = { interval / 1000, (long)(interval % 1000) * 1000000L };
    for (int i = 1; i <= ticks; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        nanosleep(&pause, NULL);
    }
}
static void put(int fd, const char *text) { if (send(fd, text, strlen(text), MSG_NOSIGNAL) != (ssize_t)strlen(text)) die("send"); }
// Reads exactly what was expected (waiting for it), and says whether it matched.
static int got(int fd, const char *want, char *seen) {
    size_t n = strlen(want), have = 0;
    seen[0] = 0;
    while (have < n) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t r = recv(fd, seen + have, n - have, 0);
        if (r <= 0) break;
        have += r;
    }
    seen[have] = 0;
    return have == n && memcmp(seen, want, n) == 0;
}
static int eof(int fd) { char c; struct pollfd p = { fd, POLLIN, 0 }; return poll(&p, 1, 5000) == 1 && recv(fd, &c, 1, 0) == 0; }
static int opt(int fd, int level, int name) { int v = -1; socklen_t l = sizeof v; getsockopt(fd, level, name, &v, &l); return v; }
static int bound_unix(int type, const char *name, int abstract) {
    int fd = socket(AF_UNIX, type, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    socklen_t len;
    if (abstract) { a.sun_path[0] = 0; strcpy(a.sun_path + 1, name); len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name); }
    else { snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", workdir, name); unlink(a.sun_path); len = sizeof a; }
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) != 0) die(name);
    return fd;
}
static struct sockaddr_un unix_name(const char *name, int abstract, socklen_t *len) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (abstract) { strcpy(a.sun_path + 1, name); *len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name); }
    else { snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", workdir, name); *len = sizeof a; }
    return a;
}
static int connect_unix(int type, const char *name, int abstract) {
    socklen_t len;
    struct sockaddr_un a = unix_name(name, abstract, &len);
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, len) != 0) die("connect unix");
    return fd;
}

static void unix_mode(void) {
    int s[2], d[2], q[2], h[2], g[2];
    char seen[4096], detail[4200];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) || socketpair(AF_UNIX, SOCK_DGRAM, 0, d) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q)
        || socketpair(AF_UNIX, SOCK_STREAM, 0, h) || socketpair(AF_UNIX, SOCK_STREAM, 0, g)) die("socketpair");
    int big = 65536;
    setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    int on = 1;
    setsockopt(s[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    fcntl(d[1], F_SETFL, O_NONBLOCK);
    put(s[0], "stream to the right "); put(s[0], "in two writes");
    put(s[1], "stream to the left");
    put(d[0], "first datagram"); put(d[0], "second datagram"); put(d[1], "reply datagram");
    put(q[0], "packet one"); put(q[0], "packet two");
    put(h[0], "before the shutdown"); shutdown(h[0], SHUT_WR);   // half-closed: h[1] reads then EOF
    put(g[0], "last words"); close(g[0]);                        // g[1]'s peer is gone
    int sndbuf = opt(s[0], SOL_SOCKET, SO_SNDBUF);
    tick_all();
    check("stream-right", got(s[1], "stream to the right in two writes", seen), seen);
    check("stream-left", got(s[0], "stream to the left", seen), seen);
    check("stream-still-works", (put(s[0], "more"), got(s[1], "more", seen)), seen);
    char buf[64] = "";
    ssize_t n1 = recv(d[1], buf, sizeof buf, 0);
    int first = n1 == 14 && !memcmp(buf, "first datagram", 14);
    ssize_t n2 = recv(d[1], buf, sizeof buf, 0);
    int second = n2 == 15 && !memcmp(buf, "second datagram", 15);
    ssize_t n3 = recv(d[1], buf, sizeof buf, 0);
    snprintf(detail, sizeof detail, "%zd %zd %zd errno %d", n1, n2, n3, errno);
    check("datagrams-in-order-with-boundaries", first && second && n3 < 0 && errno == EAGAIN, detail);
    n1 = recv(d[0], buf, sizeof buf, MSG_DONTWAIT);
    check("datagram-back", n1 == 14 && !memcmp(buf, "reply datagram", 14), "");
    n1 = recv(q[1], buf, sizeof buf, 0); n2 = recv(q[1], buf + 20, sizeof buf - 20, 0);
    check("seqpacket-boundaries", n1 == 10 && n2 == 10 && !memcmp(buf, "packet one", 10) && !memcmp(buf + 20, "packet two", 10), "");
    check("half-closed-reads-then-eof", got(h[1], "before the shutdown", seen) && eof(h[1]), seen);
    check("half-closed-still-writes-back", (put(h[1], "answer"), got(h[0], "answer", seen)), seen);
    check("peer-gone-reads-then-eof", got(g[1], "last words", seen) && eof(g[1]), seen);
    errno = 0;
    ssize_t w = send(g[1], "x", 1, MSG_NOSIGNAL);
    snprintf(detail, sizeof detail, "send %zd errno %d", w, errno);
    check("peer-gone-write-fails", w < 0 && errno == EPIPE, detail);
    snprintf(detail, sizeof detail, "sndbuf %d now %d", sndbuf, opt(s[0], SOL_SOCKET, SO_SNDBUF));
    check("sndbuf-kept", opt(s[0], SOL_SOCKET, SO_SNDBUF) == sndbuf, detail);
    check("passcred-kept", opt(s[1], SOL_SOCKET, SO_PASSCRED) == 1 && opt(s[0], SOL_SOCKET, SO_PASSCRED) == 0, "");
    check("nonblock-kept", (fcntl(d[1], F_GETFL) & O_NONBLOCK) && !(fcntl(d[0], F_GETFL) & O_NONBLOCK), "");
    check("types-kept", opt(s[0], SOL_SOCKET, SO_TYPE) == SOCK_STREAM && opt(d[0], SOL_SOCKET, SO_TYPE) == SOCK_DGRAM && opt(q[0], SOL_SOCKET, SO_TYPE) == SOCK_SEQPACKET, "");
}

static void listen_mode(void) {
    char seen[4096], detail[256];
    int path = bound_unix(SOCK_STREAM, "server.sock", 0);
    char abstract[300];
    snprintf(abstract, sizeof abstract, "fermata-test-%s", strrchr(workdir, '/') ? strrchr(workdir, '/') + 1 : workdir);
    int abs = bound_unix(SOCK_STREAM, abstract, 1);
    if (listen(path, 8) || listen(abs, 8)) die("listen");
    int c1 = connect_unix(SOCK_STREAM, "server.sock", 0);
    int a1 = accept(path, NULL, NULL);
    int c2 = connect_unix(SOCK_STREAM, "server.sock", 0);    // queued, accepted after the ticks
    int c3 = connect_unix(SOCK_STREAM, abstract, 1);
    put(c1, "client says hello"); put(a1, "server says hi");
    int dgram = bound_unix(SOCK_DGRAM, "dgram.sock", 0);
    int named = bound_unix(SOCK_DGRAM, "sender.sock", 0);
    int unnamed = socket(AF_UNIX, SOCK_DGRAM, 0);
    socklen_t len;
    struct sockaddr_un to = unix_name("dgram.sock", 0, &len);
    sendto(named, "from named", 10, 0, (struct sockaddr *)&to, len);
    sendto(unnamed, "from unnamed", 12, 0, (struct sockaddr *)&to, len);
    tick_all();
    check("accepted-reads", got(a1, "client says hello", seen), seen);
    check("client-reads", got(c1, "server says hi", seen), seen);
    int a2 = accept(path, NULL, NULL);
    check("queued-connection-accepted", a2 >= 0 && (put(c2, "late"), got(a2, "late", seen)), seen);
    int a3 = accept(abs, NULL, NULL);
    check("abstract-queued-accepted", a3 >= 0 && (put(a3, "abstract"), got(c3, "abstract", seen)), seen);
    struct sockaddr_un name; socklen_t nl = sizeof name;
    getsockname(a1, (struct sockaddr *)&name, &nl);
    check("accepted-keeps-listener-name", strstr(name.sun_path, "server.sock") != NULL, name.sun_path);
    int c4 = connect_unix(SOCK_STREAM, "server.sock", 0);
    int a4 = accept(path, NULL, NULL);
    check("new-client-after-restore", a4 >= 0 && (put(c4, "new"), got(a4, "new", seen)), seen);
    struct ucred cred; socklen_t cl = sizeof cred;
    getsockopt(a4, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
    snprintf(detail, sizeof detail, "peer pid %d uid %d", cred.pid, cred.uid);
    check("peer-credentials", cred.pid == getpid() && cred.uid == getuid(), detail);
    char buf[64]; struct sockaddr_un from; socklen_t fl = sizeof from;
    ssize_t n = recvfrom(dgram, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    check("dgram-from-named-sender", n == 10 && !memcmp(buf, "from named", 10) && strstr(from.sun_path, "sender.sock"), from.sun_path);
    fl = sizeof from;
    n = recvfrom(dgram, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    snprintf(detail, sizeof detail, "n %zd namelen %u", n, fl);
    check("dgram-from-unnamed-sender", n == 12 && !memcmp(buf, "from unnamed", 12) && fl <= offsetof(struct sockaddr_un, sun_path), detail);
}

static int tcp_listener(struct sockaddr_in *a) {
    int l = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    a->sin_family = AF_INET; a->sin_addr.s_addr = htonl(INADDR_LOOPBACK); a->sin_port = 0;
    socklen_t len = sizeof *a;
    if (bind(l, (struct sockaddr *)a, sizeof *a) || listen(l, 16) || getsockname(l, (struct sockaddr *)a, &len)) die("tcp listen");
    return l;
}
static int tcp_connect(struct sockaddr_in *a) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)a, sizeof *a)) die("tcp connect");
    return c;
}

static void tcp_mode(void) {
    static char seen[300000];
    char detail[256];
    struct sockaddr_in a;
    int l = tcp_listener(&a);
    int c1 = tcp_connect(&a), a1 = accept(l, NULL, NULL);
    int c3 = tcp_connect(&a), a3 = accept(l, NULL, NULL);
    int c2 = tcp_connect(&a);                       // queued, accepted after the ticks
    int on = 1, idle = 42;
    setsockopt(c1, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    setsockopt(a1, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(a1, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    static char bulk[100000];
    for (int i = 0; i < (int)sizeof bulk - 1; i++) bulk[i] = 'a' + i % 26;
    put(c1, "request one;"); put(c1, "request two;");
    put(a1, bulk);
    put(c3, "bye"); shutdown(c3, SHUT_WR);
    struct sockaddr_in local; socklen_t ll = sizeof local;
    getsockname(c1, (struct sockaddr *)&local, &ll);
    tick_all();
    check("server-reads-requests", got(a1, "request one;request two;", seen), seen);
    check("client-reads-100k", got(c1, bulk, seen), "(bulk differs)");
    check("connection-still-works", (put(a1, "more"), got(c1, "more", seen)), seen);
    int a2 = accept(l, NULL, NULL);
    check("queued-connection-accepted", a2 >= 0 && (put(c2, "late"), got(a2, "late", seen)), seen);
    check("half-closed-reads-then-eof", got(a3, "bye", seen) && eof(a3), seen);
    check("half-closed-writes-back", (put(a3, "ok"), got(c3, "ok", seen)), seen);
    struct sockaddr_in now; socklen_t nl = sizeof now;
    getsockname(c1, (struct sockaddr *)&now, &nl);
    check("client-keeps-its-port", now.sin_port == local.sin_port, "");
    snprintf(detail, sizeof detail, "nodelay %d keepalive %d idle %d", opt(c1, IPPROTO_TCP, TCP_NODELAY), opt(a1, SOL_SOCKET, SO_KEEPALIVE), opt(a1, IPPROTO_TCP, TCP_KEEPIDLE));
    check("options-kept", opt(c1, IPPROTO_TCP, TCP_NODELAY) == 1 && opt(a1, SOL_SOCKET, SO_KEEPALIVE) == 1 && opt(a1, IPPROTO_TCP, TCP_KEEPIDLE) == 42, detail);
    int c4 = tcp_connect(&a), a4 = accept(l, NULL, NULL);
    check("new-client-after-restore", a4 >= 0 && (put(c4, "new"), got(a4, "new", seen)), seen);
}

static void udp_mode(void) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, b = a;
    int s1 = socket(AF_INET, SOCK_DGRAM, 0), s2 = socket(AF_INET, SOCK_DGRAM, 0), s3 = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = sizeof a;
    if (bind(s1, (struct sockaddr *)&a, sizeof a) || getsockname(s1, (struct sockaddr *)&a, &len)) die("udp bind");
    len = sizeof b;
    if (bind(s2, (struct sockaddr *)&b, sizeof b) || getsockname(s2, (struct sockaddr *)&b, &len)) die("udp bind");
    if (connect(s3, (struct sockaddr *)&a, sizeof a)) die("udp connect");
    sendto(s2, "from two", 8, 0, (struct sockaddr *)&a, sizeof a);
    put(s3, "from three");
    sendto(s1, "to two", 6, 0, (struct sockaddr *)&b, sizeof b);
    tick_all();
    char buf[64]; struct sockaddr_in from; socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s1, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    check("udp-first-with-sender", n == 8 && !memcmp(buf, "from two", 8) && from.sin_port == b.sin_port, "");
    n = recv(s1, buf, sizeof buf, MSG_DONTWAIT);
    check("udp-second", n == 10 && !memcmp(buf, "from three", 10), "");
    n = recv(s2, buf, sizeof buf, MSG_DONTWAIT);
    check("udp-other-way", n == 6 && !memcmp(buf, "to two", 6), "");
    put(s3, "again");
    n = recv(s1, buf, sizeof buf, 0);
    check("udp-connected-still-sends", n == 5 && !memcmp(buf, "again", 5), "");
    struct sockaddr_in peer; socklen_t pl = sizeof peer;
    check("udp-connected-peer-kept", getpeername(s3, (struct sockaddr *)&peer, &pl) == 0 && peer.sin_port == a.sin_port, "");
}

static void netlink_mode(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a)) die("netlink");
    tick_all();
    struct { struct nlmsghdr h; struct rtgenmsg g; } req = { { sizeof req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 }, { AF_UNSPEC } };
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel);
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    check("netlink-answers", n > 0 && h->nlmsg_type == RTM_NEWLINK, "");
    struct sockaddr_nl me; socklen_t ml = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &ml);
    check("netlink-groups-kept", me.nl_groups == RTMGRP_LINK, "");
}

static void outside_mode(int tcp) {
    int c;
    if (tcp) {
        char path[4096]; int port = 0;
        snprintf(path, sizeof path, "%s/outside.port", workdir);
        FILE *f = fopen(path, "r");
        if (!f || fscanf(f, "%d", &port) != 1) die(path);
        fclose(f);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        c = tcp_connect(&a);
    } else c = connect_unix(SOCK_STREAM, "outside.sock", 0);
    put(c, "hello from inside");
    tick_all();
    char buf[256] = "";
    struct pollfd p = { c, POLLIN, 0 };
    int ready = poll(&p, 1, 5000);
    ssize_t n = ready == 1 ? recv(c, buf, sizeof buf - 1, 0) : -2;
    snprintf(line, sizeof line, "outside read %s%s\n", n == 0 ? "eof" : n > 0 ? "data " : n == -2 ? "timeout" : "error", n > 0 ? buf : "");
    say(line);
    errno = 0;
    ssize_t w = send(c, "x", 1, MSG_NOSIGNAL);
    snprintf(line, sizeof line, "outside write %s\n", w == 1 ? "ok" : errno == EPIPE ? "epipe" : errno == ECONNRESET ? "reset" : "error");
    say(line);
}

// A writer that filled its connection: every buffer between it and its reader is full.
static void flood_mode(void) {
    struct sockaddr_in a;
    int l = tcp_listener(&a);
    int c = tcp_connect(&a), r = accept(l, NULL, NULL);
    fcntl(c, F_SETFL, O_NONBLOCK);
    static unsigned char chunk[65536];
    long written = 0;
    for (int rounds = 0; rounds < 1000; rounds++) {
        for (int i = 0; i < (int)sizeof chunk; i++) chunk[i] = (unsigned char)((written + i) % 251);
        ssize_t n = send(c, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n < 0) { if (errno == EAGAIN) break; die("flood send"); }
        written += n;
    }
    tick_all();
    long seen = 0; int in_order = 1;
    fcntl(r, F_SETFL, O_NONBLOCK);
    for (int idle = 0; idle < 50 && seen < written;) {
        ssize_t n = recv(r, chunk, sizeof chunk, 0);
        if (n > 0) { for (ssize_t i = 0; i < n; i++) if (chunk[i] != (unsigned char)((seen + i) % 251)) in_order = 0; seen += n; idle = 0; }
        else { idle++; usleep(10000); }
    }
    char detail[128];
    snprintf(detail, sizeof detail, "wrote %ld, read %ld", written, seen);
    check("flood-every-byte-once-in-order", seen == written && in_order && written > 100000, detail);
}

// A descriptor sent over a socket pair and not received yet (SCM_RIGHTS).
static void inflight_mode(void) {
    int s[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s)) die("socketpair");
    int passed = open("/dev/null", O_RDONLY);
    char byte = 'x', control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &byte, 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passed, sizeof(int));
    if (sendmsg(s[0], &msg, 0) != 1) die("sendmsg");
    close(passed);
    tick_all();
    msg.msg_controllen = sizeof control;
    check("inflight-descriptor-received", recvmsg(s[1], &msg, 0) == 1 && CMSG_FIRSTHDR(&msg) && CMSG_FIRSTHDR(&msg)->cmsg_type == SCM_RIGHTS, "");
}

static void raw_mode(void) {
    int r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (r < 0) die("raw socket");
    tick_all();
    close(r);
}

static void family_mode(void) {
    char seen[4096], detail[256];
    int l = bound_unix(SOCK_STREAM, "family.sock", 0);
    if (listen(l, 4)) die("listen");
    struct sockaddr_in ta;
    int tl = tcp_listener(&ta);
    pid_t child = fork();
    if (child == 0) {
        int c = connect_unix(SOCK_STREAM, "family.sock", 0);
        int t = tcp_connect(&ta);
        put(c, "child over unix"); put(t, "child over tcp");
        tick_all();
        struct ucred cred; socklen_t cl = sizeof cred;
        getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
        snprintf(detail, sizeof detail, "peer pid %d parent %d", cred.pid, getppid());
        check("child-sees-parent-as-peer", cred.pid == getppid(), detail);
        check("child-reads-unix", got(c, "parent over unix", seen), seen);
        check("child-reads-tcp", got(t, "parent over tcp", seen), seen);
        put(c, "child done");
        _exit(0);
    }
    int a = accept(l, NULL, NULL), ta1 = accept(tl, NULL, NULL);
    put(a, "parent over unix"); put(ta1, "parent over tcp");
    tick_all();
    struct ucred cred; socklen_t cl = sizeof cred;
    getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
    snprintf(detail, sizeof detail, "peer pid %d child %d", cred.pid, child);
    check("parent-sees-child-as-peer", cred.pid == child, detail);
    check("parent-reads-unix", got(a, "child over unix", seen), seen);
    check("parent-reads-tcp", got(ta1, "child over tcp", seen), seen);
    int status;
    waitpid(child, &status, 0);
    check("child-finished", got(a, "child done", seen) && WIFEXITED(status) && WEXITSTATUS(status) == 0, seen);
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: sockets MODE OUTFILE WORKDIR TICKS INTERVAL_MS\n"); return 2; }
    const char *mode = argv[1];
    workdir = argv[3];
    ticks = atoi(argv[4]);
    interval = atoi(argv[5]);
    out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) die(argv[2]);
    if (!strcmp(mode, "unix")) unix_mode();
    else if (!strcmp(mode, "listen")) listen_mode();
    else if (!strcmp(mode, "tcp")) tcp_mode();
    else if (!strcmp(mode, "udp")) udp_mode();
    else if (!strcmp(mode, "netlink")) netlink_mode();
    else if (!strcmp(mode, "family")) family_mode();
    else if (!strcmp(mode, "outside")) outside_mode(0);
    else if (!strcmp(mode, "outsidetcp")) outside_mode(1);
    else if (!strcmp(mode, "raw")) raw_mode();
    else if (!strcmp(mode, "flood")) flood_mode();
    else if (!strcmp(mode, "inflight")) inflight_mode();
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    say("done\n");
    return 0;
}
