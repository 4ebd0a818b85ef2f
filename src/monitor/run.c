/*
 * The run loop: the vCPU thread's life. It picks the translation for the
 * current CS:EIP, enters the translation cache, and handles whatever made it
 * come back: a translation miss (chain the branch that missed, or fill the
 * indirect-branch table), an exhausted budget (time to look at events), a
 * callout (run the instruction in C: system instructions first, then the
 * interpreter), or a host fault (a hidden fault fixed by mmu-shadow, an
 * access to emulate, or a guest exception to deliver).
 *
 * Guest exceptions go through cpu__deliver(); a triple fault resets the
 * machine, which with -no-reboot ends the run.
 */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <Zydis/Zydis.h>

#include "bt/bt.h"
#include "bt/interp.h"
#include "mmu-shadow/mem.h"
#include "mmu-shadow/window.h"
#include "monitor/events.h"
#include "monitor/exception.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/signals.h"
#include "monitor/stats.h"
#include "monitor/sysinsn.h"
#include "monitor/timer.h"
#include "monitor/vtime.h"

#define BUDGET_SLICE (1 << 22) /* guest instructions between looks at the outside world */

static const char *mnemonic_at(struct machine *m, uint32_t eip, char *buf, size_t len)
{
    struct vcpu *c = m->cpu;
    uint8_t bytes[15];
    struct mem_fault f;
    ZydisDisassembledInstruction di;
    bool code32 = c->seg[SEG_CS].flags & SEGF_DB;

    if (mem__lin_read_buf(m, c->seg[SEG_CS].base + eip, bytes, sizeof(bytes), &f) < 0 ||
        ZYAN_FAILED(ZydisDisassembleIntel(code32 ? ZYDIS_MACHINE_MODE_LEGACY_32
                                                 : ZYDIS_MACHINE_MODE_LEGACY_16,
                                          eip, bytes, sizeof(bytes), &di))) {
        snprintf(buf, len, "(undecodable)");
        return buf;
    }
    snprintf(buf, len, "%s", di.text);
    return buf;
}

/* Deliver a guest exception; false if the machine must stop (triple fault, unsupported). */
static int raise_exc(struct machine *m, const struct interp_exc *e)
{
    struct vcpu *c = m->cpu;
    int r;

    if (e->vector == 14)
        c->cr2 = e->cr2;
    LOG(CPU, 1, "exception %d (error %x) at %04x:%08x", e->vector, e->error_code,
        c->seg[SEG_CS].sel, c->eip);
    r = cpu__deliver(m, e->vector, e->has_error, e->error_code, DELIVER_EXCEPTION);
    if (r == -1) {
        LOG(CPU, 1, "triple fault at %04x:%08x", c->seg[SEG_CS].sel, c->eip);
        return RUN_RESET;
    }
    if (r < 0)
        return RUN_ERROR;
    return -1;
}

/* Run one instruction in C. Returns -1 to go on, or an enum run_result. *fell_through is
 * set when the instruction completed and execution continues right after it. */
static int run_callout_how(struct machine *m, bool *fell_through, bool strict)
{
    struct vcpu *c = m->cpu;
    ZydisDecodedInstruction decoded;
    ZydisDecodedOperand decoded_ops[ZYDIS_MAX_OPERAND_COUNT];
    const ZydisDecodedInstruction *in = &decoded;
    const ZydisDecodedOperand *ops = decoded_ops;
    struct interp_exc exc = {.vector = -1};
    uint8_t bytes[15];
    struct mem_fault f;
    char text[96];
    int st;
    uint32_t next;
    ZydisMnemonic mnem;

    *fell_through = false;
    switch (c->exit_arg) {
    case CALLOUT_UD:
        exc.vector = 6;
        return raise_exc(m, &exc);
    case CALLOUT_NM:
        exc.vector = 7;
        return raise_exc(m, &exc);
    case CALLOUT_RDTSC:
        if ((c->cr4 & CR4_TSD) && vcpu_cpl(c) > 0) {
            exc.vector = 13;
            exc.has_error = true;
            return raise_exc(m, &exc);
        }
        {
            uint64_t tsc = vtime__tsc(m);
            c->gpr[R_EAX] = (uint32_t)tsc;
            c->gpr[R_EDX] = (uint32_t)(tsc >> 32);
        }
        c->eip += 2; /* a bare 0F 31 (the translator sends prefixed ones the slow way) */
        if (!(c->seg[SEG_CS].flags & SEGF_DB))
            c->eip &= 0xffff;
        c->step_done = true;
        *fell_through = true;
        STAT_INC(cpu_rdtsc);
        return -1;
    case CALLOUT_STALE: {
        /* A self-checking block saw its bytes changed: drop what was made from the page
         * (the block starts there) and translate again. */
        uint32_t gpa;
        struct mem_fault mf;
        if (mmu__fetch_phys(m, c->seg[SEG_CS].base + c->eip, &gpa, NULL, &mf) == 0)
            bt__invalidate_page(m, gpa & ~0xfffu);
        STAT_INC(bt_selfcheck_stale);
        return -1;
    }
    case CALLOUT_DB:
        if (c->eflags_sys & EFL_RF) {
            /* RF (set by the handler's IRET image) lets the instruction run once. */
            c->eflags_sys &= ~EFL_RF;
            *fell_through = true;
            return -1;
        }
        c->dr[6] &= ~0xfu;
        for (int i = 0; i < 4; i++)
            if ((c->dr[7] >> (2 * i)) & 3 && c->dr[i] == c->seg[SEG_CS].base + c->eip)
                c->dr[6] |= 1u << i;
        exc.vector = 1;
        return raise_exc(m, &exc);
    default:
        break;
    }
    if (c->exit_arg >= CALLOUT_DECODED) {
        /* (pointers into the block's record: copying the decoded instruction and its
         * operands, about 1 KiB, was most of a callout's time in C) */
        const void *pin, *pops;
        bt__callout_insn(c->exit_arg, &pin, &pops);
        in = pin;
        ops = pops;
    } else {
        if (mem__lin_read_buf(m, c->seg[SEG_CS].base + c->eip, bytes, sizeof(bytes), &f) < 0) {
            exc.vector = f.vector;
            exc.has_error = true;
            exc.error_code = f.error_code;
            exc.cr2 = f.cr2;
            return raise_exc(m, &exc);
        }
        ZydisDecoder dec;
        if (c->seg[SEG_CS].flags & SEGF_DB)
            ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
        else
            ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
        if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, bytes, sizeof(bytes), &decoded, decoded_ops))) {
            exc.vector = 6;
            return raise_exc(m, &exc);
        }
    }
    mnem = in->mnemonic;
    if (mnem < STATS_MAX_CALLOUT)
        stats.callouts_by_mnemonic[mnem]++;
    next = c->eip + in->length;
    if (!(c->seg[SEG_CS].flags & SEGF_DB))
        next &= 0xffff;
    uint64_t accesses = m->monitor_accesses, gen = bt__generation(m);
    st = sys__exec(m, in, ops, &exc);
    if (st == INTERP_UNSUPPORTED)
        st = interp__exec(m, in, ops, &exc);
    /* (a flush, as a debug-register write makes, has freed the block's record) */
    if (c->exit_arg >= CALLOUT_DECODED && st == INTERP_OK && bt__generation(m) == gen)
        bt__callout_done(m, c->exit_arg, m->monitor_accesses != accesses);
    if (st == INTERP_OK && (mnem == ZYDIS_MNEMONIC_IRETD || mnem == ZYDIS_MNEMONIC_IRET))
        mmu__refault(m);
    switch (st) {
    case INTERP_OK:
        *fell_through = c->eip == next;
        /* Software interrupts enter their handler with TF clear and take no step trap. */
        c->step_done = mnem != ZYDIS_MNEMONIC_INT && mnem != ZYDIS_MNEMONIC_INT3 &&
                       mnem != ZYDIS_MNEMONIC_INTO && mnem != ZYDIS_MNEMONIC_INT1;
        return -1;
    case INTERP_EXCEPTION:
        return raise_exc(m, &exc);
    case INTERP_HALT:
        c->halted = true;
        STAT_INC(cpu_hlt);
        return -1;
    default:
        if (!strict)
            return -1; /* nothing changed: translated code will run it */
        fprintf(stderr, "tachyon: unsupported instruction '%s' at %04x:%08x (linear %08x); stopping\n",
                mnemonic_at(m, c->eip, text, sizeof(text)), c->seg[SEG_CS].sel, c->eip,
                c->seg[SEG_CS].base + c->eip);
        return RUN_ERROR;
    }
}

static int run_callout(struct machine *m, bool *fell_through)
{
    return run_callout_how(m, fell_through, true);
}

/* A host signal in translated code. Returns -1 to go on, or an enum run_result. */
static int run_fault(struct machine *m)
{
    struct vcpu *c = m->cpu;
    struct interp_exc exc = {.vector = -1};
    struct mem_fault mf;
    uint32_t linear;
    int st;

    STAT_INC(cpu_host_faults);
    switch (c->fault_signo) {
    case SIGSEGV:
    case SIGBUS:
        switch (mmu__handle_fault(m, c->fault_host_addr, c->fault_is_write, &linear, &mf)) {
        case MMU_FAULT_RETRY:
            return -1;
        case MMU_FAULT_GUEST:
            if (mf.vector == 14)
                mmu__refault_hint(m, mf.cr2);
            exc.vector = mf.vector;
            exc.has_error = true;
            exc.error_code = mf.error_code;
            exc.cr2 = mf.cr2;
            return raise_exc(m, &exc);
        case MMU_FAULT_EMULATE:
            break;
        case MMU_FAULT_OUTSIDE:
            fprintf(stderr, "tachyon: internal error: host fault at %#llx outside the guest "
                            "window, guest EIP %08x\n",
                    (unsigned long long)c->fault_host_addr, c->eip);
            return RUN_ERROR;
        }
        STAT_INC(cpu_mmio);
        st = interp__step(m, &exc);
        if (st == INTERP_OK) {
            c->step_done = true;
            bt__emulated_at(m, c->fault_pc);
            return -1;
        }
        if (st == INTERP_EXCEPTION)
            return raise_exc(m, &exc);
        if (st == INTERP_HALT) {
            c->halted = true;
            return -1;
        }
        {
            char text[96];
            fprintf(stderr, "tachyon: cannot emulate '%s' at %04x:%08x touching %08x; stopping\n",
                    mnemonic_at(m, c->eip, text, sizeof(text)), c->seg[SEG_CS].sel, c->eip,
                    linear);
        }
        return RUN_ERROR;
    case SIGFPE:
        exc.vector = (c->fault_code == FPE_INTDIV || c->fault_code == FPE_INTOVF) ? 0 : 16;
        return raise_exc(m, &exc);
    default:
        fprintf(stderr, "tachyon: internal error: signal %d in translated code at guest %08x\n",
                c->fault_signo, c->eip);
        return RUN_ERROR;
    }
}

/* Look at the outside world: queued input, expired timers. */
static void poll_events(struct machine *m)
{
    __atomic_store_n(&m->cpu->pending_irq, 0, __ATOMIC_RELEASE);
    if (m->events)
        events__drain(m);
    else if (m->timers)
        timers__run(m);
}

static bool intr_ready(struct machine *m)
{
    return (m->cpu->eflags_sys & EFL_IF) && m->intr_pending && m->intr_pending(m);
}

/* HLT: sleep until something can wake the CPU. */
static int run_halted(struct machine *m)
{
    struct vcpu *c = m->cpu;

    if (!(c->eflags_sys & EFL_IF))
        return RUN_HALTED; /* only NMI or INIT could wake it, and nothing sends them */
    while (m->request == REQ_NONE) {
        uint64_t next;

        poll_events(m);
        if (intr_ready(m))
            break;
        next = m->timers ? timers__next(m) : UINT64_MAX;
        if (m->events) {
            events__wait(m, next);
        } else {
            /* No event thread (unit tests): only timers can wake us; sleep until the next. */
            uint64_t now = vtime__ns();
            struct timespec ts;
            if (next == UINT64_MAX)
                return RUN_HALTED;
            if (next > now) {
                ts.tv_sec = (time_t)((next - now) / 1000000000u);
                ts.tv_nsec = (long)((next - now) % 1000000000u);
                nanosleep(&ts, NULL);
            }
        }
    }
    c->halted = false;
    return -1;
}

/* Deliver a pending external interrupt if EFLAGS.IF and the interrupt shadow allow.
 * Returns -1 to go on, or an enum run_result. */
static int run_interrupts(struct machine *m)
{
    struct vcpu *c = m->cpu;
    int v, r;

    if (c->irq_shadow) {
        /* STI, MOV SS, POP SS: the next instruction runs before any interrupt. Run it here,
         * so `sti; hlt` halts before the interrupt that wakes it is taken. */
        bool fell;
        c->irq_shadow = false;
        c->exit_arg = CALLOUT_INTERP;
        return run_callout_how(m, &fell, false);
    }
    if (!intr_ready(m))
        return -1;
    v = m->intr_ack(m);
    if (v < 0)
        return -1;
    c->halted = false;
    STAT_INC(cpu_interrupts);
    stats.interrupts_by_vector[v & 0xff]++;
    r = cpu__deliver(m, v, false, 0, DELIVER_EXTERNAL);
    if (r == DELIVER_TRIPLE_FAULT)
        return RUN_RESET;
    if (r < 0)
        return RUN_ERROR;
    return -1;
}

int machine__run(struct machine *m)
{
    struct vcpu *c = m->cpu;
    void *resume = NULL;
    int r = -1;

    if (!m->mmu && mmu__init(m) < 0) {
        fprintf(stderr, "tachyon: cannot reserve the 4 GiB guest address window\n");
        return RUN_ERROR;
    }
    if (!m->bt && bt__init(m) < 0) {
        fprintf(stderr, "tachyon: cannot allocate the translation cache\n");
        return RUN_ERROR;
    }
    if (signals__init(m) < 0) {
        fprintf(stderr, "tachyon: cannot install signal handlers\n");
        return RUN_ERROR;
    }
    mmu__activate(m);
    mmu__sync(m);
    c->sti_next = ~0u;

    /* What the last translation miss asked for: link the branch at link_site (or fill the
     * indirect-branch table) once its target link_eip is found. Anything that moves EIP
     * elsewhere in between (an interrupt, an exception) cancels it: linking a branch to
     * the handler's entry would send every later execution of that branch there. */
    uint64_t link_site = 0;
    uint32_t link_eip = 0;
    bool link_pending = false;
    const uint32_t mode_bits = MODE_PE | MODE_PG | MODE_VM86 | MODE_CODE32;
    uint32_t last_mode = bt__mode(c);

    while (r < 0) {
        void *pc;

        switch (m->request) {
        case REQ_EXIT: r = RUN_EXIT; continue;
        case REQ_RESET: r = RUN_RESET; continue;
        case REQ_STOP: r = RUN_ERROR; continue;
        default: break;
        }
        if (c->halted) {
            r = run_halted(m);
            resume = NULL;
            if (r < 0)
                r = run_interrupts(m);
            continue;
        }
        if (c->budget <= 0) {
            c->budget = BUDGET_SLICE;
            poll_events(m);
        } else if (__atomic_load_n(&c->pending_irq, __ATOMIC_ACQUIRE)) {
            poll_events(m);
        }
        if (c->sti_next == c->eip) {
            /* Stopped right after an inline STI: the next instruction is in its shadow. */
            c->sti_next = ~0u;
            if (c->eflags_sys & EFL_IF)
                c->irq_shadow = true;
        }
        if (c->irq_shadow || intr_ready(m)) {
            resume = NULL;
            r = run_interrupts(m);
            continue;
        }
        pc = resume;
        if (!pc) {
            uint64_t gen = bt__generation(m);
            struct mem_fault mf;
            bool link = link_pending && link_eip == c->eip;
            uint32_t mode = bt__mode(c);
            if ((mode ^ last_mode) & (3u << MODE_CPL_SHIFT))
                STAT_INC(cpu_privilege_changes);
            if ((mode ^ last_mode) & mode_bits)
                STAT_INC(cpu_mode_switches);
            last_mode = mode;
            mmu__sync(m);
            pc = bt__lookup(m, mode, &mf);
            link_pending = false;
            if (!pc) {
                /* The instruction fetch faulted. */
                struct interp_exc exc = {mf.vector, true, mf.error_code, mf.cr2};
                c->exit_reason = EXIT_NONE;
                r = raise_exc(m, &exc);
                continue;
            }
            if (link && link_site && bt__generation(m) == gen)
                bt__chain(m, link_site, pc); /* (a flush would have made the site stale) */
            /* (an indirect branch's miss: bt__lookup has filled the table) */
        }
        link_pending = false;
        resume = NULL;
        c->exit_reason = EXIT_NONE;
        c->step_done = false;
        bool stepping = c->eflags_sys & EFL_TF; /* TF at the start of the instruction */
        /* With IF set nothing is waiting (it would have been delivered); with IF clear,
         * inline STI/POPF must know whether raising IF lets an interrupt in. Interrupts
         * raised while in the TC kick it out through the budget. */
        c->irq_waiting = !(c->eflags_sys & EFL_IF) && m->intr_pending && m->intr_pending(m);
        STAT_INC(cpu_entries);
        bt__enter(m, pc);
        STAT_INC(cpu_exits);
        if (c->exit_reason < STATS_MAX_EXIT)
            stats.exits_by_cause[c->exit_reason]++;

        switch (c->exit_reason) {
        case EXIT_TRANSLATE:
            STAT_INC(bt_lookups);
            link_pending = true;
            link_site = c->exit_pc;
            link_eip = c->eip;
            break;
        case EXIT_BUDGET:
            STAT_INC(bt_budget_exits);
            break;
        case EXIT_CALLOUT: {
            uint32_t mode0 = bt__mode(c);
            uint64_t cont = c->exit_pc, gen0 = bt__generation(m);
            bool fell_through;
            r = run_callout(m, &fell_through);
            /* Resume in the same block unless anything moved: EIP, the mode, or the TC
             * itself (a debug-register write flushes it). */
            if (r < 0 && cont && fell_through && !c->halted && bt__mode(c) == mode0 &&
                bt__generation(m) == gen0 && m->request == REQ_NONE)
                resume = (void *)cont;
            break;
        }
        case EXIT_FAULT:
            r = run_fault(m);
            break;
        default:
            fprintf(stderr, "tachyon: internal error: unknown exit %u at %08x\n", c->exit_reason,
                    c->eip);
            r = RUN_ERROR;
        }
        if (stepping && r < 0 && (c->exit_reason == EXIT_TRANSLATE || c->step_done)) {
            /* Single-step trap after the instruction (SDM 17.3.1.4): DR6.BS, EIP past it. */
            struct interp_exc db = {.vector = 1};
            resume = NULL;
            c->dr[6] = (c->dr[6] & ~0xfu) | 0x4000;
            r = raise_exc(m, &db);
        }
    }
    signals__fini(m);
    return r;
}
