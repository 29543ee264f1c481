/*
 * fuzz_auth.c - libFuzzer target for auth_open with a fixed keyring of
 * two keys.  Random bytes almost never carry a valid tag, so besides
 * opening the raw input (header checks, size checks) it also seals the
 * input as a body, checks that it opens to the same bytes, and that
 * flipping one input-chosen byte of the datagram makes it fail; the
 * opened header then goes through the replay table.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon \
 *       tests/fuzz/fuzz_auth.c common/auth.c -lsodium -o /tmp/fuzz_auth
 */
#include "auth.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct auth_keyring kr;
static struct auth_replay *rt;
static struct auth_stats st;

/* The keyring goes through the real file loader, from a private temp file. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char text[] =
		"# fuzz keyring\n"
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
		"f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f\n";
	char path[] = "/tmp/fuzz_auth.XXXXXX", err[256];
	(void)argc;
	(void)argv;

	if (auth_init() != 0)
		abort();
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1))
		abort();
	close(fd);
	if (auth_keyring_load(path, &kr, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	unlink(path);
	if (auth_replay_new(64, &rt) != 0)
		abort();
	return 0;
}

static uint64_t take_u64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t body[AUTH_DATAGRAM_MAX], pkt[AUTH_DATAGRAM_MAX];
	struct auth_header h, got;
	size_t blen = 0, len = 0;

	/* 1. The raw bytes as a datagram. */
	int rc = auth_open(&kr, data, size, &got, body, sizeof(body), &blen, &st);
	if (rc == 0 && blen + AUTH_OVERHEAD != size)
		abort();
	if (rc == 0)
		(void)auth_replay_check(rt, &got, got.timestamp_ms, 1000, &st);

	/* 2. The bytes as a body: seal, open, compare, tamper. */
	if (size < 1 || size - 1 > WIRE_BODY_MAX)
		return 0;
	memset(&h, 0, sizeof(h));
	h.type = data[0];
	h.sender = take_u64(data, size);
	h.incarnation = take_u64(data + size / 2, size - size / 2);
	h.seq = size;
	h.timestamp_ms = (int64_t)take_u64(data, size) >> 1;
	kr.primary = data[0] & 1;
	if (auth_seal(&kr, &h, data + 1, size - 1, pkt, sizeof(pkt), &len) != 0)
		abort();
	if (auth_open(&kr, pkt, len, &got, body, sizeof(body), &blen, &st) != 0)
		abort();
	if (blen != size - 1 || memcmp(body, data + 1, blen) != 0 || got.type != h.type ||
	    got.sender != h.sender || got.incarnation != h.incarnation || got.seq != h.seq ||
	    got.timestamp_ms != h.timestamp_ms || got.key_id != kr.ids[kr.primary])
		abort();
	(void)auth_replay_check(rt, &got, (int64_t)take_u64(data + 1, size - 1), 30000, &st);

	size_t at = take_u64(data, size) % len;
	pkt[at] ^= (uint8_t)(data[size - 1] | 1);
	if (auth_open(&kr, pkt, len, &got, body, sizeof(body), &blen, &st) == 0)
		abort();
	return 0;
}
