/*
 * ckpt_file.c - the checkpoint file on disk (LOG_DIR/TASK/checkpoint):
 * read, written, removed.
 *
 * The path belongs to the task's process, which may put anything there:
 * a FIFO, a directory, a symbolic link.  None of it may block workerd
 * (its one thread also renews leases: a blocked open is a fenced node and
 * a second copy of the run elsewhere) or make later runs of the task
 * fail.  So every open is non-blocking and refuses what is not a regular
 * file after fstat; the temporary file is created afresh (O_EXCL), never
 * opened as found; and a directory at either path is moved aside before a
 * run starts, since neither unlink nor rename can replace it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

const char *agent_ckpt_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISREG(mode))
		return "a regular file";
	return "a device";
}

int agent_ckpt_read(const char *path, size_t max, uint8_t **data, size_t *size, struct stat *st)
{
	*data = NULL;
	*size = 0;
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP) {
			memset(st, 0, sizeof(*st));
			st->st_mode = S_IFLNK;
			return -EINVAL;
		}
		return -errno;
	}
	int rc = 0;
	uint8_t *buf = NULL;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st->st_size > max) {
		*size = (size_t)st->st_size;
		rc = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st->st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	size_t n = 0;
	ssize_t got;
	/* The file may grow while read: never past its size + 1. */
	while ((got = read(fd, buf + n, (size_t)st->st_size + 1 - n)) > 0) {
		n += (size_t)got;
		if (n > (size_t)st->st_size)
			break;
	}
	if (got < 0) {
		rc = -EIO;
		goto out;
	}
	/* Shorter or longer than it was, or written meanwhile: not a whole
	 * version of it; the caller tries again later. */
	struct stat after;
	if (n != (size_t)st->st_size || fstat(fd, &after) < 0 || after.st_size != st->st_size ||
	    after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != st->st_mtim.tv_nsec) {
		rc = -EAGAIN;
		goto out;
	}
	*data = buf;
	*size = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int agent_ckpt_write(const char *path, const uint8_t *data, size_t len)
{
	char tmp[WSTORE_PATH_MAX + 16];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.part", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* Whatever a task left under this name (a FIFO: opening it to write
	 * would wait for a reader) goes; the file is ours only if we create it. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return -errno;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
	if (fd < 0)
		return -errno;
	int rc = 0;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int agent_ckpt_remove(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int agent_ckpt_clear_dir(const char *path, uint64_t run_id, const char *task)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	char aside[WSTORE_PATH_MAX + 40];
	if ((size_t)snprintf(aside, sizeof(aside), "%s.moved-%llu", path,
			     (unsigned long long)run_id) >= sizeof(aside))
		return -ENAMETOOLONG;
	if (rename(path, aside) < 0)
		return -errno;
	log_warnx("run %llu of %s: a directory was at %s; moved aside to %s",
		  (unsigned long long)run_id, task, path, aside);
	return 0;
}
