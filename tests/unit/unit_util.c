/* Shared helpers for the cmocka unit tests. */
#include "unit_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/raven-unit-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return tmpl;
}

void unit_rmtree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == -1)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d)) != NULL) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				char *sub = xasprintf("%s/%s", path, de->d_name);
				unit_rmtree(sub);
				free(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

char *unit_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd == -1)
		return NULL;
	struct stat st;
	fstat(fd, &st);
	char *p = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	p[got] = 0;
	if (len)
		*len = got;
	return p;
}

const char *unit_testdata(void)
{
	const char *e = getenv("RAVEN_TESTDATA");
	return e && *e ? e : UNIT_SOURCE_DIR "/../vectors";
}
