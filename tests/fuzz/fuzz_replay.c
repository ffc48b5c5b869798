/* SPDX-License-Identifier: MIT */
/*
 * fuzz_replay.c - runs a fuzz target over files, without libFuzzer.
 *
 * usage: fuzz_<target>_replay PATH...   (a PATH may be a corpus directory)
 *
 * Each file is read into a buffer of exactly its size, so ASan reports a
 * read past the end as libFuzzer would. Fails when no input was found: a
 * replay of nothing would pass without testing anything.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long size;
	int rc = -1;

	if (!f) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto fail;
	buf = malloc(size > 0 ? (size_t)size : 1);
	if (!buf)
		goto fail;
	if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)
		goto fail;
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	rc = 0;
fail:
	if (rc)
		fprintf(stderr, "fuzz_replay: %s: cannot read\n", path);
	free(buf);
	fclose(f);
	return rc;
}

/* Runs every regular file of dir (not recursively, skipping dot files). */
static int run_dir(const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) {
			rc = -1;
			continue;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path) != 0)
			rc = -1;
		else
			(*count)++;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz_replay: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) != 0)
				rc = 1;
		} else if (run_file(argv[i]) == 0) {
			count++;
		} else {
			rc = 1;
		}
	}
	printf("fuzz_replay: %u inputs\n", count);
	if (count == 0) {
		fprintf(stderr, "fuzz_replay: no inputs (usage: %s CORPUS_DIR|FILE...)\n", argv[0]);
		return 1;
	}
	return rc;
}
