/*
 * System instructions (sysinsn.h): the dispatcher, the operand helpers the
 * family files share (sysinsn-internal.h), and the instructions about
 * segment registers, control and debug registers, and the interrupt flag.
 * Descriptor-table instructions are in sysinsn-desc.c,
 * control transfers in sysinsn-far.c, MSRs in sysinsn-msr.c.
 *
 * sys__exec() snapshots the registers an instruction can touch, runs the
 * handler, and on an exception puts the snapshot back, so every handler is
 * precise even where it loads a segment before it writes a register (LDS,
 * POP SS). Privilege follows the mode: real mode is CPL 0, virtual-8086 mode
 * CPL 3 with IOPL deciding CLI/STI/INT.
 *
 * CR0.PE/PG and CR4 changes only update the vCPU: the run loop derives the
 * translation mode (bt__mode) from that state before the next lookup.
 * INVLPG, WBINVD and INVD have nothing to do until the shadow MMU caches
 * translations. Debug registers hold their values (DR7.GD is honoured) but
 * breakpoints do not fire yet.
 */
#include "monitor/sysinsn.h"
#include "bt/bt.h"
#include "mmu-shadow/window.h"

#include <string.h>

#include "mmu-shadow/mem.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/seg.h"
#include "monitor/sysinsn-internal.h"

#define CR0_VALID (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM |     \
                   CR0_NW | CR0_CD | CR0_PG)
/* What CPUID advertises (monitor/cpuid.c): no VME/PVI, PAE or MCE. */
#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT)
#define CR3_VALID 0xfffff018u /* page-directory base, PCD, PWT */
#define DR6_FIXED 0xffff0ff0u
#define DR6_VALID 0x0000e00fu
#define DR7_FIXED 0x00000400u
#define DR7_VALID 0xffff2bffu
#define DR7_GD 0x00002000u
#define DR6_BD 0x00002000u

/* ---- helpers (sysinsn-internal.h) ------------------------------------------------------------ */

int sx_raise(struct sx *x, int vector, uint32_t error_code)
{
    seg__fault(x->exc, vector, error_code);
    return INTERP_EXCEPTION;
}

/* Number (R_EAX..) and width of a general register, or false. */
static bool gpr_of(ZydisRegister r, int *n, unsigned *size)
{
    if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BH) {
        *n = r - ZYDIS_REGISTER_AL;
        *size = 1;
    } else if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI) {
        *n = r - ZYDIS_REGISTER_AX;
        *size = 2;
    } else if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI) {
        *n = r - ZYDIS_REGISTER_EAX;
        *size = 4;
    } else {
        return false;
    }
    return true;
}

bool sx_is_gpr(ZydisRegister r)
{
    int n;
    unsigned size;

    return gpr_of(r, &n, &size);
}

uint32_t sx_gpr(const struct sx *x, ZydisRegister r)
{
    int n;
    unsigned size;
    uint32_t v;

    if (!gpr_of(r, &n, &size))
        return 0;
    v = (uint32_t)x->c->gpr[size == 1 ? n & 3 : n];
    if (size == 1)
        return (n & 4 ? v >> 8 : v) & 0xff; /* AH..BH are 4..7 */
    return size == 2 ? v & 0xffff : v;
}

void sx_set_gpr(struct sx *x, ZydisRegister r, uint32_t v)
{
    int n;
    unsigned size;
    uint64_t *g;

    if (!gpr_of(r, &n, &size))
        return;
    g = &x->c->gpr[size == 1 ? n & 3 : n];
    if (size == 4)
        *g = v;
    else if (size == 2)
        *g = (*g & ~0xffffull) | (v & 0xffff);
    else if (n & 4)
        *g = (*g & ~0xff00ull) | (v & 0xff) << 8;
    else
        *g = (*g & ~0xffull) | (v & 0xff);
}

uint32_t sx_lin(const struct sx *x, const ZydisDecodedOperand *op, uint32_t plus)
{
    uint32_t a = (uint32_t)op->mem.disp.value + plus;

    if (op->mem.base != ZYDIS_REGISTER_NONE)
        a += sx_gpr(x, op->mem.base);
    if (op->mem.index != ZYDIS_REGISTER_NONE)
        a += sx_gpr(x, op->mem.index) * op->mem.scale;
    if (!x->addr32)
        a &= 0xffff;
    return x->c->seg[op->mem.segment - ZYDIS_REGISTER_ES].base + a;
}

int sx_mem_read(struct sx *x, const ZydisDecodedOperand *op, uint32_t plus, unsigned size,
                uint32_t *v)
{
    struct mem_fault f;
    uint64_t val;

    if (mem__lin_read(x->m, sx_lin(x, op, plus), size, &val, &f)) {
        seg__mem_fault(x->exc, &f);
        return INTERP_EXCEPTION;
    }
    *v = (uint32_t)val;
    return INTERP_OK;
}

int sx_mem_write(struct sx *x, const ZydisDecodedOperand *op, unsigned size, uint64_t v)
{
    struct mem_fault f;

    /* One call even for 6 bytes (SGDT): mem.c checks every page before it stores. */
    if (mem__lin_write(x->m, sx_lin(x, op, 0), size, v, &f)) {
        seg__mem_fault(x->exc, &f);
        return INTERP_EXCEPTION;
    }
    return INTERP_OK;
}

int sx_rm_read(struct sx *x, const ZydisDecodedOperand *op, uint32_t *v)
{
    if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        *v = sx_gpr(x, op->reg.value);
        return INTERP_OK;
    }
    return sx_mem_read(x, op, 0, op->size / 8, v);
}

void sx_set_zf(struct sx *x, bool on)
{
    x->c->rflags = (x->c->rflags & ~(uint64_t)EFL_ZF) | (on ? EFL_ZF : 0);
}

int sx_store_rm(struct sx *x, const ZydisDecodedOperand *op, uint32_t v, unsigned mem_size)
{
    if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        sx_set_gpr(x, op->reg.value, v);
        return INTERP_OK;
    }
    return sx_mem_write(x, op, mem_size, v);
}

static int seg_of(ZydisRegister r)
{
    return r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS ? (int)(r - ZYDIS_REGISTER_ES) : -1;
}

/* ---- segment registers ----------------------------------------------------------------------- */

static int mov_to_seg(struct sx *x, int seg)
{
    uint32_t sel;
    int rc = sx_rm_read(x, &x->ops[1], &sel);

    if (rc != INTERP_OK)
        return rc;
    if (seg__load(x->m, seg, (uint16_t)sel, x->exc))
        return INTERP_EXCEPTION;
    if (seg == SEG_SS)
        x->c->irq_shadow = true; /* MOV SS; MOV ESP must not be split by an interrupt */
    return INTERP_OK;
}

static int push_seg(struct sx *x, int seg)
{
    struct vcpu *c = x->c;
    struct stack st;

    /* A 32-bit push stores the selector zero-extended (as QEMU and older parts do). */
    seg__stack_init(&st, &c->seg[SEG_SS], (uint32_t)c->gpr[R_ESP], 0);
    if (seg__push(x->m, &st, x->osize, c->seg[seg].sel, x->exc))
        return INTERP_EXCEPTION;
    c->gpr[R_ESP] = seg__stack_esp(&st, (uint32_t)c->gpr[R_ESP]);
    return INTERP_OK;
}

static int pop_seg(struct sx *x, int seg)
{
    struct vcpu *c = x->c;
    uint32_t old_esp = (uint32_t)c->gpr[R_ESP], sel;
    struct stack st;

    seg__stack_init(&st, &c->seg[SEG_SS], old_esp, 0);
    if (seg__pop(x->m, &st, x->osize, &sel, x->exc) ||
        seg__load(x->m, seg, (uint16_t)sel, x->exc))
        return INTERP_EXCEPTION;
    c->gpr[R_ESP] = seg__stack_esp(&st, old_esp); /* width of the stack the value came from */
    if (seg == SEG_SS)
        c->irq_shadow = true;
    return INTERP_OK;
}

/* LDS, LES, LFS, LGS, LSS: offset then selector in memory. */
static int load_far_ptr(struct sx *x, int seg)
{
    const ZydisDecodedOperand *mem = &x->ops[1];
    uint32_t off, sel;
    int rc;

    if (mem->type != ZYDIS_OPERAND_TYPE_MEMORY)
        return sx_ud(x);
    rc = sx_mem_read(x, mem, 0, x->osize, &off);
    if (rc == INTERP_OK)
        rc = sx_mem_read(x, mem, x->osize, 2, &sel);
    if (rc != INTERP_OK)
        return rc;
    if (seg__load(x->m, seg, (uint16_t)sel, x->exc))
        return INTERP_EXCEPTION;
    sx_set_gpr(x, x->ops[0].reg.value, off);
    return INTERP_OK;
}

/* ---- control and debug registers ------------------------------------------------------------- */

static int write_cr(struct sx *x, int n, uint32_t v)
{
    struct vcpu *c = x->c;

    switch (n) {
    case 0:
        if (((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
            return sx_gp0(x);
        /* Reserved bits are ignored; ET is hardwired to 1 since the i486. */
        if ((c->cr0 ^ v) & (CR0_PE | CR0_PG))
            LOG(CPU, 1, "CR0 %08x -> %08x at %08x", c->cr0, v, c->eip);
        c->cr0 = (v & CR0_VALID) | CR0_ET;
        return INTERP_OK;
    case 2:
        c->cr2 = v;
        return INTERP_OK;
    case 3:
        c->cr3 = v & CR3_VALID;
        mmu__cr3_loaded(x->m);
        return INTERP_OK;
    case 4:
        if (v & ~CR4_VALID)
            return sx_gp0(x);
        c->cr4 = v;
        return INTERP_OK;
    default:
        return sx_ud(x);
    }
}

static int read_cr(struct sx *x, int n, uint32_t *v)
{
    const struct vcpu *c = x->c;

    switch (n) {
    case 0: *v = c->cr0; return INTERP_OK;
    case 2: *v = c->cr2; return INTERP_OK;
    case 3: *v = c->cr3; return INTERP_OK;
    case 4: *v = c->cr4; return INTERP_OK;
    default: return sx_ud(x);
    }
}

/* DR4/DR5 are DR6/DR7 unless CR4.DE makes them #UD; -1 means #UD. */
static int dr_index(const struct sx *x, int n)
{
    if (n == 4 || n == 5)
        return (x->c->cr4 & CR4_DE) ? -1 : n + 2;
    return n;
}

static int mov_dr(struct sx *x, bool to_dr, int n, const ZydisDecodedOperand *gpr)
{
    struct vcpu *c = x->c;
    uint32_t v;

    if (sx_priv_fail(x))
        return sx_gp0(x);
    if ((n = dr_index(x, n)) < 0)
        return sx_ud(x);
    if (c->dr[7] & DR7_GD) {
        /* General detect: a #DB fault before the access; the handler gets DR access back. */
        c->dr[6] |= DR6_BD;
        c->dr[7] &= ~DR7_GD;
        return sx_raise(x, 1, 0);
    }
    if (!to_dr) {
        sx_set_gpr(x, gpr->reg.value, c->dr[n]);
        return INTERP_OK;
    }
    v = sx_gpr(x, gpr->reg.value);
    if (n == 6)
        v = (v & DR6_VALID) | DR6_FIXED;
    else if (n == 7)
        v = (v & DR7_VALID) | DR7_FIXED;
    c->dr[n] = v;
    if (n <= 3 || n == 7)
        bt__flush(x->m); /* translations carry breakpoint checks: rebuild them */
    return INTERP_OK;
}

/* MOV with a segment, control or debug register; anything else is the interpreter's. */
static int mov(struct sx *x)
{
    ZydisRegister r0 = x->ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER ? x->ops[0].reg.value : 0;
    ZydisRegister r1 = x->ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER ? x->ops[1].reg.value : 0;
    uint32_t v;
    int rc;

    if (seg_of(r0) >= 0)
        return mov_to_seg(x, seg_of(r0));
    if (seg_of(r1) >= 0) {
        /* To a 32-bit register the selector is zero-extended (P6 and later). */
        return sx_store_rm(x, &x->ops[0], x->c->seg[seg_of(r1)].sel, 2);
    }
    if (r0 >= ZYDIS_REGISTER_CR0 && r0 <= ZYDIS_REGISTER_CR15) {
        if (sx_priv_fail(x))
            return sx_gp0(x);
        return write_cr(x, r0 - ZYDIS_REGISTER_CR0, sx_gpr(x, r1));
    }
    if (r1 >= ZYDIS_REGISTER_CR0 && r1 <= ZYDIS_REGISTER_CR15) {
        if (sx_priv_fail(x))
            return sx_gp0(x);
        if ((rc = read_cr(x, r1 - ZYDIS_REGISTER_CR0, &v)) == INTERP_OK)
            sx_set_gpr(x, r0, v);
        return rc;
    }
    if (r0 >= ZYDIS_REGISTER_DR0 && r0 <= ZYDIS_REGISTER_DR15)
        return mov_dr(x, true, r0 - ZYDIS_REGISTER_DR0, &x->ops[1]);
    if (r1 >= ZYDIS_REGISTER_DR0 && r1 <= ZYDIS_REGISTER_DR15)
        return mov_dr(x, false, r1 - ZYDIS_REGISTER_DR0, &x->ops[0]);
    return SX_NOT_MINE;
}

/* ---- flags, HLT, cache and TLB control ------------------------------------------------------- */

/* CLI/STI: allowed at CPL <= IOPL (always in real mode; IOPL 3 in virtual-8086 mode). */
static bool iopl_allows(const struct sx *x)
{
    return !x->pe || x->cpl <= ((x->c->eflags_sys & EFL_IOPL) >> 12);
}

static int cli_sti(struct sx *x, bool sti)
{
    struct vcpu *c = x->c;

    if (!iopl_allows(x))
        return sx_gp0(x);
    if (!sti) {
        c->eflags_sys &= ~EFL_IF;
    } else if (!(c->eflags_sys & EFL_IF)) {
        c->eflags_sys |= EFL_IF;
        c->irq_shadow = true; /* STI; HLT and STI; RET see no interrupt in between */
    }
    return INTERP_OK;
}

static int cr0_family(struct sx *x)
{
    struct vcpu *c = x->c;
    uint32_t v;
    int rc;

    switch (x->in->mnemonic) {
    case ZYDIS_MNEMONIC_SMSW:
        /* Not privileged. A register gets all of CR0 at 32 bits, memory the low word. */
        return sx_store_rm(x, &x->ops[0], x->ops[0].size == 32 ? c->cr0 : c->cr0 & 0xffff, 2);
    case ZYDIS_MNEMONIC_LMSW:
        if (sx_priv_fail(x))
            return sx_gp0(x);
        if ((rc = sx_rm_read(x, &x->ops[0], &v)) != INTERP_OK)
            return rc;
        /* PE, MP, EM, TS only; LMSW can set PE but never clear it. */
        c->cr0 = (c->cr0 & ~0xeu) | (v & 0xf) | (c->cr0 & CR0_PE);
        return INTERP_OK;
    default: /* CLTS */
        if (sx_priv_fail(x))
            return sx_gp0(x);
        c->cr0 &= ~CR0_TS;
        return INTERP_OK;
    }
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static int dispatch(struct sx *x)
{
    const ZydisDecodedInstruction *in = x->in;
    int seg;

    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
        return mov(x);
    case ZYDIS_MNEMONIC_PUSH:
    case ZYDIS_MNEMONIC_POP:
        if (x->ops[0].type != ZYDIS_OPERAND_TYPE_REGISTER ||
            (seg = seg_of(x->ops[0].reg.value)) < 0)
            return SX_NOT_MINE;
        return in->mnemonic == ZYDIS_MNEMONIC_PUSH ? push_seg(x, seg) : pop_seg(x, seg);
    case ZYDIS_MNEMONIC_LES: return load_far_ptr(x, SEG_ES);
    case ZYDIS_MNEMONIC_LDS: return load_far_ptr(x, SEG_DS);
    case ZYDIS_MNEMONIC_LSS: return load_far_ptr(x, SEG_SS);
    case ZYDIS_MNEMONIC_LFS: return load_far_ptr(x, SEG_FS);
    case ZYDIS_MNEMONIC_LGS: return load_far_ptr(x, SEG_GS);
    case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LIDT: case ZYDIS_MNEMONIC_SGDT:
    case ZYDIS_MNEMONIC_SIDT: case ZYDIS_MNEMONIC_LLDT: case ZYDIS_MNEMONIC_SLDT:
    case ZYDIS_MNEMONIC_LTR: case ZYDIS_MNEMONIC_STR: case ZYDIS_MNEMONIC_LAR:
    case ZYDIS_MNEMONIC_LSL: case ZYDIS_MNEMONIC_VERR: case ZYDIS_MNEMONIC_VERW:
    case ZYDIS_MNEMONIC_ARPL:
        return sx_desc(x);
    case ZYDIS_MNEMONIC_SMSW: case ZYDIS_MNEMONIC_LMSW: case ZYDIS_MNEMONIC_CLTS:
        return cr0_family(x);
    case ZYDIS_MNEMONIC_INVLPG:
        if (sx_priv_fail(x))
            return sx_gp0(x);
        /* The shadow follows the tables through traces; INVLPG also drops the page so a
         * change made behind our back still takes effect, as on a real TLB. */
        mmu__invlpg(x->m, sx_lin(x, &x->ops[0], 0));
        return INTERP_OK;
    case ZYDIS_MNEMONIC_WBINVD: case ZYDIS_MNEMONIC_INVD:
        /* No caches to flush: privilege is all there is to check. */
        return sx_priv_fail(x) ? sx_gp0(x) : INTERP_OK;
    case ZYDIS_MNEMONIC_CLI: return cli_sti(x, false);
    case ZYDIS_MNEMONIC_STI: return cli_sti(x, true);
    case ZYDIS_MNEMONIC_HLT:
        return sx_priv_fail(x) ? sx_gp0(x) : INTERP_HALT;
    case ZYDIS_MNEMONIC_UD0: case ZYDIS_MNEMONIC_UD1: case ZYDIS_MNEMONIC_UD2:
        return sx_ud(x);
    case ZYDIS_MNEMONIC_RDMSR: case ZYDIS_MNEMONIC_WRMSR:
        return sx_msr(x);
    default:
        return sx_far(x);
    }
}

/* What an instruction here can change besides memory, EIP and the MSRs. */
struct sx_state {
    uint64_t gpr[8];
    uint64_t rflags;
    uint32_t eflags_sys;
    struct segment seg[SEG_NR], ldtr, tr;
    struct dtable gdtr, idtr;
    uint32_t cr0, cr2, cr3, cr4;
    bool irq_shadow;
};

static void save(const struct vcpu *c, struct sx_state *s)
{
    memcpy(s->gpr, c->gpr, sizeof(s->gpr));
    s->rflags = c->rflags;
    s->eflags_sys = c->eflags_sys;
    memcpy(s->seg, c->seg, sizeof(s->seg));
    s->ldtr = c->ldtr;
    s->tr = c->tr;
    s->gdtr = c->gdtr;
    s->idtr = c->idtr;
    s->cr0 = c->cr0, s->cr2 = c->cr2, s->cr3 = c->cr3, s->cr4 = c->cr4;
    s->irq_shadow = c->irq_shadow;
}

static void restore(struct vcpu *c, const struct sx_state *s)
{
    memcpy(c->gpr, s->gpr, sizeof(s->gpr));
    c->rflags = s->rflags;
    c->eflags_sys = s->eflags_sys;
    memcpy(c->seg, s->seg, sizeof(s->seg));
    for (int i = 0; i < SEG_NR; i++)
        c->seg_base[i] = c->seg[i].base;
    c->ldtr = s->ldtr;
    c->tr = s->tr;
    c->gdtr = s->gdtr;
    c->idtr = s->idtr;
    c->cr0 = s->cr0, c->cr2 = s->cr2, c->cr3 = s->cr3, c->cr4 = s->cr4;
    c->irq_shadow = s->irq_shadow;
}

int sys__exec(struct machine *m, const ZydisDecodedInstruction *in,
              const ZydisDecodedOperand *ops, struct interp_exc *exc)
{
    struct vcpu *c = m->cpu;
    bool code32 = in->machine_mode == ZYDIS_MACHINE_MODE_LEGACY_32;
    struct sx x = {
        .m = m,
        .c = c,
        .in = in,
        .ops = ops,
        .exc = exc,
        .cpl = vcpu_cpl(c),
        .pe = (c->cr0 & CR0_PE) != 0,
        .vm = (c->cr0 & CR0_PE) && (c->eflags_sys & EFL_VM),
        .osize = in->operand_width == 32 ? 4 : 2,
        .addr32 = in->address_width == 32,
        .ip_mask = code32 ? 0xffffffffu : 0xffffu,
    };
    uint32_t eip = c->eip;
    struct sx_state saved;
    int rc;

    x.next_eip = (c->eip + in->length) & x.ip_mask;
    save(c, &saved);
    rc = dispatch(&x);
    switch (rc) {
    case SX_NOT_MINE:
        return INTERP_UNSUPPORTED;
    case INTERP_OK:
    case INTERP_HALT:
        if (!x.jumped)
            c->eip = x.next_eip;
        break;
    default: /* INTERP_EXCEPTION, or UNSUPPORTED after a message: nothing happened */
        restore(c, &saved);
        c->eip = eip;
        break;
    }
    return rc;
}
