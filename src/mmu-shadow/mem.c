/*
 * Guest memory as the monitor, the interpreter and devices see it (mem.h).
 *
 * The physical map is decoded on every access, one span at a time: a span is
 * the longest run of bytes from the current address that stays in one region
 * (RAM, ROM, an MMIO range, or unassigned space), so an access that crosses a
 * region boundary is split and each piece gets its own semantics. In order of
 * precedence:
 *
 *   0xE0000..0xFFFFF   the last 128 KiB of the firmware ROM (less if the ROM
 *                      is smaller: it is aligned to end at 1 MiB). The i440BX
 *                      PAM registers will later let RAM shadow this window.
 *   0xA0000..0xBFFFF   MMIO where a device claims it (VGA), RAM elsewhere.
 *   [0, ram_size)      RAM, never above 0xE0000000 (PCI holes and firmware).
 *   4 GiB - rom_size   the whole ROM.
 *   claimed ranges     MMIO through the bus.
 *   anything else      unassigned: reads all ones, writes dropped.
 *
 * ROM writes are dropped silently at guest-error level 2 (firmware probes its
 * own shadow all the time); writes to unassigned space are guest errors.
 * Every store into RAM is reported to mmu__note_write(), which drops the
 * translations of the pages it touches: the monitor's view of RAM is not
 * write-protected the way the guest's windows are.
 *
 * Linear accesses split at 4 KiB page boundaries so that each page is
 * translated on its own; a multi-page write translates every page before it
 * stores a byte, so a fault leaves memory untouched. Paging is not walked yet:
 * with CR0.PG set, linear is still treated as physical (logged once) until the
 * shadow-MMU issue puts the walker behind mem__lin_to_phys().
 */
#include "mmu-shadow/mem.h"
#include "mmu-shadow/walk.h"

#include <assert.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i440bx.h"
#include "mmu-shadow/window.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define PAGE_SIZE 4096u
#define PAGE_MASK (PAGE_SIZE - 1)
#define ONE_MIB 0x100000u
#define LOW_ROM_MAX 0x20000u   /* firmware visible below 1 MiB */
#define VGA_BASE 0xa0000u
#define VGA_END 0xc0000u
#define PAM_BASE 0xc0000u      /* shadow-RAM areas steered by the i440BX PAM registers */
#define RAM_LIMIT 0xe0000000u  /* RAM stops here whatever -m says */

enum region { REG_RAM, REG_ROM, REG_MMIO, REG_NONE };

struct span {
    enum region kind;
    uint32_t len;  /* bytes from the address that stay in this region (>= 1) */
    uint8_t *host; /* RAM or ROM bytes at the address */
};

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static uint32_t low_rom_base(const struct machine *m)
{
    return ONE_MIB - min32(m->rom_size, LOW_ROM_MAX);
}

static bool have_rom(const struct machine *m)
{
    return m->rom && m->rom_size;
}

/*
 * The claimed range holding a (its end in *end), or else the start of the
 * next claimed range above a (in *next, 0 when none). The bus decides what is
 * claimed; this table only tells where a device's range stops, so that one
 * device access never runs into the next region.
 */
static bool mmio_extent(const struct machine *m, uint32_t a, uint64_t *end, uint64_t *next)
{
    *next = 0;
    for (int i = 0; i < m->nmmio; i++) {
        const struct mmio_range *r = &m->mmio[i];
        if (a >= r->base && (uint64_t)a < (uint64_t)r->base + r->len) {
            *end = (uint64_t)r->base + r->len;
            return true;
        }
        if (r->base > a && (!*next || r->base < *next))
            *next = r->base;
    }
    return false;
}

/* Cut len so that [a, a+len) stops before the next claimed MMIO range. */
static uint32_t stop_before_mmio(const struct machine *m, uint32_t a, uint32_t len)
{
    uint64_t end, next;

    if (!mmio_extent(m, a, &end, &next) && next && next - a < len)
        return (uint32_t)(next - a);
    return len;
}

/* len > 0 and a + len <= 4 GiB. write: the BIOS areas 0xC0000-0xFFFFF decode reads and
 * writes separately (the host bridge's PAM registers). */
static struct span classify(struct machine *m, uint32_t a, uint32_t len, bool write)
{
    uint32_t ram_top = m->ram_size < RAM_LIMIT ? (uint32_t)m->ram_size : RAM_LIMIT;
    struct span s = {REG_NONE, len, NULL};
    int pam = a >= PAM_BASE && a < ONE_MIB ? i440bx__pam(m, a) : -1;

    if (pam >= 0) {
        /* 16 KiB segments, one 64 KiB segment at 0xF0000. Enabled: DRAM (shadow RAM);
         * disabled: the PCI/ISA bus, where the firmware ROM answers in its window. */
        uint32_t seg_end = a < 0xf0000 ? (a | 0x3fff) + 1 : ONE_MIB;
        s.len = min32(len, seg_end - a);
        if (pam & (write ? I440BX_PAM_WE : I440BX_PAM_RE)) {
            if (a < ram_top) {
                s.kind = REG_RAM;
                s.host = m->ram + a;
            }
        } else if (have_rom(m) && a >= low_rom_base(m)) {
            s.kind = REG_ROM;
            s.host = m->rom + m->rom_size - (ONE_MIB - a);
        }
        return s;
    }

    if (have_rom(m) && a >= low_rom_base(m) && a < ONE_MIB) {
        s.kind = REG_ROM;
        s.len = min32(len, ONE_MIB - a);
        s.host = m->rom + m->rom_size - (ONE_MIB - a);
        return s;
    }
    if (a >= VGA_BASE && a < VGA_END && bus__mmio_claimed(m, a)) {
        uint64_t end, next;
        s.kind = REG_MMIO;
        if (mmio_extent(m, a, &end, &next) && end - a < len)
            s.len = (uint32_t)(end - a);
        return s;
    }
    if (a < ram_top) {
        s.kind = REG_RAM;
        s.len = min32(len, ram_top - a);
        s.host = m->ram + a;
        if (a < VGA_END) {
            /* The VGA window may be claimed in pieces, and low ROM may follow it. */
            if (a < VGA_BASE)
                s.len = min32(s.len, VGA_BASE - a);
            else
                s.len = stop_before_mmio(m, a, min32(s.len, VGA_END - a));
        }
        if (have_rom(m) && a < low_rom_base(m))
            s.len = min32(s.len, low_rom_base(m) - a);
        return s;
    }
    if (have_rom(m) && (uint64_t)a >= (1ull << 32) - m->rom_size) {
        s.kind = REG_ROM;
        s.host = m->rom + (a - (uint32_t)((1ull << 32) - m->rom_size));
        return s;
    }
    if (bus__mmio_claimed(m, a)) {
        uint64_t end, next;
        s.kind = REG_MMIO;
        if (mmio_extent(m, a, &end, &next) && end - a < len)
            s.len = (uint32_t)(end - a);
        return s;
    }
    /* Unassigned: up to whatever comes next (RAM is below us, so only ROM or MMIO). */
    s.len = stop_before_mmio(m, a, len);
    if (have_rom(m) && a < (1ull << 32) - m->rom_size &&
        (uint64_t)a + s.len > (1ull << 32) - m->rom_size)
        s.len = (uint32_t)((1ull << 32) - m->rom_size - a);
    return s;
}

/* Devices take 1, 2 or 4 bytes: feed them the widest pieces that fit. */
static void mmio_access(struct machine *m, uint32_t a, uint8_t *buf, uint32_t len, bool write)
{
    while (len) {
        unsigned n = len >= 4 ? 4 : len >= 2 ? 2 : 1;
        uint32_t v = 0;

        if (write) {
            memcpy(&v, buf, n);
            if (bus__mmio_write(m, a, n, v))
                guest_error("mmio: write of %u bytes to 0x%08x vanished from the bus", n, a);
        } else {
            if (bus__mmio_read(m, a, n, &v))
                v = 0xffffffffu;
            memcpy(buf, &v, n);
        }
        a += n;
        buf += n;
        len -= n;
    }
}

static void phys_access(struct machine *m, uint32_t gpa, uint8_t *buf, uint32_t len, bool write)
{
    while (len) {
        /* Physical addresses wrap at 4 GiB like linear ones. */
        uint32_t n = (uint64_t)gpa + len > (1ull << 32) ? (uint32_t)((1ull << 32) - gpa) : len;
        struct span s = classify(m, gpa, n, write);

        if (s.kind != REG_RAM)
            m->monitor_accesses++;
        switch (s.kind) {
        case REG_RAM:
            if (write) {
                bool same = mmu__traced(m, gpa, s.len) && memcmp(s.host, buf, s.len) == 0;
                memcpy(s.host, buf, s.len);
                if (!same)
                    mmu__note_write(m, gpa, s.len);
                else
                    m->monitor_accesses++; /* (still a store only the monitor could make) */
            } else
                memcpy(buf, s.host, s.len);
            break;
        case REG_ROM:
            if (write)
                LOG(GUEST, 2, "mem: write of %u bytes to ROM at 0x%08x dropped", s.len, gpa);
            else
                memcpy(buf, s.host, s.len);
            break;
        case REG_MMIO:
            mmio_access(m, gpa, buf, s.len, write);
            break;
        case REG_NONE:
            if (write)
                guest_error("mem: write of %u bytes to unassigned 0x%08x dropped", s.len, gpa);
            else
                memset(buf, 0xff, s.len);
            break;
        }
        gpa += s.len;
        buf += s.len;
        len -= s.len;
    }
}

/* The common case, RAM outside the legacy windows, without the region walk. */
static uint8_t *plain_ram(struct machine *m, uint32_t gpa, uint32_t len)
{
    uint64_t end = (uint64_t)gpa + len;

    if (end > m->ram_size || end > RAM_LIMIT)
        return NULL;
    if (end > VGA_BASE && gpa < ONE_MIB)
        return NULL;
    return m->ram + gpa;
}

uint64_t mem__phys_read(struct machine *m, uint32_t gpa, unsigned size)
{
    uint64_t v = 0;
    uint8_t *p;

    assert(size >= 1 && size <= 8);
    p = plain_ram(m, gpa, size);
    if (p)
        memcpy(&v, p, size);
    else
        phys_access(m, gpa, (uint8_t *)&v, size, false);
    return v;
}

void mem__phys_write(struct machine *m, uint32_t gpa, unsigned size, uint64_t value)
{
    uint8_t *p;

    assert(size >= 1 && size <= 8);
    p = plain_ram(m, gpa, size);
    if (p) {
        bool same = mmu__traced(m, gpa, size) && memcmp(p, &value, size) == 0;
        memcpy(p, &value, size);
        if (!same)
            mmu__note_write(m, gpa, size);
        else
            m->monitor_accesses++;
    } else
        phys_access(m, gpa, (uint8_t *)&value, size, true);
}

void mem__phys_read_buf(struct machine *m, uint32_t gpa, void *buf, uint32_t len)
{
    phys_access(m, gpa, buf, len, false);
}

void mem__phys_write_buf(struct machine *m, uint32_t gpa, const void *buf, uint32_t len)
{
    phys_access(m, gpa, (uint8_t *)buf, len, true);
}

int mem__lin_to_phys(struct machine *m, uint32_t lin, bool write, uint32_t *gpa,
                     struct mem_fault *f)
{
    struct vcpu *c = m->cpu;
    struct walk w;

    if (f)
        f->vector = -1;
    if (!(c->cr0 & CR0_PG)) {
        *gpa = lin & c->a20_mask;
        return 0;
    }
    if (walk__lin(m, c->cr3, lin,
                  (write ? ACC_WRITE : 0) | (vcpu_cpl(c) == 3 && !c->mem_sys ? ACC_USER : 0), true,
                  &w, f) < 0)
        return -1;
    *gpa = w.gpa;
    return 0;
}

/*
 * Translate every page of [lin, lin+len) first, then copy: a fault on the
 * second page of a straddling write must not leave the first page written.
 * len <= 8, so at most two pages.
 */
static int lin_small(struct machine *m, uint32_t lin, uint8_t *buf, unsigned len, bool write,
                     struct mem_fault *f)
{
    uint32_t first = PAGE_SIZE - (lin & PAGE_MASK);
    uint32_t gpa0, gpa1 = 0;

    assert(len >= 1 && len <= 8);
    if (mem__lin_to_phys(m, lin, write, &gpa0, f))
        return -1;
    if (len <= first) {
        phys_access(m, gpa0, buf, len, write);
        return 0;
    }
    if (mem__lin_to_phys(m, lin + first, write, &gpa1, f)) /* wraps at 4 GiB by uint32_t */
        return -1;
    phys_access(m, gpa0, buf, first, write);
    phys_access(m, gpa1, buf + first, len - first, write);
    return 0;
}

int mem__lin_read(struct machine *m, uint32_t lin, unsigned size, uint64_t *value,
                  struct mem_fault *f)
{
    uint64_t v = 0;

    if (lin_small(m, lin, (uint8_t *)&v, size, false, f))
        return -1;
    *value = v;
    return 0;
}

int mem__lin_write(struct machine *m, uint32_t lin, unsigned size, uint64_t value,
                   struct mem_fault *f)
{
    return lin_small(m, lin, (uint8_t *)&value, size, true, f);
}

int mem__lin_read_buf(struct machine *m, uint32_t lin, void *buf, uint32_t len,
                      struct mem_fault *f)
{
    uint8_t *p = buf;

    if (f)
        f->vector = -1;
    while (len) {
        uint32_t n = min32(len, PAGE_SIZE - (lin & PAGE_MASK));
        uint32_t gpa;

        if (mem__lin_to_phys(m, lin, false, &gpa, f))
            return -1;
        phys_access(m, gpa, p, n, false);
        lin += n;
        p += n;
        len -= n;
    }
    return 0;
}

int mem__sys_read(struct machine *m, uint32_t lin, unsigned size, uint64_t *value,
                  struct mem_fault *f)
{
    bool old = m->cpu->mem_sys;
    int r;

    m->cpu->mem_sys = true;
    r = mem__lin_read(m, lin, size, value, f);
    m->cpu->mem_sys = old;
    return r;
}

int mem__sys_write(struct machine *m, uint32_t lin, unsigned size, uint64_t value,
                   struct mem_fault *f)
{
    bool old = m->cpu->mem_sys;
    int r;

    m->cpu->mem_sys = true;
    r = mem__lin_write(m, lin, size, value, f);
    m->cpu->mem_sys = old;
    return r;
}
