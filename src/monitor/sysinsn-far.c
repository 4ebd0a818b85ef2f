/*
 * Control transfers that change CS (sysinsn-internal.h): INT n, INT3, INTO
 * and INT1 (through cpu__deliver_int), IRET, far JMP and CALL (direct,
 * indirect, and through call gates), far RET, SYSENTER and SYSEXIT, in real,
 * virtual-8086 and protected mode, following the SDM pseudo-code of each.
 *
 * Every transfer reads and checks all it needs first (popped values, target
 * and stack descriptors, limits), writes any frame below the stack pointer,
 * sets accessed bits, and only then loads CS, SS, ESP, EIP and EFLAGS, so a
 * fault leaves the vCPU as it was. Returns to an outer privilege level null
 * the data segment registers the new CPL may not use.
 *
 * Hardware task switching (IRET with NT, far JMP/CALL to a TSS or a task
 * gate) is not implemented: it prints what the guest asked for and returns
 * INTERP_UNSUPPORTED, which stops the VM. Neither is IRET in virtual-8086
 * mode with IOPL < 3 under CR4.VME (CPUID does not offer VME).
 */
#include <stdio.h>

#include "monitor/exception.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/seg.h"
#include "monitor/stats.h"
#include "monitor/sysinsn-internal.h"

/* EFLAGS bits IRET may always change; IF, IOPL, VIF, VIP and VM depend on privilege. */
#define EFL_IRET_ALWAYS (EFL_STATUS | EFL_TF | EFL_DF | EFL_NT | EFL_RF | EFL_AC | EFL_ID)
#define FLAT_CODE_DPL0 0xcf9b /* G, D, P, DPL 0, code execute/read, accessed */
#define FLAT_DATA_DPL0 0xcf93
#define FLAT_CODE_DPL3 0xcffb
#define FLAT_DATA_DPL3 0xcff3

static int unsupported(struct sx *x, const char *what)
{
    fprintf(stderr, "tachyon: %s is not supported (at %04x:%08x); stopping the VM\n", what,
            x->c->seg[SEG_CS].sel, x->c->eip);
    return INTERP_UNSUPPORTED;
}

/* ---- INT n, INT3, INTO, INT1 ----------------------------------------------------------------- */

static int soft_int(struct sx *x, int vector, enum deliver_kind kind)
{
    int rc = cpu__deliver_int(x->m, vector, x->in->length, kind);

    if (rc == DELIVER_STOP)
        return INTERP_UNSUPPORTED; /* the message is out; nothing changed */
    if (rc == DELIVER_TRIPLE_FAULT)
        machine__request(x->m, REQ_RESET, 0);
    x->jumped = true; /* at the handler, or still at the INT while the machine resets */
    return INTERP_OK;
}

static void count_exception(int vector)
{
    STAT_INC(cpu_guest_exceptions);
    stats.exceptions_by_vector[vector]++;
}

static int int_family(struct sx *x)
{
    switch (x->in->mnemonic) {
    case ZYDIS_MNEMONIC_INT:
        /* IOPL-sensitive in virtual-8086 mode (without VME). */
        if (x->vm && (x->c->eflags_sys & EFL_IOPL) != EFL_IOPL)
            return sx_gp0(x);
        return soft_int(x, (int)(x->ops[0].imm.value.u & 0xff), DELIVER_SOFTWARE_INT);
    case ZYDIS_MNEMONIC_INT3:
        count_exception(3);
        return soft_int(x, 3, DELIVER_SOFTWARE_INT);
    case ZYDIS_MNEMONIC_INTO:
        if (!(x->c->rflags & EFL_OF))
            return INTERP_OK;
        count_exception(4);
        return soft_int(x, 4, DELIVER_SOFTWARE_INT);
    default: /* INT1 (ICEBP) is delivered like a hardware #DB: no gate DPL check */
        return soft_int(x, 1, DELIVER_EXCEPTION);
    }
}

/* ---- shared checks --------------------------------------------------------------------------- */

/* The code segment a far RET or IRET returns to (SDM: RPL >= CPL, DPL rules, present). */
static int check_return_cs(struct sx *x, uint16_t sel, uint64_t *d)
{
    unsigned rpl = sel & 3u, dpl;
    uint16_t fl;

    if (!(sel & 0xfffc))
        return sx_gp0(x);
    if (seg__load_desc(x->m, sel, d, x->exc))
        return INTERP_EXCEPTION;
    fl = desc_flags(*d);
    dpl = desc_dpl(*d);
    if (!(fl & SEGF_S) || !(fl & SEGF_CODE) || rpl < x->cpl ||
        ((fl & SEGF_DC) ? dpl > rpl : dpl != rpl))
        return sx_raise(x, EXC_GP, sel & 0xfffc);
    if (!(fl & SEGF_P))
        return sx_raise(x, EXC_NP, sel & 0xfffc);
    return INTERP_OK;
}

/* Load CS:EIP (and, to an outer level, SS:ESP) after a checked return; *st is the stack the
 * frame was popped from, already past it. */
static int finish_return(struct sx *x, uint16_t cs, uint64_t cs_desc, uint32_t eip,
                         struct stack *st, unsigned imm)
{
    struct vcpu *c = x->c;
    unsigned rpl = cs & 3u;
    uint32_t old_esp = (uint32_t)c->gpr[R_ESP], new_esp = 0;
    uint64_t ss_desc = 0;
    uint16_t ss = 0;
    bool outer = rpl > x->cpl;

    st->sp = (st->sp + imm) & st->mask;
    if (outer) {
        uint32_t v;

        if (seg__pop(x->m, st, x->osize, &new_esp, x->exc) ||
            seg__pop(x->m, st, x->osize, &v, x->exc))
            return INTERP_EXCEPTION;
        ss = (uint16_t)v;
        if (seg__check_stack(x->m, ss, rpl, EXC_GP, 0, &ss_desc, x->exc))
            return INTERP_EXCEPTION;
    }
    if (eip > desc_limit(cs_desc))
        return sx_gp0(x);
    if (seg__set_desc_bits(x->m, cs, &cs_desc, DESC_ACCESSED, x->exc) ||
        (outer && seg__set_desc_bits(x->m, ss, &ss_desc, DESC_ACCESSED, x->exc)))
        return INTERP_EXCEPTION;

    seg__load_cs_raw(c, cs, cs_desc, rpl);
    if (outer) {
        struct stack nst;
        struct segment nss = seg__from_desc(ss, ss_desc);

        seg__set_cache(c, SEG_SS, ss, ss_desc);
        /* RET imm16 also releases the parameters on the outer stack. */
        seg__stack_init(&nst, &nss, new_esp + imm, 0);
        c->gpr[R_ESP] = seg__stack_esp(&nst, old_esp);
        seg__null_invalid(c, rpl);
    } else {
        c->gpr[R_ESP] = seg__stack_esp(st, old_esp);
    }
    c->eip = eip;
    x->jumped = true;
    return INTERP_OK;
}

/* ---- IRET ------------------------------------------------------------------------------------ */

/* IRETD at CPL 0 with VM set in the popped EFLAGS: back to virtual-8086 mode. */
static int iret_to_vm86(struct sx *x, struct stack *st, uint32_t eip, uint16_t cs, uint32_t fl)
{
    static const int order[] = {SEG_SS, SEG_ES, SEG_DS, SEG_FS, SEG_GS};
    struct vcpu *c = x->c;
    uint32_t esp, sel[5];

    if (seg__pop(x->m, st, 4, &esp, x->exc))
        return INTERP_EXCEPTION;
    for (int i = 0; i < 5; i++)
        if (seg__pop(x->m, st, 4, &sel[i], x->exc))
            return INTERP_EXCEPTION;
    vcpu_set_eflags(c, fl); /* all of it, VM included, so the loads below are v86 loads */
    seg__load_real(c, SEG_CS, cs);
    for (int i = 0; i < 5; i++)
        seg__load_real(c, order[i], (uint16_t)sel[i]);
    c->gpr[R_ESP] = esp;
    c->eip = eip & 0xffff;
    x->jumped = true;
    return INTERP_OK;
}

static int iret(struct sx *x)
{
    struct vcpu *c = x->c;
    unsigned size = x->osize, iopl = (c->eflags_sys & EFL_IOPL) >> 12;
    uint32_t cur = vcpu_eflags(c), eip, cs, fl, mask;
    uint64_t cs_desc;
    struct stack st;
    int rc;

    if (x->vm && iopl < 3)
        return sx_gp0(x);
    seg__stack_init(&st, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], 0);
    if (seg__pop(x->m, &st, size, &eip, x->exc) || seg__pop(x->m, &st, size, &cs, x->exc) ||
        seg__pop(x->m, &st, size, &fl, x->exc))
        return INTERP_EXCEPTION;
    cs &= 0xffff;

    if (!x->pe || x->vm) {
        /* Real mode may change IOPL and NT; virtual-8086 mode (IOPL 3 here) keeps IOPL. VM,
         * VIF and VIP are never popped here. */
        mask = EFL_IRET_ALWAYS | EFL_IF | (x->vm ? 0 : EFL_IOPL);
        if (size == 2)
            mask &= 0xffff;
        if (eip > (x->vm ? 0xffffu : c->seg[SEG_CS].limit))
            return sx_gp0(x);
        seg__load_real(c, SEG_CS, (uint16_t)cs);
        c->gpr[R_ESP] = seg__stack_esp(&st, (uint32_t)c->gpr[R_ESP]);
        c->eip = eip;
        vcpu_set_eflags(c, (cur & ~mask) | (fl & mask));
        x->jumped = true;
        return INTERP_OK;
    }
    if (c->eflags_sys & EFL_NT)
        return unsupported(x, "IRET with EFLAGS.NT set (return from a nested task)");
    if (size == 4 && (fl & EFL_VM) && x->cpl == 0)
        return iret_to_vm86(x, &st, eip, (uint16_t)cs, fl);

    if ((rc = check_return_cs(x, (uint16_t)cs, &cs_desc)) != INTERP_OK)
        return rc;
    /* Privilege for the flags is the CPL the IRET ran at. */
    mask = EFL_IRET_ALWAYS;
    if (x->cpl <= iopl)
        mask |= EFL_IF;
    if (x->cpl == 0)
        mask |= EFL_IOPL | EFL_VIF | EFL_VIP;
    if (size == 2)
        mask &= 0xffff;
    if ((rc = finish_return(x, (uint16_t)cs, cs_desc, size == 2 ? eip & 0xffff : eip, &st, 0)) !=
        INTERP_OK)
        return rc;
    vcpu_set_eflags(c, (cur & ~mask) | (fl & mask));
    return INTERP_OK;
}

/* ---- far RET --------------------------------------------------------------------------------- */

static int retf(struct sx *x)
{
    struct vcpu *c = x->c;
    unsigned imm = x->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? (unsigned)x->ops[0].imm.value.u
                                                                   : 0;
    uint32_t eip, cs;
    uint64_t cs_desc;
    struct stack st;
    int rc;

    seg__stack_init(&st, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], 0);
    if (seg__pop(x->m, &st, x->osize, &eip, x->exc) ||
        seg__pop(x->m, &st, x->osize, &cs, x->exc))
        return INTERP_EXCEPTION;
    if (x->osize == 2)
        eip &= 0xffff;
    if (!x->pe || x->vm) {
        if (eip > (x->vm ? 0xffffu : c->seg[SEG_CS].limit))
            return sx_gp0(x);
        seg__load_real(c, SEG_CS, (uint16_t)cs);
        st.sp = (st.sp + imm) & st.mask;
        c->gpr[R_ESP] = seg__stack_esp(&st, (uint32_t)c->gpr[R_ESP]);
        c->eip = eip;
        x->jumped = true;
        return INTERP_OK;
    }
    if ((rc = check_return_cs(x, (uint16_t)cs, &cs_desc)) != INTERP_OK)
        return rc;
    return finish_return(x, (uint16_t)cs, cs_desc, eip, &st, imm);
}

/* ---- far JMP and CALL ------------------------------------------------------------------------ */

static int far_target(struct sx *x, uint16_t *sel, uint32_t *off)
{
    const ZydisDecodedOperand *op = &x->ops[0];
    uint32_t s;
    int rc;

    if (op->type == ZYDIS_OPERAND_TYPE_POINTER) {
        *sel = op->ptr.segment;
        *off = op->ptr.offset;
    } else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY) {
        if ((rc = sx_mem_read(x, op, 0, x->osize, off)) != INTERP_OK ||
            (rc = sx_mem_read(x, op, x->osize, 2, &s)) != INTERP_OK)
            return rc;
        *sel = (uint16_t)s;
    } else {
        return sx_ud(x);
    }
    if (x->osize == 2)
        *off &= 0xffff;
    return INTERP_OK;
}

/* Push the return address for a far CALL (CS then EIP, `size` bytes each). */
static int push_return(struct sx *x, struct stack *st, unsigned size)
{
    if (seg__push(x->m, st, size, x->c->seg[SEG_CS].sel, x->exc) ||
        seg__push(x->m, st, size, x->next_eip, x->exc))
        return INTERP_EXCEPTION;
    return INTERP_OK;
}

/* A CALL through a gate to a more privileged non-conforming segment: stack from the TSS, old
 * SS:ESP and the gate's parameters copied over, then the return address. */
static int call_gate_inner(struct sx *x, uint64_t gate, uint16_t tsel, uint64_t tdesc,
                           uint32_t goff)
{
    struct vcpu *c = x->c;
    unsigned dpl = desc_dpl(tdesc), size = (gate >> 43) & 1 ? 4 : 2;
    unsigned count = (unsigned)(gate >> 32) & 0x1f;
    uint32_t new_esp, params[32];
    uint16_t new_ss;
    uint64_t ss_desc;
    struct stack old, st;
    struct segment nss;

    if (seg__tss_stack(x->m, dpl, 0, &new_ss, &new_esp, x->exc) ||
        seg__check_stack(x->m, new_ss, dpl, EXC_TS, 0, &ss_desc, x->exc))
        return INTERP_EXCEPTION;
    seg__stack_init(&old, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], 0);
    for (unsigned i = 0; i < count; i++)
        if (seg__pop(x->m, &old, size, &params[i], x->exc))
            return INTERP_EXCEPTION;
    nss = seg__from_desc(new_ss, ss_desc);
    seg__stack_init(&st, &nss, new_esp, new_ss & 0xfffc);
    if (seg__push(x->m, &st, size, c->seg[SEG_SS].sel, x->exc) ||
        seg__push(x->m, &st, size, (uint32_t)c->gpr[R_ESP], x->exc))
        return INTERP_EXCEPTION;
    for (unsigned i = count; i-- > 0;) /* same order as on the caller's stack */
        if (seg__push(x->m, &st, size, params[i], x->exc))
            return INTERP_EXCEPTION;
    if (push_return(x, &st, size) != INTERP_OK ||
        seg__set_desc_bits(x->m, tsel, &tdesc, DESC_ACCESSED, x->exc) ||
        seg__set_desc_bits(x->m, new_ss, &ss_desc, DESC_ACCESSED, x->exc))
        return INTERP_EXCEPTION;

    seg__set_cache(c, SEG_SS, new_ss, ss_desc);
    c->gpr[R_ESP] = seg__stack_esp(&st, new_esp);
    seg__load_cs_raw(c, tsel, tdesc, dpl);
    c->eip = goff;
    x->jumped = true;
    return INTERP_OK;
}

static int call_gate(struct sx *x, bool call, uint16_t sel, uint64_t gate)
{
    struct vcpu *c = x->c;
    uint16_t tsel = (uint16_t)(gate >> 16);
    uint32_t goff = (uint32_t)(gate & 0xffff);
    unsigned size = (gate >> 43) & 1 ? 4 : 2, tdpl;
    uint64_t tdesc;
    uint16_t tfl;
    struct stack st;

    if (size == 4)
        goff |= (uint32_t)(gate >> 32) & 0xffff0000u;
    if (desc_dpl(gate) < x->cpl || desc_dpl(gate) < (sel & 3u))
        return sx_raise(x, EXC_GP, sel & 0xfffc);
    if (!(desc_flags(gate) & SEGF_P))
        return sx_raise(x, EXC_NP, sel & 0xfffc);
    if (!(tsel & 0xfffc))
        return sx_gp0(x);
    if (seg__load_desc(x->m, tsel, &tdesc, x->exc))
        return INTERP_EXCEPTION;
    tfl = desc_flags(tdesc);
    tdpl = desc_dpl(tdesc);
    if (!(tfl & SEGF_S) || !(tfl & SEGF_CODE) || tdpl > x->cpl ||
        (!call && !(tfl & SEGF_DC) && tdpl != x->cpl))
        return sx_raise(x, EXC_GP, tsel & 0xfffc);
    if (!(tfl & SEGF_P))
        return sx_raise(x, EXC_NP, tsel & 0xfffc);
    if (goff > desc_limit(tdesc))
        return sx_gp0(x);
    if (call && !(tfl & SEGF_DC) && tdpl < x->cpl)
        return call_gate_inner(x, gate, tsel, tdesc, goff);

    seg__stack_init(&st, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], 0);
    if ((call && push_return(x, &st, size) != INTERP_OK) ||
        seg__set_desc_bits(x->m, tsel, &tdesc, DESC_ACCESSED, x->exc))
        return INTERP_EXCEPTION;
    c->gpr[R_ESP] = seg__stack_esp(&st, (uint32_t)c->gpr[R_ESP]);
    seg__load_cs_raw(c, tsel, tdesc, x->cpl);
    c->eip = goff;
    x->jumped = true;
    return INTERP_OK;
}

static int far_jmp_call(struct sx *x, bool call)
{
    struct vcpu *c = x->c;
    uint32_t off = 0;
    uint16_t sel = 0, fl;
    uint64_t d;
    struct stack st;
    int rc;

    if ((rc = far_target(x, &sel, &off)) != INTERP_OK)
        return rc;
    seg__stack_init(&st, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], 0);
    if (!x->pe || x->vm) {
        if (off > (x->vm ? 0xffffu : c->seg[SEG_CS].limit))
            return sx_gp0(x);
        if (call && push_return(x, &st, x->osize) != INTERP_OK)
            return INTERP_EXCEPTION;
        seg__load_real(c, SEG_CS, sel);
    } else {
        if (!(sel & 0xfffc))
            return sx_gp0(x);
        if (seg__load_desc(x->m, sel, &d, x->exc))
            return INTERP_EXCEPTION;
        fl = desc_flags(d);
        if (!(fl & SEGF_S)) {
            switch (fl & SEGF_TYPE) {
            case DESC_CALL16:
            case DESC_CALL32:
                return call_gate(x, call, sel, d);
            case DESC_TASK:
            case DESC_TSS16_AVAIL:
            case DESC_TSS32_AVAIL:
                return unsupported(x, "far JMP/CALL to a task gate or TSS (hardware task "
                                      "switching)");
            default:
                return sx_raise(x, EXC_GP, sel & 0xfffc);
            }
        }
        if (!(fl & SEGF_CODE) ||
            ((fl & SEGF_DC) ? desc_dpl(d) > x->cpl
                            : (sel & 3u) > x->cpl || desc_dpl(d) != x->cpl))
            return sx_raise(x, EXC_GP, sel & 0xfffc);
        if (!(fl & SEGF_P))
            return sx_raise(x, EXC_NP, sel & 0xfffc);
        if (off > desc_limit(d))
            return sx_gp0(x);
        if ((call && push_return(x, &st, x->osize) != INTERP_OK) ||
            seg__set_desc_bits(x->m, sel, &d, DESC_ACCESSED, x->exc))
            return INTERP_EXCEPTION;
        seg__load_cs_raw(c, sel, d, x->cpl);
    }
    c->gpr[R_ESP] = seg__stack_esp(&st, (uint32_t)c->gpr[R_ESP]);
    c->eip = off;
    x->jumped = true;
    return INTERP_OK;
}

/* ---- SYSENTER, SYSEXIT ----------------------------------------------------------------------- */

/* The flat segments SYSENTER/SYSEXIT load without reading the GDT. */
static void flat(struct vcpu *c, int segreg, uint16_t sel, uint16_t flags)
{
    c->seg[segreg] = (struct segment){.base = 0, .limit = 0xffffffff, .sel = sel, .flags = flags};
    c->seg_base[segreg] = 0;
}

static int sysenter_exit(struct sx *x)
{
    struct vcpu *c = x->c;
    uint16_t cs = (uint16_t)(c->sysenter_cs & 0xfffc);

    if (!x->pe || !cs)
        return sx_gp0(x);
    if (x->in->mnemonic == ZYDIS_MNEMONIC_SYSENTER) {
        c->eflags_sys &= ~(EFL_VM | EFL_IF | EFL_RF);
        flat(c, SEG_CS, cs, FLAT_CODE_DPL0);
        flat(c, SEG_SS, (uint16_t)(cs + 8), FLAT_DATA_DPL0);
        c->gpr[R_ESP] = c->sysenter_esp;
        c->eip = c->sysenter_eip;
    } else {
        if (x->cpl != 0)
            return sx_gp0(x);
        flat(c, SEG_CS, (uint16_t)((cs + 16) | 3), FLAT_CODE_DPL3);
        flat(c, SEG_SS, (uint16_t)((cs + 24) | 3), FLAT_DATA_DPL3);
        c->gpr[R_ESP] = (uint32_t)c->gpr[R_ECX];
        c->eip = (uint32_t)c->gpr[R_EDX];
    }
    x->jumped = true;
    return INTERP_OK;
}

int sx_far(struct sx *x)
{
    switch (x->in->mnemonic) {
    case ZYDIS_MNEMONIC_INT:
    case ZYDIS_MNEMONIC_INT1:
    case ZYDIS_MNEMONIC_INT3:
    case ZYDIS_MNEMONIC_INTO:
        return int_family(x);
    case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD:
        return iret(x);
    case ZYDIS_MNEMONIC_JMP:
    case ZYDIS_MNEMONIC_CALL:
        if (x->in->meta.branch_type != ZYDIS_BRANCH_TYPE_FAR)
            return SX_NOT_MINE;
        return far_jmp_call(x, x->in->mnemonic == ZYDIS_MNEMONIC_CALL);
    case ZYDIS_MNEMONIC_RET:
        if (x->in->meta.branch_type != ZYDIS_BRANCH_TYPE_FAR)
            return SX_NOT_MINE;
        return retf(x);
    case ZYDIS_MNEMONIC_SYSENTER:
    case ZYDIS_MNEMONIC_SYSEXIT:
        return sysenter_exit(x);
    default:
        return SX_NOT_MINE;
    }
}
