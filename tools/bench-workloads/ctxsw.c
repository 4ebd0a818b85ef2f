/*
 * ctxsw: context switches. Two processes bounce one byte over a pair of pipes N times
 * (default 100,000): each round trip is two writes, two blocking reads and two switches
 * between address spaces (a CR3 load in the guest, a window switch in tachyon).
 * Output: BENCH-RESULT name=ctxsw iters=N seconds=S
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int ping[2], pong[2];
    char c = 'x';
    double t0, t1;
    pid_t pid;

    if (pipe(ping) || pipe(pong)) {
        perror("ctxsw: pipe");
        return 1;
    }
    printf("BENCH-START name=ctxsw\n");
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        perror("ctxsw: fork");
        return 1;
    }
    if (pid == 0) {
        for (long i = 0; i < n; i++)
            if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    t0 = now();
    for (long i = 0; i < n; i++) {
        if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
            fprintf(stderr, "ctxsw: pipe round trip %ld failed\n", i);
            return 1;
        }
    }
    t1 = now();
    waitpid(pid, NULL, 0);
    printf("BENCH-RESULT name=ctxsw iters=%ld seconds=%.6f\n", n, t1 - t0);
    return 0;
}
