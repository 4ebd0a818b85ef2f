/*
 * pgfault: demand paging. R times (default 8) map MIB MiB (default 64) of fresh anonymous
 * memory, write one byte in every 4 KiB page (each write is a page fault that allocates and
 * zeroes a page), and unmap it. Under a VMM every guest fault also costs a shadow-mapping
 * fault, and the guest's page-table writes may be traced.
 * usage: pgfault [R [MIB]]    Output: BENCH-RESULT name=pgfault iters=R seconds=S
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 8;
    size_t len = (size_t)(argc > 2 ? atol(argv[2]) : 64) << 20;
    unsigned long sum = 0;
    double t0, t1;

    printf("BENCH-START name=pgfault\n");
    fflush(stdout);
    t0 = now();
    for (long r = 0; r < rounds; r++) {
        volatile unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED) {
            perror("pgfault: mmap");
            return 1;
        }
        for (size_t off = 0; off < len; off += 4096)
            p[off] = (unsigned char)off + 1;
        sum += p[len - 4096];
        if (munmap((void *)p, len)) {
            perror("pgfault: munmap");
            return 1;
        }
    }
    t1 = now();
    printf("BENCH-RESULT name=pgfault iters=%ld seconds=%.6f mib=%zu check=%lu\n", rounds,
           t1 - t0, len >> 20, sum);
    return 0;
}
