/*
 * Statistics. Scalar counters come from stats.inc; exits are also counted by
 * cause and callouts by guest mnemonic. One global instance: the vCPU thread
 * owns it.
 */
#ifndef TACHYON_STATS_H
#define TACHYON_STATS_H

#include <stdint.h>
#include <stdio.h>

#define STATS_MAX_EXIT 32
#define STATS_MAX_CALLOUT 2048 /* indexed by ZydisMnemonic */

struct stats {
#define STAT(name, desc) uint64_t name;
#include "monitor/stats.inc"
#undef STAT
    uint64_t exits_by_cause[STATS_MAX_EXIT];
    uint64_t callouts_by_mnemonic[STATS_MAX_CALLOUT];
    uint64_t exceptions_by_vector[32];
    uint64_t interrupts_by_vector[256];
};

extern struct stats stats;

#define STAT_INC(name) (stats.name++)
#define STAT_ADD(name, n) (stats.name += (n))

void stats_print_text(FILE *f);
int stats_write_json(const char *path);

#endif
