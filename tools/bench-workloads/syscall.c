/*
 * syscall: the cost of a null system call. Calls getppid N times (default 1,000,000) through
 * syscall(2), so glibc cannot cache the answer, and prints the elapsed time measured with
 * clock_gettime inside the process: under a VMM the guest's boot time is not counted.
 * Output (one line, parsed by tools/bench): BENCH-RESULT name=syscall iters=N seconds=S
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
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
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long long sum = 0;
    double t0, t1;

    printf("BENCH-START name=syscall\n");
    fflush(stdout);
    t0 = now();
    for (long i = 0; i < n; i++)
        sum += syscall(SYS_getppid);
    t1 = now();
    printf("BENCH-RESULT name=syscall iters=%ld seconds=%.6f check=%lld\n", n, t1 - t0, sum / n);
    return 0;
}
