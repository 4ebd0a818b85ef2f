/*
 * Descriptor-table and selector instructions (sysinsn-internal.h): LGDT,
 * LIDT, SGDT, SIDT, LLDT, SLDT, LTR, STR, and the selector probes LAR, LSL,
 * VERR, VERW and ARPL.
 *
 * Loads are CPL-0 only (virtual-8086 mode is CPL 3, so #GP there too); the
 * stores are not privileged, as on every part without UMIP. Everything but
 * the four table-register moves is #UD outside protected mode. The probes
 * never fault on a bad selector: they report it in ZF, as the SDM says, and
 * fault only if reading the descriptor table itself does (#PF).
 */
#include "mmu-shadow/mem.h"
#include "monitor/machine.h"
#include "monitor/seg.h"
#include "monitor/sysinsn-internal.h"

/* ---- descriptor tables and task register ----------------------------------------------------- */

static int load_dtable(struct sx *x, struct dtable *t)
{
    uint32_t limit, base;
    int rc;

    if (sx_priv_fail(x))
        return sx_gp0(x);
    rc = sx_mem_read(x, &x->ops[0], 0, 2, &limit);
    if (rc == INTERP_OK)
        rc = sx_mem_read(x, &x->ops[0], 2, 4, &base);
    if (rc != INTERP_OK)
        return rc;
    t->limit = (uint16_t)limit;
    t->base = x->osize == 2 ? base & 0x00ffffffu : base; /* the 286 form has a 24-bit base */
    return INTERP_OK;
}

static int store_dtable(struct sx *x, const struct dtable *t)
{
    /* The 16-bit form stores a 24-bit base and a zero sixth byte, as P6-era parts and QEMU. */
    uint32_t base = x->osize == 2 ? t->base & 0x00ffffffu : t->base;

    return sx_mem_write(x, &x->ops[0], 6, (uint64_t)base << 16 | t->limit);
}

static int lldt(struct sx *x)
{
    struct vcpu *c = x->c;
    uint32_t sel;
    uint64_t d;
    int rc;

    if (sx_priv_fail(x))
        return sx_gp0(x);
    if ((rc = sx_rm_read(x, &x->ops[0], &sel)) != INTERP_OK)
        return rc;
    sel &= 0xffff;
    if (!(sel & 0xfffc)) {
        c->ldtr = (struct segment){.sel = (uint16_t)sel};
        return INTERP_OK;
    }
    if (sel & 4)
        return sx_raise(x, EXC_GP, sel & 0xfffc);
    if (seg__load_desc(x->m, (uint16_t)sel, &d, x->exc))
        return INTERP_EXCEPTION;
    if ((desc_flags(d) & (SEGF_S | SEGF_TYPE)) != DESC_LDT)
        return sx_raise(x, EXC_GP, sel & 0xfffc);
    if (!(desc_flags(d) & SEGF_P))
        return sx_raise(x, EXC_NP, sel & 0xfffc);
    c->ldtr = seg__from_desc((uint16_t)sel, d);
    return INTERP_OK;
}

static int ltr(struct sx *x)
{
    struct vcpu *c = x->c;
    uint32_t sel;
    uint64_t d;
    unsigned type;
    int rc;

    if (sx_priv_fail(x))
        return sx_gp0(x);
    if ((rc = sx_rm_read(x, &x->ops[0], &sel)) != INTERP_OK)
        return rc;
    sel &= 0xffff;
    if (!(sel & 0xfffc))
        return sx_gp0(x);
    if (sel & 4)
        return sx_raise(x, EXC_GP, sel & 0xfffc);
    if (seg__load_desc(x->m, (uint16_t)sel, &d, x->exc))
        return INTERP_EXCEPTION;
    type = desc_flags(d) & (SEGF_S | SEGF_TYPE);
    if (type != DESC_TSS16_AVAIL && type != DESC_TSS32_AVAIL) /* a busy TSS cannot be loaded */
        return sx_raise(x, EXC_GP, sel & 0xfffc);
    if (!(desc_flags(d) & SEGF_P))
        return sx_raise(x, EXC_NP, sel & 0xfffc);
    if (seg__set_desc_bits(x->m, (uint16_t)sel, &d, DESC_TSS_BUSY, x->exc))
        return INTERP_EXCEPTION;
    c->tr = seg__from_desc((uint16_t)sel, d);
    return INTERP_OK;
}

/* ---- LAR, LSL, VERR, VERW, ARPL -------------------------------------------------------------- */

/* The descriptor the operand selects if the instruction may look at it: 1 found, 0 not (ZF=0),
 * or -1 on a fault reading it. */
static int visible_desc(struct sx *x, uint64_t *d, uint16_t *sel_out)
{
    struct mem_fault f;
    uint32_t sel;
    int rc;

    if ((rc = sx_rm_read(x, &x->ops[x->in->mnemonic == ZYDIS_MNEMONIC_VERR ||
                                        x->in->mnemonic == ZYDIS_MNEMONIC_VERW ? 0 : 1],
                         &sel)) != INTERP_OK)
        return -1;
    sel &= 0xffff;
    *sel_out = (uint16_t)sel;
    if (!(sel & 0xfffc))
        return 0;
    rc = seg__read_desc(x->m, (uint16_t)sel, d, &f);
    if (rc < 0) {
        seg__mem_fault(x->exc, &f);
        return -1;
    }
    return rc == 0;
}

/* The DPL >= max(CPL, RPL) rule, which conforming code segments skip. */
static bool priv_visible(const struct sx *x, uint64_t d, uint16_t sel)
{
    uint16_t fl = desc_flags(d);
    unsigned dpl = desc_dpl(d);

    if ((fl & SEGF_S) && (fl & SEGF_CODE) && (fl & SEGF_DC))
        return true;
    return dpl >= x->cpl && dpl >= (sel & 3u);
}

static int lar_lsl_verx(struct sx *x)
{
    ZydisMnemonic mn = x->in->mnemonic;
    uint64_t d = 0;
    uint16_t sel, fl;
    bool ok;
    int rc = visible_desc(x, &d, &sel);

    if (rc < 0)
        return INTERP_EXCEPTION;
    fl = desc_flags(d);
    ok = rc > 0 && priv_visible(x, d, sel);
    if (ok && !(fl & SEGF_S)) {
        /* System descriptors: LAR sees TSSs, LDTs and gates; LSL only those with a limit. */
        static const uint16_t lar_ok = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 9 |
                                       1 << 11 | 1 << 12;
        static const uint16_t lsl_ok = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 9 | 1 << 11;
        unsigned type = fl & SEGF_TYPE;

        ok = mn == ZYDIS_MNEMONIC_LAR   ? (lar_ok >> type) & 1
             : mn == ZYDIS_MNEMONIC_LSL ? (lsl_ok >> type) & 1
                                        : false;
    } else if (ok && mn == ZYDIS_MNEMONIC_VERR) {
        ok = !(fl & SEGF_CODE) || (fl & SEGF_RW);
    } else if (ok && mn == ZYDIS_MNEMONIC_VERW) {
        ok = !(fl & SEGF_CODE) && (fl & SEGF_RW);
        ok = ok && desc_dpl(d) >= x->cpl && desc_dpl(d) >= (sel & 3u); /* even if conforming */
    }
    if (mn == ZYDIS_MNEMONIC_VERW && rc > 0 && x->cpl == 0 && !(sel & 4u)) /* (GDT) */
        x->c->verw_memo = (struct verw_memo){.desc = d, .sel = sel, .zf = ok ? EFL_ZF : 0};
    sx_set_zf(x, ok);
    if (ok && mn == ZYDIS_MNEMONIC_LAR)
        sx_set_gpr(x, x->ops[0].reg.value,
                   (uint32_t)(d >> 32) & (x->osize == 4 ? 0x00f0ff00u : 0xff00u));
    else if (ok && mn == ZYDIS_MNEMONIC_LSL)
        sx_set_gpr(x, x->ops[0].reg.value, desc_limit(d));
    return INTERP_OK;
}

static int arpl(struct sx *x)
{
    uint32_t dst, src = sx_gpr(x, x->ops[1].reg.value);
    int rc = sx_rm_read(x, &x->ops[0], &dst);

    if (rc != INTERP_OK)
        return rc;
    if ((dst & 3) < (src & 3)) {
        rc = sx_store_rm(x, &x->ops[0], (dst & ~3u) | (src & 3), 2);
        if (rc == INTERP_OK)
            sx_set_zf(x, true);
        return rc;
    }
    sx_set_zf(x, false);
    return INTERP_OK;
}

int sx_desc(struct sx *x)
{
    switch (x->in->mnemonic) {
    case ZYDIS_MNEMONIC_LGDT: return load_dtable(x, &x->c->gdtr);
    case ZYDIS_MNEMONIC_LIDT: return load_dtable(x, &x->c->idtr);
    case ZYDIS_MNEMONIC_SGDT: return store_dtable(x, &x->c->gdtr);
    case ZYDIS_MNEMONIC_SIDT: return store_dtable(x, &x->c->idtr);
    default: break;
    }
    if (!x->pe || x->vm)
        return sx_ud(x); /* protected mode only */
    switch (x->in->mnemonic) {
    case ZYDIS_MNEMONIC_LLDT: return lldt(x);
    case ZYDIS_MNEMONIC_LTR: return ltr(x);
    case ZYDIS_MNEMONIC_SLDT: return sx_store_rm(x, &x->ops[0], x->c->ldtr.sel, 2);
    case ZYDIS_MNEMONIC_STR: return sx_store_rm(x, &x->ops[0], x->c->tr.sel, 2);
    case ZYDIS_MNEMONIC_ARPL: return arpl(x);
    default: return lar_lsl_verx(x);
    }
}
