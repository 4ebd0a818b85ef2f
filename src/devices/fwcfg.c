/*
 * QEMU's firmware configuration device, the way SeaBIOS (and test kernels
 * written for QEMU) learn what machine they run on. The interface follows
 * QEMU's docs/specs/fw_cfg.rst:
 *
 *   0x510  selector register, 16-bit write: choose an item, data offset 0
 *   0x511  data register, byte reads walk the item; past its end they read 0
 *   0x514  DMA address register, 64-bit big-endian, 0x514-0x51b: a write of
 *          the low half (ending at 0x51b) starts a transfer described by an
 *          FWCfgDmaAccess in guest RAM {BE32 control, BE32 length, BE64
 *          address}; reading it gives "QEMU CFG"
 *
 * Items are byte strings under 16-bit keys: bit 15 selects the architecture
 * range, bit 14 (the old write channel) is ignored, and keys from 0x20 up
 * are files listed in the directory at key 0x19 (BE32 count, then 64-byte
 * entries: BE32 size, BE16 select, BE16 reserved, name[56]). Nothing is
 * writable, so data-register writes are dropped and DMA writes set the
 * error bit, as QEMU does for read-only items.
 *
 * DMA reaches guest RAM only (machine__gpa): an FWCfgDmaAccess or a buffer
 * outside RAM ends the transfer with the error bit (when the control word
 * itself is unreachable there is nowhere to report, and the transfer is
 * just dropped). Every byte written to RAM is reported to mmu-shadow, which
 * drops translations of the pages written.
 *
 * The items this machine provides: signature "QEMU", ID (traditional + DMA
 * interface), UUID (zero), RAM size, -nographic, one CPU (NB_CPUS and
 * MAX_CPUS), no boot menu, and the files etc/e820 (one RAM entry from 0 to
 * the end of RAM; SeaBIOS carves out the legacy holes itself) and an empty
 * bootorder. Loaders add more with fwcfg__add_file()/fwcfg__add_key().
 */
#include "devices/fwcfg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "mmu-shadow/window.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define FW_CFG_PORT_CTL 0x510 /* selector at +0, data at +1 */
#define FW_CFG_PORT_DMA 0x514

#define FW_CFG_ENTRY_MASK 0x3fff
#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA 0x02

#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE 0x10

#define E820_RAM 1
#define GENERIC_SLOTS (FW_CFG_FILE_FIRST + FWCFG_MAX_FILES)
#define ARCH_SLOTS 16
#define DIR_ENTRY 64

static const char dma_signature[8] = "QEMU CFG";

struct item {
    uint8_t *data;
    uint32_t len;
};

struct fwcfg {
    struct machine *m;
    struct item generic[GENERIC_SLOTS];
    struct item arch[ARCH_SLOTS];
    char names[FWCFG_MAX_FILES][FWCFG_NAME_MAX];
    int nfiles;
    uint16_t key;    /* the selected item */
    uint32_t offset; /* data offset in it */
    uint8_t dma[8];  /* the DMA address register, as written (big-endian) */
};

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;

    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static struct item *item_of(struct fwcfg *f, uint16_t key)
{
    unsigned idx = key & FW_CFG_ENTRY_MASK;

    if (key & FW_CFG_ARCH_LOCAL)
        return idx < ARCH_SLOTS ? &f->arch[idx] : NULL;
    return idx < GENERIC_SLOTS ? &f->generic[idx] : NULL;
}

static int set_item(struct fwcfg *f, uint16_t key, const void *data, uint32_t len)
{
    struct item *it = item_of(f, key);
    uint8_t *copy = NULL;

    if (!it)
        return -1;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return -1;
        memcpy(copy, data, len);
    }
    free(it->data);
    it->data = copy;
    it->len = len;
    return 0;
}

static int set_le(struct fwcfg *f, uint16_t key, uint64_t v, int bytes)
{
    uint8_t b[8];

    put_le(b, v, bytes);
    return set_item(f, key, b, (uint32_t)bytes);
}

static int rebuild_directory(struct fwcfg *f)
{
    uint32_t len = 4 + DIR_ENTRY * (uint32_t)f->nfiles;
    uint8_t *dir = calloc(1, len);
    int rc;

    if (!dir)
        return -1;
    put_be(dir, (uint64_t)f->nfiles, 4);
    for (int i = 0; i < f->nfiles; i++) {
        uint8_t *e = dir + 4 + DIR_ENTRY * i;

        put_be(e, f->generic[FW_CFG_FILE_FIRST + i].len, 4);
        put_be(e + 4, (uint64_t)(FW_CFG_FILE_FIRST + i), 2);
        memcpy(e + 8, f->names[i], FWCFG_NAME_MAX);
    }
    rc = set_item(f, FW_CFG_FILE_DIR, dir, len);
    free(dir);
    return rc;
}

static void select_item(struct fwcfg *f, uint16_t key)
{
    f->key = key;
    f->offset = 0;
    if (!item_of(f, key))
        LOG(DEV, 2, "fw_cfg: selected key 0x%04x, which has no item", key);
}

static uint8_t data_byte(struct fwcfg *f)
{
    struct item *it = item_of(f, f->key);

    if (!it || f->offset >= it->len)
        return 0;
    return it->data[f->offset++];
}

/* ---- DMA ---- */

static void dma_transfer(struct fwcfg *f, uint64_t desc)
{
    struct machine *m = f->m;
    uint8_t *hdr = desc < (1ull << 32) ? machine__gpa(m, desc, 16) : NULL;
    uint32_t control, length;
    uint64_t address;
    bool read, error = false;

    if (!hdr) {
        guest_error("fw_cfg: DMA descriptor at 0x%llx is not in RAM; transfer dropped",
                    (unsigned long long)desc);
        return;
    }
    control = (uint32_t)get_be(hdr, 4);
    length = (uint32_t)get_be(hdr + 4, 4);
    address = get_be(hdr + 8, 8);
    if (control & FW_CFG_DMA_CTL_SELECT)
        select_item(f, (uint16_t)(control >> 16));
    read = control & FW_CFG_DMA_CTL_READ;
    if (!read && (control & FW_CFG_DMA_CTL_WRITE)) {
        guest_error("fw_cfg: DMA write to item 0x%04x, which is read-only", f->key);
        error = true;
    } else if (!read && !(control & FW_CFG_DMA_CTL_SKIP)) {
        length = 0;
    }
    while (length && !error) {
        struct item *it = item_of(f, f->key);
        uint32_t avail = it && f->offset < it->len ? it->len - f->offset : 0;
        uint32_t n = avail && avail < length ? avail : length;
        uint8_t *dst;

        if (read) {
            dst = address < (1ull << 32) ? machine__gpa(m, address, n) : NULL;
            if (!dst) {
                guest_error("fw_cfg: DMA to 0x%llx+%u is not in RAM", (unsigned long long)address,
                            n);
                error = true;
                break;
            }
            if (avail)
                memcpy(dst, it->data + f->offset, n);
            else
                memset(dst, 0, n); /* past the end an item reads as zeros */
            mmu__note_write(m, (uint32_t)address, n);
        }
        if (avail)
            f->offset += n;
        address += n;
        length -= n;
    }
    put_be(hdr, error ? FW_CFG_DMA_CTL_ERROR : 0, 4);
    mmu__note_write(m, (uint32_t)desc, 4);
}

/* ---- ports ---- */

/* As in QEMU, the data register answers at both ports of the pair. */
static uint32_t ctl_read(void *opaque, uint32_t offset, unsigned size)
{
    struct fwcfg *f = opaque;
    uint32_t v = 0;

    (void)offset;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)data_byte(f) << (8 * i);
    return v;
}

static void ctl_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct fwcfg *f = opaque;

    if (offset == 0 && size == 2) {
        select_item(f, (uint16_t)value);
        return;
    }
    /* Data-register writes stopped working in QEMU 2.4; nothing here is writable. */
    guest_error("fw_cfg: write of 0x%x to port 0x%x ignored", value, FW_CFG_PORT_CTL + offset);
}

static uint32_t dma_read(void *opaque, uint32_t offset, unsigned size)
{
    uint32_t v = 0;

    (void)opaque;
    for (unsigned i = 0; i < size && offset + i < 8; i++)
        v |= (uint32_t)(uint8_t)dma_signature[offset + i] << (8 * i);
    return v;
}

static void dma_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct fwcfg *f = opaque;

    /* Bytes land where the bus puts them: an outl of cpu_to_be32(x) stores x big-endian. */
    for (unsigned i = 0; i < size && offset + i < 8; i++)
        f->dma[offset + i] = (uint8_t)(value >> (8 * i));
    if (offset + size == 8) {
        uint64_t desc = get_be(f->dma, 8);

        memset(f->dma, 0, sizeof(f->dma)); /* 0 again after an operation */
        dma_transfer(f, desc);
    }
}

static void fwcfg_reset(void *opaque)
{
    struct fwcfg *f = opaque;

    select_item(f, FW_CFG_SIGNATURE);
    memset(f->dma, 0, sizeof(f->dma));
}

static void fwcfg_dump(void *opaque, FILE *out)
{
    struct fwcfg *f = opaque;

    fprintf(out, "fw_cfg: key 0x%04x offset %u, %d files\n", f->key, f->offset, f->nfiles);
    for (int i = 0; i < f->nfiles; i++)
        fprintf(out, "  0x%04x %8u %s\n", FW_CFG_FILE_FIRST + i,
                f->generic[FW_CFG_FILE_FIRST + i].len, f->names[i]);
}

static const struct device_ops fwcfg_ops = {
    .name = "fw_cfg",
    .reset = fwcfg_reset,
    .read = ctl_read,
    .write = ctl_write,
    .dump = fwcfg_dump,
};

static const struct device_ops fwcfg_dma_ops = {
    .name = "fw_cfg-dma",
    .read = dma_read,
    .write = dma_write,
};

static struct fwcfg *fwcfg_of(struct machine *m)
{
    for (int i = 0; i < m->npio; i++)
        if (m->pio[i].ops == &fwcfg_ops)
            return m->pio[i].opaque;
    return NULL;
}

int fwcfg__add_file(struct machine *m, const char *name, const void *data, uint32_t len)
{
    struct fwcfg *f = fwcfg_of(m);
    int i;

    if (!f || strlen(name) >= FWCFG_NAME_MAX)
        return -1;
    for (i = 0; i < f->nfiles; i++)
        if (!strcmp(f->names[i], name))
            break;
    if (i == FWCFG_MAX_FILES)
        return -1;
    if (set_item(f, (uint16_t)(FW_CFG_FILE_FIRST + i), data, len))
        return -1;
    if (i == f->nfiles) {
        memset(f->names[i], 0, FWCFG_NAME_MAX);
        strcpy(f->names[i], name);
        f->nfiles++;
    }
    if (rebuild_directory(f))
        return -1;
    return FW_CFG_FILE_FIRST + i;
}

int fwcfg__add_key(struct machine *m, uint16_t key, const void *data, uint32_t len)
{
    struct fwcfg *f = fwcfg_of(m);
    unsigned idx = key & FW_CFG_ENTRY_MASK;

    if (!f || (!(key & FW_CFG_ARCH_LOCAL) && idx >= FW_CFG_FILE_DIR))
        return -1; /* the directory and the files are fwcfg__add_file's */
    return set_item(f, key, data, len);
}

static int populate(struct fwcfg *f)
{
    struct machine *m = f->m;
    uint8_t e820[20], uuid[16] = {0};
    int rc = 0;

    rc |= set_item(f, FW_CFG_SIGNATURE, "QEMU", 4);
    rc |= set_le(f, FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA, 4);
    rc |= set_item(f, FW_CFG_UUID, uuid, sizeof(uuid));
    rc |= set_le(f, FW_CFG_RAM_SIZE, m->ram_size, 8);
    rc |= set_le(f, FW_CFG_NOGRAPHIC, m->opt.nographic, 2);
    rc |= set_le(f, FW_CFG_NB_CPUS, 1, 2);
    rc |= set_le(f, FW_CFG_MAX_CPUS, 1, 2);
    rc |= set_le(f, FW_CFG_BOOT_MENU, 0, 2);
    rc |= rebuild_directory(f);
    /* struct e820_entry {u64 address; u64 length; u32 type;}, little-endian, packed. */
    put_le(e820, 0, 8);
    put_le(e820 + 8, m->ram_size, 8);
    put_le(e820 + 16, E820_RAM, 4);
    if (rc || fwcfg__add_file(m, "etc/e820", e820, sizeof(e820)) < 0 ||
        fwcfg__add_file(m, "bootorder", NULL, 0) < 0)
        return -1;
    return 0;
}

int fwcfg__create(struct machine *m, char *err, size_t errlen)
{
    struct fwcfg *f = calloc(1, sizeof(*f));

    if (!f) {
        snprintf(err, errlen, "out of memory creating fw_cfg");
        return -1;
    }
    f->m = m;
    if (bus__claim_pio(m, FW_CFG_PORT_CTL, 2, &fwcfg_ops, f)) {
        snprintf(err, errlen, "fw_cfg: ports 0x510-0x511 are already taken");
        free(f);
        return -1;
    }
    if (bus__claim_pio(m, FW_CFG_PORT_DMA, 8, &fwcfg_dma_ops, f)) {
        snprintf(err, errlen, "fw_cfg: ports 0x514-0x51b are already taken");
        return -1;
    }
    if (populate(f)) {
        snprintf(err, errlen, "out of memory filling fw_cfg");
        return -1;
    }
    fwcfg_reset(f);
    return 0;
}

void fwcfg__destroy(struct machine *m)
{
    struct fwcfg *f = fwcfg_of(m);

    if (!f)
        return;
    for (int i = 0; i < GENERIC_SLOTS; i++)
        free(f->generic[i].data);
    for (int i = 0; i < ARCH_SLOTS; i++)
        free(f->arch[i].data);
    free(f);
}
