/*
 * fuzz_swim.c - libFuzzer target for the membership decoder: fuzzer bytes
 * go to swim_receive() of a member that already knows two others, with
 * seams that send nowhere.  Finds reads past the payload, trailing-byte
 * acceptance and state corruption that trips the library's asserts.
 *
 *   make fuzz   (or: clang -fsanitize=fuzzer,address,undefined ...)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "swim.h"

static int64_t now_ms;

static int fz_send(void *ctx, const char *to, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)to;
	(void)buf;
	(void)len;
	return 0;
}

static int64_t fz_now(void *ctx)
{
	(void)ctx;
	return now_ms;
}

static uint64_t fz_random(void *ctx)
{
	(void)ctx;
	static uint64_t x = 88172645463325252ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct swim_callbacks cb = {.send = fz_send, .now_ms = fz_now, .random_u64 = fz_random};
	struct swim *s;
	now_ms = 1000;
	if (swim_new(NULL, &cb, "self", "127.0.0.1:7001", 1, NULL, 0, &s) != 0)
		abort();
	swim_add_seed(s, "127.0.0.1:7002");
	swim_join(s);
	swim_receive(s, "127.0.0.1:7002", data, size);
	now_ms += 5000;
	swim_tick(s);
	swim_receive(s, "127.0.0.1:7003", data, size);
	swim_free(s);
	return 0;
}
