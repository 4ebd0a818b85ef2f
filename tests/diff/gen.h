/*
 * The random snippet generator of the differential test. A snippet is a run
 * of user-level 32-bit instructions (raw bytes, to be placed at
 * DIFF_CODE_BASE), its initial registers and arithmetic flags, and 64 KiB of
 * initial data (placed at DIFF_DATA_BASE, the stack inside it). Every snippet
 * is a pure function of (seed, index), so one failing snippet can be rebuilt
 * alone. The generator guarantees that the snippet cannot fault, branches
 * only forward, keeps every memory access inside the data area, and never
 * lets an instruction read a flag that an earlier one left undefined; the
 * flags still undefined at the end are in undef_flags. See
 * docs/internals-diff.md.
 */
#ifndef TACHYON_DIFF_GEN_H
#define TACHYON_DIFF_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#define GEN_MAX_INSNS 2048

struct snippet {
    uint64_t seed;
    uint32_t index;
    struct diff_regs in;              /* initial GPRs; eflags = status flags + DF + 0x202 */
    uint8_t data[DIFF_DATA_SIZE];     /* initial data area */
    uint8_t code[DIFF_MAX_CODE];
    uint32_t code_len;
    uint32_t ninsns;                  /* instructions emitted (dead code included) */
    uint16_t insn_off[GEN_MAX_INSNS]; /* start offset of each, in code order */
    uint32_t undef_flags;             /* EFLAGS bits undefined at the end: never compare them */

    /* What the generator itself knows about the end state: a cross-check of its bookkeeping. */
    uint32_t known_mask[8];           /* bits of each GPR it can predict */
    uint32_t known_val[8];
    int known_df;                     /* 0 or 1, or -1 when not known */

    /* For the self-test's code mutator: offsets of ALU opcode bytes (00-3F, r/m,r and
     * r,r/m forms of add/or/and/sub/xor) that may be swapped for one another. */
    uint16_t alu_site[GEN_MAX_INSNS];
    uint32_t nalu_sites;
};

struct gen_params {
    unsigned ninsns;  /* instructions per snippet (approximate lower bound) */
};

/* Build snippet `index` of the run `seed`. Aborts (a generator bug) if an instruction it
 * encodes does not decode as intended. */
void gen_snippet(struct snippet *s, uint64_t seed, uint32_t index, const struct gen_params *p);

/* The random number generator, exported for the drivers (data mutation, seeds). */
struct rng {
    uint64_t s[4];
};
void rng_seed(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(struct rng *r);

#endif
