/*
 * fuzz_wire.c - libFuzzer target for wire_decode.  The first byte picks
 * the message type (any value, so unknown types are exercised too), the
 * rest is the body.  Beyond "never crash, never read out of bounds", it
 * checks that the encoding is canonical: whatever decodes re-encodes to
 * exactly the input bytes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon \
 *       tests/fuzz/fuzz_wire.c common/wire.c -o /tmp/fuzz_wire
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_msg m;
	static uint8_t again[WIRE_BODY_MAX];
	size_t len = 0;

	if (size < 1)
		return 0;
	if (wire_decode(data[0], data + 1, size - 1, &m) != 0)
		return 0;
	if (m.type != data[0])
		abort();
	if (wire_encode(&m, again, sizeof(again), &len) != 0)
		abort();
	if (len != size - 1 || memcmp(again, data + 1, len) != 0)
		abort();
	return 0;
}
