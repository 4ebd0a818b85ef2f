/*
 * The Linux loader behind -kernel/-initrd/-append for bzImages, using the 32-bit boot
 * protocol (Documentation/arch/x86/boot.rst, zero-page.rst): the real-mode setup code never
 * runs; tachyon does what it would have done. It reads the setup header at 0x1f1 (magic
 * "HdrS", protocol 2.06 or later, LOADED_HIGH), copies the protected-mode kernel to 1 MiB
 * (or to pref_address when the kernel is relocatable and its decompression buffer fits
 * there, which saves the decompressor a copy), places the initrd page-aligned as high as
 * the kernel, guest RAM and the lowmem of a 3G/1G i386 kernel allow, and builds the zero
 * page: the setup header copied in, type_of_loader 0xff, code32_start, ramdisk and
 * command-line pointers, the e820 map, ext_mem_k/alt_mem_k and acpi_rsdp_addr for the ACPI
 * tables it has acpi.c build at the top of RAM (firmware's job). Then it enters the kernel as
 * boot.rst demands: flat protected mode, paging and interrupts off, CS = __BOOT_CS (0x10), DS = ES
 * = SS = __BOOT_DS (0x18) from a GDT in guest memory, ESI = the zero page, EBP = EDI = EBX = 0.
 *
 * Low memory, all in the usable 0..0x9fc00 range the kernel copies out of before touching:
 * the command line at 0x20000, the zero page at 0x90000, the GDT at 0x91000. The BIOS data
 * area gets the few words a BIOS would leave (COM1 base, EBDA segment, base memory size),
 * since no firmware runs before the kernel.
 *
 * Every size and address is checked before anything is written to the guest, so a bad
 * image fails with a message naming the file and leaves guest RAM and the vCPU untouched.
 */
#include "monitor/linuxboot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/acpi.h"
#include "monitor/log.h"
#include "monitor/loadfile.h"
#include "monitor/machine.h"
#include "monitor/multiboot.h"

/* Setup header fields: offsets in the file and in boot_params alike (boot.rst). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE_KERNEL 0x234
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_MIN_FILE 0x268 /* the file must hold the header through init_size */

#define LOADFLAGS_LOADED_HIGH 0x01

/* boot_params (zero page) fields outside the setup header (zero-page.rst). */
#define BP_EXT_MEM_K 0x002 /* screen_info.ext_mem_k, 16 bits */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_ALT_MEM_K 0x1e0
#define BP_E820_ENTRIES 0x1e8
#define BP_SENTINEL 0x1ef
#define BP_E820_TABLE 0x2d0
#define BP_SIZE 0x1000
#define E820_ENTRY 20
#define E820_MAX 16 /* of the zero page's 128: we never need more */

#define E820_RAM 1
#define E820_RESERVED 2

#define LOAD_LOW 0x100000u         /* where a non-relocatable kernel's code32_start points */
#define LOWMEM_LIMIT 0x37800000ull /* a 3G/1G i386 kernel maps ~896 MiB; keep a margin */
#define EBDA_START 0x9fc00u
#define HOLE_START 0xa0000u
#define BIOS_AREA 0xf0000u
#define PAGE_ALIGN_DOWN(x) ((x) & ~0xfffull)
#define MAX_FILE (1ull << 30)

/* The boot GDT: null, null, __BOOT_CS (0x10) flat code, __BOOT_DS (0x18) flat data. */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
static const uint64_t boot_gdt[4] = {0, 0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull};

struct e820 {
    uint64_t base, len;
    uint32_t type;
};

struct lb {
    struct machine *m;
    char *err;
    size_t errlen;
    const char *path;
    uint8_t *file;
    size_t size;
};

static int fail(struct lb *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct lb *l, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l->err, l->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
    return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v), put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v), put32(p + 4, (uint32_t)(v >> 32));
}

static int read_file(struct lb *l, const char *what, const char *path, uint64_t max,
                     uint8_t **buf, size_t *size)
{
    return loadfile__read(l->m, what, path, max, buf, size, l->err, l->errlen);
}

/*
 * The ACPI tables (src/monitor/acpi.c) sit in the last ACPI_REGION_SIZE bytes of RAM: that
 * span is reserved in the e820 map and kept out of the kernel's and the initrd's way. They
 * are built only once every check has passed, as the first write, and their RSDP goes to
 * boot_params.acpi_rsdp_addr (the kernel would find it in the BIOS area only with firmware).
 */
static int build_acpi(struct lb *l, uint32_t *rsdp)
{
    char why[256];

    if (acpi__build(l->m, rsdp, why, sizeof(why)))
        return fail(l, "kernel '%s': cannot build the ACPI tables: %s", l->path, why);
    return 0;
}

/* True if a Multiboot v1 header (magic with a good checksum) is in the first 8 KiB. */
static bool has_multiboot(const uint8_t *p, size_t n)
{
    for (size_t off = 0; off + 12 <= n && off + 12 <= 8192; off += 4)
        if (le32(p + off) == MULTIBOOT_HEADER_MAGIC &&
            le32(p + off) + le32(p + off + 4) + le32(p + off + 8) == 0)
            return true;
    return false;
}

bool linuxboot__is_bzimage(const char *path)
{
    uint8_t buf[8192];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return false;
    n = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    if (n < HDR_HEADER + 4 || memcmp(buf + HDR_HEADER, "HdrS", 4))
        return false;
    return !has_multiboot(buf, (size_t)n);
}

/* Where the kernel goes and how much RAM it needs from there. */
struct layout {
    uint32_t setup_size;   /* real-mode part in the file: (setup_sects + 1) * 512 */
    uint32_t kernel_size;  /* protected-mode part: the rest of the file */
    uint32_t load;         /* its guest-physical address: code32_start */
    uint64_t footprint;    /* end of the memory the kernel decompresses into */
    uint32_t initrd_max;   /* initrd_addr_max: highest address of the initrd's last byte */
    uint32_t cmdline_size; /* the longest command line it takes */
    uint64_t ram_top;      /* end of usable RAM above 1 MiB (ACPI tables sit above) */
};

static int parse_header(struct lb *l, struct layout *o)
{
    const uint8_t *f = l->file;
    uint32_t version, setup_sects, align, init_size, syssize;
    uint64_t pref, run_at;
    bool relocatable;

    if (l->size < HDR_HEADER + 4 || memcmp(f + HDR_HEADER, "HdrS", 4))
        return fail(l, "kernel '%s' is not a Linux bzImage (no \"HdrS\" setup header at 0x202)",
                    l->path);
    if (l->size < HDR_MIN_FILE)
        return fail(l, "kernel '%s': truncated (the setup header ends past the file)", l->path);
    version = le16(f + HDR_VERSION);
    if (version < LINUXBOOT_MIN_VERSION)
        return fail(l,
                    "kernel '%s' uses boot protocol %u.%02u; tachyon needs 2.06 or later "
                    "(Linux 2.6.22 and newer)",
                    l->path, version >> 8, version & 0xff);
    if (!(f[HDR_LOADFLAGS] & LOADFLAGS_LOADED_HIGH))
        return fail(l, "kernel '%s' is a zImage (loaded low); only bzImages are supported",
                    l->path);
    if (le16(f + HDR_BOOT_FLAG) != 0xaa55)
        LOG(CPU, 1, "linuxboot: '%s' has no 0xaa55 boot flag; loading it anyway", l->path);

    setup_sects = f[HDR_SETUP_SECTS] ? f[HDR_SETUP_SECTS] : 4; /* 0 means 4, as ever */
    o->setup_size = (setup_sects + 1) * 512;
    if (o->setup_size >= l->size)
        return fail(l,
                    "kernel '%s': truncated (no protected-mode kernel after the %u setup "
                    "sectors)",
                    l->path, setup_sects);
    o->kernel_size = (uint32_t)(l->size - o->setup_size);
    syssize = le32(f + HDR_SYSSIZE);
    if ((uint64_t)syssize * 16 > o->kernel_size)
        return fail(l, "kernel '%s': truncated (syssize says %llu bytes, the file has %u)", l->path,
                    (unsigned long long)syssize * 16, o->kernel_size);

    o->initrd_max = le32(f + HDR_INITRD_ADDR_MAX);
    o->cmdline_size = le32(f + HDR_CMDLINE_SIZE);
    relocatable = version >= 0x0205 && f[HDR_RELOCATABLE_KERNEL];
    align = le32(f + HDR_KERNEL_ALIGNMENT);
    if (!align || (align & (align - 1)))
        align = 0x1000;
    pref = version >= 0x020a ? le64(f + HDR_PREF_ADDRESS) : LOAD_LOW;
    init_size = version >= 0x020a ? le32(f + HDR_INIT_SIZE) : 0;
    if (init_size < o->kernel_size)
        init_size = o->kernel_size;

    /* The decompressor runs at max(load rounded up to kernel_alignment, LOAD_PHYSICAL_ADDR
     * = pref_address) and needs init_size bytes there. Loading at pref_address directly
     * spares it a copy when that fits in RAM. */
    o->load = LOAD_LOW;
    if (relocatable && pref >= LOAD_LOW && !(pref & (align - 1)) && pref + init_size <= o->ram_top)
        o->load = (uint32_t)pref;
    run_at = ((uint64_t)o->load + align - 1) & ~(uint64_t)(align - 1);
    if (run_at < pref && pref < 0x100000000ull)
        run_at = pref;
    o->footprint = run_at + init_size;
    if (o->footprint < (uint64_t)o->load + o->kernel_size)
        o->footprint = (uint64_t)o->load + o->kernel_size;
    if (o->footprint > o->ram_top)
        return fail(l,
                    "kernel '%s' needs guest RAM up to 0x%llx to decompress (%u KiB at 0x%llx) "
                    "but usable RAM ends at 0x%llx; give more memory with -m",
                    l->path, (unsigned long long)o->footprint, init_size >> 10,
                    (unsigned long long)run_at, (unsigned long long)o->ram_top);
    return 0;
}

/* The e820 map: low RAM, EBDA, BIOS area, RAM above 1 MiB around the ACPI tables, and the
 * firmware ROM at the top of 4 GiB. */
static int build_e820(struct machine *m, uint64_t acpi_base, uint64_t acpi_len,
                      struct e820 e[E820_MAX])
{
    int n = 0;

    e[n++] = (struct e820){0, EBDA_START, E820_RAM};
    e[n++] = (struct e820){EBDA_START, HOLE_START - EBDA_START, E820_RESERVED};
    e[n++] = (struct e820){BIOS_AREA, LOAD_LOW - BIOS_AREA, E820_RESERVED};
    if (acpi_len && acpi_base >= LOAD_LOW) { /* tables in low memory are in a hole already */
        if (acpi_base > LOAD_LOW)
            e[n++] = (struct e820){LOAD_LOW, acpi_base - LOAD_LOW, E820_RAM};
        e[n++] = (struct e820){acpi_base, acpi_len, E820_RESERVED};
        if (acpi_base + acpi_len < m->ram_size)
            e[n++] =
                (struct e820){acpi_base + acpi_len, m->ram_size - acpi_base - acpi_len, E820_RAM};
    } else if (m->ram_size > LOAD_LOW) {
        e[n++] = (struct e820){LOAD_LOW, m->ram_size - LOAD_LOW, E820_RAM};
    }
    if (m->rom_size)
        e[n++] = (struct e820){0x100000000ull - m->rom_size, m->rom_size, E820_RESERVED};
    return n;
}

/* Enter the kernel: boot.rst "32-bit boot protocol". */
static void enter(struct machine *m, uint32_t entry)
{
    struct vcpu *c = m->cpu;

    vcpu_load_flat32(c);
    for (int s = 0; s < SEG_NR; s++) {
        c->seg[s] = (struct segment){
            .base = 0, .limit = 0xffffffff, .sel = BOOT_DS, .flags = (uint16_t)(boot_gdt[3] >> 40)};
        c->seg_base[s] = 0;
    }
    c->seg[SEG_CS].sel = BOOT_CS;
    c->seg[SEG_CS].flags = (uint16_t)(boot_gdt[2] >> 40);
    c->gdtr = (struct dtable){.base = LINUXBOOT_GDT_ADDR, .limit = sizeof(boot_gdt) - 1};
    c->idtr = (struct dtable){.base = 0, .limit = 0};
    c->cr3 = 0;
    c->cr4 = 0;
    vcpu_set_eflags(c, 0x2); /* IF off */
    for (int r = 0; r < 8; r++)
        c->gpr[r] = 0;
    c->gpr[R_ESI] = LINUXBOOT_BOOT_PARAMS_ADDR;
    c->gpr[R_ESP] = LINUXBOOT_BOOT_PARAMS_ADDR; /* the kernel makes its own stack at once */
    c->eip = entry;
}

int linuxboot__load(struct machine *m, const char *bzimage, const char *initrd, const char *cmdline,
                    char *err, size_t errlen)
{
    struct lb l = {.m = m, .err = err, .errlen = errlen, .path = bzimage};
    struct layout o = {0};
    struct e820 e[E820_MAX];
    uint8_t *rd = NULL, *bp, *low;
    size_t rd_size = 0, cmd_len, hdr_end;
    uint64_t limit, rd_addr = 0;
    uint32_t rsdp = 0, acpi_base, acpi_len;
    int n, rc = -1;

    if (errlen)
        err[0] = 0;
    if (!cmdline)
        cmdline = "";
    if (m->ram_size < 2 * LOAD_LOW)
        return fail(&l,
                    "kernel '%s': Linux cannot run in %llu MiB of guest RAM; give more "
                    "memory with -m",
                    bzimage, (unsigned long long)(m->ram_size >> 20));
    acpi__e820_reserved(m, &acpi_base, &acpi_len);
    o.ram_top = acpi_len && acpi_base >= LOAD_LOW ? acpi_base : m->ram_size;
    if (read_file(&l, "kernel", bzimage, MAX_FILE, &l.file, &l.size) || parse_header(&l, &o))
        goto out;

    cmd_len = strlen(cmdline);
    if (o.cmdline_size && cmd_len > o.cmdline_size) {
        fail(&l, "-append: the command line is %zu bytes; kernel '%s' takes at most %u", cmd_len,
             bzimage, o.cmdline_size);
        goto out;
    }
    if (cmd_len >= LINUXBOOT_BOOT_PARAMS_ADDR - LINUXBOOT_CMDLINE_ADDR) {
        fail(&l, "-append: the command line is too long (%zu bytes)", cmd_len);
        goto out;
    }

    if (initrd) {
        if (read_file(&l, "initrd", initrd, m->ram_size, &rd, &rd_size))
            goto out;
        /* As high as allowed: under initrd_addr_max, RAM (below the ACPI tables) and the
         * lowmem a 32-bit kernel maps without relocating the initrd. */
        limit = (uint64_t)o.initrd_max + 1;
        if (limit > o.ram_top)
            limit = o.ram_top;
        if (limit > LOWMEM_LIMIT)
            limit = LOWMEM_LIMIT;
        if (rd_size > limit || PAGE_ALIGN_DOWN(limit - rd_size) < o.footprint) {
            fail(&l,
                 "initrd '%s' (%zu bytes) does not fit between the kernel (which needs RAM up "
                 "to 0x%llx) and 0x%llx; give more memory with -m",
                 initrd, rd_size, (unsigned long long)o.footprint, (unsigned long long)limit);
            goto out;
        }
        rd_addr = PAGE_ALIGN_DOWN(limit - rd_size);
    }

    /* Everything fits: write the guest. */
    if (acpi_len && build_acpi(&l, &rsdp))
        goto out;
    memcpy(machine__gpa(m, o.load, o.kernel_size), l.file + o.setup_size, o.kernel_size);
    if (rd_size)
        memcpy(machine__gpa(m, rd_addr, rd_size), rd, rd_size);
    memcpy(machine__gpa(m, LINUXBOOT_CMDLINE_ADDR, cmd_len + 1), cmdline, cmd_len + 1);
    memcpy(machine__gpa(m, LINUXBOOT_GDT_ADDR, sizeof(boot_gdt)), boot_gdt, sizeof(boot_gdt));

    bp = machine__gpa(m, LINUXBOOT_BOOT_PARAMS_ADDR, BP_SIZE);
    memset(bp, 0, BP_SIZE);
    hdr_end = HDR_JUMP + 2 + l.file[HDR_JUMP + 1]; /* the jump at 0x200 skips the header */
    if (hdr_end > l.size)
        hdr_end = l.size;
    if (hdr_end > BP_E820_TABLE)
        hdr_end = BP_E820_TABLE;
    memcpy(bp + HDR_SETUP_SECTS, l.file + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    bp[BP_SENTINEL] = 0;
    bp[HDR_TYPE_OF_LOADER] = 0xff; /* an unregistered loader */
    put32(bp + HDR_CODE32_START, o.load);
    put32(bp + HDR_RAMDISK_IMAGE, (uint32_t)rd_addr);
    put32(bp + HDR_RAMDISK_SIZE, (uint32_t)rd_size);
    put32(bp + HDR_CMD_LINE_PTR, LINUXBOOT_CMDLINE_ADDR);
    if (rsdp)
        put64(bp + BP_ACPI_RSDP_ADDR, rsdp);
    put32(bp + BP_ALT_MEM_K, (uint32_t)((o.ram_top - LOAD_LOW) >> 10));
    put16(bp + BP_EXT_MEM_K,
          (o.ram_top - LOAD_LOW) >> 10 > 0xfc00 ? 0xfc00 : (o.ram_top - LOAD_LOW) >> 10);
    n = build_e820(m, acpi_base, acpi_len, e);
    bp[BP_E820_ENTRIES] = (uint8_t)n;
    for (int i = 0; i < n; i++) {
        put64(bp + BP_E820_TABLE + i * E820_ENTRY, e[i].base);
        put64(bp + BP_E820_TABLE + i * E820_ENTRY + 8, e[i].len);
        put32(bp + BP_E820_TABLE + i * E820_ENTRY + 16, e[i].type);
    }

    /* The BIOS data area words a BIOS would have set: COM1, the EBDA segment, base memory. */
    low = machine__gpa(m, 0x400, 0x100);
    put16(low + 0x00, 0x3f8);
    put16(low + 0x0e, EBDA_START >> 4);
    put16(low + 0x13, EBDA_START >> 10);

    enter(m, o.load);
    LOG(CPU, 1,
        "linuxboot: '%s' protocol %u.%02u at 0x%08x (%u bytes, needs RAM to 0x%llx), initrd at "
        "0x%08llx (%zu bytes), cmdline '%s'",
        bzimage, le16(l.file + HDR_VERSION) >> 8, le16(l.file + HDR_VERSION) & 0xff, o.load,
        o.kernel_size, (unsigned long long)o.footprint, (unsigned long long)rd_addr, rd_size,
        cmdline);
    rc = 0;
out:
    free(rd);
    free(l.file);
    return rc;
}
