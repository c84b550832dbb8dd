/* SPDX-License-Identifier: Apache-2.0 */
#ifndef M2M_FILE_H
#define M2M_FILE_H

#include <stddef.h>

#include <m2m/ctx.h>

/*
 * Reading inputs with a size cap and writing outputs so that a reader
 * never sees half a file: what every command does with files.
 */

/*
 * Read the whole file at path, at most max bytes, into *buf (caller frees
 * with free(); NUL-terminated for convenience) and *len.  M2M_ERR_NOT_FOUND
 * if it does not exist, M2M_ERR_INVALID if it is larger than max or a
 * directory, M2M_ERR_IO otherwise.
 */
enum m2m_err m2m_file_read(struct m2m_ctx *ctx, const char *path, size_t max,
			   unsigned char **buf, size_t *len);

/* m2m_file_read() of an open file descriptor (not closed); name for messages. */
enum m2m_err m2m_fd_read(struct m2m_ctx *ctx, int fd, const char *name,
			 size_t max, unsigned char **buf, size_t *len);

#define M2M_WRITE_EXCL	0x1	/* fail with M2M_ERR_DUPLICATE if it exists */
#define M2M_WRITE_NOSYNC 0x2	/* no fsync: the caller syncs many at once
				   with m2m_sync_path() */

/*
 * Write data[0..len) to path durably and atomically: a new file in the
 * same directory (O_CREAT|O_EXCL|O_NOFOLLOW, mode), fsync, then rename over
 * path (or link, with M2M_WRITE_EXCL, so an existing path is never
 * replaced), then fsync of the directory.  Nothing is left behind on
 * failure.
 */
enum m2m_err m2m_file_write(struct m2m_ctx *ctx, const char *path,
			    const void *data, size_t len, unsigned mode,
			    unsigned flags);

/*
 * Make everything written to the file system that holds path durable
 * (syncfs(2) on its directory): one call after many M2M_WRITE_NOSYNC
 * writes instead of two fsyncs each.
 */
enum m2m_err m2m_sync_path(struct m2m_ctx *ctx, const char *path);

/* Nonzero if paths a and b are in the same directory (by their text). */
int m2m_same_dir(const char *a, const char *b);

#endif
