/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A plain main() for the fuzz harnesses, for builds without libFuzzer:
 *
 *   replay_NAME PATH...
 *
 * Each PATH is a file, or a directory whose regular files (not recursive)
 * are run in name order.  LLVMFuzzerTestOneInput() is called once per
 * file; a harness reports a failed oracle by aborting.  Prints one summary
 * line on stderr and exits 0; exits 2 if a path cannot be read or a
 * directory holds no file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Larger inputs are not meaningful for any harness; libFuzzer's default. */
#define REPLAY_INPUT_MAX (1024 * 1024)

static const char *progname = "replay";
static unsigned long long nfiles, nbytes;

static void fail(const char *what, const char *path, int err)
{
	fprintf(stderr, "%s: cannot %s '%s': %s\n", progname, what, path,
		strerror(err));
	exit(2);
}

/* Read path whole and run the harness on it. */
static void run_file(const char *path)
{
	uint8_t *buf = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open", path, errno);
	for (;;) {
		if (len == cap) {
			if (cap == REPLAY_INPUT_MAX) {
				fprintf(stderr,
					"%s: '%s' is longer than %d bytes\n",
					progname, path, REPLAY_INPUT_MAX);
				exit(2);
			}
			cap = cap ? 2 * cap : 4096;
			if (cap > REPLAY_INPUT_MAX)
				cap = REPLAY_INPUT_MAX;
			p = realloc(buf, cap);
			if (!p)
				fail("read", path, ENOMEM);
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("read", path, errno);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	/*
	 * An exact-size copy, so that ASan sees a read past the end of the
	 * input as it would with libFuzzer.
	 */
	p = malloc(len ? len : 1);
	if (!p)
		fail("read", path, ENOMEM);
	if (len)
		memcpy(p, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(p, len);
	free(p);
	nfiles++;
	nbytes += len;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly inside dir, in name order. */
static void run_dir(const char *dir)
{
	char **names = NULL, **more, *path;
	size_t n = 0, cap = 0, i, runs = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	d = opendir(dir);
	if (!d)
		fail("open directory", dir, errno);
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			more = realloc(names, cap * sizeof(*names));
			if (!more)
				fail("read directory", dir, ENOMEM);
			names = more;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			fail("read directory", dir, ENOMEM);
		n++;
	}
	if (errno)
		fail("read directory", dir, errno);
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		size_t plen = strlen(dir) + strlen(names[i]) + 2;

		path = malloc(plen);
		if (!path)
			fail("read directory", dir, ENOMEM);
		snprintf(path, plen, "%s/%s", dir, names[i]);
		if (stat(path, &st) < 0)
			fail("stat", path, errno);
		if (S_ISREG(st.st_mode)) {
			run_file(path);
			runs++;
		}
		free(path);
		free(names[i]);
	}
	free(names);
	if (runs == 0) {
		fprintf(stderr, "%s: directory '%s' holds no file to run\n",
			progname, dir);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct stat st;
	int i;

	if (argc > 0 && argv[0][0]) {
		const char *slash = strrchr(argv[0], '/');

		progname = slash ? slash + 1 : argv[0];
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", progname);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) < 0)
			fail("read", argv[i], errno);
		if (S_ISDIR(st.st_mode))
			run_dir(argv[i]);
		else
			run_file(argv[i]);
	}
	fprintf(stderr, "%s: %llu inputs, %llu bytes, all passed\n", progname,
		nfiles, nbytes);
	return 0;
}
