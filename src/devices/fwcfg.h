/*
 * QEMU's firmware configuration device (fw_cfg) at 0x510/0x511 with the DMA
 * interface at 0x514, which SeaBIOS reads to learn the machine. See fwcfg.c.
 */
#ifndef TACHYON_FWCFG_H
#define TACHYON_FWCFG_H

#include <stddef.h>
#include <stdint.h>

struct machine;

/* Selector keys (QEMU's docs/specs/fw_cfg.rst and its fw_cfg_keys.h). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MACHINE_ID 0x06
#define FW_CFG_KERNEL_ADDR 0x07
#define FW_CFG_KERNEL_SIZE 0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR 0x0a
#define FW_CFG_INITRD_SIZE 0x0b
#define FW_CFG_BOOT_DEVICE 0x0c
#define FW_CFG_NUMA 0x0d
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_KERNEL_ENTRY 0x10
#define FW_CFG_KERNEL_DATA 0x11
#define FW_CFG_INITRD_DATA 0x12
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_ADDR 0x16
#define FW_CFG_SETUP_SIZE 0x17
#define FW_CFG_SETUP_DATA 0x18
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_ARCH_LOCAL 0x8000 /* x86: 0x8000 ACPI tables, 0x8002 IRQ0 override, ... */

#define FWCFG_MAX_FILES 64
#define FWCFG_NAME_MAX 56 /* including the NUL */

/* Machine table entry. Adds the signature, ID, RAM size, CPU counts, etc/e820 and an
 * empty bootorder. */
int fwcfg__create(struct machine *m, char *err, size_t errlen);
void fwcfg__destroy(struct machine *m);

/* Add a named item to the file directory (or replace the one of that name). The data is
 * copied. Returns its selector, or -1 (no fw_cfg, name too long, directory full). */
int fwcfg__add_file(struct machine *m, const char *name, const void *data, uint32_t len);

/* Set a fixed-key item (FW_CFG_KERNEL_SIZE, ..., or FW_CFG_ARCH_LOCAL | n): copied.
 * Returns 0, or -1 for a key this device has no slot for. */
int fwcfg__add_key(struct machine *m, uint16_t key, const void *data, uint32_t len);

#endif
