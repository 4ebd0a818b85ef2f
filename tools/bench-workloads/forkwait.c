/*
 * forkwait: process creation and teardown. N times (default 10,000) fork a child that exits
 * at once and wait for it: the parent's address space is copied-on-write and torn down each
 * time, which under a VMM means page-table writes, hidden faults and address-space switches.
 * Output: BENCH-RESULT name=forkwait iters=N seconds=S
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
    long n = argc > 1 ? atol(argv[1]) : 10000;
    double t0, t1;

    printf("BENCH-START name=forkwait\n");
    fflush(stdout); /* the children must not inherit (and print) buffered output */
    t0 = now();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        int status;

        if (pid < 0) {
            perror("forkwait: fork");
            return 1;
        }
        if (pid == 0)
            _exit(0);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
            fprintf(stderr, "forkwait: child %ld (pid %d) ended with status 0x%x%s\n", i, (int)pid,
                    status, WIFSIGNALED(status) ? " (killed by a signal)" : "");
            return 1;
        }
    }
    t1 = now();
    printf("BENCH-RESULT name=forkwait iters=%ld seconds=%.6f\n", n, t1 - t0);
    return 0;
}
