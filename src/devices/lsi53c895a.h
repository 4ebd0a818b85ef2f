/*
 * The LSI53C895A PCI-to-Ultra2 SCSI controller with its SCRIPTS processor, and the SCSI
 * disks on its bus (-device lsi53c895a,id=ID and -device scsi-hd,drive=D,bus=ID.0,
 * scsi-id=N with -drive if=none,id=D,file=IMG,format=raw). It exists only when the command
 * line asks for it. See lsi53c895a.c.
 */
#ifndef TACHYON_LSI53C895A_H
#define TACHYON_LSI53C895A_H

#include <stddef.h>

struct machine;

#define LSI_PCI_DEV 3 /* 00:03.0, where QEMU's pc machine puts the first added card */

/* Machine table entry. */
int lsi53c895a__create(struct machine *m, char *err, size_t errlen);
void lsi53c895a__destroy(struct machine *m);

/* options.c: check the properties of -device lsi53c895a,... and -device scsi-hd,...
 * (name is the driver, props what follows its comma). 0, or -1 with a message. */
int lsi53c895a__check_device(const char *name, const char *props, char *err, size_t errlen);

#endif
