/*
 * The command line, in qemu-system-i386 spelling (DESIGN.md §7). The parser
 * fills struct options (monitor/machine.h) and never exits: it returns what
 * main() should do, so the unit tests can check good and bad command lines.
 */
#ifndef TACHYON_OPTIONS_H
#define TACHYON_OPTIONS_H

#include <stdio.h>

#include "monitor/machine.h"

enum options_result {
    OPTIONS_OK = 0,    /* run the machine */
    OPTIONS_EXIT = 1,  /* --help, --version, "-device help", ... printed: exit 0 */
    OPTIONS_ERROR = 2, /* "tachyon: <what is wrong>; try 'tachyon --help'" printed: exit 2 */
};

/* The default -device isa-debug-exit port range, as in QEMU. */
#define DEBUG_EXIT_DEFAULT_PORT 0x501
#define DEBUG_EXIT_DEFAULT_SIZE 2

/* Parse argv[1..argc-1] into *o (which is cleared and given the defaults first). Strings in *o
 * point into argv. Returns enum options_result. */
int options__parse(int argc, char **argv, struct options *o);

/* What was wrong with the last command line that gave OPTIONS_ERROR (no prefix, no hint). */
const char *options__error(void);

/* The --help text. */
void options__usage(FILE *f);

#endif
