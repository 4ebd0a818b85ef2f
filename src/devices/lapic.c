/*
 * The local APIC: an xAPIC of the P6/Pentium 4 generation (version 0x14, six LVT entries) at
 * 0xFEE00000, for the single vCPU. Register names and bits follow the Intel SDM vol. 3,
 * chapter "Advanced Programmable Interrupt Controller".
 *
 * It owns the CPU's interrupt input. At creation it saves the 8259's m->intr_pending and
 * m->intr_ack and installs its own: while the APIC is disabled (IA32_APIC_BASE[11] clear)
 * or software-disabled (SVR bit 8 clear) the 8259 reaches the CPU directly, so legacy
 * guests that never touch the APIC see a plain PC; once software-enabled, interrupts come
 * from IRR by priority, and the 8259 only through LINT0 programmed as ExtINT (or an I/O
 * APIC entry in ExtINT mode): the "virtual wire". Acceptance follows the SDM: the highest
 * vector in IRR is delivered when its priority class is above the class of PPR, which is
 * the larger of TPR and the highest in-service vector.
 *
 * The MSR lives in the vCPU (c->apic_base, written by WRMSR elsewhere), so the APIC looks
 * at it lazily: a disabled APIC's MMIO page reads as all ones and drops writes, and the
 * first look after a disable resets the APIC, as the SDM says clearing the bit does. The
 * bus claim stays at 0xFEE00000; a relocated base is refused with a guest error.
 *
 * The timer counts a 1 GHz bus clock (QEMU's rate, which xv6-style guests assume) through
 * the divider. The current count is derived from virtual time (timers__now) on every read;
 * only the expiry is a timer (src/monitor/timer.h), made when the guest first starts a
 * count, since the machine's timers may come up after the devices.
 *
 * Interprocessor interrupts on this one-CPU machine: fixed/lowest-priority messages that
 * name this CPU (by shorthand or by destination) land in our own IRR; INIT and Start-up to
 * all-but-self find no one and are logged, which is what an SMP probe on a uniprocessor
 * sees.
 */
#include "devices/lapic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

/* Register offsets in the 4 KiB page. */
#define APIC_ID 0x020
#define APIC_VER 0x030
#define APIC_TPR 0x080
#define APIC_APR 0x090
#define APIC_PPR 0x0a0
#define APIC_EOI 0x0b0
#define APIC_RRD 0x0c0
#define APIC_LDR 0x0d0
#define APIC_DFR 0x0e0
#define APIC_SVR 0x0f0
#define APIC_ISR 0x100 /* 8 registers, 0x100..0x170 */
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_ICR_LOW 0x300
#define APIC_ICR_HIGH 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF 0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TMICT 0x380 /* initial count */
#define APIC_TMCCT 0x390 /* current count */
#define APIC_TDCR 0x3e0  /* divide configuration */

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_NR };

#define APIC_BASE_BSP 0x100u
#define APIC_BASE_ENABLE 0x800u
#define APIC_BASE_ADDR 0xfffff000u

#define SVR_APIC_ENABLED 0x100u
#define SVR_FOCUS_DISABLED 0x200u

#define LVT_VECTOR 0x000000ffu
#define LVT_DELIVERY_MODE 0x00000700u
#define LVT_DELIVERY_STATUS 0x00001000u
#define LVT_POLARITY 0x00002000u
#define LVT_REMOTE_IRR 0x00004000u
#define LVT_TRIGGER_LEVEL 0x00008000u
#define LVT_MASKED 0x00010000u
#define LVT_TIMER_PERIODIC 0x00020000u

#define DM_FIXED 0
#define DM_LOWEST 1
#define DM_SMI 2
#define DM_NMI 4
#define DM_INIT 5
#define DM_STARTUP 6
#define DM_EXTINT 7

#define ICR_DEST_LOGICAL 0x00000800u
#define ICR_LEVEL_ASSERT 0x00004000u
#define ICR_TRIGGER_LEVEL 0x00008000u
#define ICR_SHORTHAND(v) (((v) >> 18) & 3)
enum { SH_NONE, SH_SELF, SH_ALL, SH_ALL_BUT_SELF };

#define ESR_SEND_ILLEGAL_VECTOR 0x20u
#define ESR_RECV_ILLEGAL_VECTOR 0x40u
#define ESR_ILLEGAL_REGISTER 0x80u

/* Writable bits of each register. */
static const uint32_t lvt_writable[LVT_NR] = {
    [LVT_TIMER] = LVT_VECTOR | LVT_MASKED | LVT_TIMER_PERIODIC,
    [LVT_THERMAL] = LVT_VECTOR | LVT_DELIVERY_MODE | LVT_MASKED,
    [LVT_PERF] = LVT_VECTOR | LVT_DELIVERY_MODE | LVT_MASKED,
    [LVT_LINT0] = LVT_VECTOR | LVT_DELIVERY_MODE | LVT_POLARITY | LVT_TRIGGER_LEVEL | LVT_MASKED,
    [LVT_LINT1] = LVT_VECTOR | LVT_DELIVERY_MODE | LVT_POLARITY | LVT_TRIGGER_LEVEL | LVT_MASKED,
    [LVT_ERROR] = LVT_VECTOR | LVT_MASKED,
};
#define ICR_LOW_WRITABLE 0x000ccfffu
#define TIMER_MIN_PERIOD_NS 1000 /* a periodic timer faster than 1 MHz would starve the host */

struct lapic {
    struct machine *m;
    bool (*pic_pending)(struct machine *m); /* the 8259's output, saved at creation */
    int (*pic_ack)(struct machine *m);
    void (*eoi_hook)(struct machine *m, int vector); /* the I/O APIC's EOI listener */
    bool extint_route; /* an I/O APIC entry passes the 8259 through (ExtINT) */
    bool was_enabled;  /* IA32_APIC_BASE[11] as last seen */

    uint32_t id; /* ID register: APIC ID in bits 31:24 */
    uint32_t tpr;
    uint32_t ldr, dfr, svr;
    uint32_t isr[8], tmr[8], irr[8]; /* 256-bit vectors, bit n = vector n */
    uint32_t esr;                    /* what ESR reads: errors latched by the last ESR write */
    uint32_t esr_pending;            /* errors seen since that write */
    uint32_t icr_low, icr_high;
    uint32_t lvt[LVT_NR];
    uint32_t tmict, tdcr;
    uint64_t timer_start; /* virtual ns when the current count was last TMICT */
    struct timer *timer;
};

static struct lapic *lapic_of(struct machine *m)
{
    return m->lapic;
}

static int highest(const uint32_t v[8])
{
    for (int i = 7; i >= 0; i--)
        if (v[i])
            return i * 32 + 31 - __builtin_clz(v[i]);
    return -1;
}

static void set_bit(uint32_t v[8], int n)
{
    v[n >> 5] |= 1u << (n & 31);
}

static void clear_bit(uint32_t v[8], int n)
{
    v[n >> 5] &= ~(1u << (n & 31));
}

static bool test_bit(const uint32_t v[8], int n)
{
    return v[n >> 5] >> (n & 31) & 1;
}

static bool hw_enabled(struct lapic *a);

static bool sw_enabled(const struct lapic *a)
{
    return a->svr & SVR_APIC_ENABLED;
}

/* PPR: TPR, or the in-service vector's class when that is higher (SDM "Processor Priority
 * Register"). */
static uint32_t ppr(const struct lapic *a)
{
    int isrv = highest(a->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

    return (a->tpr & 0xf0) >= isr_class ? a->tpr & 0xff : isr_class;
}

/* APR as the P6 computes it for lowest-priority arbitration. */
static uint32_t apr(const struct lapic *a)
{
    int isrv = highest(a->isr), irrv = highest(a->irr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    uint32_t irr_class = irrv < 0 ? 0 : (uint32_t)irrv & 0xf0;
    uint32_t tpr_class = a->tpr & 0xf0;

    if (tpr_class >= isr_class && tpr_class >= irr_class)
        return a->tpr & 0xff;
    return isr_class > irr_class ? (isr_class > tpr_class ? isr_class : tpr_class)
                                 : (irr_class > tpr_class ? irr_class : tpr_class);
}

/* The vector INTA would take from IRR, or -1. */
static int deliverable_vector(const struct lapic *a)
{
    int irrv = highest(a->irr);

    if (irrv < 0 || ((uint32_t)irrv & 0xf0) <= (ppr(a) & 0xf0))
        return -1;
    return irrv;
}

static bool extint_open(const struct lapic *a)
{
    uint32_t lint0 = a->lvt[LVT_LINT0];

    return a->extint_route ||
           (!(lint0 & LVT_MASKED) && ((lint0 & LVT_DELIVERY_MODE) >> 8) == DM_EXTINT);
}

static bool pic_pending(struct lapic *a)
{
    return a->pic_pending && a->pic_pending(a->m);
}

static void kick_if_deliverable(struct lapic *a)
{
    if (deliverable_vector(a) >= 0)
        machine__kick(a->m);
}

static void signal_error(struct lapic *a, uint32_t bits);

static void accept(struct lapic *a, int vector, bool level)
{
    if (vector < 16) {
        /* Vectors 0-15 are illegal for the APIC: the message is dropped with an error. */
        signal_error(a, ESR_RECV_ILLEGAL_VECTOR);
        return;
    }
    set_bit(a->irr, vector);
    if (level)
        set_bit(a->tmr, vector);
    else
        clear_bit(a->tmr, vector);
    kick_if_deliverable(a);
}

static void signal_error(struct lapic *a, uint32_t bits)
{
    uint32_t lvt = a->lvt[LVT_ERROR];

    a->esr_pending |= bits;
    /* An error vector below 16 would raise another error: the chip does not loop, neither
     * do we. */
    if (!(lvt & LVT_MASKED) && (lvt & LVT_VECTOR) >= 16)
        accept(a, (int)(lvt & LVT_VECTOR), false);
}

/* Deliver through an LVT entry (the timer, LINTn, ...): fixed mode only on this machine. */
static void lvt_fire(struct lapic *a, int which)
{
    uint32_t lvt = a->lvt[which];
    unsigned mode = (lvt & LVT_DELIVERY_MODE) >> 8;

    if (lvt & LVT_MASKED)
        return;
    if (which == LVT_TIMER || which == LVT_ERROR || mode == DM_FIXED) {
        accept(a, (int)(lvt & LVT_VECTOR), which != LVT_TIMER && (lvt & LVT_TRIGGER_LEVEL));
        return;
    }
    LOG(DEV, 1, "lapic: LVT %d delivery mode %u not emulated; interrupt dropped", which, mode);
}

/* --- the timer --- */

static unsigned divide_shift(uint32_t tdcr)
{
    unsigned v = (tdcr & 3) | (tdcr >> 1 & 4); /* bits 3, 1:0 */

    return (v + 1) & 7; /* 000 -> /2 ... 110 -> /128, 111 -> /1 */
}

static uint64_t period_ns(const struct lapic *a)
{
    return (uint64_t)a->tmict << divide_shift(a->tdcr); /* 1 GHz: one tick per ns */
}

static uint32_t current_count(const struct lapic *a, uint64_t now)
{
    uint64_t ticks, period = a->tmict;

    if (!a->tmict)
        return 0;
    ticks = (now - a->timer_start) >> divide_shift(a->tdcr);
    if (a->lvt[LVT_TIMER] & LVT_TIMER_PERIODIC)
        return (uint32_t)(period - ticks % period);
    return ticks >= period ? 0 : (uint32_t)(period - ticks);
}

static void timer_expired(struct machine *m, void *opaque);

/* Arm the expiry after `now` for the counting that started at timer_start. */
static void timer_arm(struct lapic *a, uint64_t now)
{
    uint64_t period = period_ns(a), deadline;

    if (!a->timer && a->tmict) {
        /* Made on first use: the machine's timers may be set up after the devices. */
        a->timer = a->m->timers ? timer__new(a->m, timer_expired, a) : NULL;
        if (!a->timer) {
            LOG(DEV, 1,
                "lapic: no virtual-time timers in this machine: the timer counts "
                "but never interrupts");
            return;
        }
    }
    if (!a->timer)
        return;
    if (!a->tmict) {
        timer__del(a->timer);
        return;
    }
    deadline = a->timer_start + period;
    if (a->lvt[LVT_TIMER] & LVT_TIMER_PERIODIC) {
        if (period < TIMER_MIN_PERIOD_NS)
            period = TIMER_MIN_PERIOD_NS;
        if (deadline <= now)
            deadline += ((now - deadline) / period + 1) * period;
    } else if (deadline <= now) {
        timer__del(a->timer); /* a one-shot that already ran out */
        return;
    }
    timer__mod(a->timer, deadline);
}

static void timer_expired(struct machine *m, void *opaque)
{
    struct lapic *a = opaque;
    uint64_t now = timers__now(m);

    if (!hw_enabled(a) || !a->tmict)
        return;
    lvt_fire(a, LVT_TIMER);
    if (a->lvt[LVT_TIMER] & LVT_TIMER_PERIODIC)
        timer_arm(a, now);
}

/* Keep the current count continuous across a change of divider or mode. */
static void timer_rebase(struct lapic *a, uint32_t old_tdcr, uint32_t old_lvt, uint64_t now)
{
    uint32_t new_tdcr = a->tdcr, new_lvt = a->lvt[LVT_TIMER], cur;

    a->tdcr = old_tdcr;
    a->lvt[LVT_TIMER] = old_lvt;
    cur = current_count(a, now);
    a->tdcr = new_tdcr;
    a->lvt[LVT_TIMER] = new_lvt;
    if (cur)
        a->timer_start = now - ((uint64_t)(a->tmict - cur) << divide_shift(a->tdcr));
    else
        a->timer_start = now - period_ns(a); /* expired one-shot stays expired */
    timer_arm(a, now);
}

/* --- reset and the MSR --- */

static void lapic_reset(void *opaque)
{
    struct lapic *a = opaque;

    a->id = 0; /* the bootstrap processor, APIC ID 0 */
    a->tpr = 0;
    a->ldr = 0;
    a->dfr = 0xffffffff;
    a->svr = 0xff;
    memset(a->isr, 0, sizeof(a->isr));
    memset(a->tmr, 0, sizeof(a->tmr));
    memset(a->irr, 0, sizeof(a->irr));
    a->esr = a->esr_pending = 0;
    a->icr_low = a->icr_high = 0;
    for (int i = 0; i < LVT_NR; i++)
        a->lvt[i] = LVT_MASKED;
    a->tmict = 0;
    a->tdcr = 0;
    a->timer_start = 0;
    if (a->timer)
        timer__del(a->timer);
    a->was_enabled = a->m->cpu->apic_base & APIC_BASE_ENABLE;
}

/* IA32_APIC_BASE[11], looked at lazily: a 1 -> 0 change resets the APIC (SDM "Enabling or
 * Disabling the Local APIC": state as after power-up, but for the MSR itself). */
static bool hw_enabled(struct lapic *a)
{
    bool on = a->m->cpu->apic_base & APIC_BASE_ENABLE;

    if (a->was_enabled && !on) {
        LOG(DEV, 1, "lapic: disabled through IA32_APIC_BASE");
        lapic_reset(a);
    }
    a->was_enabled = on;
    return on;
}

static bool window_open(struct lapic *a)
{
    uint32_t base = (uint32_t)a->m->cpu->apic_base & APIC_BASE_ADDR;

    if (!hw_enabled(a))
        return false;
    if (base != LAPIC_DEFAULT_BASE) {
        guest_error("lapic: IA32_APIC_BASE moved to 0x%08x: relocation is not emulated, the "
                    "registers stay at 0x%08x",
                    base, LAPIC_DEFAULT_BASE);
    }
    return true;
}

/* --- registers --- */

static uint32_t read_reg(struct lapic *a, uint32_t reg)
{
    if (reg >= APIC_ISR && reg < APIC_ISR + 0x80)
        return a->isr[(reg - APIC_ISR) >> 4];
    if (reg >= APIC_TMR && reg < APIC_TMR + 0x80)
        return a->tmr[(reg - APIC_TMR) >> 4];
    if (reg >= APIC_IRR && reg < APIC_IRR + 0x80)
        return a->irr[(reg - APIC_IRR) >> 4];
    if (reg >= APIC_LVT_TIMER && reg <= APIC_LVT_ERROR)
        return a->lvt[(reg - APIC_LVT_TIMER) >> 4];
    switch (reg) {
    case APIC_ID:
        return a->id;
    case APIC_VER:
        return LAPIC_VERSION;
    case APIC_TPR:
        return a->tpr;
    case APIC_APR:
        return apr(a);
    case APIC_PPR:
        return ppr(a);
    case APIC_EOI:
        return 0; /* write-only */
    case APIC_RRD:
        return 0; /* remote read is not supported by the xAPIC */
    case APIC_LDR:
        return a->ldr;
    case APIC_DFR:
        return a->dfr;
    case APIC_SVR:
        return a->svr;
    case APIC_ESR:
        return a->esr;
    case APIC_ICR_LOW:
        return a->icr_low; /* delivery status: always idle */
    case APIC_ICR_HIGH:
        return a->icr_high;
    case APIC_TMICT:
        return a->tmict;
    case APIC_TMCCT:
        return current_count(a, timers__now(a->m));
    case APIC_TDCR:
        return a->tdcr;
    default:
        guest_error("lapic: read of reserved register 0x%03x", reg);
        signal_error(a, ESR_ILLEGAL_REGISTER);
        return 0;
    }
}

static void eoi(struct lapic *a)
{
    int v = highest(a->isr);

    if (v < 0)
        return; /* an EOI with nothing in service is harmless */
    clear_bit(a->isr, v);
    if (test_bit(a->tmr, v) && a->eoi_hook)
        a->eoi_hook(a->m, v); /* broadcast EOI for level-triggered interrupts */
    kick_if_deliverable(a);
}

static void send_ipi(struct lapic *a)
{
    uint32_t lo = a->icr_low;
    unsigned mode = (lo & LVT_DELIVERY_MODE) >> 8, sh = ICR_SHORTHAND(lo);
    int vector = (int)(lo & LVT_VECTOR);
    bool to_self;

    switch (sh) {
    case SH_SELF:
    case SH_ALL:
        to_self = true;
        break;
    case SH_ALL_BUT_SELF:
        to_self = false;
        break;
    default:
        to_self = lapic__match_dest(a->m, (uint8_t)(a->icr_high >> 24), lo & ICR_DEST_LOGICAL);
        break;
    }
    switch (mode) {
    case DM_FIXED:
    case DM_LOWEST:
        if (vector < 16) {
            signal_error(a, ESR_SEND_ILLEGAL_VECTOR);
            return;
        }
        if (to_self)
            accept(a, vector, lo & ICR_TRIGGER_LEVEL);
        else
            LOG(DEV, 1, "lapic: IPI vector 0x%02x to no one (one CPU)", vector);
        return;
    case DM_INIT:
    case DM_STARTUP:
        /* An SMP boot on a uniprocessor: no application processor answers. */
        LOG(DEV, 1, "lapic: %s IPI (ICR %08x:%08x) ignored: this machine has one CPU",
            mode == DM_INIT ? "INIT" : "Start-up", a->icr_high, lo);
        if (to_self && sh != SH_ALL)
            guest_error("lapic: %s IPI to self ignored", mode == DM_INIT ? "INIT" : "Start-up");
        return;
    default:
        guest_error("lapic: IPI delivery mode %u (ICR %08x:%08x) not emulated; dropped", mode,
                    a->icr_high, lo);
        return;
    }
}

static void write_reg(struct lapic *a, uint32_t reg, uint32_t v)
{
    uint64_t now;

    if (reg >= APIC_LVT_TIMER && reg <= APIC_LVT_ERROR) {
        int i = (int)(reg - APIC_LVT_TIMER) >> 4;
        uint32_t old = a->lvt[i];

        a->lvt[i] = (old & ~lvt_writable[i]) | (v & lvt_writable[i]);
        if (!sw_enabled(a))
            a->lvt[i] |= LVT_MASKED; /* masks stay set while software-disabled */
        if (i == LVT_TIMER && ((old ^ a->lvt[i]) & LVT_TIMER_PERIODIC))
            timer_rebase(a, a->tdcr, old, timers__now(a->m));
        else if (i == LVT_LINT0 && extint_open(a) && pic_pending(a))
            machine__kick(a->m);
        return;
    }
    switch (reg) {
    case APIC_ID:
        a->id = v & 0xff000000u;
        break;
    case APIC_TPR:
        a->tpr = v & 0xff;
        kick_if_deliverable(a);
        break;
    case APIC_EOI:
        eoi(a);
        break;
    case APIC_LDR:
        a->ldr = v & 0xff000000u;
        break;
    case APIC_DFR:
        a->dfr = v | 0x0fffffffu;
        break;
    case APIC_SVR:
        a->svr = v & (SVR_FOCUS_DISABLED | SVR_APIC_ENABLED | 0xff);
        if (!sw_enabled(a))
            for (int i = 0; i < LVT_NR; i++)
                a->lvt[i] |= LVT_MASKED;
        else
            kick_if_deliverable(a);
        break;
    case APIC_ESR:
        a->esr = a->esr_pending;
        a->esr_pending = 0;
        break;
    case APIC_ICR_LOW:
        a->icr_low = v & ICR_LOW_WRITABLE;
        send_ipi(a);
        break;
    case APIC_ICR_HIGH:
        a->icr_high = v & 0xff000000u;
        break;
    case APIC_TMICT:
        now = timers__now(a->m);
        a->tmict = v;
        a->timer_start = now;
        timer_arm(a, now);
        break;
    case APIC_TDCR: {
        uint32_t old = a->tdcr;

        a->tdcr = v & 0xb;
        timer_rebase(a, old, a->lvt[LVT_TIMER], timers__now(a->m));
        break;
    }
    case APIC_VER:
    case APIC_APR:
    case APIC_PPR:
    case APIC_RRD:
    case APIC_TMCCT:
        guest_error("lapic: write 0x%08x to read-only register 0x%03x ignored", v, reg);
        break;
    default:
        if ((reg >= APIC_ISR && reg < APIC_IRR + 0x80)) {
            guest_error("lapic: write 0x%08x to read-only register 0x%03x ignored", v, reg);
            break;
        }
        guest_error("lapic: write 0x%08x to reserved register 0x%03x", v, reg);
        signal_error(a, ESR_ILLEGAL_REGISTER);
        break;
    }
}

/* Registers are 32 bits wide and 16-byte aligned (SDM: accesses must be aligned 32-bit
 * ones). A narrower read inside the first dword gets its bytes; bytes 4..15 of a slot read
 * as zero; a narrower write is dropped. */
static uint32_t lapic_read(void *opaque, uint32_t offset, unsigned size)
{
    struct lapic *a = opaque;
    uint32_t in = offset & 0xf, v;

    if (!window_open(a))
        return 0xffffffff;
    if (in + size > 4)
        return 0;
    if (size != 4)
        guest_error("lapic: %u-byte read at offset 0x%03x", size, offset);
    v = read_reg(a, offset & 0xff0);
    return v >> (8 * in);
}

static void lapic_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct lapic *a = opaque;

    if (!window_open(a))
        return;
    if (size != 4 || (offset & 0xf)) {
        guest_error("lapic: %u-byte write 0x%x at offset 0x%03x dropped (registers take aligned "
                    "32-bit writes)",
                    size, value, offset);
        return;
    }
    write_reg(a, offset, value);
}

static void lapic_dump(void *opaque, FILE *f)
{
    struct lapic *a = opaque;

    fprintf(f, "lapic: base=%08llx ID=%08x TPR=%02x PPR=%02x SVR=%03x LDR=%08x DFR=%08x ESR=%02x\n",
            (unsigned long long)a->m->cpu->apic_base, a->id, a->tpr, ppr(a), a->svr, a->ldr, a->dfr,
            a->esr);
    fprintf(f, "lapic: IRR highest=%d ISR highest=%d ICR=%08x:%08x\n", highest(a->irr),
            highest(a->isr), a->icr_high, a->icr_low);
    fprintf(f, "lapic: LVT timer=%08x thermal=%08x perf=%08x lint0=%08x lint1=%08x error=%08x\n",
            a->lvt[LVT_TIMER], a->lvt[LVT_THERMAL], a->lvt[LVT_PERF], a->lvt[LVT_LINT0],
            a->lvt[LVT_LINT1], a->lvt[LVT_ERROR]);
    fprintf(f, "lapic: TMICT=%08x TMCCT=%08x TDCR=%x\n", a->tmict,
            current_count(a, timers__now(a->m)), a->tdcr);
}

static const struct device_ops lapic_ops = {
    .name = "lapic",
    .reset = lapic_reset,
    .read = lapic_read,
    .write = lapic_write,
    .dump = lapic_dump,
};

/* --- the CPU's interrupt input --- */

bool lapic__intr_pending(struct machine *m)
{
    struct lapic *a = lapic_of(m);

    if (!a)
        return false;
    if (!hw_enabled(a) || !sw_enabled(a))
        return pic_pending(a);
    return deliverable_vector(a) >= 0 || (extint_open(a) && pic_pending(a));
}

int lapic__intr_ack(struct machine *m)
{
    struct lapic *a = lapic_of(m);
    int v;

    if (!a)
        return -1; /* no local APIC: intr_pending never said yes */
    if (!hw_enabled(a) || !sw_enabled(a))
        return a->pic_ack ? a->pic_ack(m) : (int)(a->svr & 0xff);
    v = deliverable_vector(a);
    if (v >= 0) {
        clear_bit(a->irr, v);
        set_bit(a->isr, v);
        return v;
    }
    if (extint_open(a) && pic_pending(a) && a->pic_ack)
        return a->pic_ack(m);    /* ExtINT: the 8259 answers the INTA cycle */
    return (int)(a->svr & 0xff); /* the request went away: spurious, nothing in service */
}

void lapic__set_irq(struct machine *m, int vector, bool level_trigger)
{
    struct lapic *a = lapic_of(m);

    if (!a || vector < 0 || vector > 255 || !hw_enabled(a))
        return;
    accept(a, vector, level_trigger);
}

bool lapic__match_dest(struct machine *m, uint8_t dest, bool logical)
{
    struct lapic *a = lapic_of(m);
    uint8_t id, ldr;

    if (!a)
        return false;
    id = (uint8_t)(a->id >> 24);
    ldr = (uint8_t)(a->ldr >> 24);
    if (!logical)
        return dest == 0xff || dest == id;
    if (dest == 0xff)
        return true;
    if ((a->dfr >> 28) == 0xf) /* flat model: one bit per CPU */
        return (dest & ldr) != 0;
    /* cluster model: cluster in the high nibble, CPU bits in the low nibble */
    return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0x0f) != 0;
}

void lapic__set_extint_route(struct machine *m, bool on)
{
    struct lapic *a = lapic_of(m);

    if (!a)
        return;
    a->extint_route = on;
    if (on && pic_pending(a))
        machine__kick(m);
}

void lapic__set_eoi_hook(struct machine *m, void (*hook)(struct machine *m, int vector))
{
    struct lapic *a = lapic_of(m);

    if (a)
        a->eoi_hook = hook;
}

int lapic__create(struct machine *m, char *err, size_t errlen)
{
    struct lapic *a = calloc(1, sizeof(*a));

    if (!a) {
        snprintf(err, errlen, "out of memory creating the local APIC");
        return -1;
    }
    a->m = m;
    m->lapic = a;
    if (bus__claim_mmio(m, LAPIC_DEFAULT_BASE, 0x1000, &lapic_ops, a)) {
        snprintf(err, errlen, "local APIC: 0x%08x-0x%08x is already taken", LAPIC_DEFAULT_BASE,
                 LAPIC_DEFAULT_BASE + 0xfff);
        return -1;
    }
    /* Interpose on the 8259: it stays the input while the APIC is off. */
    a->pic_pending = m->intr_pending;
    a->pic_ack = m->intr_ack;
    m->intr_pending = lapic__intr_pending;
    m->intr_ack = lapic__intr_ack;
    lapic_reset(a);
    return 0;
}

void lapic__destroy(struct machine *m)
{
    struct lapic *a = lapic_of(m);

    if (!a)
        return;
    if (m->intr_pending == lapic__intr_pending) {
        m->intr_pending = a->pic_pending;
        m->intr_ack = a->pic_ack;
    }
    if (a->timer)
        timer__free(a->timer);
    free(a);
    m->lapic = NULL;
}
