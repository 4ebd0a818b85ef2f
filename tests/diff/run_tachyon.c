/*
 * The tachyon side of the differential test: one machine from
 * machine__create() (32 MiB, "pc"), reloaded for every snippet. The snippet
 * goes to guest-physical DIFF_CODE_BASE followed by `cli; hlt`, the data to
 * DIFF_DATA_BASE, both through mem__phys_write_buf() (the write path that
 * tells the translator its bytes changed); the vCPU gets flat 32-bit segments
 * at CPL 0 with paging off, so guest linear = physical = the native runner's
 * addresses. machine__run() returns RUN_HALTED at the hlt; anything else is a
 * failure of the snippet.
 *
 * The guest starts with IF set, as a user process always has it: PUSHF must
 * push the same image on both sides. The trailing cli makes the hlt final.
 * The translation cache is flushed before every snippet (set
 * TACHYON_DIFF_NOFLUSH=1 to rely on write invalidation alone instead).
 *
 * The instruction budget is set for every snippet, so that no state carries
 * over from the one before: for half of them so low (1..160) that the budget
 * runs out somewhere inside the snippet, which makes translated code leave
 * and re-enter the cache at a random block; for the other half out of reach.
 * It is a function of (seed, index), so a replay sees the same exit;
 * TACHYON_DIFF_BUDGET=N forces N for all (0: never run out).
 * TACHYON_DIFF_LOG takes a -d list (e.g. "cpu=2,bt=2") for tachyon's own logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt/bt.h"
#include "mmu-shadow/mem.h"
#include "mmu-shadow/window.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#include "runner.h"

struct tachyon {
    struct machine *m;
    bool flush;
    bool fixed_budget;
    int64_t budget;
};

#define BUDGET_OUT_OF_REACH (1ll << 40)

static const char *run_name(int r)
{
    switch (r) {
    case RUN_EXIT: return "RUN_EXIT";
    case RUN_HALTED: return "RUN_HALTED";
    case RUN_RESET: return "RUN_RESET";
    case RUN_ERROR: return "RUN_ERROR";
    default: return "?";
    }
}

struct tachyon *tachyon_start(void)
{
    struct options opt;
    struct tachyon *t = calloc(1, sizeof(*t));
    const char *nf = getenv("TACHYON_DIFF_NOFLUSH"), *e;

    if (!t)
        return NULL;
    if ((e = getenv("TACHYON_DIFF_LOG")) && *e) {
        int want_stats = 0;
        if (log_parse(e, &want_stats) < 0) {
            fprintf(stderr, "diff: TACHYON_DIFF_LOG='%s' is not a -d list (e.g. cpu=2,bt)\n", e);
            free(t);
            return NULL;
        }
    }
    memset(&opt, 0, sizeof(opt));
    opt.ram_mb = 32;
    opt.machine = "pc";
    t->m = machine__create(&opt);
    if (!t->m) {
        fprintf(stderr, "diff: machine__create() failed\n");
        free(t);
        return NULL;
    }
    t->flush = !(nf && *nf && strcmp(nf, "0"));
    if ((e = getenv("TACHYON_DIFF_BUDGET")) && *e) {
        t->fixed_budget = true;
        t->budget = strtoll(e, NULL, 0);
        if (t->budget <= 0)
            t->budget = BUDGET_OUT_OF_REACH;
    }
    return t;
}

void tachyon_run(struct tachyon *t, const struct snippet *s, struct diff_result *r)
{
    static const uint8_t tail[2] = { 0xfa, 0xf4 }; /* cli; hlt */
    struct machine *m = t->m;
    struct vcpu *c = m->cpu;

    mem__phys_write_buf(m, DIFF_CODE_BASE, s->code, s->code_len);
    mem__phys_write_buf(m, DIFF_CODE_BASE + s->code_len, tail, sizeof(tail));
    mem__phys_write_buf(m, DIFF_DATA_BASE, s->data, DIFF_DATA_SIZE);
    if (t->flush && m->bt) /* the TC exists after the first machine__run() */
        bt__flush(m);
    if (getenv("TACHYON_DIFF_TRAPWRITES")) {
        /* Every store to the data area faults and is emulated: checks the interpreter. */
        if (!m->mmu && mmu__init(m) < 0)
            abort();
        mmu__trap_writes(m, DIFF_DATA_BASE, DIFF_DATA_SIZE);
    }


    vcpu_load_flat32(c);
    for (int i = 0; i < 8; i++)
        c->gpr[i] = s->in.gpr[i];
    vcpu_set_eflags(c, s->in.eflags);
    c->eip = DIFF_CODE_BASE;
    c->halted = false;        /* machine__run() left it set at the last hlt */
    c->exit_reason = EXIT_NONE; /* no exit site of the last snippet may be chained */
    c->exit_pc = 0;
    m->request = REQ_NONE;
    if (t->fixed_budget) {
        c->budget = t->budget;
    } else {
        struct rng r;
        rng_seed(&r, s->seed ^ 0xb6d9e7ull, s->index);
        uint64_t x = rng_next(&r);
        c->budget = x & 1 ? (int64_t)(1 + (x >> 8) % 160) : BUDGET_OUT_OF_REACH;
    }
    int64_t budget0 = c->budget;

    int rr = machine__run(m);

    memset(r, 0, sizeof(*r));
    for (int i = 0; i < 8; i++)
        r->regs.gpr[i] = (uint32_t)c->gpr[i];
    r->regs.eflags = vcpu_eflags(c);
    r->has_eip = true;
    r->eip = c->eip;
    mem__phys_read_buf(m, DIFF_DATA_BASE, r->data, DIFF_DATA_SIZE);
    r->status = RUN_OK;
    if (budget0 < BUDGET_OUT_OF_REACH)
        snprintf(r->note, sizeof(r->note),
                 "tachyon with budget %lld (it runs out inside the snippet; "
                 "TACHYON_DIFF_BUDGET=0 avoids that)", (long long)budget0);
    if (rr != RUN_HALTED) {
        r->status = RUN_FAILED;
        snprintf(r->why, sizeof(r->why),
                 "tachyon: machine__run() returned %s at eip %#x (last exit %s)", run_name(rr),
                 c->eip, exit_reason_name((int)c->exit_reason));
    }
}

void tachyon_stop(struct tachyon *t)
{
    machine__destroy(t->m);
    free(t);
}
