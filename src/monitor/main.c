/*
 * The tachyon program: parse the command line, build the machine, load the
 * Multiboot kernel, run, and turn the way the run ended into the process
 * exit status:
 *
 *   guest wrote isa-debug-exit       the status it asked for, (v << 1) | 1
 *   guest halted with IF=0           0, after a message naming EIP
 *   guest reset the machine          0 with -no-reboot; else a fresh machine boots
 *   unsupported guest behaviour      1 (the message is already printed)
 *   bad setup (file, option value)   1;  bad command-line syntax: 2
 *
 * Statistics (-d stats, --stats-json) are written on every way out once the
 * machine ran.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/log.h"
#include "monitor/linuxboot.h"
#include "monitor/machine.h"
#include "monitor/events.h"
#include "monitor/multiboot.h"
#include "monitor/options.h"
#include "monitor/stats.h"

static void finish(const struct options *o, int status) __attribute__((noreturn));

static void finish(const struct options *o, int status)
{
    fflush(stdout);
    if (o->want_stats)
        stats_print_text(stderr);
    if (o->stats_json && stats_write_json(o->stats_json))
        fprintf(stderr, "tachyon: cannot write statistics to '%s' (--stats-json): %s\n",
                o->stats_json, strerror(errno));
    if (log_file)
        fclose(log_file);
    exit(status);
}

int main(int argc, char **argv)
{
    static struct options opt;
    char err[1024];

    switch (options__parse(argc, argv, &opt)) {
    case OPTIONS_OK:
        break;
    case OPTIONS_EXIT:
        return 0;
    default:
        return 2;
    }
    if (opt.logfile) {
        log_file = fopen(opt.logfile, "w");
        if (!log_file)
            die("cannot open log file '%s' (-D): %s", opt.logfile, strerror(errno));
        setvbuf(log_file, NULL, _IOLBF, 0);
    }
    for (;;) {
        struct machine *m = machine__create(&opt);
        int r, status;

        if (!m)
            finish(&opt, 1);
        /* Without -kernel the CPU starts at the reset vector, in the firmware. */
        if (opt.kernel &&
            (linuxboot__is_bzimage(opt.kernel)
                 ? linuxboot__load(m, opt.kernel, opt.initrd, opt.append, err, sizeof(err))
                 : multiboot__load(m, opt.kernel, opt.initrd, opt.append, err, sizeof(err)))) {
            fprintf(stderr, "tachyon: %s\n", err);
            machine__destroy(m);
            finish(&opt, 1);
        }
        if (events__start(m) < 0) {
            fprintf(stderr, "tachyon: cannot start the event thread\n");
            machine__destroy(m);
            finish(&opt, 1);
        }
        r = machine__run(m);
        events__stop(m);
        switch (r) {
        case RUN_EXIT:
            status = m->exit_status;
            break;
        case RUN_HALTED:
            fflush(stdout);
            fprintf(stderr, "tachyon: guest halted with interrupts disabled at EIP %08x\n",
                    m->cpu->eip);
            status = 0;
            break;
        case RUN_RESET:
            machine__destroy(m);
            if (opt.no_reboot)
                finish(&opt, 0);
            LOG(CPU, 1, "guest reset: booting a fresh machine");
            continue;
        case RUN_ERROR:
        default:
            status = 1;
            break;
        }
        machine__destroy(m);
        finish(&opt, status);
    }
}
