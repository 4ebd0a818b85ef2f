/*
 * ACPI tables for the i440BX/PIIX4 machine, built by the monitor for boots that run no
 * firmware (ACPI Specification 1.0b, with a 2.0 MADT layout that 1.0b already allows).
 *
 * Everything sits in the last ACPI_REGION_SIZE bytes of guest RAM, below the PCI hole:
 * the RSDP (revision 0: there is no XSDT), the RSDT (FADT, MADT), a revision-1 FADT (Windows
 * 2000 refuses later revisions on this chipset; QEMU's PIIX4 machine keeps revision 1 for
 * the same reason) and its FACS and DSDT. The loader passes the RSDP's address in
 * boot_params.acpi_rsdp_addr and reserves the region in the e820 map. The tables are built
 * in a scratch buffer and copied in only when complete.
 *
 * FADT: PM1a event block 0x600 (4 bytes), PM1a control 0x604 (2), PM timer 0x608 (4, 24
 * bits), GPE0 block 0x60c (the PIIX4's own GPSTS/GPEN, 4 bytes), SCI on IRQ 9, no SMI_CMD
 * (the PIIX4 starts with SCI_EN set, so an OS finds ACPI already enabled), C2/C3 latencies
 * that say "not supported", CMOS century at 0x32, flags WBINVD, PROC_C1, SLP_BUTTON (no
 * fixed sleep button) and RTC_S4.
 *
 * MADT: the local APIC (processor 0, APIC ID 0) at 0xFEE00000 with PCAT_COMPAT (8259s
 * present), the I/O APIC (ID ACPI_IOAPIC_ID, GSI base 0) at 0xFEC00000, interrupt source
 * overrides IRQ0 -> GSI 2 and, level-triggered active-high, the SCI (9) and the three IRQs
 * the PCI link devices may use (5, 10, 11), and LINT1 as NMI.
 *
 * DSDT, assembled here byte by byte (AML encoding from section 16 of the specification):
 *   \_S5       Package {0, 0, 0, 0}: SLP_TYP 0 is the PIIX4's SUS_TYP "soft off"
 *   \_PR.CPU0  Processor 0, no P_BLK
 *   \_SB.PCI0  PNP0A03, _ADR 0, _BBN 0, _CRS (bus 0-255; I/O 0-0xcf7 and 0xd00-0xffff with
 *              0xcf8-0xcff consumed by the bridge; memory 0xA0000-0xBFFFF and RAM top to
 *              0xFEBFFFFF), _PRT for devices 1-31, pins A-D
 *   \_SB.PCI0.ISA   the PIIX4 at 00:01.0: PRQA-PRQD, a PCI_Config field over PIRQRC[A:D];
 *              RTC (PNP0B00), keyboard (PNP0303), mouse (PNP0F13), COM1/COM2 (PNP0501)
 *   \_SB.LNKA-D  PCI interrupt links (PNP0C0F) over those registers: _PRS offers IRQ 5, 10
 *              and 11 (level, active high, shared), _CRS reads the routing, _SRS writes it,
 *              _DIS sets IRQROUTEN, _STA says whether routing is enabled
 * Link devices rather than a static GSI table: with them the same DSDT is right in PIC and
 * APIC mode, and the OS programs the router itself when no firmware did.
 * _PRT maps device d, pin p (INTA = 0) to LNK[(d + p - 1) & 3], the swizzle of pci.c.
 */
#include "monitor/acpi.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "devices/piix4.h"
#include "monitor/machine.h"

#define OEM_ID "TACHYN"
#define OEM_TABLE_ID "TACHYON "
#define CREATOR_ID "TCHY"
#define HEADER_LEN 36
#define MIN_RAM (2u << 20) /* the region must lie above the BIOS area at 1 MiB */

/* Layout inside the region. FACS must be 64-byte aligned. */
#define RSDP_OFF 0x000
#define FACS_OFF 0x040
#define RSDT_OFF 0x080
#define FADT_OFF 0x0c0
#define MADT_OFF 0x140
#define DSDT_OFF 0x200
#define RSDP_LEN 20
#define FACS_LEN 64
#define RSDT_LEN (HEADER_LEN + 2 * 4)
#define FADT_LEN 116 /* revision 1 */
#define MADT_MAX (DSDT_OFF - MADT_OFF)

#define PM_BASE PIIX4_PM_BASE
#define PM1_EVT_BLK (PM_BASE + 0x00)
#define PM1_CNT_BLK (PM_BASE + 0x04)
#define PM_TMR_BLK (PM_BASE + 0x08)
#define GPE0_BLK (PM_BASE + 0x0c)

#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_SLP_BUTTON (1u << 5)
#define FADT_RTC_S4 (1u << 7)
#define RTC_CENTURY 0x32

/* AML opcodes. */
#define ZERO_OP 0x00
#define ONE_OP 0x01
#define NAME_OP 0x08
#define BYTE_PREFIX 0x0a
#define WORD_PREFIX 0x0b
#define DWORD_PREFIX 0x0c
#define SCOPE_OP 0x10
#define BUFFER_OP 0x11
#define PACKAGE_OP 0x12
#define METHOD_OP 0x14
#define DUAL_NAME_PREFIX 0x2e
#define MULTI_NAME_PREFIX 0x2f
#define EXT_OP_PREFIX 0x5b
#define ARG0_OP 0x68
#define STORE_OP 0x70
#define AND_OP 0x7b
#define OR_OP 0x7d
#define CREATE_DWORD_FIELD_OP 0x8a
#define LLESS_OP 0x95
#define IF_OP 0xa0
#define RETURN_OP 0xa4
#define EXT_OP_REGION 0x80
#define EXT_FIELD 0x81
#define EXT_DEVICE 0x82
#define EXT_PROCESSOR 0x83
#define REGION_PCI_CONFIG 0x02
#define FIELD_BYTE_ACC 0x01 /* ByteAcc, NoLock, Preserve */
#define METHOD_SERIALIZED 0x08

/* ---- little-endian stores and table headers ---- */

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;

    while (n--)
        sum = (uint8_t)(sum + *p++);
    return (uint8_t)-sum;
}

/* The common header; call once the table body is in place (the checksum covers it). */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    t[9] = 0;
    memcpy(t + 10, OEM_ID, 6);
    memcpy(t + 16, OEM_TABLE_ID, 8);
    put32(t + 24, 1);
    memcpy(t + 28, CREATOR_ID, 4);
    put32(t + 32, 1);
    t[9] = checksum(t, len);
}

/* ---- an AML byte stream ---- */

struct aml {
    uint8_t *buf;
    size_t len, cap;
    bool overflow;
};

static void emit(struct aml *a, const void *p, size_t n)
{
    if (a->overflow || n > a->cap - a->len) {
        a->overflow = true;
        return;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static void emit8(struct aml *a, uint8_t b)
{
    emit(a, &b, 1);
}

static void emit32(struct aml *a, uint32_t v)
{
    uint8_t b[4];

    put32(b, v);
    emit(a, b, 4);
}

/* A PkgLength counts itself: body_len + its own 1-4 bytes, in the shortest encoding. */
static void close_pkg(struct aml *a, size_t start)
{
    size_t body = a->len - start, total = 0;
    unsigned n;

    if (a->overflow)
        return;
    for (n = 1; n <= 4; n++) {
        total = body + n;
        if (total < (n == 1 ? 0x40u : 1u << (4 + 8 * (n - 1))))
            break;
    }
    assert(n <= 4);
    if (n > a->cap - a->len) {
        a->overflow = true;
        return;
    }
    memmove(a->buf + start + n, a->buf + start, body);
    if (n == 1) {
        a->buf[start] = (uint8_t)total;
    } else {
        a->buf[start] = (uint8_t)((n - 1) << 6 | (total & 0xf));
        for (unsigned i = 1; i < n; i++)
            a->buf[start + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
    }
    a->len += n;
}

/* "\_SB_.PCI0.ISA" -> RootChar, MultiNamePrefix, padded NameSegs. */
static void name_string(struct aml *a, const char *path)
{
    const char *p = path;
    unsigned segs = 1;

    if (*p == '\\')
        emit8(a, *p++);
    while (*p == '^')
        emit8(a, *p++);
    if (!*p) {
        emit8(a, ZERO_OP); /* NullName */
        return;
    }
    for (const char *q = p; *q; q++)
        segs += *q == '.';
    if (segs == 2) {
        emit8(a, DUAL_NAME_PREFIX);
    } else if (segs > 2) {
        emit8(a, MULTI_NAME_PREFIX);
        emit8(a, (uint8_t)segs);
    }
    while (*p) {
        char seg[4] = {'_', '_', '_', '_'};
        unsigned n = 0;

        while (*p && *p != '.') {
            assert(n < 4);
            seg[n++] = *p++;
        }
        assert(n > 0);
        emit(a, seg, 4);
        if (*p == '.')
            p++;
    }
}

static void integer(struct aml *a, uint32_t v)
{
    if (v == 0 || v == 1) {
        emit8(a, v ? ONE_OP : ZERO_OP);
    } else if (v <= 0xff) {
        emit8(a, BYTE_PREFIX);
        emit8(a, (uint8_t)v);
    } else if (v <= 0xffff) {
        emit8(a, WORD_PREFIX);
        emit8(a, (uint8_t)v);
        emit8(a, (uint8_t)(v >> 8));
    } else {
        emit8(a, DWORD_PREFIX);
        emit32(a, v);
    }
}

static uint32_t eisaid(const char *id)
{
    uint32_t v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
                 (uint32_t)(id[2] - 0x40) << 16 | (uint32_t)strtoul(id + 3, NULL, 16);

    return __builtin_bswap32(v); /* stored big-endian: "PNP" first */
}

static void name_int(struct aml *a, const char *name, uint32_t v)
{
    emit8(a, NAME_OP);
    name_string(a, name);
    integer(a, v);
}

static void buffer(struct aml *a, const uint8_t *bytes, size_t n)
{
    size_t start;

    emit8(a, BUFFER_OP);
    start = a->len;
    integer(a, (uint32_t)n);
    emit(a, bytes, n);
    close_pkg(a, start);
}

/* Scope/Device/Processor/Method: opcode, then PkgLength over the name and the body. */
static size_t begin(struct aml *a, bool ext, uint8_t op, const char *name)
{
    size_t start;

    if (ext)
        emit8(a, EXT_OP_PREFIX);
    emit8(a, op);
    start = a->len;
    name_string(a, name);
    return start;
}

static size_t method(struct aml *a, const char *name, uint8_t flags)
{
    size_t start = begin(a, false, METHOD_OP, name);

    emit8(a, flags);
    return start;
}

/* ---- resource templates ---- */

struct res {
    uint8_t b[128];
    size_t n;
};

static void res_bytes(struct res *r, const uint8_t *p, size_t n)
{
    assert(r->n + n <= sizeof(r->b) - 2);
    memcpy(r->b + r->n, p, n);
    r->n += n;
}

static void res_io(struct res *r, uint16_t port, uint8_t len)
{
    uint8_t d[8] = {0x47, 0x01, 0, 0, 0, 0, 0x01, len}; /* Decode16, alignment 1 */

    put16(d + 2, port);
    put16(d + 4, port);
    res_bytes(r, d, sizeof(d));
}

static void res_irq(struct res *r, int irq)
{
    uint8_t d[3] = {0x22, 0, 0}; /* IRQNoFlags: edge, active high, exclusive */

    put16(d + 1, 1u << irq);
    res_bytes(r, d, sizeof(d));
}

/* Word address space descriptor: a window the bridge passes down (ResourceProducer,
 * MinFixed, MaxFixed, PosDecode). type 1: I/O (EntireRange), 2: bus numbers. */
static void res_word(struct res *r, uint8_t type, uint16_t min, uint16_t max)
{
    uint8_t d[16] = {0x88, 0x0d, 0x00, type, 0x0c, type == 1 ? 0x03 : 0x00};

    put16(d + 8, min);
    put16(d + 10, max);
    put16(d + 14, (uint16_t)(max - min + 1));
    res_bytes(r, d, sizeof(d));
}

/* DWord memory window: tflags bit 0 read-write, bits 2:1 cacheability. */
static void res_dword_mem(struct res *r, uint8_t tflags, uint32_t min, uint32_t max)
{
    uint8_t d[26] = {0x87, 0x17, 0x00, 0x00, 0x0c, tflags};

    put32(d + 10, min);
    put32(d + 14, max);
    put32(d + 22, max - min + 1);
    res_bytes(r, d, sizeof(d));
}

/* Extended interrupt descriptor: consumer, level, active high, shared. */
static void res_ext_irq(struct res *r, const uint8_t *irqs, unsigned n)
{
    uint8_t d[3 + 2 + 4 * 4] = {0x89, 0, 0, 0x09, (uint8_t)n};

    assert(n <= 4);
    put16(d + 1, 2 + 4 * n);
    for (unsigned i = 0; i < n; i++)
        put32(d + 5 + 4 * i, irqs[i]);
    res_bytes(r, d, 5 + 4 * n);
}

static void res_end(struct res *r)
{
    r->b[r->n++] = 0x79;
    r->b[r->n++] = 0x00; /* checksum 0: "treat as valid" */
}

static void name_res(struct aml *a, const char *name, struct res *r)
{
    res_end(r);
    emit8(a, NAME_OP);
    name_string(a, name);
    buffer(a, r->b, r->n);
}

/* ---- the DSDT ---- */

static const uint8_t link_irqs[] = {5, 10, 11};

static void pci0_crs(struct aml *a, struct machine *m)
{
    struct res r = {0};
    uint32_t hole = m->ram_size < ACPI_PCI_HOLE_END ? (uint32_t)m->ram_size : ACPI_PCI_HOLE_END;

    res_word(&r, 2, 0x00, 0xff);
    res_io(&r, 0xcf8, 8); /* consumed by the bridge itself */
    res_word(&r, 1, 0x0000, 0x0cf7);
    res_word(&r, 1, 0x0d00, 0xffff);
    res_dword_mem(&r, 0x03, 0x000a0000, 0x000bffff); /* cacheable: VGA memory */
    res_dword_mem(&r, 0x01, hole, ACPI_PCI_HOLE_END);
    name_res(a, "_CRS", &r);
}

static void pci0_prt(struct aml *a)
{
    size_t pkg, entry;

    emit8(a, NAME_OP);
    name_string(a, "_PRT");
    emit8(a, PACKAGE_OP);
    pkg = a->len;
    emit8(a, (PCI_DEVICES - 1) * 4);
    for (uint32_t d = 1; d < PCI_DEVICES; d++)
        for (uint32_t pin = 0; pin < 4; pin++) {
            char link[5] = "LNKA";

            link[3] = (char)('A' + ((d + pin - 1) & 3));
            emit8(a, PACKAGE_OP);
            entry = a->len;
            emit8(a, 4);
            integer(a, d << 16 | 0xffff);
            integer(a, pin);
            name_string(a, link);
            integer(a, 0);
            close_pkg(a, entry);
        }
    close_pkg(a, pkg);
}

static void isa_device(struct aml *a, const char *name, const char *hid, int uid, struct res *r)
{
    size_t dev = begin(a, true, EXT_DEVICE, name);

    name_int(a, "_HID", eisaid(hid));
    if (uid >= 0)
        name_int(a, "_UID", (uint32_t)uid);
    name_res(a, "_CRS", r);
    close_pkg(a, dev);
}

static void isa_bridge(struct aml *a, struct machine *m)
{
    static const char *const com[2] = {"COM1", "COM2"};
    static const uint16_t com_port[2] = {0x3f8, 0x2f8};
    static const int com_irq[2] = {4, 3};
    size_t dev = begin(a, true, EXT_DEVICE, "ISA"), field;
    struct res r;

    name_int(a, "_ADR", PIIX4_DEV << 16 | PIIX4_FN_ISA);

    /* OperationRegion (PIRQ, PCI_Config, 0x60, 4) and a byte field per PIRQRC register. */
    emit8(a, EXT_OP_PREFIX);
    emit8(a, EXT_OP_REGION);
    name_string(a, "PIRQ");
    emit8(a, REGION_PCI_CONFIG);
    integer(a, 0x60);
    integer(a, 4);
    emit8(a, EXT_OP_PREFIX);
    emit8(a, EXT_FIELD);
    field = a->len;
    name_string(a, "PIRQ");
    emit8(a, FIELD_BYTE_ACC);
    for (int i = 0; i < PCI_PIRQS; i++) {
        char seg[4] = {'P', 'R', 'Q', (char)('A' + i)};

        emit(a, seg, 4);
        emit8(a, 8); /* bits */
    }
    close_pkg(a, field);

    r = (struct res){0};
    res_io(&r, 0x70, 2);
    res_irq(&r, 8);
    isa_device(a, "RTC", "PNP0B00", -1, &r);
    r = (struct res){0};
    res_io(&r, 0x60, 1);
    res_io(&r, 0x64, 1);
    res_irq(&r, 1);
    isa_device(a, "KBD", "PNP0303", -1, &r);
    r = (struct res){0};
    res_irq(&r, 12);
    isa_device(a, "MOU", "PNP0F13", -1, &r);
    for (int i = 0; i < 2; i++) {
        if (!m->serial[i])
            continue;
        r = (struct res){0};
        res_io(&r, com_port[i], 8);
        res_irq(&r, com_irq[i]);
        isa_device(a, com[i], "PNP0501", i + 1, &r);
    }
    close_pkg(a, dev);
}

/* Helpers for the links: IQST(PIRQRC value) -> _STA, IQCR(PIRQRC value) -> _CRS buffer. */
static void link_helpers(struct aml *a)
{
    struct res r = {0};
    uint8_t none = 0;
    size_t mth, cond;

    /* Method (IQST, 1) { If (And (Arg0, 0x80)) { Return (0x09) } Return (0x0B) } */
    mth = method(a, "IQST", 1);
    emit8(a, IF_OP);
    cond = a->len;
    emit8(a, AND_OP);
    emit8(a, ARG0_OP);
    integer(a, 0x80);
    emit8(a, ZERO_OP); /* no target */
    emit8(a, RETURN_OP);
    integer(a, 0x09); /* present, functioning, disabled */
    close_pkg(a, cond);
    emit8(a, RETURN_OP);
    integer(a, 0x0b); /* present, enabled, functioning */
    close_pkg(a, mth);

    /* Method (IQCR, 1, Serialized) { Name (PRR0, ResourceTemplate () { Interrupt {0} })
     *   CreateDWordField (PRR0, 5, PRRI)
     *   If (LLess (Arg0, 0x80)) { Store (And (Arg0, 0x0F), PRRI) }  Return (PRR0) } */
    mth = method(a, "IQCR", 1 | METHOD_SERIALIZED);
    res_ext_irq(&r, &none, 1);
    name_res(a, "PRR0", &r);
    emit8(a, CREATE_DWORD_FIELD_OP);
    name_string(a, "PRR0");
    integer(a, 5);
    name_string(a, "PRRI");
    emit8(a, IF_OP);
    cond = a->len;
    emit8(a, LLESS_OP);
    emit8(a, ARG0_OP);
    integer(a, 0x80);
    emit8(a, STORE_OP);
    emit8(a, AND_OP);
    emit8(a, ARG0_OP);
    integer(a, 0x0f);
    emit8(a, ZERO_OP);
    name_string(a, "PRRI");
    close_pkg(a, cond);
    emit8(a, RETURN_OP);
    name_string(a, "PRR0");
    close_pkg(a, mth);
}

static void link_device(struct aml *a, int i)
{
    char name[5] = "LNKA", prq[] = "\\_SB_.PCI0.ISA_.PRQA";
    struct res r = {0};
    size_t dev, mth;

    name[3] = (char)('A' + i);
    prq[sizeof(prq) - 2] = (char)('A' + i);
    dev = begin(a, true, EXT_DEVICE, name);
    name_int(a, "_HID", eisaid("PNP0C0F"));
    name_int(a, "_UID", (uint32_t)i + 1);
    res_ext_irq(&r, link_irqs, sizeof(link_irqs));
    name_res(a, "_PRS", &r);

    mth = method(a, "_STA", 0); /* Return (IQST (PRQx)) */
    emit8(a, RETURN_OP);
    name_string(a, "IQST");
    name_string(a, prq);
    close_pkg(a, mth);

    mth = method(a, "_DIS", 0); /* Or (PRQx, 0x80, PRQx): IRQROUTEN */
    emit8(a, OR_OP);
    name_string(a, prq);
    integer(a, 0x80);
    name_string(a, prq);
    close_pkg(a, mth);

    mth = method(a, "_CRS", 0); /* Return (IQCR (PRQx)) */
    emit8(a, RETURN_OP);
    name_string(a, "IQCR");
    name_string(a, prq);
    close_pkg(a, mth);

    /* Method (_SRS, 1, Serialized) { CreateDWordField (Arg0, 5, PRRI) Store (PRRI, PRQx) } */
    mth = method(a, "_SRS", 1 | METHOD_SERIALIZED);
    emit8(a, CREATE_DWORD_FIELD_OP);
    emit8(a, ARG0_OP);
    integer(a, 5);
    name_string(a, "PRRI");
    emit8(a, STORE_OP);
    name_string(a, "PRRI");
    name_string(a, prq);
    close_pkg(a, mth);
    close_pkg(a, dev);
}

size_t acpi__dsdt(struct machine *m, uint8_t *buf, size_t cap)
{
    struct aml a = {.buf = buf, .cap = cap};
    size_t scope, dev;

    if (cap < HEADER_LEN)
        return 0;
    memset(buf, 0, HEADER_LEN);
    a.len = HEADER_LEN;

    /* Name (\_S5, Package (4) { 0, 0, 0, 0 }) */
    emit8(&a, NAME_OP);
    name_string(&a, "\\_S5_");
    emit8(&a, PACKAGE_OP);
    scope = a.len;
    emit8(&a, 4);
    for (int i = 0; i < 4; i++)
        integer(&a, PIIX4_SLP_TYP_S5);
    close_pkg(&a, scope);

    /* Scope (\_PR) { Processor (CPU0, 0, 0, 0) {} } */
    scope = begin(&a, false, SCOPE_OP, "\\_PR_");
    dev = begin(&a, true, EXT_PROCESSOR, "CPU0");
    emit8(&a, 0);  /* ProcID: the MADT's ACPI processor ID */
    emit32(&a, 0); /* no P_BLK */
    emit8(&a, 0);
    close_pkg(&a, dev);
    close_pkg(&a, scope);

    scope = begin(&a, false, SCOPE_OP, "\\_SB_");
    dev = begin(&a, true, EXT_DEVICE, "PCI0");
    name_int(&a, "_HID", eisaid("PNP0A03"));
    name_int(&a, "_ADR", 0);
    name_int(&a, "_BBN", 0);
    name_int(&a, "_UID", 0);
    pci0_crs(&a, m);
    pci0_prt(&a);
    isa_bridge(&a, m);
    close_pkg(&a, dev);
    link_helpers(&a);
    for (int i = 0; i < PCI_PIRQS; i++)
        link_device(&a, i);
    close_pkg(&a, scope);

    if (a.overflow)
        return 0;
    header(buf, "DSDT", (uint32_t)a.len, 1);
    return a.len;
}

/* ---- the other tables ---- */

static void build_fadt(uint8_t *t, uint32_t facs, uint32_t dsdt)
{
    put32(t + 36, facs); /* FIRMWARE_CTRL */
    put32(t + 40, dsdt); /* DSDT */
    t[44] = 1;           /* INT_MODEL: multiple APIC */
    put16(t + 46, PIIX4_SCI_IRQ);
    put32(t + 48, 0);           /* SMI_CMD: none, ACPI is always on */
    put32(t + 56, PM1_EVT_BLK); /* PM1a_EVT_BLK */
    put32(t + 64, PM1_CNT_BLK); /* PM1a_CNT_BLK */
    put32(t + 76, PM_TMR_BLK);  /* PM_TMR_BLK */
    put32(t + 80, GPE0_BLK);    /* GPE0_BLK */
    t[88] = 4;                  /* PM1_EVT_LEN */
    t[89] = 2;                  /* PM1_CNT_LEN */
    t[91] = 4;                  /* PM_TM_LEN */
    t[92] = 4;                  /* GPE0_BLK_LEN */
    put16(t + 96, 0x0fff);      /* P_LVL2_LAT: no C2 */
    put16(t + 98, 0x0fff);      /* P_LVL3_LAT: no C3 */
    t[108] = RTC_CENTURY;
    put32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RTC_S4);
    header(t, "FACP", FADT_LEN, 1);
}

static uint32_t build_madt(uint8_t *t)
{
    static const struct {
        uint8_t irq;
        uint32_t gsi;
        uint16_t flags; /* MPS INTI flags: polarity 1:0, trigger 3:2 */
    } iso[] = {{0, 2, 0x0000}, {9, 9, 0x000d}, {5, 5, 0x000d}, {10, 10, 0x000d}, {11, 11, 0x000d}};
    uint32_t n = 44;

    put32(t + 36, ACPI_LAPIC_ADDR);
    put32(t + 40, 1); /* PCAT_COMPAT: the 8259s are there */

    t[n] = 0; /* processor local APIC */
    t[n + 1] = 8;
    t[n + 2] = 0;        /* ACPI processor ID (\_PR.CPU0) */
    t[n + 3] = 0;        /* APIC ID */
    put32(t + n + 4, 1); /* enabled */
    n += 8;

    t[n] = 1; /* I/O APIC */
    t[n + 1] = 12;
    t[n + 2] = ACPI_IOAPIC_ID;
    t[n + 3] = 0;
    put32(t + n + 4, ACPI_IOAPIC_ADDR);
    put32(t + n + 8, 0); /* GSI base */
    n += 12;

    for (size_t i = 0; i < sizeof(iso) / sizeof(iso[0]); i++) {
        t[n] = 2; /* interrupt source override */
        t[n + 1] = 10;
        t[n + 2] = 0; /* ISA */
        t[n + 3] = iso[i].irq;
        put32(t + n + 4, iso[i].gsi);
        put16(t + n + 8, iso[i].flags);
        n += 10;
    }

    t[n] = 4; /* local APIC NMI */
    t[n + 1] = 6;
    t[n + 2] = 0xff; /* all processors */
    put16(t + n + 3, 0);
    t[n + 5] = 1; /* LINT1 */
    n += 6;

    assert(n <= MADT_MAX);
    header(t, "APIC", n, 1);
    return n;
}

void acpi__e820_reserved(struct machine *m, uint32_t *base, uint32_t *len)
{
    if (m->ram_size < MIN_RAM) {
        *base = *len = 0;
        return;
    }
    *base = (uint32_t)m->ram_size - ACPI_REGION_SIZE;
    *len = ACPI_REGION_SIZE;
}

int acpi__build(struct machine *m, uint32_t *rsdp_addr, char *err, size_t errlen)
{
    uint32_t base, len;
    uint8_t *t, *dst;
    size_t dsdt_len;

    acpi__e820_reserved(m, &base, &len);
    dst = len ? machine__gpa(m, base, len) : NULL;
    if (!dst) {
        snprintf(err, errlen, "ACPI tables need at least %u MiB of guest RAM (-m)", MIN_RAM >> 20);
        return -1;
    }
    if (!pci__function(m, PIIX4_DEV, PIIX4_FN_PM)) {
        snprintf(err, errlen,
                 "ACPI tables describe the PIIX4 power-management function, "
                 "which this machine lacks");
        return -1;
    }
    t = calloc(1, len);
    if (!t) {
        snprintf(err, errlen, "out of memory building the ACPI tables");
        return -1;
    }
    dsdt_len = acpi__dsdt(m, t + DSDT_OFF, len - DSDT_OFF);
    if (!dsdt_len) {
        free(t);
        snprintf(err, errlen, "the DSDT does not fit in the %u-byte ACPI region", len);
        return -1;
    }

    memcpy(t + FACS_OFF, "FACS", 4);
    put32(t + FACS_OFF + 4, FACS_LEN);

    build_fadt(t + FADT_OFF, base + FACS_OFF, base + DSDT_OFF);
    build_madt(t + MADT_OFF);

    put32(t + RSDT_OFF + HEADER_LEN, base + FADT_OFF);
    put32(t + RSDT_OFF + HEADER_LEN + 4, base + MADT_OFF);
    header(t + RSDT_OFF, "RSDT", RSDT_LEN, 1);

    memcpy(t + RSDP_OFF, "RSD PTR ", 8);
    memcpy(t + RSDP_OFF + 9, OEM_ID, 6);
    t[RSDP_OFF + 15] = 0; /* revision 0: ACPI 1.0, RSDT only */
    put32(t + RSDP_OFF + 16, base + RSDT_OFF);
    t[RSDP_OFF + 8] = checksum(t + RSDP_OFF, RSDP_LEN);

    piix4__firmware_setup(m);
    memcpy(dst, t, len);
    free(t);
    *rsdp_addr = base + RSDP_OFF;
    return 0;
}
