/*
 * monitor/acpi: the tables acpi__build() leaves in guest RAM, read back as an OS would:
 * RSDP -> RSDT -> FADT (-> FACS, DSDT) and MADT, with signatures, lengths, revisions and
 * checksums; the FADT's PIIX4 addresses; the MADT's entries; and a structural walk of the
 * DSDT's AML (every PkgLength must tile its parent exactly) that finds the named objects and
 * decodes _PRT and \_S5. When iasl (Debian's acpica-tools) is installed, the DSDT is also
 * disassembled with it; without it that test passes and says it was skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/piix4.h"
#include "fixture.h"
#include "monitor/acpi.h"

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;

    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static const uint8_t *guest(uint32_t addr, uint32_t len)
{
    const uint8_t *p = machine__gpa(fx, addr, len);

    ck_assert_ptr_nonnull(p);
    return p;
}

/* A table at addr with this signature: length sane, checksum zero, inside the region. */
static const uint8_t *table(uint32_t addr, const char *sig, uint8_t rev)
{
    uint32_t base, len;
    const uint8_t *t = guest(addr, 36);

    acpi__e820_reserved(fx, &base, &len);
    ck_assert_mem_eq(t, sig, 4);
    ck_assert_uint_ge(rd32(t + 4), 36);
    ck_assert_uint_ge(addr, base);
    ck_assert_uint_le(addr + rd32(t + 4), base + len);
    t = guest(addr, rd32(t + 4));
    ck_assert_uint_eq(sum(t, rd32(t + 4)), 0);
    ck_assert_uint_eq(t[8], rev);
    ck_assert_mem_eq(t + 10, "TACHYN", 6);
    return t;
}

static uint32_t build(void)
{
    char err[256] = "";
    uint32_t rsdp = 0;

    ck_assert_msg(acpi__build(fx, &rsdp, err, sizeof(err)) == 0, "acpi__build: %s", err);
    return rsdp;
}

static const uint8_t *fadt_of(uint32_t rsdp)
{
    const uint8_t *r = guest(rsdp, 20), *rsdt = table(rd32(r + 16), "RSDT", 1);

    return table(rd32(rsdt + 36), "FACP", 1);
}

START_TEST(rsdp_and_rsdt)
{
    uint32_t rsdp = build(), base, len;
    const uint8_t *r = guest(rsdp, 20), *rsdt;

    acpi__e820_reserved(fx, &base, &len);
    ck_assert_uint_eq(base, (32u << 20) - ACPI_REGION_SIZE);
    ck_assert_uint_eq(len, ACPI_REGION_SIZE);
    ck_assert_uint_eq(rsdp, base);
    ck_assert_uint_eq(rsdp % 16, 0);
    ck_assert_mem_eq(r, "RSD PTR ", 8);
    ck_assert_uint_eq(sum(r, 20), 0);
    ck_assert_uint_eq(r[15], 0); /* ACPI 1.0: RSDT, no XSDT */
    rsdt = table(rd32(r + 16), "RSDT", 1);
    ck_assert_uint_eq(rd32(rsdt + 4), 36 + 8);
    table(rd32(rsdt + 36), "FACP", 1);
    table(rd32(rsdt + 40), "APIC", 1);
}
END_TEST

START_TEST(fadt_describes_the_piix4)
{
    const uint8_t *f = fadt_of(build()), *facs;

    ck_assert_uint_eq(rd32(f + 4), 116); /* revision 1 layout */
    facs = guest(rd32(f + 36), 64);
    ck_assert_mem_eq(facs, "FACS", 4);
    ck_assert_uint_eq(rd32(facs + 4), 64);
    ck_assert_uint_eq(rd32(f + 36) % 64, 0);
    table(rd32(f + 40), "DSDT", 1);
    ck_assert_uint_eq(rd16(f + 46), 9);     /* SCI_INT */
    ck_assert_uint_eq(rd32(f + 48), 0);     /* SMI_CMD: ACPI always on */
    ck_assert_uint_eq(rd32(f + 56), 0x600); /* PM1a_EVT_BLK */
    ck_assert_uint_eq(rd32(f + 60), 0);
    ck_assert_uint_eq(rd32(f + 64), 0x604); /* PM1a_CNT_BLK */
    ck_assert_uint_eq(rd32(f + 76), 0x608); /* PM_TMR_BLK */
    ck_assert_uint_eq(rd32(f + 80), 0x60c); /* GPE0_BLK */
    ck_assert_uint_eq(f[88], 4);
    ck_assert_uint_eq(f[89], 2);
    ck_assert_uint_eq(f[91], 4);
    ck_assert_uint_eq(f[92], 4);
    ck_assert_uint_eq(f[108], 0x32);
    ck_assert_uint_eq(rd32(f + 112), 0xa5); /* WBINVD PROC_C1 SLP_BUTTON RTC_S4, 24-bit timer */

    /* What it says is there: the PIIX4 was programmed to match. */
    ck_assert_uint_eq(bus__pio_read(fx, 0x604, 2), 0x0001); /* SCI_EN */
    ck_assert_uint_le(bus__pio_read(fx, 0x608, 4), 0xffffff);
    ck_assert_uint_eq(bus__pio_read(fx, 0x60c, 4), 0);
}
END_TEST

START_TEST(madt_entries)
{
    uint32_t rsdp = build();
    const uint8_t *r = guest(rsdp, 20), *rsdt = table(rd32(r + 16), "RSDT", 1);
    const uint8_t *t = table(rd32(rsdt + 40), "APIC", 1);
    uint32_t len = rd32(t + 4), n = 44;
    int lapics = 0, ioapics = 0, nmis = 0, overrides = 0;
    uint32_t gsi_of[16];

    for (int i = 0; i < 16; i++)
        gsi_of[i] = (uint32_t)i;
    ck_assert_uint_eq(rd32(t + 36), 0xfee00000);
    ck_assert_uint_eq(rd32(t + 40), 1); /* PCAT_COMPAT */
    while (n < len) {
        const uint8_t *e = t + n;

        ck_assert_uint_ge(e[1], 2);
        ck_assert_uint_le(n + e[1], len);
        switch (e[0]) {
        case 0:
            ck_assert_uint_eq(e[1], 8);
            ck_assert_uint_eq(e[2], 0);
            ck_assert_uint_eq(e[3], 0);
            ck_assert_uint_eq(rd32(e + 4), 1);
            lapics++;
            break;
        case 1:
            ck_assert_uint_eq(e[1], 12);
            ck_assert_uint_eq(e[2], ACPI_IOAPIC_ID);
            ck_assert_uint_eq(rd32(e + 4), 0xfec00000);
            ck_assert_uint_eq(rd32(e + 8), 0);
            ioapics++;
            break;
        case 2:
            ck_assert_uint_eq(e[1], 10);
            ck_assert_uint_eq(e[2], 0);
            ck_assert_uint_lt(e[3], 16);
            gsi_of[e[3]] = rd32(e + 4);
            if (e[3] == 9)
                ck_assert_uint_eq(rd16(e + 8), 0x000d); /* SCI: level, active high */
            overrides++;
            break;
        case 4:
            ck_assert_uint_eq(e[1], 6);
            ck_assert_uint_eq(e[5], 1); /* LINT1 */
            nmis++;
            break;
        default:
            ck_abort_msg("unexpected MADT entry type %u", e[0]);
        }
        n += e[1];
    }
    ck_assert_uint_eq(n, len);
    ck_assert_int_eq(lapics, 1);
    ck_assert_int_eq(ioapics, 1);
    ck_assert_int_eq(nmis, 1);
    ck_assert_int_eq(overrides, 5);
    ck_assert_uint_eq(gsi_of[0], 2); /* the PIT on pin 2 */
    ck_assert_uint_eq(gsi_of[9], 9);
}
END_TEST

/* ---- a walk of the AML ---- */

#define MAX_OBJS 256

struct obj {
    char path[64];
    uint8_t kind;        /* the opcode that made it (0x08 Name, 0x14 Method, 0x82 Device, ...) */
    const uint8_t *data; /* for Name: the data object */
};

static struct obj objs[MAX_OBJS];
static int nobjs;

static size_t pkg_length(const uint8_t *p, uint32_t *len)
{
    unsigned n = p[0] >> 6;

    if (n == 0) {
        *len = p[0] & 0x3f;
        return 1;
    }
    ck_assert_uint_eq(p[0] & 0x30, 0);
    *len = p[0] & 0x0f;
    for (unsigned i = 1; i <= n; i++)
        *len |= (uint32_t)p[i] << (4 + 8 * (i - 1));
    return n + 1;
}

/* A NameString to "\_SB_.PCI0"-style text; returns the bytes it took. */
static size_t name_string(const uint8_t *p, char *out, size_t cap)
{
    const uint8_t *s = p;
    size_t o = 0;
    unsigned segs;

    while (*s == '\\' || *s == '^')
        out[o++] = (char)*s++;
    if (*s == 0x00) {
        segs = 0;
        s++;
    } else if (*s == 0x2e) {
        segs = 2;
        s++;
    } else if (*s == 0x2f) {
        segs = s[1];
        s += 2;
    } else {
        segs = 1;
    }
    for (unsigned i = 0; i < segs; i++) {
        ck_assert_uint_lt(o + 5, cap);
        if (i)
            out[o++] = '.';
        for (int k = 0; k < 4; k++) {
            ck_assert(s[k] == '_' || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9'));
            out[o++] = (char)s[k];
        }
        s += 4;
    }
    out[o] = 0;
    return (size_t)(s - p);
}

/* The length of a data object (the ones a Name here can hold). */
static size_t data_object(const uint8_t *p)
{
    uint32_t len;

    switch (p[0]) {
    case 0x00:
    case 0x01:
    case 0xff:
        return 1;
    case 0x0a:
        return 2;
    case 0x0b:
        return 3;
    case 0x0c:
        return 5;
    case 0x0d:
        return strlen((const char *)p + 1) + 2;
    case 0x11:
    case 0x12:
        pkg_length(p + 1, &len);
        return 1 + len;
    }
    ck_abort_msg("unexpected data object opcode 0x%02x", p[0]);
    return 0;
}

static void add(const char *scope, const char *name, uint8_t kind, const uint8_t *data)
{
    struct obj *o;

    ck_assert_int_lt(nobjs, MAX_OBJS);
    o = &objs[nobjs++];
    if (name[0] == '\\')
        snprintf(o->path, sizeof(o->path), "%s", name);
    else
        snprintf(o->path, sizeof(o->path), "%s.%s", scope, name);
    o->kind = kind;
    o->data = data;
}

static const struct obj *find(const char *path)
{
    for (int i = 0; i < nobjs; i++)
        if (!strcmp(objs[i].path, path))
            return &objs[i];
    return NULL;
}

static void walk(const uint8_t *p, const uint8_t *end, const char *scope)
{
    char name[64], inner[64];
    uint32_t len;
    size_t n;

    while (p < end) {
        const uint8_t *start = p;

        switch (p[0]) {
        case 0x08: /* Name */
            p += 1 + name_string(p + 1, name, sizeof(name));
            add(scope, name, 0x08, p);
            p += data_object(p);
            break;
        case 0x10: /* Scope */
        case 0x14: /* Method */
            n = pkg_length(p + 1, &len);
            ck_assert(p + 1 + len <= end);
            name_string(p + 1 + n, name, sizeof(name));
            add(scope, name, p[0], NULL);
            if (p[0] == 0x10)
                walk(p + 1 + n + name_string(p + 1 + n, name, sizeof(name)), p + 1 + len, name);
            p += 1 + len;
            break;
        case 0x5b:                                              /* extended */
            if (p[1] == 0x82 || p[1] == 0x83 || p[1] == 0x81) { /* Device, Processor, Field */
                const uint8_t *body;

                n = pkg_length(p + 2, &len);
                ck_assert(p + 2 + len <= end);
                body = p + 2 + n + name_string(p + 2 + n, name, sizeof(name));
                if (p[1] != 0x81) {
                    add(scope, name, p[1], NULL);
                    snprintf(inner, sizeof(inner), "%s", objs[nobjs - 1].path);
                    walk(body + (p[1] == 0x83 ? 6 : 0), p + 2 + len, inner);
                } else {
                    /* Field: flags, then (NameSeg, bit length) pairs. */
                    for (const uint8_t *q = body + 1; q < p + 2 + len;) {
                        uint32_t bits;
                        char seg[5] = {0};

                        memcpy(seg, q, 4);
                        q += 4 + pkg_length(q + 4, &bits);
                        ck_assert_uint_eq(bits, 8);
                        add(scope, seg, 0x81, NULL);
                    }
                }
                p += 2 + len;
            } else if (p[1] == 0x80) { /* OperationRegion */
                p += 2 + name_string(p + 2, name, sizeof(name));
                add(scope, name, 0x80, NULL);
                ck_assert_uint_eq(p[0], 0x02); /* PCI_Config */
                p += 1;
                p += data_object(p);
                p += data_object(p);
            } else {
                ck_abort_msg("unexpected extended opcode 0x%02x in %s", p[1], scope);
            }
            break;
        default:
            ck_abort_msg("unexpected opcode 0x%02x at the top of %s", p[0], scope);
        }
        ck_assert(p > start);
    }
    ck_assert_ptr_eq(p, end);
}

static const uint8_t *dsdt(void)
{
    return table(rd32(fadt_of(build()) + 40), "DSDT", 1);
}

static void walk_dsdt(const uint8_t *t)
{
    nobjs = 0;
    walk(t + 36, t + rd32(t + 4), "");
}

START_TEST(dsdt_objects)
{
    static const char *const expect[] = {
        "\\_S5_",
        "\\_PR_",
        "\\_PR_.CPU0",
        "\\_SB_",
        "\\_SB_.PCI0",
        "\\_SB_.PCI0._HID",
        "\\_SB_.PCI0._ADR",
        "\\_SB_.PCI0._BBN",
        "\\_SB_.PCI0._CRS",
        "\\_SB_.PCI0._PRT",
        "\\_SB_.PCI0.ISA_",
        "\\_SB_.PCI0.ISA_._ADR",
        "\\_SB_.PCI0.ISA_.PIRQ",
        "\\_SB_.PCI0.ISA_.PRQA",
        "\\_SB_.PCI0.ISA_.PRQD",
        "\\_SB_.PCI0.ISA_.RTC_._HID",
        "\\_SB_.PCI0.ISA_.KBD_._CRS",
        "\\_SB_.PCI0.ISA_.MOU_._HID",
        "\\_SB_.PCI0.ISA_.COM1._UID",
        "\\_SB_.PCI0.ISA_.COM2._CRS",
        "\\_SB_.IQST",
        "\\_SB_.IQCR",
        "\\_SB_.LNKA._HID",
        "\\_SB_.LNKB._PRS",
        "\\_SB_.LNKC._STA",
        "\\_SB_.LNKD._CRS",
        "\\_SB_.LNKD._SRS",
        "\\_SB_.LNKD._DIS",
    };
    const struct obj *o;

    walk_dsdt(dsdt());
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        ck_assert_msg(find(expect[i]), "%s missing from the DSDT", expect[i]);
    o = find("\\_SB_.PCI0._HID");
    ck_assert_uint_eq(o->data[0], 0x0c);
    ck_assert_uint_eq(rd32(o->data + 1), 0x030ad041); /* EisaId ("PNP0A03") */
    o = find("\\_SB_.LNKA._HID");
    ck_assert_uint_eq(rd32(o->data + 1), 0x0f0cd041); /* PNP0C0F */
    o = find("\\_SB_.PCI0.ISA_._ADR");
    ck_assert_uint_eq(rd32(o->data + 1), 0x00010000);
    ck_assert_uint_eq(find("\\_SB_.LNKD._SRS")->kind, 0x14);
    ck_assert_uint_eq(find("\\_PR_.CPU0")->kind, 0x83);
}
END_TEST

START_TEST(dsdt_s5_and_prt)
{
    const struct obj *o;
    const uint8_t *p, *end;
    uint32_t len;
    int entries = 0;

    walk_dsdt(dsdt());
    /* \_S5 = Package (4) { 0, 0, 0, 0 }: SLP_TYP for the PIIX4's soft off. */
    o = find("\\_S5_");
    ck_assert_uint_eq(o->data[0], 0x12);
    p = o->data + 1 + pkg_length(o->data + 1, &len);
    ck_assert_uint_eq(p[0], 4);
    for (int i = 1; i <= 4; i++)
        ck_assert_uint_eq(p[i], PIIX4_SLP_TYP_S5);

    o = find("\\_SB_.PCI0._PRT");
    ck_assert_uint_eq(o->data[0], 0x12);
    p = o->data + 1 + pkg_length(o->data + 1, &len);
    end = o->data + 1 + len;
    ck_assert_uint_eq(*p++, 31 * 4);
    while (p < end) {
        uint32_t elen, addr, pin;
        const uint8_t *e, *eend;
        char link[64];

        ck_assert_uint_eq(p[0], 0x12);
        e = p + 1 + pkg_length(p + 1, &elen);
        eend = p + 1 + elen;
        ck_assert_uint_eq(*e++, 4);
        ck_assert_uint_eq(e[0], 0x0c);
        addr = rd32(e + 1);
        e += 5;
        pin = e[0] == 0x0a ? e[1] : e[0];
        e += e[0] == 0x0a ? 2 : 1;
        e += name_string(e, link, sizeof(link));
        ck_assert_uint_eq(*e++, 0x00); /* source index */
        ck_assert_ptr_eq(e, eend);
        ck_assert_uint_eq(addr & 0xffff, 0xffff);
        ck_assert_uint_lt(pin, 4);
        /* The swizzle of pci.c: device d, pin p -> LNK[(d + p - 1) & 3]. */
        ck_assert_int_eq(link[3], 'A' + (int)(((addr >> 16) + pin - 1) & 3));
        if (addr >> 16 == 3 && pin == 0)
            ck_assert_str_eq(link, "LNKC"); /* the LSI's slot, IRQ 11 after SeaBIOS */
        p = eend;
        entries++;
    }
    ck_assert_int_eq(entries, 124);
}
END_TEST

START_TEST(dsdt_pci0_crs_windows)
{
    const struct obj *o;
    const uint8_t *p, *end;
    uint32_t len;
    int words = 0, dwords = 0;
    uint32_t mem_lo[2] = {0}, mem_hi[2] = {0};

    walk_dsdt(dsdt());
    o = find("\\_SB_.PCI0._CRS");
    ck_assert_uint_eq(o->data[0], 0x11);
    p = o->data + 1 + pkg_length(o->data + 1, &len);
    end = o->data + 1 + len;
    p += data_object(p); /* BufferSize */
    while (p < end && p[0] != 0x79) {
        if (p[0] == 0x88) {
            words++;
            p += 3 + rd16(p + 1);
        } else if (p[0] == 0x87) {
            ck_assert_int_lt(dwords, 2);
            mem_lo[dwords] = rd32(p + 10);
            mem_hi[dwords] = rd32(p + 14);
            ck_assert_uint_eq(rd32(p + 22), mem_hi[dwords] - mem_lo[dwords] + 1);
            dwords++;
            p += 3 + rd16(p + 1);
        } else if (p[0] == 0x47) {
            ck_assert_uint_eq(rd16(p + 2), 0xcf8);
            p += 8;
        } else {
            ck_abort_msg("unexpected resource descriptor 0x%02x", p[0]);
        }
    }
    ck_assert_uint_eq(p[0], 0x79);
    ck_assert_int_eq(words, 3);
    ck_assert_int_eq(dwords, 2);
    ck_assert_uint_eq(mem_lo[0], 0xa0000);
    ck_assert_uint_eq(mem_hi[0], 0xbffff);
    ck_assert_uint_eq(mem_lo[1], 32u << 20); /* the PCI hole starts where RAM ends */
    ck_assert_uint_eq(mem_hi[1], 0xfebfffff);
}
END_TEST

START_TEST(dsdt_disassembles_with_iasl)
{
    const uint8_t *t = dsdt();
    char dir[] = "/tmp/tachyon-acpi-XXXXXX", cmd[1024], path[300];
    FILE *f;
    int rc;

    if (system("command -v iasl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "dsdt_disassembles_with_iasl: iasl not installed, skipped\n");
        return;
    }
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/dsdt.aml", dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(t, 1, rd32(t + 4), f), rd32(t + 4));
    fclose(f);
    /* Disassemble, then check the listing names what we built and recompile it cleanly. */
    snprintf(cmd, sizeof(cmd),
             "cd %s && iasl -d dsdt.aml >log 2>&1 && grep -q PNP0A03 dsdt.dsl && "
             "grep -q '_S5' dsdt.dsl && grep -q LNKD dsdt.dsl && "
             "iasl -p re dsdt.dsl >>log 2>&1",
             dir);
    rc = system(cmd);
    /* acpiexec runs the link methods against a simulated PCI_Config region: _SRS must write
     * the PIRQRC byte that _CRS and _STA then report. */
    if (!rc && system("command -v acpiexec >/dev/null 2>&1") == 0)
        snprintf(cmd, sizeof(cmd),
                 "cd %s && acpiexec -b 'evaluate \\_SB.LNKC._SRS (89 06 00 09 01 0b 00 00 00 79 "
                 "00); evaluate \\_SB.LNKC._CRS; evaluate \\_SB.LNKC._STA; evaluate "
                 "\\_SB.LNKC._DIS; evaluate \\_SB.LNKC._STA' dsdt.aml >exec 2>&1; cat exec >>log; "
                 "grep -q '89 06 00 09 01 0B 00 00 00 79 00' exec && "
                 "grep -q '= 000000000000000B' exec && grep -q '= 0000000000000009' exec && "
                 "! grep -q 'ACPI Error' exec",
                 dir);
    else
        snprintf(cmd, sizeof(cmd), "exit %d", rc ? 1 : 0);
    rc = system(cmd);
    if (rc) {
        snprintf(cmd, sizeof(cmd), "cat %s/log %s/dsdt.dsl >&2", dir, dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(too_little_ram)
{
    struct options opt = {0};
    struct machine *m;
    char err[256] = "";
    uint32_t rsdp = 0, base, len;

    opt.ram_mb = 1;
    opt.machine = "pc";
    m = machine__create(&opt);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(acpi__build(m, &rsdp, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "-m"));
    acpi__e820_reserved(m, &base, &len);
    ck_assert_uint_eq(len, 0);
    machine__destroy(m);
}
END_TEST

START_TEST(dsdt_without_com2)
{
    struct options opt = {0};
    struct machine *m;
    uint8_t buf[8192], small[100];
    size_t n;

    opt.ram_mb = 8;
    opt.machine = "pc";
    opt.serial[0] = "null";
    opt.serial[1] = "none";
    opt.nserial = 2;
    m = machine__create(&opt);
    ck_assert_ptr_nonnull(m);
    n = acpi__dsdt(m, buf, sizeof(buf));
    ck_assert_uint_gt(n, 36);
    ck_assert_uint_eq(sum(buf, n), 0);
    ck_assert_uint_eq(acpi__dsdt(m, small, sizeof(small)), 0); /* too small: 0, no overrun */
    machine__destroy(m);
    nobjs = 0;
    walk(buf + 36, buf + n, "");
    ck_assert_ptr_nonnull(find("\\_SB_.PCI0.ISA_.COM1"));
    ck_assert_ptr_null(find("\\_SB_.PCI0.ISA_.COM2"));
}
END_TEST

static Suite *acpi_suite(void)
{
    Suite *s = suite_create("monitor/acpi");
    TCase *tables = tcase_create("tables");
    TCase *aml = tcase_create("dsdt");

    tcase_add_checked_fixture(tables, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(tables, rsdp_and_rsdt);
    tcase_add_test(tables, fadt_describes_the_piix4);
    tcase_add_test(tables, madt_entries);
    tcase_add_test(tables, too_little_ram);
    suite_add_tcase(s, tables);

    tcase_add_checked_fixture(aml, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(aml, dsdt_objects);
    tcase_add_test(aml, dsdt_s5_and_prt);
    tcase_add_test(aml, dsdt_pci0_crs_windows);
    tcase_add_test(aml, dsdt_without_com2);
    tcase_add_test(aml, dsdt_disassembles_with_iasl);
    tcase_set_timeout(aml, 60);
    suite_add_tcase(s, aml);
    return s;
}

int main(void)
{
    return fixture_run_suite(acpi_suite());
}
