/*
 * Exception and interrupt delivery (exception.h), done in C on the vCPU the
 * way the processor does it (Intel SDM vol. 3, chapter 6, and the INT n
 * pseudo-code).
 *
 * One delivery attempt either completes (the guest is at its handler) or
 * fails with a new exception and leaves the vCPU untouched: the frame is
 * written below the stack pointer first, and only when every check and
 * every store has passed are SS:ESP, CS:EIP and EFLAGS changed. That makes
 * the escalation rules simple: cpu__deliver() loops, feeding the exception a
 * failed attempt raised back in either as the next event (delivered
 * serially, SDM table 6-5) or as a double fault, and a failure while
 * delivering the double fault is a triple fault (shutdown).
 *
 * Protected mode: IDT limit, gate type, gate DPL (software interrupts only),
 * present, target code segment; a non-conforming target more privileged
 * than CPL switches to the stack the TSS holds for its DPL (32- or 16-bit
 * TSS) and the old SS:ESP goes on the new stack. Gate size (16/32) decides
 * the width of everything pushed. Interrupt gates clear IF, both kinds
 * clear TF, NT, RF and VM. Task gates and delivery from virtual-8086 mode
 * are not implemented and stop the VM with a message saying so.
 *
 * Real mode: the IVT at IDTR.base (limit-checked), FLAGS/CS/IP pushed with
 * 16-bit wrap of SP, IF/TF/AC cleared; no error codes.
 */
#include "monitor/exception.h"

#include <stdio.h>

#include "mmu-shadow/mem.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/seg.h"
#include "monitor/stats.h"

#define EXC_DF 8
#define EXC_PF 14
#define MAX_NESTED 4 /* #DF is the third event at the latest; more means a monitor bug */

struct event {
    int vector;
    bool has_error;
    uint32_t error_code;
    enum deliver_kind kind;
    uint32_t ret_eip; /* the EIP the frame gets */
};

bool cpu__vector_has_error(int v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17;
}

static int stop(struct machine *m, const char *what, const struct event *ev)
{
    struct vcpu *c = m->cpu;

    fprintf(stderr,
            "tachyon: %s is not supported (vector %d at %04x:%08x); stopping the VM\n", what,
            ev->vector, c->seg[SEG_CS].sel, c->eip);
    return DELIVER_STOP;
}

/* One protected-mode delivery attempt: 0, -1 with *exc, or DELIVER_STOP. */
static int deliver_pm(struct machine *m, const struct event *ev, struct interp_exc *exc)
{
    struct vcpu *c = m->cpu;
    uint32_t ext = ev->kind == DELIVER_SOFTWARE_INT ? 0 : 1;
    uint32_t gate_err = (uint32_t)ev->vector * 8 + 2 + ext; /* IDT bit set */
    unsigned cpl = vcpu_cpl(c), type, dpl, new_cpl, size;
    uint64_t gate, cs_desc, ss_desc = 0;
    uint32_t eflags = vcpu_eflags(c), off, new_esp = 0;
    uint16_t sel, new_ss = 0;
    struct mem_fault f;
    struct stack st;
    bool outer;
    int rc;

    if (c->eflags_sys & EFL_VM)
        return stop(m, "interrupt or exception delivery from virtual-8086 mode", ev);
    if ((uint32_t)ev->vector * 8 + 7 > c->idtr.limit)
        return seg__fault(exc, EXC_GP, gate_err);
    if (mem__sys_read(m, c->idtr.base + (uint32_t)ev->vector * 8, 8, &gate, &f))
        return seg__mem_fault(exc, &f);

    type = (unsigned)(gate >> 40) & 0x1f; /* with S: a code/data descriptor is no gate */
    if (type != DESC_TASK && type != DESC_INT16 && type != DESC_TRAP16 && type != DESC_INT32 &&
        type != DESC_TRAP32)
        return seg__fault(exc, EXC_GP, gate_err);
    if (ev->kind == DELIVER_SOFTWARE_INT && desc_dpl(gate) < cpl)
        return seg__fault(exc, EXC_GP, gate_err);
    if (!(gate & (1ull << 47)))
        return seg__fault(exc, EXC_NP, gate_err);
    if (type == DESC_TASK)
        return stop(m, "a task gate in the IDT (hardware task switching)", ev);

    size = (type & 8) ? 4 : 2;
    sel = (uint16_t)(gate >> 16);
    off = (uint32_t)(gate & 0xffff) | (size == 4 ? (uint32_t)(gate >> 32) & 0xffff0000u : 0);
    if (!(sel & 0xfffc))
        return seg__fault(exc, EXC_GP, ext);
    rc = seg__read_desc(m, sel, &cs_desc, &f);
    if (rc < 0)
        return seg__mem_fault(exc, &f);
    dpl = desc_dpl(cs_desc);
    if (rc > 0 || !(desc_flags(cs_desc) & SEGF_S) || !(desc_flags(cs_desc) & SEGF_CODE) ||
        dpl > cpl)
        return seg__fault(exc, EXC_GP, (sel & 0xfffc) | ext);
    if (!(desc_flags(cs_desc) & SEGF_P))
        return seg__fault(exc, EXC_NP, (sel & 0xfffc) | ext);
    new_cpl = (desc_flags(cs_desc) & SEGF_DC) ? cpl : dpl; /* conforming code keeps CPL */
    outer = new_cpl < cpl;

    if (outer) {
        struct segment nss;

        if (seg__tss_stack(m, new_cpl, ext, &new_ss, &new_esp, exc) ||
            seg__check_stack(m, new_ss, new_cpl, EXC_TS, ext, &ss_desc, exc))
            return -1;
        nss = seg__from_desc(new_ss, ss_desc);
        seg__stack_init(&st, &nss, new_esp, (new_ss & 0xfffc) | ext);
        if (seg__push(m, &st, size, c->seg[SEG_SS].sel, exc) ||
            seg__push(m, &st, size, (uint32_t)c->gpr[R_ESP], exc))
            return -1;
    } else {
        seg__stack_init(&st, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], ext);
    }
    if (off > desc_limit(cs_desc))
        return seg__fault(exc, EXC_GP, ext);
    if (seg__push(m, &st, size, eflags, exc) ||
        seg__push(m, &st, size, c->seg[SEG_CS].sel, exc) ||
        seg__push(m, &st, size, ev->ret_eip, exc) ||
        (ev->has_error && seg__push(m, &st, size, ev->error_code, exc)))
        return -1;
    if (seg__set_desc_bits(m, sel, &cs_desc, DESC_ACCESSED, exc) ||
        (outer && seg__set_desc_bits(m, new_ss, &ss_desc, DESC_ACCESSED, exc)))
        return -1;

    /* Commit. */
    if (outer) {
        seg__set_cache(c, SEG_SS, new_ss, ss_desc);
        c->gpr[R_ESP] = seg__stack_esp(&st, new_esp);
    } else {
        c->gpr[R_ESP] = seg__stack_esp(&st, (uint32_t)c->gpr[R_ESP]);
    }
    seg__load_cs_raw(c, sel, cs_desc, new_cpl);
    c->eip = off;
    c->eflags_sys &= ~(EFL_TF | EFL_NT | EFL_RF | EFL_VM);
    if (!(type & 1)) /* interrupt gate, not trap gate */
        c->eflags_sys &= ~EFL_IF;
    LOG(CPU, 2, "deliver %d: %s gate to %04x:%08x, CPL %u -> %u", ev->vector,
        (type & 1) ? "trap" : "interrupt", c->seg[SEG_CS].sel, off, cpl, new_cpl);
    return 0;
}

/* One real-mode delivery attempt through the IVT. */
static int deliver_real(struct machine *m, const struct event *ev, struct interp_exc *exc)
{
    struct vcpu *c = m->cpu;
    uint32_t eflags = vcpu_eflags(c);
    struct mem_fault f;
    struct stack st;
    uint64_t vec;

    if ((uint32_t)ev->vector * 4 + 3 > c->idtr.limit)
        return seg__fault(exc, EXC_GP, 0);
    if (mem__sys_read(m, c->idtr.base + (uint32_t)ev->vector * 4, 4, &vec, &f))
        return seg__mem_fault(exc, &f);
    seg__stack_init(&st, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], 0);
    if (seg__push(m, &st, 2, eflags, exc) || seg__push(m, &st, 2, c->seg[SEG_CS].sel, exc) ||
        seg__push(m, &st, 2, ev->ret_eip, exc))
        return -1;
    c->gpr[R_ESP] = seg__stack_esp(&st, (uint32_t)c->gpr[R_ESP]);
    seg__load_real(c, SEG_CS, (uint16_t)(vec >> 16));
    c->eip = (uint32_t)vec & 0xffff;
    c->eflags_sys &= ~(EFL_IF | EFL_TF | EFL_AC | EFL_RF);
    return 0;
}

enum exc_class { BENIGN, CONTRIBUTORY, PAGE_FAULT, DOUBLE_FAULT };

static enum exc_class class_of(const struct event *ev)
{
    if (ev->kind != DELIVER_EXCEPTION)
        return BENIGN; /* interrupts and INT n: a fault during them is delivered serially */
    switch (ev->vector) {
    case 0: case 10: case 11: case 12: case 13:
        return CONTRIBUTORY;
    case EXC_PF:
        return PAGE_FAULT;
    case EXC_DF:
        return DOUBLE_FAULT;
    default:
        return BENIGN;
    }
}

static int deliver(struct machine *m, struct event ev, uint32_t fault_eip)
{
    struct vcpu *c = m->cpu;

    for (int round = 0;; round++) {
        struct interp_exc exc = {.vector = -1};
        struct event next;
        enum exc_class first, second;
        int rc;

        if (ev.kind == DELIVER_EXCEPTION) {
            STAT_INC(cpu_guest_exceptions);
            if (ev.vector < 32)
                stats.exceptions_by_vector[ev.vector]++;
        }
        rc = (c->cr0 & CR0_PE) ? deliver_pm(m, &ev, &exc) : deliver_real(m, &ev, &exc);
        if (rc == 0) {
            c->halted = false;
            c->irq_shadow = false;
            return 0;
        }
        if (rc == DELIVER_STOP)
            return DELIVER_STOP;

        LOG(CPU, 1, "exception %d (error %x) while delivering %d", exc.vector, exc.error_code,
            ev.vector);
        next = (struct event){.vector = exc.vector, .has_error = exc.has_error,
                              .error_code = exc.error_code, .kind = DELIVER_EXCEPTION,
                              .ret_eip = fault_eip};
        first = class_of(&ev);
        second = class_of(&next);
        if (first == DOUBLE_FAULT || round >= MAX_NESTED) {
            LOG(CPU, 1, "triple fault at %04x:%08x", c->seg[SEG_CS].sel, c->eip);
            return DELIVER_TRIPLE_FAULT;
        }
        if ((first == CONTRIBUTORY && second == CONTRIBUTORY) ||
            (first == PAGE_FAULT && (second == CONTRIBUTORY || second == PAGE_FAULT)))
            next = (struct event){.vector = EXC_DF, .has_error = true, .error_code = 0,
                                  .kind = DELIVER_EXCEPTION, .ret_eip = fault_eip};
        else if (next.vector == EXC_PF)
            c->cr2 = exc.cr2; /* delivered serially: the handler reads CR2 */
        ev = next;
    }
}

int cpu__deliver(struct machine *m, int vector, bool has_error, uint32_t error_code,
                 enum deliver_kind kind)
{
    struct event ev = {.vector = vector & 0xff, .kind = kind, .ret_eip = m->cpu->eip};

    if (kind == DELIVER_EXCEPTION && (m->cpu->cr0 & CR0_PE)) {
        ev.has_error = has_error;
        ev.error_code = error_code;
    }
    return deliver(m, ev, m->cpu->eip);
}

int cpu__deliver_int(struct machine *m, int vector, unsigned len, enum deliver_kind kind)
{
    struct vcpu *c = m->cpu;
    uint32_t ip_mask = (c->seg[SEG_CS].flags & SEGF_DB) && (c->cr0 & CR0_PE) ? 0xffffffffu
                                                                             : 0xffffu;
    struct event ev = {.vector = vector & 0xff, .kind = kind,
                       .ret_eip = (c->eip + len) & ip_mask};

    return deliver(m, ev, c->eip);
}
