/*
 * Logging by subsystem and level. Everything is off by default; `-d` on the
 * command line (and later the control console) raises levels. Guest
 * misbehaviour is logged at the guest-error level and never stops the VM;
 * setup failures use die() with a message naming the thing and the fix.
 */
#ifndef TACHYON_LOG_H
#define TACHYON_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum log_subsys {
    LOG_BT,      /* translator */
    LOG_MMU,     /* shadow MMU */
    LOG_DEV,     /* devices */
    LOG_CPU,     /* vCPU, exits, exceptions */
    LOG_GUEST,   /* guest errors: the guest did something odd */
    LOG_NR_SUBSYS,
};

extern int log_level[LOG_NR_SUBSYS];
extern FILE *log_file;

void log_printf(enum log_subsys s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG(sub, lvl, ...)                                                                         \
    do {                                                                                           \
        if (__builtin_expect(log_level[LOG_##sub] >= (lvl), 0))                                    \
            log_printf(LOG_##sub, __VA_ARGS__);                                                    \
    } while (0)

/* The guest did something a real machine tolerates: log it, give the architectural result. */
#define guest_error(...) LOG(GUEST, 1, __VA_ARGS__)

/* Setup failed: print "tachyon: <msg>" and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Parse a -d list ("bt,mmu=2,guest_errors,stats"); returns -1 on an unknown name. */
int log_parse(const char *spec, int *want_stats);

#endif
