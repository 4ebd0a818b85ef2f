/*
 * The two ways to run a snippet and how their results are compared. Both
 * runners fill the same struct diff_result; diff_compare() decides whether
 * two results agree on everything the architecture defines: the eight GPRs,
 * the status flags and DF minus those the generator says are undefined, the
 * end EIP (tachyon only; the native runner's end is its epilogue), and the
 * 64 KiB data area.
 */
#ifndef TACHYON_DIFF_RUNNER_H
#define TACHYON_DIFF_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gen.h"

enum run_status {
    RUN_OK,      /* reached the end of the snippet */
    RUN_FAULT,   /* the native run took a signal: a generator bug */
    RUN_FAILED,  /* tachyon stopped some other way than HLT at the end */
};

struct diff_result {
    int status;            /* enum run_status */
    char why[200];         /* what went wrong, when status != RUN_OK */
    char note[128];        /* how the run was set up, printed with a difference */
    struct diff_regs regs;
    bool has_eip;
    uint32_t eip;          /* EIP at the end (tachyon) */
    uint32_t fault_eip;    /* where the native run took its signal (RUN_FAULT) */
    uint8_t data[DIFF_DATA_SIZE];
};

/* The native runner: one long-lived diff-native32 process behind two pipes. Submit a
 * snippet (code may replace s->code, for the mutation self-test), then collect it; the
 * driver runs tachyon in between, so both sides work at once. */
struct native;
struct native *native_start(const char *path);
int native_submit(struct native *n, const struct snippet *s, const uint8_t *code, uint32_t len);
int native_collect(struct native *n, struct diff_result *r);
void native_stop(struct native *n);

/* The tachyon runner: one machine, reloaded for every snippet. */
struct tachyon;
struct tachyon *tachyon_start(void);
void tachyon_run(struct tachyon *t, const struct snippet *s, struct diff_result *r);
void tachyon_stop(struct tachyon *t);

/* Compare `got` with the reference run; print the differences to out (if not NULL).
 * Returns the number of differing items. */
unsigned diff_compare(const struct snippet *s, const struct diff_result *ref,
                      const struct diff_result *got, FILE *out);
/* The snippet's name, its initial state and a Capstone listing of the snippet; the
 * instruction at mark_eip (if not 0) is marked "=>". */
void diff_print_snippet(const struct snippet *s, uint32_t mark_eip, FILE *out);
/* The generator's own predictions of the end state against the native result: a mismatch
 * is a generator bug (it would make the test unsound). Returns the number of mismatches. */
unsigned diff_check_prediction(const struct snippet *s, const struct diff_result *ref, FILE *out);

#endif
