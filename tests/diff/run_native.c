/*
 * The driver's end of the native runner: starts diff-native32 once with a
 * pipe on its stdin and one on its stdout (1 MiB each where the kernel
 * allows, so a whole request fits), and speaks proto.h over them. A runner
 * that dies or answers garbage is a setup failure, reported and fatal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

struct native {
    pid_t pid;
    int to, from;
};

static int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

struct native *native_start(const char *path)
{
    int in[2], out[2];
    struct native *n;

    signal(SIGPIPE, SIG_IGN); /* a dead runner shows up as a failed write, not a kill */
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
        perror("diff: pipe");
        return NULL;
    }
    fcntl(in[1], F_SETPIPE_SZ, 1 << 20);
    fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
    n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->pid = fork();
    if (n->pid < 0) {
        perror("diff: fork");
        free(n);
        return NULL;
    }
    if (n->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl(path, path, (char *)NULL);
        fprintf(stderr, "diff: cannot run the native runner %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    n->to = in[1];
    n->from = out[0];
    return n;
}

int native_submit(struct native *n, const struct snippet *s, const uint8_t *code, uint32_t len)
{
    struct diff_req req = { .magic = DIFF_MAGIC_REQ, .code_len = len, .in = s->in };

    if (write_full(n->to, &req, sizeof(req)) || write_full(n->to, code, len) ||
        write_full(n->to, s->data, DIFF_DATA_SIZE)) {
        fprintf(stderr, "diff: the native runner stopped reading: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int native_collect(struct native *n, struct diff_result *r)
{
    struct diff_rep rep;

    if (read_full(n->from, &rep, sizeof(rep)) || rep.magic != DIFF_MAGIC_REP ||
        read_full(n->from, r->data, DIFF_DATA_SIZE)) {
        fprintf(stderr, "diff: the native runner did not answer\n");
        return -1;
    }
    r->regs = rep.out;
    r->has_eip = false;
    r->eip = 0;
    r->fault_eip = 0;
    r->why[0] = 0;
    r->note[0] = 0;
    r->status = RUN_OK;
    if (rep.signo) {
        r->status = RUN_FAULT;
        r->fault_eip = rep.fault_eip;
        snprintf(r->why, sizeof(r->why),
                 "native run took signal %u (%s) at eip %#x, address %#x", rep.signo,
                 strsignal((int)rep.signo), rep.fault_eip, rep.fault_addr);
    }
    return 0;
}

void native_stop(struct native *n)
{
    struct diff_req quit = { .magic = DIFF_MAGIC_QUIT };

    if (!n)
        return;
    write_full(n->to, &quit, sizeof(quit));
    close(n->to);
    close(n->from);
    waitpid(n->pid, NULL, 0);
    free(n);
}
