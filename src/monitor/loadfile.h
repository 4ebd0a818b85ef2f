/*
 * Reading a whole image file for the loaders (Multiboot kernels and modules, Linux
 * bzImages and initrds): one place for the checks and the messages that name the file.
 */
#ifndef TACHYON_LOADFILE_H
#define TACHYON_LOADFILE_H

#include <stddef.h>
#include <stdint.h>

struct machine;

/* Read the regular file at path (at most max bytes) into a malloc()ed *buf. Returns 0, or -1
 * with "cannot open <what> '<path>': ..."-style text in err. */
int loadfile__read(const struct machine *m, const char *what, const char *path, uint64_t max,
                   uint8_t **buf, size_t *size, char *err, size_t errlen);

#endif
