/*
 * The Intel 8254 programmable interval timer of the PC: three 16-bit
 * counters clocked at 1.193182 MHz, at ports 0x40-0x42 with the control word
 * register at 0x43. Channel 0 drives IRQ 0; channel 1 (DRAM refresh on old
 * PCs) goes nowhere; channel 2's gate and output are bits 0 and 5 of the
 * PIIX4's NMI status and control register at port 0x61, which lives here
 * with its refresh-toggle bit. Names follow the 8254 datasheet: control
 * word (SC, RW, M, BCD), count register (CR), counting element (CE), output
 * latch (OL), read-back command, status byte, null count.
 *
 * Nothing ticks. A channel remembers the virtual time its counting element
 * was loaded (load_ns) and derives the CE value and OUT from the number of
 * CLK pulses since, d = (now - load_ns) * 1193182 / 1e9 - origin, in each
 * mode's own way (modes 0-5; 6 and 7 are 2 and 3). Later restarts that are
 * not a fresh load (a new period's count, a gate that resumes counting) move
 * the origin by whole CLKs rather than load_ns by rounded nanoseconds, so
 * counts stay exact however long the channel runs.
 *
 * Only channel 0 needs a timer: it is armed at the next change of OUT, and
 * the callback drives IRQ 0 with the level OUT takes at that edge, then arms
 * the next. A callback that runs late still delivers each edge in order (the
 * PIC needs the low-high pair to see an interrupt), skipping whole periods
 * only when it is more than two behind. Mode 2's one-CLK low pulse costs one
 * firing, at its rising edge, which drives the line low and high again.
 *
 * The gate: channels 0 and 1 have it tied high; channel 2's follows port
 * 0x61 bit 0. Low pauses modes 0 and 4, stops modes 2 and 3 with OUT high,
 * and a rising edge triggers modes 1 and 5 and restarts modes 2 and 3. In
 * modes 2 and 3 a new count written without a control word takes over at
 * the end of the current period, as the datasheet says.
 *
 * At reset every channel is in mode 3 with a count of 65536, which is where
 * a PC BIOS leaves channel 0 (18.2 Hz) and what QEMU does.
 */
#include "devices/i8254.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

#define NS_PER_S 1000000000ull
#define REFRESH_NS 15085 /* port 0x61 bit 4 toggles at each DRAM refresh request */

/* Control word. */
#define CW_SC(v) (((v) >> 6) & 3)
#define CW_RW(v) (((v) >> 4) & 3)
#define CW_M(v) (((v) >> 1) & 7)
#define CW_BCD 0x01
#define CW_READ_BACK 3 /* SC = 11 */
#define RW_LATCH 0     /* RW = 00: counter latch command */
#define RW_LSB 1
#define RW_MSB 2
#define RW_LSB_MSB 3

/* Read-back command. */
#define RB_COUNT 0x20  /* 0: latch the count */
#define RB_STATUS 0x10 /* 0: latch the status */

/* Status byte. */
#define ST_OUTPUT 0x80
#define ST_NULL_COUNT 0x40

/* Port 0x61 (PIIX4 NMI status and control). */
#define P61_TIM2_GATE 0x01
#define P61_SPKR_DAT 0x02
#define P61_PCI_SERR_EN 0x04
#define P61_IOCHK_EN 0x08
#define P61_WRITABLE 0x0f
#define P61_REF_TOGGLE 0x10
#define P61_OUT2 0x20

struct pit;

struct pit_channel {
    struct pit *pit;
    int id;
    uint8_t ctrl; /* control word bits 5-0 as written: the status byte's low bits */
    uint8_t mode; /* 0-5 (6 and 7 folded to 2 and 3) */
    uint8_t rw;
    bool bcd;
    uint16_t cr;    /* count register as written */
    uint32_t cr_n;  /* its count in CLK pulses; 0: none since the control word */
    uint32_t n;     /* the count the CE is working through */
    bool write_msb; /* RW=3: the next write is the MSB */
    uint8_t write_lsb;
    bool read_msb; /* RW=3: the next read is the MSB */
    bool ol_latched;
    uint16_t ol;
    bool status_latched;
    uint8_t status;
    bool null_count;
    bool gate;
    bool armed; /* the CE counts (or, in modes 0 and 4, is paused by the gate) */
    bool paused;
    uint64_t paused_d;
    bool pending; /* modes 2, 3: cr_n takes over at CLK pend_tick */
    uint64_t pend_tick;
    uint64_t load_ns; /* virtual time of the CE's load */
    uint64_t origin;  /* CLKs since load_ns at which the current count started */
    int out;          /* channel 0: OUT as last driven onto IRQ 0 */
    uint64_t edge_ns; /* channel 0: the OUT change the timer is armed for */
};

struct pit {
    struct machine *m;
    struct pit_channel ch[3];
    uint8_t port61;      /* the writable bits of port 0x61 */
    struct timer *timer; /* channel 0's next OUT change */
};

/* ---- time ---- */

static uint64_t ticks(uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS_PER_S);
}

/* The first nanosecond at which CLK k has happened: ticks(ns_of_tick(k)) == k. */
static uint64_t ns_of_tick(uint64_t k)
{
    return (uint64_t)(((unsigned __int128)k * NS_PER_S + PIT_HZ - 1) / PIT_HZ);
}

static uint64_t d_at(const struct pit_channel *ch, uint64_t t)
{
    if (!ch->armed)
        return 0;
    if (ch->paused)
        return ch->paused_d;
    if (t <= ch->load_ns || ticks(t - ch->load_ns) < ch->origin)
        return 0;
    return ticks(t - ch->load_ns) - ch->origin;
}

/* Apply a count waiting for the end of a period (modes 2 and 3). */
static void settle(struct pit_channel *ch, uint64_t t)
{
    if (!ch->pending || !ch->armed || d_at(ch, t) < ch->pend_tick)
        return;
    ch->origin += ch->pend_tick;
    ch->n = ch->cr_n;
    ch->pending = false;
    ch->null_count = false;
}

static int out_at(const struct pit_channel *ch, uint64_t d)
{
    uint64_t n = ch->n;

    if (!ch->armed)
        return ch->mode != 0; /* mode 0: low from the control word on; the others high */
    switch (ch->mode) {
    case 0: /* interrupt on terminal count */
    case 1: /* hardware retriggerable one-shot */
        return d >= n;
    case 2: /* rate generator: low for the one CLK the CE holds 1 */
        return n < 2 || d % n != n - 1;
    case 3: /* square wave: high for ceil(N/2), low for floor(N/2) */
        return d % n < (n + 1) / 2;
    default: /* 4, 5: strobes: low for the one CLK after terminal count */
        return d != n;
    }
}

/* The CLK after d at which OUT changes, or UINT64_MAX. */
static uint64_t next_edge(const struct pit_channel *ch, uint64_t d)
{
    uint64_t n = ch->n, base;

    if (!ch->armed || ch->paused)
        return UINT64_MAX;
    base = n ? d - d % n : 0;
    switch (ch->mode) {
    case 0:
    case 1:
        return d < n ? n : UINT64_MAX;
    case 2:
        if (n < 2)
            return UINT64_MAX;
        return d - base < n - 1 ? base + n - 1 : base + n;
    case 3:
        if (n < 2)
            return UINT64_MAX;
        return d - base < (n + 1) / 2 ? base + (n + 1) / 2 : base + n;
    default:
        return d < n ? n : d == n ? n + 1 : UINT64_MAX;
    }
}

static uint32_t modulus(const struct pit_channel *ch)
{
    return ch->bcd ? 10000 : 65536;
}

/* The CE as the guest reads it (binary or BCD). */
static uint16_t ce_value(const struct pit_channel *ch, uint64_t d)
{
    uint64_t n = ch->n, mod = modulus(ch), v, phase;

    if (!ch->armed || !n) {
        v = n;
    } else {
        switch (ch->mode) {
        case 2:
            v = n - d % n;
            break;
        case 3: /* the CE counts down by two through each half period */
            phase = d % n;
            if (phase >= (n + 1) / 2)
                phase -= (n + 1) / 2;
            v = (n - 2 * phase) & ~1ull;
            break;
        default: /* 0, 1, 4, 5: wraps and goes on counting */
            v = (n + mod - d % mod) % mod;
            break;
        }
    }
    v %= mod;
    if (ch->bcd)
        v = (v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10;
    return (uint16_t)v;
}

/* ---- channel 0's output and timer ---- */

static void drive_out(struct pit_channel *ch, int out)
{
    if (ch->id != 0 || out == ch->out)
        return;
    ch->out = out;
    ch->pit->m->irq(ch->pit->m, 0, out);
}

static void arm_after(struct pit_channel *ch, uint64_t d)
{
    struct pit *p = ch->pit;
    uint64_t k;

    if (ch->id != 0 || !p->timer)
        return;
    k = next_edge(ch, d);
    if (k == UINT64_MAX) {
        timer__del(p->timer);
        return;
    }
    /* Mode 2's low CLK is 838 ns: one firing at the rise delivers the whole pulse. */
    if (ch->mode == 2 && !out_at(ch, k))
        k++;
    ch->edge_ns = ch->load_ns + ns_of_tick(ch->origin + k);
    timer__mod(p->timer, ch->edge_ns);
}

static void pit_timer(struct machine *m, void *opaque)
{
    struct pit_channel *ch = opaque;
    uint64_t t = ch->edge_ns, d, dnow;

    settle(ch, t);
    d = d_at(ch, t);
    dnow = d_at(ch, timers__now(m));
    if ((ch->mode == 2 || ch->mode == 3) && ch->n >= 2 && !ch->pending && dnow > d &&
        dnow - d > 2 * (uint64_t)ch->n)
        d += ((dnow - d) / ch->n - 1) * ch->n; /* the same phase, one period back */
    if (ch->mode == 2 && out_at(ch, d) && ch->out)
        drive_out(ch, 0); /* the skipped fall: the PIC needs the low-high pair */
    drive_out(ch, out_at(ch, d));
    arm_after(ch, d);
}

/* After the guest changed the channel: OUT now, and the next edge. */
static void changed(struct pit_channel *ch, uint64_t now)
{
    uint64_t d;

    settle(ch, now);
    d = d_at(ch, now);
    drive_out(ch, out_at(ch, d));
    arm_after(ch, d);
}

static void start(struct pit_channel *ch, uint64_t now)
{
    ch->n = ch->cr_n;
    ch->armed = true;
    ch->load_ns = now;
    ch->origin = 0;
    ch->paused = (ch->mode == 0 || ch->mode == 4) && !ch->gate;
    ch->paused_d = 0;
    ch->pending = false;
    ch->null_count = false;
}

static uint32_t count_of(struct pit_channel *ch, uint16_t cr)
{
    uint32_t n;

    if (!ch->bcd)
        return cr ? cr : 65536;
    if ((cr & 0xf) > 9 || (cr >> 4 & 0xf) > 9 || (cr >> 8 & 0xf) > 9 || (cr >> 12) > 9)
        guest_error("i8254: channel %d: count 0x%04x is not BCD", ch->id, cr);
    n = (cr >> 12) * 1000 + (cr >> 8 & 0xf) * 100 + (cr >> 4 & 0xf) * 10 + (cr & 0xf);
    return n ? n : 10000;
}

/* A complete count arrived in CR. */
static void load(struct pit_channel *ch, uint16_t cr, uint64_t now)
{
    settle(ch, now);
    ch->cr = cr;
    ch->cr_n = count_of(ch, cr);
    ch->null_count = true;
    switch (ch->mode) {
    case 0:
    case 4:
        start(ch, now);
        break;
    case 1:
    case 5:
        break; /* loaded into the CE by the next gate trigger */
    default:
        if (ch->armed && !ch->paused) {
            uint64_t d = d_at(ch, now);

            ch->pending = true;
            ch->pend_tick = (d / ch->n + 1) * ch->n;
        } else if (ch->gate) {
            start(ch, now);
        }
        break;
    }
    changed(ch, now);
}

static void set_gate(struct pit_channel *ch, bool gate, uint64_t now)
{
    if (gate == ch->gate)
        return;
    settle(ch, now);
    switch (ch->mode) {
    case 0:
    case 4:
        if (ch->armed && !gate) {
            ch->paused_d = d_at(ch, now);
            ch->paused = true;
        } else if (ch->armed) {
            ch->origin = (now > ch->load_ns ? ticks(now - ch->load_ns) : 0) - ch->paused_d;
            ch->paused = false;
        }
        break;
    case 1:
    case 5:
        if (gate && ch->cr_n)
            start(ch, now); /* trigger */
        break;
    default:
        if (!gate) {
            ch->armed = false;
            ch->pending = false;
        } else if (ch->cr_n) {
            start(ch, now);
        }
        break;
    }
    ch->gate = gate;
    changed(ch, now);
}

static uint8_t status_byte(const struct pit_channel *ch, uint64_t now)
{
    return (uint8_t)((out_at(ch, d_at(ch, now)) ? ST_OUTPUT : 0) |
                     (ch->null_count ? ST_NULL_COUNT : 0) | ch->ctrl);
}

static void latch_count(struct pit_channel *ch, uint64_t now)
{
    if (ch->ol_latched)
        return; /* only the first latch counts until OL is read */
    settle(ch, now);
    ch->ol = ce_value(ch, d_at(ch, now));
    ch->ol_latched = true;
}

/* ---- registers ---- */

static void write_control(struct pit *p, uint8_t v, uint64_t now)
{
    struct pit_channel *ch;

    if (CW_SC(v) == CW_READ_BACK) {
        for (int i = 0; i < 3; i++) {
            ch = &p->ch[i];
            if (!(v & (2u << i)))
                continue;
            if (!(v & RB_COUNT))
                latch_count(ch, now);
            if (!(v & RB_STATUS) && !ch->status_latched) {
                settle(ch, now);
                ch->status = status_byte(ch, now);
                ch->status_latched = true;
            }
        }
        return;
    }
    ch = &p->ch[CW_SC(v)];
    if (CW_RW(v) == RW_LATCH) {
        latch_count(ch, now);
        return;
    }
    ch->ctrl = v & 0x3f;
    ch->rw = CW_RW(v);
    ch->mode = CW_M(v) > 5 ? CW_M(v) - 4 : CW_M(v);
    ch->bcd = v & CW_BCD;
    ch->write_msb = ch->read_msb = false;
    ch->ol_latched = ch->status_latched = false;
    ch->null_count = true;
    ch->armed = ch->paused = ch->pending = false;
    ch->cr_n = 0;
    changed(ch, now);
}

static void write_counter(struct pit_channel *ch, uint8_t v, uint64_t now)
{
    switch (ch->rw) {
    case RW_LSB:
        load(ch, v, now);
        break;
    case RW_MSB:
        load(ch, (uint16_t)(v << 8), now);
        break;
    case RW_LSB_MSB:
        if (!ch->write_msb) {
            ch->write_lsb = v;
            ch->write_msb = true;
            if (ch->mode == 0 && ch->armed) { /* the first byte stops mode 0 counting */
                ch->armed = false;
                changed(ch, now);
            }
        } else {
            ch->write_msb = false;
            load(ch, (uint16_t)(ch->write_lsb | v << 8), now);
        }
        break;
    default:
        guest_error("i8254: channel %d: count written before any control word", ch->id);
        break;
    }
}

static uint8_t read_counter(struct pit_channel *ch, uint64_t now)
{
    uint16_t v;
    bool msb;

    if (ch->status_latched) {
        ch->status_latched = false;
        return ch->status;
    }
    settle(ch, now);
    v = ch->ol_latched ? ch->ol : ce_value(ch, d_at(ch, now));
    switch (ch->rw) {
    case RW_LSB:
        msb = false;
        break;
    case RW_MSB:
        msb = true;
        break;
    default:
        msb = ch->read_msb;
        ch->read_msb = !ch->read_msb;
        break;
    }
    if (ch->rw != RW_LSB_MSB || msb)
        ch->ol_latched = false;
    return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static uint8_t read_reg(struct pit *p, uint32_t offset, uint64_t now)
{
    switch (offset) {
    case 0: /* counter 0 */
    case 1: /* counter 1 */
    case 2: /* counter 2 */
        return read_counter(&p->ch[offset], now);
    default: /* control word register: write-only */
        guest_error("i8254: read of the control word register");
        return 0xff;
    }
}

static void write_reg(struct pit *p, uint32_t offset, uint8_t v, uint64_t now)
{
    switch (offset) {
    case 0:
    case 1:
    case 2:
        write_counter(&p->ch[offset], v, now);
        break;
    default: /* control word */
        write_control(p, v, now);
        break;
    }
}

/* 8-bit ports: a wider access is a run of byte accesses, as the ISA bus splits it. */
static uint32_t pit_read(void *opaque, uint32_t offset, unsigned size)
{
    struct pit *p = opaque;
    uint64_t now = timers__now(p->m);
    uint32_t v = 0;

    for (unsigned i = 0; i < size && offset + i < 4; i++)
        v |= (uint32_t)read_reg(p, offset + i, now) << (8 * i);
    return v;
}

static void pit_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct pit *p = opaque;
    uint64_t now = timers__now(p->m);

    for (unsigned i = 0; i < size && offset + i < 4; i++)
        write_reg(p, offset + i, (uint8_t)(value >> (8 * i)), now);
}

static uint32_t port61_read(void *opaque, uint32_t offset, unsigned size)
{
    struct pit *p = opaque;
    struct pit_channel *ch2 = &p->ch[2];
    uint64_t now = timers__now(p->m);

    (void)offset, (void)size;
    settle(ch2, now);
    return p->port61 | ((now / REFRESH_NS) & 1 ? P61_REF_TOGGLE : 0) |
           (out_at(ch2, d_at(ch2, now)) ? P61_OUT2 : 0);
}

static void port61_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct pit *p = opaque;

    (void)offset, (void)size;
    p->port61 = value & P61_WRITABLE;
    set_gate(&p->ch[2], value & P61_TIM2_GATE, timers__now(p->m));
}

static void pit_reset(void *opaque)
{
    struct pit *p = opaque;
    uint64_t now = timers__now(p->m);

    p->port61 = 0;
    for (int i = 0; i < 3; i++) {
        struct pit_channel *ch = &p->ch[i];

        ch->ctrl = RW_LSB_MSB << 4 | 3 << 1;
        ch->mode = 3;
        ch->rw = RW_LSB_MSB;
        ch->bcd = false;
        ch->cr = 0;
        ch->cr_n = 65536;
        ch->n = 65536;
        ch->write_msb = ch->read_msb = false;
        ch->write_lsb = 0;
        ch->ol_latched = ch->status_latched = false;
        ch->ol = 0;
        ch->status = 0;
        ch->gate = i != 2;
        ch->armed = ch->paused = ch->pending = false;
        ch->paused_d = ch->pend_tick = 0;
        ch->load_ns = now;
        ch->origin = 0;
        ch->edge_ns = 0;
        if (ch->gate)
            start(ch, now);
        else
            ch->null_count = false;
        changed(ch, now);
    }
}

static void pit_dump(void *opaque, FILE *f)
{
    struct pit *p = opaque;
    uint64_t now = timers__now(p->m);

    for (int i = 0; i < 3; i++) {
        struct pit_channel *ch = &p->ch[i];
        uint64_t d = d_at(ch, now);

        fprintf(f, "i8254 ch%d: mode %u rw %u%s CR=%04x N=%u CE=%04x OUT=%d gate=%d%s%s%s%s\n", i,
                ch->mode, ch->rw, ch->bcd ? " BCD" : "", ch->cr, ch->n, ce_value(ch, d),
                out_at(ch, d), ch->gate, ch->armed ? "" : " idle", ch->paused ? " paused" : "",
                ch->null_count ? " null" : "", ch->ol_latched ? " latched" : "");
    }
    fprintf(f, "port 0x61: %02x\n", port61_read(p, 0, 1));
}

static const struct device_ops pit_ops = {
    .name = "i8254",
    .reset = pit_reset,
    .read = pit_read,
    .write = pit_write,
    .dump = pit_dump,
};

static const struct device_ops port61_ops = {
    .name = "port61",
    .read = port61_read,
    .write = port61_write,
};

static struct pit *pit_of(struct machine *m)
{
    for (int i = 0; i < m->npio; i++)
        if (m->pio[i].ops == &pit_ops)
            return m->pio[i].opaque;
    return NULL;
}

int i8254__create(struct machine *m, char *err, size_t errlen)
{
    struct pit *p = calloc(1, sizeof(*p));

    if (!p) {
        snprintf(err, errlen, "out of memory creating the 8254 timer");
        return -1;
    }
    p->m = m;
    for (int i = 0; i < 3; i++) {
        p->ch[i].pit = p;
        p->ch[i].id = i;
    }
    p->timer = timer__new(m, pit_timer, &p->ch[0]);
    if (!p->timer || bus__claim_pio(m, 0x40, 4, &pit_ops, p)) {
        snprintf(err, errlen,
                 p->timer ? "i8254: ports 0x40-0x43 are already taken"
                          : "i8254: cannot create its timer");
        timer__free(p->timer);
        free(p);
        return -1;
    }
    if (bus__claim_pio(m, 0x61, 1, &port61_ops, p)) {
        snprintf(err, errlen, "i8254: port 0x61 is already taken");
        return -1; /* claimed 0x40: i8254__destroy finds and frees it */
    }
    pit_reset(p);
    return 0;
}

void i8254__destroy(struct machine *m)
{
    struct pit *p = pit_of(m);

    if (!p)
        return;
    timer__free(p->timer);
    free(p);
}
