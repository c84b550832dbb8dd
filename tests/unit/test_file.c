/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of include/m2m/file.h: capped reads, atomic writes. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <m2m/ctx.h>
#include <m2m/file.h>

#include "unit.h"

static struct m2m_ctx *ctx;
static char dir[] = "/tmp/m2m-file-XXXXXX";

static const char *in_dir(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

/* Names in dir other than . and .., counted. */
static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

UNIT_TEST(write_then_read_back_with_mode)
{
	char path[256];
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;

	in_dir(path, sizeof(path), "a.txt");
	CHECK_EQ_INT(m2m_file_write(ctx, path, "hello\n", 6, 0600, 0), M2M_OK);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_EQ_INT(m2m_file_read(ctx, path, 100, &buf, &len), M2M_OK);
	CHECK_EQ_INT(len, 6);
	CHECK_EQ_MEM(buf, "hello\n", 6);
	free(buf);
	/* replaced whole, and no temporary file left */
	CHECK_EQ_INT(m2m_file_write(ctx, path, "bye", 3, 0600,
				    M2M_WRITE_NOSYNC), M2M_OK);
	CHECK_EQ_INT(m2m_sync_path(ctx, path), M2M_OK);
	CHECK_EQ_INT(m2m_file_read(ctx, path, 100, &buf, &len), M2M_OK);
	CHECK_EQ_INT(len, 3);
	free(buf);
	CHECK_EQ_INT(entries(), 1);
	unlink(path);
}

UNIT_TEST(excl_never_replaces)
{
	char path[256];
	unsigned char *buf = NULL;
	size_t len = 0;

	in_dir(path, sizeof(path), "b.txt");
	CHECK_EQ_INT(m2m_file_write(ctx, path, "one", 3, 0644, M2M_WRITE_EXCL),
		     M2M_OK);
	m2m_ctx_clear_error(ctx);
	CHECK_EQ_INT(m2m_file_write(ctx, path, "two", 3, 0644, M2M_WRITE_EXCL),
		     M2M_ERR_DUPLICATE);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "File exists");
	CHECK_EQ_INT(m2m_file_read(ctx, path, 100, &buf, &len), M2M_OK);
	CHECK_EQ_MEM(buf, "one", 3);
	free(buf);
	CHECK_EQ_INT(entries(), 1);
	unlink(path);
}

/* A new file is made unnamed and named when whole; the ways round it. */
UNIT_TEST(new_files_and_names_taken_meanwhile)
{
	char path[256], target[256], link_to[300];
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;
	mode_t old = umask(022);

	/* The mode asked for, less the umask, as open(2) gives it. */
	in_dir(path, sizeof(path), "new.pem");
	CHECK_EQ_INT(m2m_file_write(ctx, path, "cert", 4, 0666, 0), M2M_OK);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	CHECK_EQ_INT(entries(), 1);
	unlink(path);
	umask(old);

	/* A dangling symbolic link is a name taken: it is replaced by the
	 * file, as a regular file would be; its target is not made. */
	in_dir(target, sizeof(target), "nowhere");
	in_dir(path, sizeof(path), "dangling");
	if (!CHECK(symlink(target, path) == 0))
		return;
	CHECK_EQ_INT(m2m_file_write(ctx, path, "data", 4, 0644,
				    M2M_WRITE_NOSYNC), M2M_OK);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	CHECK(stat(target, &st) != 0);
	CHECK_EQ_INT(m2m_file_read(ctx, path, 100, &buf, &len), M2M_OK);
	CHECK_EQ_INT(len, 4);
	free(buf);
	CHECK_EQ_INT(entries(), 1);
	unlink(path);

	/* ... and with M2M_WRITE_EXCL, it is not. */
	if (!CHECK(symlink(target, path) == 0))
		return;
	CHECK_EQ_INT(m2m_file_write(ctx, path, "data", 4, 0644,
				    M2M_WRITE_EXCL), M2M_ERR_DUPLICATE);
	CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
	CHECK_EQ_INT(entries(), 1);
	unlink(path);

	/* A directory that is not there: named in one error, nothing made. */
	snprintf(link_to, sizeof(link_to), "%s/no/such.pem", dir);
	CHECK_EQ_INT(m2m_file_write(ctx, link_to, "x", 1, 0644, 0),
		     M2M_ERR_IO);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "/no/such.pem': No such file or directory");
	CHECK_EQ_INT(entries(), 0);
}

UNIT_TEST(a_fifo_is_written_to_not_replaced)
{
	char path[256], got[16];
	struct stat st;
	pid_t pid;
	int status = -1, fd;
	ssize_t n;

	in_dir(path, sizeof(path), "fifo");
	if (!CHECK(mkfifo(path, 0600) == 0))
		return;
	pid = fork();
	if (pid == 0) {
		fd = open(path, O_RDONLY);
		n = fd < 0 ? -1 : read(fd, got, sizeof(got));
		_exit(n == 4 && memcmp(got, "data", 4) == 0 ? 0 : 1);
	}
	CHECK_EQ_INT(m2m_file_write(ctx, path, "data", 4, 0644, 0), M2M_OK);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(stat(path, &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK_EQ_INT(m2m_file_write(ctx, path, "x", 1, 0644, M2M_WRITE_EXCL),
		     M2M_ERR_DUPLICATE);
	unlink(path);
}

UNIT_TEST(reads_are_capped_and_missing_is_not_found)
{
	char path[256];
	unsigned char *buf = NULL;
	size_t len = 0;

	in_dir(path, sizeof(path), "big");
	CHECK_EQ_INT(m2m_file_write(ctx, path, "0123456789", 10, 0644, 0),
		     M2M_OK);
	CHECK_EQ_INT(m2m_file_read(ctx, path, 9, &buf, &len), M2M_ERR_INVALID);
	CHECK_CONTAINS(m2m_ctx_detail(ctx), "is larger than 9 bytes");
	CHECK(buf == NULL);
	CHECK_EQ_INT(m2m_file_read(ctx, path, 10, &buf, &len), M2M_OK);
	free(buf);
	unlink(path);
	CHECK_EQ_INT(m2m_file_read(ctx, path, 10, &buf, &len),
		     M2M_ERR_NOT_FOUND);
	CHECK_EQ_INT(m2m_file_read(ctx, dir, 10, &buf, &len), M2M_ERR_INVALID);
}

/* /proc files say they are empty: read in growing steps to the cap. */
UNIT_TEST(a_file_that_tells_no_size_is_read_whole)
{
	static char want[1 << 16];
	unsigned char *buf = NULL;
	size_t len = 0, n = 0;
	ssize_t r;
	struct stat st;
	int fd = open("/proc/cpuinfo", O_RDONLY);

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size != 0) {
		CHECK_MSG(0, "/proc/cpuinfo is not there or tells a size");
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((r = read(fd, want + n, sizeof(want) - n)) > 0)
		n += (size_t)r;
	close(fd);
	CHECK(n > 1);		/* more than the first guess */
	CHECK_EQ_INT(m2m_file_read(ctx, "/proc/cpuinfo", sizeof(want), &buf,
				   &len), M2M_OK);
	CHECK_EQ_INT(len, n);
	if (buf && len == n) {
		CHECK_EQ_MEM(buf, want, n);
		CHECK_EQ_INT(buf[len], 0);
	}
	free(buf);
	buf = NULL;
	CHECK_EQ_INT(m2m_file_read(ctx, "/proc/cpuinfo", n - 1, &buf, &len),
		     M2M_ERR_INVALID);
	CHECK(buf == NULL);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT(write_then_read_back_with_mode),
		UNIT(excl_never_replaces),
		UNIT(new_files_and_names_taken_meanwhile),
		UNIT(a_fifo_is_written_to_not_replaced),
		UNIT(reads_are_capped_and_missing_is_not_found),
		UNIT(a_file_that_tells_no_size_is_read_whole),
	};
	int rc;

	if (!mkdtemp(dir) || m2m_ctx_new(&ctx) != M2M_OK)
		return 2;
	rc = unit_run(tests, UNIT_COUNT(tests));
	m2m_ctx_free(ctx);
	rmdir(dir);
	return rc;
}
