/*
 * test_ckpt_file.c - worker/ckpt_file.c: the checkpoint file on disk,
 * whatever a task leaves at its path.
 *
 *   - a regular file is read whole; over the cap: -EFBIG with its size;
 *   - a FIFO (no writer), a directory, a symbolic link: refused at once
 *     (-EINVAL, *st says what it is), never blocking;
 *   - a file shorter than its size says (a sysfs file: 4096 bytes by
 *     stat, a few by read) is not taken as whole: -EAGAIN;
 *   - writing replaces a FIFO left at the temporary path and at the path,
 *     and leaves no temporary file;
 *   - a directory at the path is moved aside; nothing else is touched.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static char dir[64], path[128], part[160];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_ckpt_file.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	snprintf(part, sizeof(part), "%s.part", path);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(ckpt_file, .init = setup, .fini = teardown, .timeout = 10);

static void put(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

Test(ckpt_file, regular_whole_and_over_the_cap)
{
	uint8_t *data;
	size_t size;
	struct stat st;
	put(path, "step 1\n");
	cr_assert_eq(agent_ckpt_read(path, 100, &data, &size, &st), 0);
	cr_assert_eq(size, 7);
	cr_assert(memcmp(data, "step 1\n", 7) == 0);
	free(data);
	cr_assert_eq(agent_ckpt_read(path, 3, &data, &size, &st), -EFBIG);
	cr_assert_eq(size, 7);
	cr_assert_null(data);
	unlink(path);
	cr_assert_eq(agent_ckpt_read(path, 100, &data, &size, &st), -ENOENT);
}

Test(ckpt_file, fifo_directory_link_refused_at_once)
{
	uint8_t *data;
	size_t size;
	struct stat st;
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(agent_ckpt_read(path, 100, &data, &size, &st), -EINVAL);
	cr_assert(S_ISFIFO(st.st_mode));
	cr_assert_str_eq(agent_ckpt_kind(st.st_mode), "a FIFO");
	unlink(path);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(agent_ckpt_read(path, 100, &data, &size, &st), -EINVAL);
	cr_assert_str_eq(agent_ckpt_kind(st.st_mode), "a directory");
	rmdir(path);
	char target[160];
	snprintf(target, sizeof(target), "%s/secret", dir);
	put(target, "not yours\n");
	cr_assert_eq(symlink(target, path), 0);
	cr_assert_eq(agent_ckpt_read(path, 100, &data, &size, &st), -EINVAL);
	cr_assert_str_eq(agent_ckpt_kind(st.st_mode), "a symbolic link");
	cr_assert_null(data);
}

Test(ckpt_file, shorter_than_its_size_is_not_whole)
{
	static const char sys[] = "/sys/devices/system/cpu/online";
	struct stat st;
	if (stat(sys, &st) < 0 || st.st_size < 64)
		cr_skip_test("no sysfs file that reads shorter than its size");
	uint8_t *data;
	size_t size;
	cr_assert_eq(agent_ckpt_read(sys, 1 << 20, &data, &size, &st), -EAGAIN);
	cr_assert_null(data);
}

Test(ckpt_file, write_replaces_fifos)
{
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(mkfifo(part, 0600), 0);
	cr_assert_eq(agent_ckpt_write(path, (const uint8_t *)"v2\n", 3), 0);
	uint8_t *data;
	size_t size;
	struct stat st;
	cr_assert_eq(agent_ckpt_read(path, 100, &data, &size, &st), 0);
	cr_assert_eq(size, 3);
	cr_assert(memcmp(data, "v2\n", 3) == 0);
	free(data);
	cr_assert_eq(lstat(part, &st), -1);
	cr_assert_eq(errno, ENOENT);
}

Test(ckpt_file, directory_moved_aside)
{
	struct stat st;
	put(path, "x");
	cr_assert_eq(agent_ckpt_clear_dir(path, 7, "t"), 0);
	cr_assert_eq(lstat(path, &st), 0, "a regular file is left alone");
	unlink(path);
	cr_assert_eq(agent_ckpt_clear_dir(path, 7, "t"), 0, "nothing there");
	cr_assert_eq(mkdir(path, 0700), 0);
	char inside[200], aside[200];
	snprintf(inside, sizeof(inside), "%s/x", path);
	put(inside, "x");
	cr_assert_eq(agent_ckpt_clear_dir(path, 7, "t"), 0);
	cr_assert_eq(lstat(path, &st), -1);
	snprintf(aside, sizeof(aside), "%s.moved-7/x", path);
	cr_assert_eq(lstat(aside, &st), 0);
	cr_assert_eq(agent_ckpt_remove(path), 0);
	cr_assert_eq(agent_ckpt_write(path, (const uint8_t *)"", 0), 0);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert_eq(st.st_size, 0);
}
