/*
 * The Multiboot v1 loader behind -kernel/-initrd/-append, matching what
 * qemu-system-i386 gives a kernel, so kernels tested there boot here
 * unchanged: the header is searched in the first 8192 bytes; ELF32 images
 * load their PT_LOAD segments at the physical addresses, while header flag
 * 16 (the "a.out kludge") loads a file span at the header's addresses and
 * takes precedence over ELF. Layout, as QEMU's: after the kernel (page
 * aligned) one block with the module list and all strings, then each
 * module page aligned; the memory map at 0x9000 and the info structure at
 * 0x9500 unless the kernel occupies that memory, in which case they join
 * the block. The kernel command line is the kernel's path, a space, then
 * -append; a module's string is its whole -initrd item, path and arguments.
 *
 * Every span is checked against guest RAM, the VGA/BIOS hole and the spans
 * already used before anything is written, and every write goes through
 * machine__gpa(): a bad image gives a message, never a write outside RAM.
 */
#define _GNU_SOURCE /* asprintf, strndup */
#include "monitor/multiboot.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/log.h"
#include "monitor/loadfile.h"
#include "monitor/machine.h"

#define MB_SEARCH 8192
#define MB_FLAG_VIDEO (1u << 2)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)

/* multiboot_info flags and field offsets (Multiboot 0.6.96, section 3.3). */
#define MBI_FLAG_MEM (1u << 0)
#define MBI_FLAG_BOOTDEV (1u << 1)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS (1u << 3)
#define MBI_FLAG_MMAP (1u << 6)
#define MBI_FLAG_LOADER (1u << 9)
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_BOOT_DEVICE 12
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_LOADER_NAME 64
#define MBI_SIZE 116  /* through the framebuffer fields */
#define MOD_SIZE 16   /* mod_start, mod_end, string, reserved */
#define MMAP_ENTRY 24 /* size (= 20), base_addr, length, type */
#define MMAP_MAX 5

#define HOLE_START 0xa0000ull /* VGA memory and ROMs: not RAM to the guest */
#define HOLE_END 0x100000ull
#define PAGE_ALIGN(x) (((x) + 0xfffull) & ~0xfffull)
#define MAX_SPANS 128
#define MAX_MODULES 64
#define MAX_FILE (1ull << 30)

struct span {
    uint64_t start, end;
};

struct loader {
    struct machine *m;
    char *err;
    size_t errlen;
    const char *kernel;
    const char *cmdline; /* -append, never NULL */
    uint8_t *file;
    size_t size;
    struct span used[MAX_SPANS];
    int nused;
    uint64_t cursor; /* where placement of the block and the modules starts */
    uint32_t entry;
};

static int fail(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct loader *l, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l->err, l->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Read a whole file of at most max bytes (a kernel may carry debug info beyond its segments, so
 * only modules are held to the size of RAM). */
static int read_file(struct loader *l, const char *what, const char *path, uint64_t max,
                     uint8_t **buf, size_t *size)
{
    return loadfile__read(l->m, what, path, max, buf, size, l->err, l->errlen);
}

/* Check that [start, start+len) is guest RAM outside the hole and free; then claim it. */
static int claim(struct loader *l, uint64_t start, uint64_t len, const char *what)
{
    uint64_t end = start + len;

    if (start >= l->m->ram_size || len > l->m->ram_size - start)
        return fail(l,
                    "kernel '%s': %s at 0x%llx-0x%llx lies outside guest RAM (%llu MiB); "
                    "give more memory with -m",
                    l->kernel, what, (unsigned long long)start, (unsigned long long)end,
                    (unsigned long long)(l->m->ram_size >> 20));
    if (len && start < HOLE_END && end > HOLE_START)
        return fail(l,
                    "kernel '%s': %s at 0x%llx-0x%llx overlaps the VGA/BIOS area "
                    "0xa0000-0xfffff",
                    l->kernel, what, (unsigned long long)start, (unsigned long long)end);
    for (int i = 0; i < l->nused; i++)
        if (len && start < l->used[i].end && l->used[i].start < end)
            return fail(l,
                        "kernel '%s': %s at 0x%llx-0x%llx overlaps 0x%llx-0x%llx, loaded "
                        "before it",
                        l->kernel, what, (unsigned long long)start, (unsigned long long)end,
                        (unsigned long long)l->used[i].start, (unsigned long long)l->used[i].end);
    if (l->nused == MAX_SPANS)
        return fail(l, "kernel '%s': too many segments and modules", l->kernel);
    l->used[l->nused++] = (struct span){start, end};
    if (end > l->cursor)
        l->cursor = end;
    return 0;
}

static bool is_free(struct loader *l, uint64_t start, uint64_t end)
{
    for (int i = 0; i < l->nused; i++)
        if (start < l->used[i].end && l->used[i].start < end)
            return false;
    return end <= l->m->ram_size;
}

/* The first page-aligned free span of len bytes at or after the cursor. */
static int place(struct loader *l, uint64_t len, const char *what, const char *name, uint32_t *addr)
{
    uint64_t a = l->cursor;
    bool moved = true;

    while (moved) {
        moved = false;
        a = PAGE_ALIGN(a);
        if (a < HOLE_END && a + len > HOLE_START && (len || a >= HOLE_START)) {
            a = HOLE_END;
            moved = true;
        }
        for (int i = 0; i < l->nused; i++)
            if (a < l->used[i].end && l->used[i].start < a + len) {
                a = l->used[i].end;
                moved = true;
            }
    }
    if (a > l->m->ram_size || len > l->m->ram_size - a)
        return fail(l,
                    "%s '%s' (%llu bytes) does not fit in guest RAM (%llu MiB) after the "
                    "kernel; give more memory with -m",
                    what, name, (unsigned long long)len,
                    (unsigned long long)(l->m->ram_size >> 20));
    if (claim(l, a, len, what))
        return -1;
    *addr = (uint32_t)a;
    return 0;
}

/* Guest RAM for a span claim() or place() accepted. */
static uint8_t *ram(struct loader *l, uint64_t gpa, uint64_t len)
{
    uint8_t *p = machine__gpa(l->m, gpa, len);

    if (!p) {
        fprintf(stderr, "tachyon: multiboot: internal error: 0x%llx+%llu outside RAM\n",
                (unsigned long long)gpa, (unsigned long long)len);
        abort();
    }
    return p;
}

static void put32(struct loader *l, uint32_t gpa, uint32_t v)
{
    uint8_t *p = ram(l, gpa, 4);

    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static int load_elf(struct loader *l)
{
    Elf32_Ehdr eh;
    Elf32_Phdr ph[MAX_SPANS];
    int n = 0;

    if (l->size < sizeof(eh) || memcmp(l->file, ELFMAG, SELFMAG))
        return fail(l,
                    "kernel '%s': the Multiboot header has no load addresses (flag 16), so "
                    "the kernel must be an ELF image, and this is not one",
                    l->kernel);
    memcpy(&eh, l->file, sizeof(eh));
    if (eh.e_ident[EI_CLASS] == ELFCLASS64)
        return fail(l, "kernel '%s' is a 64-bit ELF image; Multiboot needs a 32-bit one",
                    l->kernel);
    if (eh.e_ident[EI_CLASS] != ELFCLASS32 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return fail(l, "kernel '%s': not a little-endian ELF32 image", l->kernel);
    if (eh.e_machine != EM_386 && eh.e_machine != 6 /* EM_486, old toolchains */)
        return fail(l, "kernel '%s': ELF machine %u is not i386", l->kernel, eh.e_machine);
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
        return fail(l, "kernel '%s': not an executable ELF image (type %u)", l->kernel, eh.e_type);
    if (eh.e_phnum && eh.e_phentsize < sizeof(Elf32_Phdr))
        return fail(l, "kernel '%s': bad ELF program header size %u", l->kernel, eh.e_phentsize);
    if ((uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * eh.e_phentsize > l->size)
        return fail(l, "kernel '%s': truncated (the ELF program headers end past the file)",
                    l->kernel);

    /* Check every segment before writing any. */
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf32_Phdr p;
        char what[48];

        memcpy(&p, l->file + eh.e_phoff + (size_t)i * eh.e_phentsize, sizeof(p));
        if (p.p_type != PT_LOAD || p.p_memsz == 0)
            continue;
        if (p.p_filesz > p.p_memsz)
            return fail(l, "kernel '%s': ELF segment %d has more file bytes than memory bytes",
                        l->kernel, i);
        if ((uint64_t)p.p_offset + p.p_filesz > l->size)
            return fail(l, "kernel '%s': truncated (ELF segment %d ends past the file)", l->kernel,
                        i);
        if (n == MAX_SPANS)
            return fail(l, "kernel '%s': too many ELF segments", l->kernel);
        snprintf(what, sizeof(what), "ELF segment %d", i);
        if (claim(l, p.p_paddr, p.p_memsz, what))
            return -1;
        ph[n++] = p;
    }
    if (!n)
        return fail(l, "kernel '%s': the ELF image has no loadable segments", l->kernel);

    for (int i = 0; i < n; i++) {
        uint8_t *dst = ram(l, ph[i].p_paddr, ph[i].p_memsz);

        memcpy(dst, l->file + ph[i].p_offset, ph[i].p_filesz);
        memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
    }
    /* The entry point may be virtual (a higher-half kernel linked with AT()): jump to the
     * physical address of the byte it names, since paging is off. */
    l->entry = eh.e_entry;
    for (int i = 0; i < n; i++)
        if (eh.e_entry - ph[i].p_vaddr < ph[i].p_memsz) {
            l->entry = ph[i].p_paddr + (eh.e_entry - ph[i].p_vaddr);
            break;
        }
    return 0;
}

static int load_aout(struct loader *l, size_t off)
{
    const uint8_t *h = l->file + off;
    uint32_t header_addr, load_addr, load_end, bss_end;
    uint64_t text_off, load_size, mem_size;

    if (off + 32 > l->size)
        return fail(l, "kernel '%s': truncated (the Multiboot address fields end past the file)",
                    l->kernel);
    header_addr = le32(h + 12);
    load_addr = le32(h + 16);
    load_end = le32(h + 20);
    bss_end = le32(h + 24);
    l->entry = le32(h + 28);
    if (header_addr < load_addr || header_addr - load_addr > off)
        return fail(l,
                    "kernel '%s': Multiboot header_addr 0x%x and load_addr 0x%x do not match "
                    "the header's file offset 0x%zx",
                    l->kernel, header_addr, load_addr, off);
    text_off = off - (header_addr - load_addr);
    if (load_end) {
        if (load_end < load_addr)
            return fail(l, "kernel '%s': Multiboot load_end_addr 0x%x is below load_addr 0x%x",
                        l->kernel, load_end, load_addr);
        load_size = load_end - load_addr;
        if (text_off + load_size > l->size)
            return fail(l,
                        "kernel '%s': truncated (load_end_addr 0x%x is past the end of the "
                        "file)",
                        l->kernel, load_end);
    } else {
        load_size = l->size - text_off;
    }
    mem_size = load_size;
    if (bss_end) {
        if (bss_end < load_addr + load_size)
            return fail(l,
                        "kernel '%s': Multiboot bss_end_addr 0x%x is below the end of the "
                        "loaded image 0x%llx",
                        l->kernel, bss_end, (unsigned long long)(load_addr + load_size));
        mem_size = bss_end - load_addr;
    }
    if (!mem_size)
        return fail(l, "kernel '%s': the Multiboot header loads nothing", l->kernel);
    if (claim(l, load_addr, mem_size, "the image"))
        return -1;
    memcpy(ram(l, load_addr, load_size), l->file + text_off, load_size);
    memset(ram(l, load_addr + load_size, mem_size - load_size), 0, mem_size - load_size);
    return 0;
}

/* Split "a args,b,,c" into items ("," separates, ",," is a literal comma), as QEMU does. */
static int split_modules(struct loader *l, const char *spec, char *items[], int *n)
{
    const char *whole = spec;

    *n = 0;
    while (spec && *spec) {
        size_t len = 0;
        char *s = malloc(strlen(spec) + 1);

        if (!s)
            return fail(l, "out of memory");
        for (; *spec; spec++) {
            if (*spec == ',' && spec[1] != ',')
                break;
            if (*spec == ',')
                spec++;
            s[len++] = *spec;
        }
        s[len] = 0;
        if (*n == MAX_MODULES) {
            free(s);
            return fail(l, "-initrd: more than %d modules", MAX_MODULES);
        }
        items[(*n)++] = s;
        if (!len || (*spec == ',' && !spec[1]))
            return fail(l, "-initrd %s: empty module name", whole);
        if (*spec)
            spec++;
    }
    return 0;
}

static int load_module(struct loader *l, const char *item, uint32_t *start, uint32_t *end)
{
    size_t plen = strcspn(item, " ");
    char *path = strndup(item, plen);
    uint8_t *buf = NULL;
    size_t size = 0;
    int rc = -1;

    if (!path)
        return fail(l, "out of memory");
    if (read_file(l, "module", path, l->m->ram_size, &buf, &size) == 0 &&
        place(l, size, "module", path, start) == 0) {
        memcpy(ram(l, *start, size), buf, size);
        *end = *start + (uint32_t)size;
        rc = 0;
    }
    free(buf);
    free(path);
    return rc;
}

static uint32_t put_mmap(struct loader *l, uint32_t at)
{
    struct machine *m = l->m;
    const struct {
        uint64_t base, len;
        uint32_t type;
    } e[MMAP_MAX] = {
        {0, 0x9fc00, 1},
        {0x9fc00, 0x400, 2},
        {0xf0000, 0x10000, 2},
        {HOLE_END, m->ram_size > HOLE_END ? m->ram_size - HOLE_END : 0, 1},
        {0x100000000ull - m->rom_size, m->rom_size, 2}, /* the firmware ROM at the top */
    };
    uint32_t p = at;

    for (int i = 0; i < MMAP_MAX; i++) {
        if (!e[i].len)
            continue;
        put32(l, p, 20);
        put32(l, p + 4, (uint32_t)e[i].base);
        put32(l, p + 8, (uint32_t)(e[i].base >> 32));
        put32(l, p + 12, (uint32_t)e[i].len);
        put32(l, p + 16, (uint32_t)(e[i].len >> 32));
        put32(l, p + 20, e[i].type);
        p += MMAP_ENTRY;
    }
    return p - at;
}

static uint32_t put_string(struct loader *l, uint32_t *at, const char *s)
{
    uint32_t a = *at;
    size_t n = strlen(s) + 1;

    memcpy(ram(l, a, n), s, n);
    *at += (uint32_t)n;
    return a;
}

static int build_info(struct loader *l, char *items[], int nmods)
{
    struct machine *m = l->m;
    uint32_t mods_start[MAX_MODULES], mods_end[MAX_MODULES];
    uint32_t block, s, info, mmap, mmap_len, kcmd, loader_name;
    uint64_t len = (uint64_t)nmods * MOD_SIZE + strlen(l->kernel) + 1 + strlen(l->cmdline) + 1 +
                   sizeof("tachyon");
    bool low = is_free(l, MULTIBOOT_MMAP_ADDR, MULTIBOOT_INFO_ADDR + MBI_SIZE);
    uint64_t cursor = l->cursor;
    char *kline;
    int i;

    for (i = 0; i < nmods; i++)
        len += strlen(items[i]) + 1;
    if (low) {
        /* Reserve it without moving the cursor: the block still follows the kernel. */
        claim(l, MULTIBOOT_MMAP_ADDR, MULTIBOOT_INFO_ADDR + MBI_SIZE - MULTIBOOT_MMAP_ADDR,
              "the Multiboot information");
        l->cursor = cursor;
    } else { /* the kernel sits there: keep map and info in the block */
        len = (len + 7) / 8 * 8 + MMAP_MAX * MMAP_ENTRY + MBI_SIZE;
    }
    if (place(l, len, "the Multiboot information for", l->kernel, &block))
        return -1;
    for (i = 0; i < nmods; i++)
        if (load_module(l, items[i], &mods_start[i], &mods_end[i]))
            return -1;

    s = block + nmods * MOD_SIZE;
    for (i = 0; i < nmods; i++) {
        put32(l, block + i * MOD_SIZE, mods_start[i]);
        put32(l, block + i * MOD_SIZE + 4, mods_end[i]);
        put32(l, block + i * MOD_SIZE + 8, put_string(l, &s, items[i]));
        put32(l, block + i * MOD_SIZE + 12, 0);
    }
    if (asprintf(&kline, "%s %s", l->kernel, l->cmdline) < 0)
        return fail(l, "out of memory");
    kcmd = put_string(l, &s, kline);
    free(kline);
    loader_name = put_string(l, &s, "tachyon");
    if (low) {
        mmap = MULTIBOOT_MMAP_ADDR;
        info = MULTIBOOT_INFO_ADDR;
    } else {
        mmap = (s + 7) & ~7u;
        info = mmap + MMAP_MAX * MMAP_ENTRY;
    }
    mmap_len = put_mmap(l, mmap);

    memset(ram(l, info, MBI_SIZE), 0, MBI_SIZE);
    put32(l, info + MBI_FLAGS,
          MBI_FLAG_MEM | MBI_FLAG_BOOTDEV | MBI_FLAG_CMDLINE | MBI_FLAG_MODS | MBI_FLAG_MMAP |
              MBI_FLAG_LOADER);
    put32(l, info + MBI_MEM_LOWER, 0x9fc00 >> 10); /* 639: the EBDA is reserved, as in QEMU */
    put32(l, info + MBI_MEM_UPPER, (uint32_t)((m->ram_size - HOLE_END) >> 10));
    put32(l, info + MBI_BOOT_DEVICE, 0x8000ffff); /* first BIOS disk, no partition: as QEMU */
    put32(l, info + MBI_CMDLINE, kcmd);
    put32(l, info + MBI_MODS_COUNT, (uint32_t)nmods);
    put32(l, info + MBI_MODS_ADDR, block);
    put32(l, info + MBI_MMAP_LENGTH, mmap_len);
    put32(l, info + MBI_MMAP_ADDR, mmap);
    put32(l, info + MBI_LOADER_NAME, loader_name);

    vcpu_load_flat32(m->cpu);
    vcpu_set_eflags(m->cpu, 0x2);
    m->cpu->gpr[R_EAX] = MULTIBOOT_BOOTLOADER_MAGIC;
    m->cpu->gpr[R_EBX] = info;
    m->cpu->eip = l->entry;
    LOG(CPU, 1, "multiboot: '%s' entry 0x%08x, info 0x%08x, %d module(s)", l->kernel, l->entry,
        info, nmods);
    return 0;
}

int multiboot__load(struct machine *m, const char *kernel, const char *modules, const char *cmdline,
                    char *err, size_t errlen)
{
    struct loader l = {
        .m = m, .err = err, .errlen = errlen, .kernel = kernel, .cmdline = cmdline ? cmdline : ""};
    char *items[MAX_MODULES];
    int nmods = 0, rc = -1;
    size_t off, bad_sum = SIZE_MAX;
    uint32_t flags = 0;

    if (errlen)
        err[0] = 0;
    if (read_file(&l, "kernel", kernel, MAX_FILE, &l.file, &l.size))
        goto out;
    for (off = 0; off + 12 <= l.size && off + 12 <= MB_SEARCH; off += 4) {
        if (le32(l.file + off) != MULTIBOOT_HEADER_MAGIC)
            continue;
        flags = le32(l.file + off + 4);
        if (le32(l.file + off) + flags + le32(l.file + off + 8) == 0)
            break;
        if (bad_sum == SIZE_MAX)
            bad_sum = off;
    }
    if (off + 12 > l.size || off + 12 > MB_SEARCH) {
        if (bad_sum != SIZE_MAX)
            fail(&l, "kernel '%s': the Multiboot header at offset 0x%zx has a bad checksum", kernel,
                 bad_sum);
        else if (l.size >= 0x206 && !memcmp(l.file + 0x202, "HdrS", 4))
            fail(&l, "kernel '%s' is a Linux bzImage; only Multiboot kernels are supported yet",
                 kernel);
        else
            fail(&l,
                 "kernel '%s' has no Multiboot header in its first 8192 bytes (is it a "
                 "Multiboot v1 kernel?)",
                 kernel);
        goto out;
    }
    if (flags & MB_FLAG_VIDEO)
        LOG(CPU, 1, "multiboot: '%s' asks for a video mode; ignored (text mode)", kernel);
    if (flags & MB_FLAG_AOUT_KLUDGE ? load_aout(&l, off) : load_elf(&l))
        goto out;
    if (split_modules(&l, modules, items, &nmods))
        goto out;
    rc = build_info(&l, items, nmods);
out:
    for (int i = 0; i < nmods; i++)
        free(items[i]);
    free(l.file);
    return rc;
}
