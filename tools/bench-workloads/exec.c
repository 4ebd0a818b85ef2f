/*
 * exec: program loading. N times (default 1,000) fork, execve a tiny static binary (tiny.c:
 * it only exits) and wait for it. Each exec builds a new address space from an ELF file,
 * so under a VMM it adds fresh page tables, fresh code to translate, and a window per process.
 * usage: exec [N [PATH]]   PATH defaults to "tiny" beside this program.
 * Output: BENCH-RESULT name=exec iters=N seconds=S
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    long n = argc > 1 ? atol(argv[1]) : 1000;
    char path[PATH_MAX];
    char *targv[] = {"tiny", NULL}, *tenvp[] = {NULL};
    double t0, t1;

    if (argc > 2) {
        snprintf(path, sizeof(path), "%s", argv[2]);
    } else {
        const char *slash = strrchr(argv[0], '/');
        int dirlen = slash ? (int)(slash - argv[0] + 1) : 0;

        snprintf(path, sizeof(path), "%.*stiny", dirlen, argv[0]);
    }
    if (access(path, X_OK)) {
        fprintf(stderr, "exec: %s is not executable\n", path);
        return 1;
    }
    printf("BENCH-START name=exec\n");
    fflush(stdout);
    t0 = now();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        int status;

        if (pid < 0) {
            perror("exec: fork");
            return 1;
        }
        if (pid == 0) {
            execve(path, targv, tenvp);
            _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "exec: run %ld of %s ended with status 0x%x%s\n", i, path, status,
                    WIFSIGNALED(status) ? " (killed by a signal)" : "");
            return 1;
        }
    }
    t1 = now();
    printf("BENCH-RESULT name=exec iters=%ld seconds=%.6f\n", n, t1 - t0);
    return 0;
}
