/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum m2m_err m2m_fd_read(struct m2m_ctx *ctx, int fd, const char *name,
			 size_t max, unsigned char **buf, size_t *len)
{
	unsigned char *data = NULL, *bigger;
	struct stat st;
	size_t n = 0, size = max + 1, whole = 0;
	enum m2m_err rc;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return m2m_error(ctx, M2M_ERR_INVALID,
					 "cannot read '%s': %s", name,
					 strerror(EISDIR));
		/*
		 * A file's size is the first guess (a byte more shows its
		 * end): a buffer of max bytes for every small file read in
		 * a batch costs page faults.  It grows if the file does.
		 */
		if (S_ISREG(st.st_mode) && st.st_size >= 0 &&
		    (unsigned long long)st.st_size < max) {
			size = (size_t)st.st_size + 1;
			whole = (size_t)st.st_size;	/* 0: /proc's say so */
		}
	}
	data = malloc(size);
	if (!data)
		return m2m_error(ctx, M2M_ERR_NOMEM, "out of memory");
	for (;;) {
		ssize_t r;

		if (n == size) {
			/* A file that grew, or one that tells no size (/proc) */
			size = size < 2048 ? 4096 : 2 * size;
			if (size > max + 1)
				size = max + 1;
			bigger = realloc(data, size);
			if (!bigger) {
				rc = m2m_error(ctx, M2M_ERR_NOMEM,
					       "out of memory");
				goto out;
			}
			data = bigger;
		}
		r = read(fd, data + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = m2m_error(ctx, M2M_ERR_IO, "cannot read '%s': %s",
				       name, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = m2m_error(ctx, M2M_ERR_INVALID,
				       "'%s' is larger than %zu bytes", name,
				       max);
			goto out;
		}
		/*
		 * All the file said it held: its end, as it was when it was
		 * opened (the read that would only say so is saved).
		 */
		if (whole && n == whole)
			break;
	}
	data[n] = '\0';		/* n < size: the last read found room */
	*buf = data;
	*len = n;
	data = NULL;
	rc = M2M_OK;
out:
	free(data);
	return rc;
}

enum m2m_err m2m_file_read(struct m2m_ctx *ctx, const char *path, size_t max,
			   unsigned char **buf, size_t *len)
{
	enum m2m_err rc;
	int fd;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return m2m_error(ctx, errno == ENOENT ? M2M_ERR_NOT_FOUND :
				 M2M_ERR_IO, "cannot open '%s': %s", path,
				 strerror(errno));
	rc = m2m_fd_read(ctx, fd, path, max, buf, len);
	close(fd);
	return rc;
}

static void dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* All of data[0..len) to fd; -1 with errno on failure. */
static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t done = 0;

	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

static enum m2m_err write_in_place(struct m2m_ctx *ctx, const char *path,
				   const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return m2m_error(ctx, M2M_ERR_IO, "cannot open '%s': %s", path,
				 strerror(errno));
	if (write_all(fd, data, len) < 0) {
		int saved = errno;

		close(fd);
		return m2m_error(ctx, M2M_ERR_IO, "cannot write '%s': %s",
				 path, strerror(saved));
	}
	if (close(fd) < 0)
		return m2m_error(ctx, M2M_ERR_IO, "cannot write '%s': %s",
				 path, strerror(errno));
	return M2M_OK;
}

/*
 * A new file that appears whole or not at all, without a temporary name:
 * made unnamed in path's directory (O_TMPFILE), written, then linked in
 * as path.  One change to the directory where a temporary name and a
 * rename make three (on this project's machines a batch's certificate
 * costs a quarter less to write), and a crash leaves nothing behind.
 * Returns 1 if it wrote or failed for good (*rc says which), 0 if the
 * caller must write the usual way: the file system has no O_TMPFILE,
 * there is no /proc, or path has come to exist meanwhile (and is to be
 * replaced); the usual way also names any other error best.
 */
static int write_unnamed(struct m2m_ctx *ctx, const char *path,
			 const void *data, size_t len, unsigned mode,
			 unsigned flags, enum m2m_err *rc)
{
	char dir[PATH_MAX], fdpath[40];
	int fd, dfd, e;

	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, mode);
	if (fd < 0)
		return 0;
	if (write_all(fd, data, len) < 0 ||
	    (!(flags & M2M_WRITE_NOSYNC) && fsync(fd) < 0)) {
		*rc = m2m_error(ctx, M2M_ERR_IO, "cannot write '%s': %s", path,
				strerror(errno));
		close(fd);	/* the unnamed file goes with it */
		return 1;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, fdpath, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
		e = errno;
		close(fd);
		if (e == EEXIST && (flags & M2M_WRITE_EXCL)) {
			*rc = m2m_error(ctx, M2M_ERR_DUPLICATE,
					"cannot create '%s': %s", path,
					strerror(e));
			return 1;
		}
		return 0;
	}
	if (close(fd) < 0) {
		*rc = m2m_error(ctx, M2M_ERR_IO, "cannot write '%s': %s", path,
				strerror(errno));
		unlink(path);
		return 1;
	}
	if (!(flags & M2M_WRITE_NOSYNC)) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	*rc = M2M_OK;
	return 1;
}

enum m2m_err m2m_file_write(struct m2m_ctx *ctx, const char *path,
			    const void *data, size_t len, unsigned mode,
			    unsigned flags)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	enum m2m_err rc = M2M_ERR_IO;
	int fd = -1, dfd, made = 0;

	/*
	 * A new file is made unnamed and then named (write_unnamed), else
	 * under a temporary name that is renamed.  A device or a pipe
	 * (/dev/stdout, /dev/null, a FIFO) is written to as it is: renaming
	 * over it would replace it with a plain file.
	 */
	if (stat(path, &st) < 0) {
		if (errno == ENOENT &&
		    write_unnamed(ctx, path, data, len, mode, flags, &rc))
			return rc;
	} else if (!S_ISREG(st.st_mode)) {
		if (flags & M2M_WRITE_EXCL)
			return m2m_error(ctx, M2M_ERR_DUPLICATE,
					 "cannot create '%s': %s", path,
					 strerror(EEXIST));
		if (S_ISDIR(st.st_mode))
			return m2m_error(ctx, M2M_ERR_IO,
					 "cannot write '%s': %s", path,
					 strerror(EISDIR));
		return write_in_place(ctx, path, data, len);
	}

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path,
			     (long)getpid()) >= sizeof(tmp))
		return m2m_error(ctx, M2M_ERR_INVALID, "path '%s' is too long",
				 path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0) {
		rc = m2m_error(ctx, M2M_ERR_IO, "cannot create '%s': %s", path,
			       strerror(errno));
		goto out;
	}
	made = 1;
	if (write_all(fd, data, len) < 0) {
		rc = m2m_error(ctx, M2M_ERR_IO, "cannot write '%s': %s", path,
			       strerror(errno));
		goto out;
	}
	if ((!(flags & M2M_WRITE_NOSYNC) && fsync(fd) < 0) || close(fd) < 0) {
		fd = -1;
		rc = m2m_error(ctx, M2M_ERR_IO, "cannot write '%s': %s", path,
			       strerror(errno));
		goto out;
	}
	fd = -1;
	if (flags & M2M_WRITE_EXCL) {
		if (link(tmp, path) < 0) {
			rc = m2m_error(ctx, errno == EEXIST ?
				       M2M_ERR_DUPLICATE : M2M_ERR_IO,
				       "cannot create '%s': %s", path,
				       strerror(errno));
			goto out;
		}
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		rc = m2m_error(ctx, M2M_ERR_IO, "cannot replace '%s': %s", path,
			       strerror(errno));
		goto out;
	}
	made = 0;
	if (!(flags & M2M_WRITE_NOSYNC)) {
		dir_of(path, dir, sizeof(dir));
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	rc = M2M_OK;
out:
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	return rc;
}

enum m2m_err m2m_sync_path(struct m2m_ctx *ctx, const char *path)
{
	char dir[PATH_MAX];
	int fd, r;

	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return m2m_error(ctx, M2M_ERR_IO, "cannot open '%s': %s", dir,
				 strerror(errno));
	r = syncfs(fd);
	close(fd);
	if (r < 0)
		return m2m_error(ctx, M2M_ERR_IO, "cannot sync '%s': %s", dir,
				 strerror(errno));
	return M2M_OK;
}

int m2m_same_dir(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	size_t la = sa ? (size_t)(sa - a) : 0, lb = sb ? (size_t)(sb - b) : 0;

	return la == lb && strncmp(a, b, la) == 0;
}
