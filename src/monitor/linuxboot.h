/*
 * Linux bzImage loading (-kernel, -initrd, -append) through the 32-bit boot protocol of
 * Documentation/arch/x86/boot.rst: no real-mode setup code runs; tachyon fills the zero
 * page itself and enters the kernel's protected-mode entry point. See linuxboot.c.
 */
#ifndef TACHYON_LINUXBOOT_H
#define TACHYON_LINUXBOOT_H

#include <stdbool.h>
#include <stddef.h>

struct machine;

/* Guest-physical layout below 1 MiB (all inside the usable 0..0x9fc00 e820 range). */
#define LINUXBOOT_CMDLINE_ADDR 0x20000u     /* the kernel command line */
#define LINUXBOOT_BOOT_PARAMS_ADDR 0x90000u /* struct boot_params, the "zero page" (4 KiB) */
#define LINUXBOOT_GDT_ADDR 0x91000u         /* boot GDT: __BOOT_CS 0x10, __BOOT_DS 0x18 */
#define LINUXBOOT_MIN_VERSION 0x0206        /* protocol 2.06: cmdline_size, LOADED_HIGH */

/* True when `path` is a Linux bzImage ("HdrS" setup header) with no Multiboot header in its
 * first 8 KiB: main() sends such a kernel here instead of to the Multiboot loader. False
 * for anything unreadable (the Multiboot loader then reports the problem). */
bool linuxboot__is_bzimage(const char *path);

/* Load the protected-mode part of `bzimage` and `initrd` (NULL: none) into guest RAM, build
 * boot_params with `cmdline` (NULL: empty) and the e820 map, and set the vCPU to the 32-bit
 * entry state. Returns 0, or -1 with a message naming the file in err; every check comes
 * before the first write, so a failure leaves guest RAM and the vCPU untouched. */
int linuxboot__load(struct machine *m, const char *bzimage, const char *initrd, const char *cmdline,
                    char *err, size_t errlen);

#endif
