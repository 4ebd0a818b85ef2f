/*
 * The Motorola MC146818 real-time clock with 128 bytes of CMOS RAM, as the
 * PIIX4 integrates it: index port 0x70 (bit 7 masks NMI), data port 0x71,
 * IRQ 8. Register names follow the datasheet: the time, alarm and calendar
 * bytes 0x00-0x09 and registers A (UIP, DV2-0, RS3-0), B (SET, PIE, AIE,
 * UIE, SQWE, DM, 24/12, DSE), C (IRQF, PF, AF, UF; read to clear) and D
 * (VRT). Bytes 0x0e-0x7f are RAM, laid out as a PC BIOS expects (see
 * build_cmos) from the machine's RAM size.
 *
 * The clock: the divider chain started at virtual time div_ns, so update
 * cycles happen at div_ns + k seconds, and the time at update k is
 * base_sec + (k - base_k) seconds since the Unix epoch. At creation it is
 * the host's UTC wall clock (QEMU's default -rtc base=utc), with the update
 * boundaries on the host's second boundaries. Setting SET or putting the
 * divider in reset (DV = 11x) freezes the time; the guest's writes then go
 * to the registers, and clearing SET (or leaving divider reset, which
 * makes the first update come half a second later) takes them as the new
 * time. The time bytes are recomputed in the format register B asks for
 * (BCD or binary, 12 or 24 hours) whenever they are read, which is why they
 * are always consistent: UIP only tells the guest an update is 244 us away,
 * as the datasheet promises.
 *
 * Interrupt flags are computed lazily from the time that passed since they
 * were last brought up to date: PF at every periodic boundary (rate RS3-0,
 * aligned to the divider), UF at every update, AF at an update whose time
 * matches the alarm bytes (0xc0-0xff is "don't care"). A timer is armed for
 * the next boundary only while an enabled flag could raise IRQ 8 and the
 * line is low; reading register C clears the flags and drops the line.
 * Daylight saving (DSE) is stored but does nothing, as on a PC clock kept
 * in UTC.
 */
#define _GNU_SOURCE /* timegm */
#include "devices/mc146818.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

#define NS_PER_S 1000000000ll
#define UIP_WINDOW_NS 244000ll

/* Register indexes. */
#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DATE_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d

#define REG_A_UIP 0x80
#define REG_A_DV 0x70
#define REG_A_DV_RESET 0x60 /* DV = 11x holds the divider in reset */
#define REG_A_RS 0x0f

#define REG_B_SET 0x80
#define REG_B_PIE 0x40
#define REG_B_AIE 0x20
#define REG_B_UIE 0x10
#define REG_B_SQWE 0x08
#define REG_B_DM 0x04 /* 1: binary, 0: BCD */
#define REG_B_24H 0x02
#define REG_B_DSE 0x01

#define REG_C_IRQF 0x80
#define REG_C_PF 0x40
#define REG_C_AF 0x20
#define REG_C_UF 0x10

#define REG_D_VRT 0x80

/* CMOS RAM, as PC BIOSes use it. */
#define CMOS_SHUTDOWN 0x0f
#define CMOS_FLOPPY 0x10
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASE_MEM_LO 0x15
#define CMOS_BASE_MEM_HI 0x16
#define CMOS_EXT_MEM_LO 0x17
#define CMOS_EXT_MEM_HI 0x18
#define CMOS_CHECKSUM_HI 0x2e
#define CMOS_CHECKSUM_LO 0x2f
#define CMOS_EXT_MEM2_LO 0x30
#define CMOS_EXT_MEM2_HI 0x31
#define CMOS_CENTURY 0x32
#define CMOS_MEM_16M_LO 0x34
#define CMOS_MEM_16M_HI 0x35
#define CMOS_BOOT_FLAGS 0x38
#define CMOS_BOOT_ORDER 0x3d
#define CMOS_MEM_4G_LO 0x5b /* 0x5b-0x5d: RAM above 4 GiB in 64 KiB units */
#define CMOS_NB_CPUS 0x5f   /* CPUs minus one */
#define CHECKSUM_FIRST 0x10
#define CHECKSUM_LAST 0x2d

struct rtc {
    struct machine *m;
    uint8_t cmos[128]; /* A, B, C, D live here too (A without UIP, C without IRQF) */
    uint8_t index;
    bool nmi_masked;
    int64_t div_ns;   /* virtual time of the divider's update 0 */
    int64_t base_sec; /* the time at update base_k (while frozen: the frozen time) */
    int64_t base_k;
    int64_t synced_ns; /* C's flags account for everything up to here */
    int irq;           /* IRQ 8 as driven */
    struct timer *timer;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

static bool running(const struct rtc *r)
{
    return (r->cmos[RTC_REG_A] & REG_A_DV_RESET) != REG_A_DV_RESET;
}

static bool ticking(const struct rtc *r)
{
    return running(r) && !(r->cmos[RTC_REG_B] & REG_B_SET);
}

static int64_t update_no(const struct rtc *r, int64_t t)
{
    return floor_div(t - r->div_ns, NS_PER_S);
}

static int64_t sec_at(const struct rtc *r, int64_t t)
{
    return ticking(r) ? r->base_sec + update_no(r, t) - r->base_k : r->base_sec;
}

/* Periodic interrupt period: RS 1 and 2 repeat rates 8 and 9 (datasheet table 5). */
static int64_t period_ns(const struct rtc *r)
{
    unsigned rs = r->cmos[RTC_REG_A] & REG_A_RS;

    if (!rs)
        return 0;
    if (rs < 3)
        rs += 7;
    return (int64_t)(((uint64_t)1 << (rs - 1)) * NS_PER_S / 32768);
}

/* ---- time and the register format ---- */

static uint8_t to_reg(const struct rtc *r, int v)
{
    if (r->cmos[RTC_REG_B] & REG_B_DM)
        return (uint8_t)v;
    return (uint8_t)((v / 10) << 4 | v % 10);
}

static int from_reg(const struct rtc *r, uint8_t v)
{
    if (r->cmos[RTC_REG_B] & REG_B_DM)
        return v;
    return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t hours_to_reg(const struct rtc *r, int h)
{
    if (r->cmos[RTC_REG_B] & REG_B_24H)
        return to_reg(r, h);
    return (uint8_t)(to_reg(r, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

static int hours_from_reg(const struct rtc *r, uint8_t v)
{
    if (r->cmos[RTC_REG_B] & REG_B_24H)
        return from_reg(r, v);
    return from_reg(r, v & 0x7f) % 12 + (v & 0x80 ? 12 : 0);
}

/* The time bytes for `sec`: seconds, minutes, hours at [0], [2], [4] like the registers. */
static void encode(const struct rtc *r, int64_t sec, uint8_t out[RTC_YEAR + 1], uint8_t *century)
{
    time_t t = (time_t)sec;
    struct tm tm;

    gmtime_r(&t, &tm);
    out[RTC_SECONDS] = to_reg(r, tm.tm_sec);
    out[RTC_MINUTES] = to_reg(r, tm.tm_min);
    out[RTC_HOURS] = hours_to_reg(r, tm.tm_hour);
    out[RTC_DAY_OF_WEEK] = to_reg(r, tm.tm_wday + 1); /* Sunday = 1 */
    out[RTC_DATE_OF_MONTH] = to_reg(r, tm.tm_mday);
    out[RTC_MONTH] = to_reg(r, tm.tm_mon + 1);
    out[RTC_YEAR] = to_reg(r, (tm.tm_year + 1900) % 100);
    *century = to_reg(r, (tm.tm_year + 1900) / 100);
}

/* Put the current time into the time bytes (only while the clock ticks). */
static void refresh(struct rtc *r, int64_t now)
{
    uint8_t t[RTC_YEAR + 1] = {0};

    if (!ticking(r))
        return;
    encode(r, sec_at(r, now), t, &r->cmos[CMOS_CENTURY]);
    for (int i = RTC_SECONDS; i <= RTC_YEAR; i++)
        if (i != RTC_SECONDS_ALARM && i != RTC_MINUTES_ALARM && i != RTC_HOURS_ALARM)
            r->cmos[i] = t[i];
}

/* The time the bytes say. Out-of-range values are normalized the way timegm() does. */
static int64_t decode(const struct rtc *r)
{
    const uint8_t *c = r->cmos;
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_sec = from_reg(r, c[RTC_SECONDS]);
    tm.tm_min = from_reg(r, c[RTC_MINUTES]);
    tm.tm_hour = hours_from_reg(r, c[RTC_HOURS]);
    tm.tm_mday = from_reg(r, c[RTC_DATE_OF_MONTH]);
    tm.tm_mon = from_reg(r, c[RTC_MONTH]) - 1;
    tm.tm_year = from_reg(r, c[CMOS_CENTURY]) * 100 + from_reg(r, c[RTC_YEAR]) - 1900;
    return (int64_t)timegm(&tm);
}

static bool alarm_matches(const struct rtc *r, int64_t sec)
{
    static const int pair[3][2] = {{RTC_SECONDS_ALARM, RTC_SECONDS},
                                   {RTC_MINUTES_ALARM, RTC_MINUTES},
                                   {RTC_HOURS_ALARM, RTC_HOURS}};
    uint8_t t[RTC_YEAR + 1] = {0}, century;

    encode(r, sec, t, &century);
    for (int i = 0; i < 3; i++) {
        uint8_t alarm = r->cmos[pair[i][0]];

        if ((alarm & 0xc0) != 0xc0 && alarm != t[pair[i][1]])
            return false;
    }
    return true;
}

/* ---- interrupts ---- */

/* Set C's flags for the boundaries passed in (synced_ns, now]. */
static void sync_flags(struct rtc *r, int64_t now)
{
    int64_t p = period_ns(r), from = r->synced_ns;

    if (now <= from)
        return;
    r->synced_ns = now;
    if (!running(r))
        return;
    if (p && floor_div(now - r->div_ns, p) > floor_div(from - r->div_ns, p))
        r->cmos[RTC_REG_C] |= REG_C_PF;
    if (!(r->cmos[RTC_REG_B] & REG_B_SET)) {
        int64_t k1 = update_no(r, from), k2 = update_no(r, now);

        if (k2 > k1)
            r->cmos[RTC_REG_C] |= REG_C_UF;
        /* A day holds every alarm time: looking further back finds nothing new. */
        for (int64_t k = k2; k > k1 && k > k2 - 86400 - 1; k--)
            if (alarm_matches(r, r->base_sec + k - r->base_k)) {
                r->cmos[RTC_REG_C] |= REG_C_AF;
                break;
            }
    }
}

static bool irqf(const struct rtc *r)
{
    uint8_t b = r->cmos[RTC_REG_B], c = r->cmos[RTC_REG_C];

    return ((b & REG_B_PIE) && (c & REG_C_PF)) || ((b & REG_B_AIE) && (c & REG_C_AF)) ||
           ((b & REG_B_UIE) && (c & REG_C_UF));
}

/* Drive IRQ 8 from IRQF, and arm the timer for the next flag that could raise it. */
static void update_irq(struct rtc *r, int64_t now)
{
    int level = irqf(r);
    int64_t next = INT64_MAX, p = period_ns(r);
    uint8_t b = r->cmos[RTC_REG_B];

    if (level != r->irq) {
        r->irq = level;
        r->m->irq(r->m, 8, level);
    }
    if (!r->timer)
        return;
    if (!level && running(r)) {
        if ((b & REG_B_PIE) && p)
            next = r->div_ns + (floor_div(now - r->div_ns, p) + 1) * p;
        if ((b & (REG_B_AIE | REG_B_UIE)) && !(b & REG_B_SET)) {
            int64_t u = r->div_ns + (update_no(r, now) + 1) * NS_PER_S;

            next = u < next ? u : next;
        }
    }
    if (next == INT64_MAX)
        timer__del(r->timer);
    else
        timer__mod(r->timer, (uint64_t)next);
}

static void rtc_timer(struct machine *m, void *opaque)
{
    struct rtc *r = opaque;
    int64_t now = (int64_t)timers__now(m);

    sync_flags(r, now);
    update_irq(r, now);
}

/* ---- registers ---- */

/* A or B changed: freeze or restart the time around the change. */
static void set_control(struct rtc *r, int reg, uint8_t v, int64_t now)
{
    bool was_ticking = ticking(r), was_running = running(r);
    int64_t sec = sec_at(r, now);

    sync_flags(r, now);
    refresh(r, now);
    r->cmos[reg] = v;
    if (!was_running && running(r)) {
        r->div_ns = now - NS_PER_S / 2; /* the first update comes 500 ms after reset */
        r->synced_ns = now;
    }
    if (was_ticking && !ticking(r))
        r->base_sec = sec;
    if (!was_ticking && ticking(r)) {
        r->base_sec = decode(r);
        r->base_k = update_no(r, now);
    }
    update_irq(r, now);
}

static uint8_t read_reg(struct rtc *r, uint8_t i, int64_t now)
{
    uint8_t v;

    switch (i) {
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_DAY_OF_WEEK:
    case RTC_DATE_OF_MONTH:
    case RTC_MONTH:
    case RTC_YEAR:
    case CMOS_CENTURY:
        refresh(r, now);
        return r->cmos[i];
    case RTC_REG_A:
        v = r->cmos[RTC_REG_A];
        if (ticking(r) &&
            now - r->div_ns - update_no(r, now) * NS_PER_S >= NS_PER_S - UIP_WINDOW_NS)
            v |= REG_A_UIP;
        return v;
    case RTC_REG_C:
        sync_flags(r, now);
        v = r->cmos[RTC_REG_C] | (irqf(r) ? REG_C_IRQF : 0);
        r->cmos[RTC_REG_C] = 0;
        update_irq(r, now);
        return v;
    case RTC_REG_D:
        return REG_D_VRT; /* the battery is fine */
    default:
        return r->cmos[i];
    }
}

static void write_reg(struct rtc *r, uint8_t i, uint8_t v, int64_t now)
{
    switch (i) {
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_DAY_OF_WEEK:
    case RTC_DATE_OF_MONTH:
    case RTC_MONTH:
    case RTC_YEAR:
    case CMOS_CENTURY:
        /* With SET clear the write takes effect at once and the clock goes on from it. */
        refresh(r, now);
        r->cmos[i] = v;
        if (ticking(r)) {
            r->base_sec = decode(r);
            r->base_k = update_no(r, now);
        }
        break;
    case RTC_SECONDS_ALARM:
    case RTC_MINUTES_ALARM:
    case RTC_HOURS_ALARM:
        sync_flags(r, now);
        r->cmos[i] = v;
        update_irq(r, now);
        break;
    case RTC_REG_A:
        set_control(r, RTC_REG_A, v & (uint8_t)~REG_A_UIP, now);
        break;
    case RTC_REG_B:
        if (v & REG_B_SET)
            v &= (uint8_t)~REG_B_UIE; /* setting SET clears UIE */
        set_control(r, RTC_REG_B, v, now);
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        guest_error("mc146818: write 0x%02x to read-only register %c ignored", v,
                    i == RTC_REG_C ? 'C' : 'D');
        break;
    default:
        r->cmos[i] = v;
        break;
    }
}

/* 8-bit ports: a wider access is a run of byte accesses (outw(0x70, index | value << 8)
 * selects and writes in one instruction, as some BIOS code does). */
static uint32_t rtc_read(void *opaque, uint32_t offset, unsigned size)
{
    struct rtc *r = opaque;
    uint32_t v = 0;

    for (unsigned i = 0; i < size && offset + i < 2; i++) {
        uint8_t b = 0xff; /* the index register is write-only */

        if (offset + i == 1)
            b = read_reg(r, r->index, (int64_t)timers__now(r->m));
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void rtc_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct rtc *r = opaque;

    for (unsigned i = 0; i < size && offset + i < 2; i++) {
        uint8_t b = (uint8_t)(value >> (8 * i));

        if (offset + i == 0) {
            r->index = b & 0x7f;
            r->nmi_masked = b & 0x80;
        } else {
            write_reg(r, r->index, b, (int64_t)timers__now(r->m));
        }
    }
}

/* The chip's RESET pin: interrupt enables and flags clear; time and RAM are kept (the
 * battery holds them), so a BIOS sees the shutdown byte it wrote before the reset. */
static void rtc_reset(void *opaque)
{
    struct rtc *r = opaque;
    int64_t now = (int64_t)timers__now(r->m);

    sync_flags(r, now);
    r->cmos[RTC_REG_B] &= (uint8_t) ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    r->cmos[RTC_REG_C] = 0;
    r->cmos[RTC_REG_D] = REG_D_VRT;
    r->index = 0;
    r->nmi_masked = false;
    update_irq(r, now);
}

static void rtc_dump(void *opaque, FILE *f)
{
    struct rtc *r = opaque;
    int64_t now = (int64_t)timers__now(r->m);
    time_t t = (time_t)sec_at(r, now);
    struct tm tm;
    char buf[32];

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "mc146818: %s UTC%s A=%02x B=%02x C=%02x index=%02x%s irq8=%d\n", buf,
            ticking(r) ? "" : " (stopped)", r->cmos[RTC_REG_A], r->cmos[RTC_REG_B],
            r->cmos[RTC_REG_C], r->index, r->nmi_masked ? " NMI-masked" : "", r->irq);
    for (int i = 0; i < 128; i += 16) {
        fprintf(f, "  %02x:", i);
        for (int j = 0; j < 16; j++)
            fprintf(f, " %02x", r->cmos[i + j]);
        fputc('\n', f);
    }
}

static const struct device_ops rtc_ops = {
    .name = "mc146818",
    .reset = rtc_reset,
    .read = rtc_read,
    .write = rtc_write,
    .dump = rtc_dump,
};

static struct rtc *rtc_of(struct machine *m)
{
    for (int i = 0; i < m->npio; i++)
        if (m->pio[i].ops == &rtc_ops)
            return m->pio[i].opaque;
    return NULL;
}

static void checksum(struct rtc *r)
{
    unsigned sum = 0;

    for (int i = CHECKSUM_FIRST; i <= CHECKSUM_LAST; i++)
        sum += r->cmos[i];
    r->cmos[CMOS_CHECKSUM_HI] = (uint8_t)(sum >> 8);
    r->cmos[CMOS_CHECKSUM_LO] = (uint8_t)sum;
}

static void put16(struct rtc *r, int lo, uint64_t v)
{
    if (v > 0xffff)
        v = 0xffff;
    r->cmos[lo] = (uint8_t)v;
    r->cmos[lo + 1] = (uint8_t)(v >> 8);
}

/* The CMOS RAM a PC BIOS reads: no floppy, an FPU and a PS/2 mouse, 640 KiB of base
 * memory, extended memory above 1 MiB in KiB (capped at 64 MiB - 1 KiB), memory above
 * 16 MiB in 64 KiB units, nothing above 4 GiB, one CPU, and QEMU's default boot order
 * (hard disk, floppy, CD-ROM). */
static void build_cmos(struct rtc *r)
{
    uint64_t ram = r->m->ram_size;

    r->cmos[CMOS_SHUTDOWN] = 0;
    r->cmos[CMOS_FLOPPY] = 0;
    r->cmos[CMOS_EQUIPMENT] = 0x06;
    put16(r, CMOS_BASE_MEM_LO, 640);
    put16(r, CMOS_EXT_MEM_LO, ram > (1 << 20) ? (ram >> 10) - 1024 : 0);
    put16(r, CMOS_EXT_MEM2_LO, ram > (1 << 20) ? (ram >> 10) - 1024 : 0);
    put16(r, CMOS_MEM_16M_LO, ram > (16 << 20) ? (ram - (16 << 20)) >> 16 : 0);
    r->cmos[CMOS_MEM_4G_LO] = r->cmos[CMOS_MEM_4G_LO + 1] = r->cmos[CMOS_MEM_4G_LO + 2] = 0;
    r->cmos[CMOS_BOOT_ORDER] = 0x12;
    r->cmos[CMOS_BOOT_FLAGS] = 0x30;
    r->cmos[CMOS_NB_CPUS] = 0;
    checksum(r);
}

void mc146818__set_cmos(struct machine *m, unsigned index, uint8_t value)
{
    struct rtc *r = rtc_of(m);

    if (!r || index <= RTC_REG_D || index >= 128)
        return;
    r->cmos[index] = value;
    if (index >= CHECKSUM_FIRST && index <= CHECKSUM_LAST)
        checksum(r);
}

uint8_t mc146818__get_cmos(struct machine *m, unsigned index)
{
    struct rtc *r = rtc_of(m);

    return r && index < 128 ? r->cmos[index] : 0xff;
}

int mc146818__create(struct machine *m, char *err, size_t errlen)
{
    struct rtc *r = calloc(1, sizeof(*r));
    struct timespec wall;
    int64_t now;

    if (!r) {
        snprintf(err, errlen, "out of memory creating the MC146818 RTC");
        return -1;
    }
    r->m = m;
    r->timer = timer__new(m, rtc_timer, r);
    if (!r->timer || bus__claim_pio(m, 0x70, 2, &rtc_ops, r)) {
        snprintf(err, errlen,
                 r->timer ? "mc146818: ports 0x70-0x71 are already taken"
                          : "mc146818: cannot create its timer");
        timer__free(r->timer);
        free(r);
        return -1;
    }
    /* Power-on: 32.768 kHz time base, 1024 Hz periodic rate, 24-hour BCD, as a BIOS sets. */
    now = (int64_t)timers__now(m);
    clock_gettime(CLOCK_REALTIME, &wall);
    r->cmos[RTC_REG_A] = 0x26;
    r->cmos[RTC_REG_B] = REG_B_24H;
    r->div_ns = now - wall.tv_nsec;
    r->base_sec = wall.tv_sec;
    r->base_k = update_no(r, now);
    r->synced_ns = now;
    refresh(r, now);
    build_cmos(r);
    rtc_reset(r);
    return 0;
}

void mc146818__destroy(struct machine *m)
{
    struct rtc *r = rtc_of(m);

    if (!r)
        return;
    timer__free(r->timer);
    free(r);
}
