/*
 * fs.h — durable file operations behind wpo.core.fs, for fs.c and its C test.
 */
#ifndef WPO_FS_H
#define WPO_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Write data to path so that path holds either its old content or all of
 * the new, whatever happens: a temp file in the same directory, written,
 * fsync'd, chmod'ed to mode, renamed over path, then the directory fsync'd.
 * WPO_FS_FAULT=after-temp-write|after-fsync|before-rename|after-rename makes
 * the process _exit(WPO_FS_FAULT_EXIT) at that step (for crash tests); with
 * ":N" appended, only in the Nth atomic write of the process. (Appenders,
 * in fs.c, have their own: journal-torn, journal-before-sync,
 * journal-after-sync, each with an optional ":N".)
 * 0, or -1 with err filled and errno set. */
#define WPO_FS_FAULT_EXIT 86
/* The temp file's name beside path: "." base ".tmp-" pid "-" counter. */
#define WPO_FS_TEMP_FORMAT ".%s.tmp-%ld-%u"
int wpo_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        char *err, size_t errlen);

/* Take an exclusive flock on path (created 0600 if absent) without waiting;
 * on success the file holds `info` (key=value lines) and *fd is the lock.
 * 1 when another process holds it (holder, up to holderlen, is its info),
 * -1 on error (err filled). */
int wpo_fs_lock(const char *path, const char *info, int *fd, char *holder, size_t holderlen,
                char *err, size_t errlen);
/* Clear the info and release the lock taken by wpo_fs_lock. */
void wpo_fs_unlock(int fd);

#endif
