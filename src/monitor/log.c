/*
 * Subsystem logging. Output goes to stderr, or to the file given with -D.
 */
#include "monitor/log.h"

#include <stdlib.h>
#include <string.h>

int log_level[LOG_NR_SUBSYS];
FILE *log_file;

static const char *const subsys_name[LOG_NR_SUBSYS] = {
    [LOG_BT] = "bt", [LOG_MMU] = "mmu", [LOG_DEV] = "dev", [LOG_CPU] = "cpu", [LOG_GUEST] = "guest",
};

void log_printf(enum log_subsys s, const char *fmt, ...)
{
    FILE *f = log_file ? log_file : stderr;
    va_list ap;

    fprintf(f, "[%s] ", subsys_name[s]);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

void die(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("tachyon: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

int log_parse(const char *spec, int *want_stats)
{
    char buf[256], *tok, *save = NULL;

    if (strlen(spec) >= sizeof(buf))
        return -1;
    strcpy(buf, spec);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int lvl = 1, s;

        if (eq) {
            *eq = 0;
            lvl = atoi(eq + 1);
        }
        if (!strcmp(tok, "stats")) {
            if (want_stats)
                *want_stats = 1;
            continue;
        }
        if (!strcmp(tok, "guest_errors"))
            tok = "guest";
        for (s = 0; s < LOG_NR_SUBSYS; s++)
            if (!strcmp(tok, subsys_name[s]))
                break;
        if (s == LOG_NR_SUBSYS)
            return -1;
        log_level[s] = lvl;
    }
    return 0;
}
