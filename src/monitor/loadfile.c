/*
 * See loadfile.h. A file that shrinks while it is read, is not a regular file, or does not
 * fit in guest RAM is refused with a message naming it; nothing is half-read on failure.
 */
#include "monitor/loadfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/machine.h"

int loadfile__read(const struct machine *m, const char *what, const char *path, uint64_t max,
                   uint8_t **buf, size_t *size, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t done = 0;

    *buf = NULL;
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s '%s' is not a regular file", what, path);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        snprintf(err, errlen,
                 "%s '%s' (%llu bytes) does not fit in guest RAM (%llu MiB); give more memory "
                 "with -m",
                 what, path, (unsigned long long)st.st_size,
                 (unsigned long long)(m->ram_size >> 20));
        return -1;
    }
    *size = (size_t)st.st_size;
    *buf = malloc(*size ? *size : 1);
    if (!*buf) {
        close(fd);
        snprintf(err, errlen, "out of memory reading %s '%s'", what, path);
        return -1;
    }
    while (done < *size) {
        ssize_t n = read(fd, *buf + done, *size - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot read %s '%s': %s", what, path,
                     n < 0 ? strerror(errno) : "file shrank while reading");
            close(fd);
            free(*buf);
            *buf = NULL;
            return -1;
        }
        done += (size_t)n;
    }
    close(fd);
    return 0;
}
