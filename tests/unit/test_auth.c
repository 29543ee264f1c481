/*
 * test_auth.c - the authenticated datagram, the keyring file and the
 * replay table.  Every refusal is asserted with the exact counter it
 * bumps, and every other counter is asserted to have stayed put.
 */
#include "auth.h"
#include "wire.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"
#define KEY_C "5555555555555555555555555555555555555555555555555555555555555555"

static char dir[64];
static char errbuf[512];

static void setup(void)
{
	cr_assert_eq(auth_init(), 0);
	strcpy(dir, "/tmp/test_auth.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(auth, .init = setup, .fini = teardown);

/* Write text to dir/name with the given mode; returns the path (static). */
static const char *keyfile(const char *name, const char *text, mode_t mode)
{
	static char path[4][128];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return p;
}

static void load(struct auth_keyring *kr, const char *name, const char *text)
{
	const char *p = keyfile(name, text, 0600);
	cr_assert_eq(auth_keyring_load(p, kr, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
}

/* Every counter, exactly. */
static void expect(const struct auth_stats *got, struct auth_stats want)
{
#define F(f) cr_assert_eq(got->f, want.f, #f ": got %llu, want %llu", \
			  (unsigned long long)got->f, (unsigned long long)want.f)
	F(accepted); F(short_packet); F(oversized); F(bad_magic); F(bad_version);
	F(unknown_key); F(bad_tag); F(replayed); F(stale_incarnation); F(not_fresh);
#undef F
}

static struct auth_header hdr(uint64_t inc, uint64_t seq, int64_t ts)
{
	return (struct auth_header){ .type = WIRE_ACK, .sender = auth_sender_id("w1"),
				     .incarnation = inc, .seq = seq, .timestamp_ms = ts };
}

static size_t seal(const struct auth_keyring *kr, const struct auth_header *h,
		   const uint8_t *body, size_t blen, uint8_t *out)
{
	size_t len = 0;
	cr_assert_eq(auth_seal(kr, h, body, blen, out, AUTH_DATAGRAM_MAX, &len), 0);
	cr_assert_eq(len, blen + AUTH_OVERHEAD);
	return len;
}

/* ---- seal / open ------------------------------------------------------ */

Test(auth, seal_open_round_trip)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_header h = hdr(7, 9, INT64_C(1700000000123)), got;
	uint8_t body[WIRE_BODY_MAX], pkt[AUTH_DATAGRAM_MAX], out[WIRE_BODY_MAX];
	size_t blen = 0;

	load(&kr, "k", KEY_A "\n");
	h.type = WIRE_DISPATCH;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);

	static const size_t sizes[] = { 0, 1, 100, WIRE_BODY_MAX };
	for (size_t s = 0; s < 4; s++) {
		size_t len = seal(&kr, &h, body, sizes[s], pkt);
		cr_assert_eq(pkt[0], 'S');
		cr_assert_eq(pkt[1], 'D');
		cr_assert_eq(auth_open(&kr, pkt, len, &got, out, sizeof(out), &blen, &st), 0);
		cr_assert_eq(blen, sizes[s]);
		cr_assert_arr_eq(out, body, blen);
		cr_assert_eq(got.version, WIRE_VERSION);
		cr_assert_eq(got.type, WIRE_DISPATCH);
		cr_assert_eq(got.key_id, kr.ids[0]);
		cr_assert_eq(got.sender, h.sender);
		cr_assert_eq(got.incarnation, 7);
		cr_assert_eq(got.seq, 9);
		cr_assert_eq(got.timestamp_ms, INT64_C(1700000000123));
	}
	/* auth_open refuses or passes; accepting is the replay table's call. */
	expect(&st, (struct auth_stats){ 0 });
}

Test(auth, seal_uses_fresh_nonces_and_refuses_big_bodies)
{
	struct auth_keyring kr;
	struct auth_header h = hdr(1, 1, 0);
	uint8_t body[WIRE_BODY_MAX + 1] = { 0 }, p1[AUTH_DATAGRAM_MAX + 1], p2[AUTH_DATAGRAM_MAX];
	size_t len = 0;

	load(&kr, "k", KEY_A "\n");
	size_t l1 = seal(&kr, &h, body, 32, p1), l2 = seal(&kr, &h, body, 32, p2);
	cr_assert_eq(l1, l2);
	cr_assert_arr_eq(p1, p2, 40);                       /* same clear fields */
	cr_assert_arr_neq(p1 + 40, p2 + 40, 24);            /* fresh nonce */
	cr_assert_arr_neq(p1 + 64, p2 + 64, l1 - 64);       /* so other ciphertext */

	cr_assert_eq(auth_seal(&kr, &h, body, WIRE_BODY_MAX + 1, p1, sizeof(p1), &len),
		     -EMSGSIZE);
	cr_assert_eq(auth_seal(&kr, &h, body, 10, p1, 10 + AUTH_OVERHEAD - 1, &len), -EMSGSIZE);
	cr_assert_eq(auth_seal(&kr, &h, body, 10, p1, 10 + AUTH_OVERHEAD, &len), 0);
}

/*
 * Flip every byte in turn.  magic, version and key id are checked before
 * the tag and have their own counters; the type byte, the rest of the
 * header (it is the associated data), the nonce, the ciphertext and the
 * tag all fail the tag.
 */
Test(auth, every_tampered_byte_is_refused_and_counted)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_header got;
	uint8_t body[48], pkt[AUTH_DATAGRAM_MAX], bad[AUTH_DATAGRAM_MAX], out[WIRE_BODY_MAX];
	size_t blen = 0;

	load(&kr, "k", KEY_A "\n");
	memset(body, 'b', sizeof(body));
	struct auth_header h = hdr(1, 2, 3);
	size_t len = seal(&kr, &h, body, sizeof(body), pkt);

	for (size_t i = 0; i < len; i++) {
		struct auth_stats before = st;
		memcpy(bad, pkt, len);
		bad[i] ^= 0x80;
		cr_assert_eq(auth_open(&kr, bad, len, &got, out, sizeof(out), &blen, &st),
			     -EBADMSG, "byte %zu", i);
		uint64_t *want = i < 2 ? &before.bad_magic
			: i == 2 ? &before.bad_version
			: i >= 4 && i < 8 ? &before.unknown_key : &before.bad_tag;
		(*want)++;
		expect(&st, before);
	}
	expect(&st, (struct auth_stats){ .bad_magic = 2, .bad_version = 1, .unknown_key = 4,
					 .bad_tag = len - 7 });
	/* The original still opens. */
	cr_assert_eq(auth_open(&kr, pkt, len, &got, out, sizeof(out), &blen, &st), 0);
}

Test(auth, every_truncation_is_refused_and_counted)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_header got;
	uint8_t body[100] = { 1 }, pkt[AUTH_DATAGRAM_MAX], out[WIRE_BODY_MAX];
	size_t blen = 0;

	load(&kr, "k", KEY_A "\n");
	struct auth_header h = hdr(1, 2, 3);
	size_t len = seal(&kr, &h, body, sizeof(body), pkt);
	for (size_t l = 0; l < len; l++)
		cr_assert_eq(auth_open(&kr, pkt, l, &got, out, sizeof(out), &blen, &st), -EBADMSG,
			     "length %zu", l);
	/* Shorter than header + tag: short; from there on the tag fails. */
	expect(&st, (struct auth_stats){ .short_packet = AUTH_OVERHEAD,
					 .bad_tag = len - AUTH_OVERHEAD });
}

Test(auth, oversized_is_refused_and_counted)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_header got;
	static uint8_t body[WIRE_BODY_MAX], pkt[AUTH_DATAGRAM_MAX + 100], out[WIRE_BODY_MAX + 100];
	size_t blen = 0;

	load(&kr, "k", KEY_A "\n");
	struct auth_header h = hdr(1, 2, 3);
	size_t len = seal(&kr, &h, body, WIRE_BODY_MAX, pkt);
	cr_assert_eq(len, AUTH_DATAGRAM_MAX);
	cr_assert_eq(auth_open(&kr, pkt, len, &got, out, sizeof(out), &blen, &st), 0);
	cr_assert_eq(auth_open(&kr, pkt, len + 1, &got, out, sizeof(out), &blen, &st),
		     -EMSGSIZE);
	cr_assert_eq(auth_open(&kr, pkt, sizeof(pkt), &got, out, sizeof(out), &blen, &st),
		     -EMSGSIZE);
	expect(&st, (struct auth_stats){ .oversized = 2 });
	/* NULL stats are allowed. */
	cr_assert_eq(auth_open(&kr, pkt, len + 1, &got, out, sizeof(out), &blen, NULL),
		     -EMSGSIZE);
}

Test(auth, small_body_buffer_is_a_caller_error)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_header got, h = hdr(1, 2, 3);
	uint8_t body[20] = { 0 }, pkt[AUTH_DATAGRAM_MAX], out[20];
	size_t blen = 0;

	load(&kr, "k", KEY_A "\n");
	size_t len = seal(&kr, &h, body, 20, pkt);
	cr_assert_eq(auth_open(&kr, pkt, len, &got, out, 19, &blen, &st), -ENOBUFS);
	cr_assert_eq(auth_open(&kr, pkt, len, &got, out, 20, &blen, &st), 0);
	expect(&st, (struct auth_stats){ 0 });
}

Test(auth, wrong_key_is_refused_and_counted)
{
	struct auth_keyring rx, other, forged;
	struct auth_stats st = { 0 };
	struct auth_header got, h = hdr(1, 2, 3);
	uint8_t body[16] = { 0 }, pkt[AUTH_DATAGRAM_MAX], out[WIRE_BODY_MAX];
	size_t blen = 0;

	load(&rx, "rx", KEY_A "\n");
	load(&other, "other", KEY_C "\n");
	cr_assert_neq(rx.ids[0], other.ids[0]);
	size_t len = seal(&other, &h, body, sizeof(body), pkt);
	cr_assert_eq(auth_open(&rx, pkt, len, &got, out, sizeof(out), &blen, &st), -EBADMSG);
	expect(&st, (struct auth_stats){ .unknown_key = 1 });

	/* Same key id as the receiver's key, different key: the tag fails. */
	forged = other;
	forged.ids[0] = rx.ids[0];
	len = seal(&forged, &h, body, sizeof(body), pkt);
	cr_assert_eq(auth_open(&rx, pkt, len, &got, out, sizeof(out), &blen, &st), -EBADMSG);
	expect(&st, (struct auth_stats){ .unknown_key = 1, .bad_tag = 1 });
}

/* A sender that already uses the new key reaches a receiver that has it as secondary. */
Test(auth, rotation_secondary_key_opens)
{
	struct auth_keyring rx, newer, older, stranger;
	struct auth_stats st = { 0 };
	struct auth_header got, h = hdr(1, 2, 3);
	uint8_t body[16] = { 5 }, pkt[AUTH_DATAGRAM_MAX], out[WIRE_BODY_MAX];
	size_t blen = 0;

	load(&rx, "rx", "# rotating\n" KEY_A "\n" KEY_B "\n");
	load(&newer, "new", KEY_B "\n" KEY_A "\n");
	load(&older, "old", KEY_A "\n");
	load(&stranger, "stranger", KEY_C "\n");
	cr_assert_eq(rx.n, 2);
	cr_assert_eq(rx.primary, 0);
	cr_assert_eq(newer.ids[0], rx.ids[1]);

	size_t len = seal(&newer, &h, body, sizeof(body), pkt);
	cr_assert_eq(auth_open(&rx, pkt, len, &got, out, sizeof(out), &blen, &st), 0);
	cr_assert_eq(got.key_id, rx.ids[1]);
	cr_assert_eq(out[0], 5);

	len = seal(&older, &h, body, sizeof(body), pkt);
	cr_assert_eq(auth_open(&rx, pkt, len, &got, out, sizeof(out), &blen, &st), 0);
	cr_assert_eq(got.key_id, rx.ids[0]);

	len = seal(&stranger, &h, body, sizeof(body), pkt);
	cr_assert_eq(auth_open(&rx, pkt, len, &got, out, sizeof(out), &blen, &st), -EBADMSG);
	expect(&st, (struct auth_stats){ .unknown_key = 1 });
}

/* ---- replay ----------------------------------------------------------- */

#define NOW INT64_C(1700000000000)
#define SKEW 30000

static struct auth_replay *rt;

static int check(uint64_t inc, uint64_t seq, struct auth_stats *st)
{
	struct auth_header h = hdr(inc, seq, NOW);
	return auth_replay_check(rt, &h, NOW, SKEW, st);
}

Test(auth, replayed_datagram_is_refused_and_counted)
{
	struct auth_keyring kr;
	struct auth_stats st = { 0 };
	struct auth_header got, h = hdr(1, 2, NOW);
	uint8_t body[16] = { 0 }, pkt[AUTH_DATAGRAM_MAX], out[WIRE_BODY_MAX];
	size_t blen = 0;

	load(&kr, "k", KEY_A "\n");
	cr_assert_eq(auth_replay_new(16, &rt), 0);
	size_t len = seal(&kr, &h, body, sizeof(body), pkt);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(auth_open(&kr, pkt, len, &got, out, sizeof(out), &blen, &st), 0);
		cr_assert_eq(auth_replay_check(rt, &got, NOW, SKEW, &st), i == 0 ? 0 : -EALREADY);
	}
	expect(&st, (struct auth_stats){ .accepted = 1, .replayed = 2 });
	auth_replay_free(rt);
}

Test(auth, window_accepts_out_of_order_once)
{
	struct auth_stats st = { 0 };
	cr_assert_eq(auth_replay_new(4, &rt), 0);

	cr_assert_eq(check(1, 100, &st), 0);
	cr_assert_eq(check(1, 90, &st), 0);          /* late, inside the window */
	cr_assert_eq(check(1, 37, &st), 0);          /* oldest slot: 100 - 63 */
	cr_assert_eq(check(1, 90, &st), -EALREADY);  /* once only */
	cr_assert_eq(check(1, 37, &st), -EALREADY);
	cr_assert_eq(check(1, 100, &st), -EALREADY);
	cr_assert_eq(check(1, 36, &st), -EALREADY);  /* below the window */
	cr_assert_eq(check(1, 0, &st), -EALREADY);
	expect(&st, (struct auth_stats){ .accepted = 3, .replayed = 5 });

	cr_assert_eq(check(1, 150, &st), 0);         /* slides by 50 */
	cr_assert_eq(check(1, 100, &st), -EALREADY); /* seen, remembered across the slide */
	cr_assert_eq(check(1, 120, &st), 0);         /* never seen, inside */
	cr_assert_eq(check(1, 120, &st), -EALREADY);
	cr_assert_eq(check(1, 87, &st), 0);          /* 150 - 63, never seen */
	cr_assert_eq(check(1, 86, &st), -EALREADY);  /* 150 - 64: below the window */
	cr_assert_eq(check(1, 300, &st), 0);         /* jump past the window */
	cr_assert_eq(check(1, 250, &st), 0);
	cr_assert_eq(check(1, 237, &st), 0);
	cr_assert_eq(check(1, 236, &st), -EALREADY);
	cr_assert_eq(check(1, 370, &st), 0);         /* jump by 70 clears every bit */
	cr_assert_eq(check(1, 364, &st), 0);         /* 300 moved out, not to 364 */
	cr_assert_eq(check(1, UINT64_MAX, &st), 0);
	cr_assert_eq(check(1, UINT64_MAX - 63, &st), 0);
	cr_assert_eq(check(1, UINT64_MAX - 64, &st), -EALREADY);
	expect(&st, (struct auth_stats){ .accepted = 13, .replayed = 10 });
	auth_replay_free(rt);
}

Test(auth, incarnations)
{
	struct auth_stats st = { 0 };
	cr_assert_eq(auth_replay_new(4, &rt), 0);

	cr_assert_eq(check(5, 10, &st), 0);
	cr_assert_eq(check(4, 100, &st), -ESTALE);   /* an older life */
	cr_assert_eq(check(6, 1, &st), 0);           /* a restart: window reset */
	cr_assert_eq(check(6, 1, &st), -EALREADY);
	cr_assert_eq(check(6, 2, &st), 0);
	cr_assert_eq(check(5, 11, &st), -ESTALE);
	expect(&st, (struct auth_stats){ .accepted = 3, .replayed = 1, .stale_incarnation = 2 });
	auth_replay_free(rt);
}

Test(auth, freshness_bound)
{
	struct auth_stats st = { 0 };
	struct auth_header h = hdr(1, 1, NOW);
	cr_assert_eq(auth_replay_new(4, &rt), 0);

	static const struct { int64_t ts; int rc; } cases[] = {
		{ NOW + SKEW + 1, -ETIME }, { NOW - SKEW - 1, -ETIME },
		{ INT64_MIN, -ETIME }, { INT64_MAX, -ETIME },
		{ NOW + SKEW, 0 }, { NOW - SKEW, 0 },
	};
	for (size_t i = 0; i < 6; i++) {
		h.seq = 1 + i;
		h.timestamp_ms = cases[i].ts;
		cr_assert_eq(auth_replay_check(rt, &h, NOW, SKEW, &st), cases[i].rc, "case %zu", i);
	}
	expect(&st, (struct auth_stats){ .accepted = 2, .not_fresh = 4 });

	/* A refusal records nothing: seq 1 was never accepted. */
	h.seq = 1;
	h.timestamp_ms = NOW;
	cr_assert_eq(auth_replay_check(rt, &h, NOW, SKEW, &st), 0);
	/* Extreme clocks on the receiver's side do not overflow either. */
	h.seq = 7;
	cr_assert_eq(auth_replay_check(rt, &h, INT64_MIN, SKEW, &st), -ETIME);
	expect(&st, (struct auth_stats){ .accepted = 3, .not_fresh = 5 });
	auth_replay_free(rt);
}

static int check_from(const char *name, uint64_t seq, struct auth_stats *st)
{
	struct auth_header h = hdr(1, seq, NOW);
	h.sender = auth_sender_id(name);
	return auth_replay_check(rt, &h, NOW, SKEW, st);
}

Test(auth, lru_evicts_least_recently_accepted)
{
	struct auth_stats st = { 0 };
	cr_assert_eq(auth_replay_new(2, &rt), 0);

	cr_assert_eq(check_from("a", 1, &st), 0);
	cr_assert_eq(check_from("b", 1, &st), 0);
	cr_assert_eq(check_from("a", 2, &st), 0);          /* a is now the most recent */
	cr_assert_eq(check_from("c", 1, &st), 0);          /* evicts b */
	cr_assert_eq(check_from("a", 2, &st), -EALREADY);  /* a was kept */
	cr_assert_eq(check_from("c", 1, &st), -EALREADY);  /* c was kept */
	cr_assert_eq(check_from("b", 1, &st), 0);          /* b was forgotten; evicts a */
	cr_assert_eq(check_from("c", 1, &st), -EALREADY);
	cr_assert_eq(check_from("a", 2, &st), 0);          /* a forgotten; evicts c */
	expect(&st, (struct auth_stats){ .accepted = 6, .replayed = 3 });
	auth_replay_free(rt);
}

Test(auth, many_senders)
{
	struct auth_stats st = { 0 };
	char name[32];
	cr_assert_eq(auth_replay_new(1000, &rt), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(name, sizeof(name), "worker-%d", i);
			cr_assert_eq(check_from(name, 5, &st), round == 0 ? 0 : -EALREADY);
		}
	}
	expect(&st, (struct auth_stats){ .accepted = 1000, .replayed = 1000 });
	cr_assert_eq(auth_replay_new(0, &rt), -EINVAL);
	auth_replay_free(NULL);
}

Test(auth, sender_ids_are_stable_and_distinct)
{
	cr_assert_eq(auth_sender_id("w1"), auth_sender_id("w1"));
	cr_assert_neq(auth_sender_id("w1"), auth_sender_id("w2"));
	cr_assert_neq(auth_sender_id(""), 0);
	cr_assert_neq(auth_random_u64(), auth_random_u64());
}

/* ---- keyring file ----------------------------------------------------- */

Test(auth, keyring_mode_is_checked)
{
	struct auth_keyring kr;
	char want[256];
	const char *p = keyfile("keys.txt", KEY_A "\n", 0644);

	cr_assert_eq(auth_keyring_load(p, &kr, errbuf, sizeof(errbuf)), -EPERM);
	snprintf(want, sizeof(want), "%s: mode 0644 is readable by others; chmod 600", p);
	cr_assert_str_eq(errbuf, want);
	cr_assert_eq(kr.n, 0);

	static const mode_t bad[] = { 0640, 0620, 0602, 0610, 0601, 0666 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(chmod(p, bad[i]), 0);
		cr_assert_eq(auth_keyring_load(p, &kr, errbuf, sizeof(errbuf)), -EPERM,
			     "mode %o", (unsigned)bad[i]);
	}
	cr_assert_eq(chmod(p, 0640), 0);
	cr_assert_eq(auth_keyring_load(p, &kr, errbuf, sizeof(errbuf)), -EPERM);
	snprintf(want, sizeof(want), "%s: mode 0640 is readable by its group; chmod 600", p);
	cr_assert_str_eq(errbuf, want);

	cr_assert_eq(chmod(p, 0600), 0);
	cr_assert_eq(auth_keyring_load(p, &kr, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_eq(kr.n, 1);
	cr_assert_eq(kr.keys[0][0], 0x00);
	cr_assert_eq(kr.keys[0][31], 0x1f);
	cr_assert_eq(chmod(p, 0400), 0);
	cr_assert_eq(auth_keyring_load(p, &kr, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	auth_keyring_wipe(&kr);
	cr_assert_eq(kr.n, 0);
	cr_assert_eq(kr.keys[0][31], 0);
}

static void expect_load_error(const char *text, int rc, const char *suffix)
{
	struct auth_keyring kr;
	char want[256];
	const char *p = keyfile("keys.txt", text, 0600);
	cr_assert_eq(auth_keyring_load(p, &kr, errbuf, sizeof(errbuf)), rc, "%s", errbuf);
	snprintf(want, sizeof(want), "%s%s", p, suffix);
	cr_assert_str_eq(errbuf, want);
	cr_assert_eq(kr.n, 0);          /* nothing half-loaded */
}

Test(auth, keyring_bad_lines_name_file_and_line)
{
	expect_load_error("# keys\n\n" KEY_A "\nnot hex\n", -EINVAL,
			  ":4: expected a key of 64 hex digits");
	expect_load_error(KEY_A "0\n", -EINVAL, ":1: expected a key of 64 hex digits");
	expect_load_error("\n\n" "00" KEY_C "\n", -EINVAL, ":3: expected a key of 64 hex digits");
	expect_load_error(KEY_B "\n"
			  "0g0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
			  -EINVAL, ":2: expected a key of 64 hex digits");
	expect_load_error(KEY_A + 1, -EINVAL, ":1: expected a key of 64 hex digits");
	expect_load_error(KEY_A "\n# again\n" KEY_A "\n", -EINVAL,
			  ":3: duplicate of the key on line 1");
	expect_load_error("# nothing\n\n", -EINVAL, ": no keys");
	expect_load_error("", -EINVAL, ": no keys");
}

Test(auth, keyring_limits_and_comments)
{
	struct auth_keyring kr;
	char text[2048] = "";
	char hex[80];

	/* Comments, blanks, CRLF, trailing blanks and comments, no final newline. */
	load(&kr, "k", "# cluster\r\n\r\n  " KEY_B "  # new primary\r\n\t" KEY_A);
	cr_assert_eq(kr.n, 2);
	cr_assert_eq(kr.keys[0][0], 0xf0);
	cr_assert_eq(kr.keys[1][1], 0x01);
	cr_assert_neq(kr.ids[0], kr.ids[1]);

	for (int i = 0; i < AUTH_KEYS_MAX; i++) {
		snprintf(hex, sizeof(hex), "%02x%s\n", i, KEY_C + 2);
		strcat(text, hex);
	}
	load(&kr, "k", text);
	cr_assert_eq(kr.n, AUTH_KEYS_MAX);
	snprintf(hex, sizeof(hex), "%02x%s\n", AUTH_KEYS_MAX, KEY_C + 2);
	strcat(text, hex);
	char want[32];
	snprintf(want, sizeof(want), ":%d: more than %d keys", AUTH_KEYS_MAX + 1, AUTH_KEYS_MAX);
	expect_load_error(text, -EINVAL, want);
}

Test(auth, keyring_missing_file)
{
	struct auth_keyring kr;
	char p[128];
	snprintf(p, sizeof(p), "%s/none", dir);
	cr_assert_eq(auth_keyring_load(p, &kr, errbuf, sizeof(errbuf)), -ENOENT);
	cr_assert_not_null(strstr(errbuf, p));
}

Test(auth, generate_creates_private_file_and_never_overwrites)
{
	struct auth_keyring k1, k2;
	struct stat st;
	char p[128], q[128];
	snprintf(p, sizeof(p), "%s/gen.keys", dir);
	snprintf(q, sizeof(q), "%s/gen2.keys", dir);

	cr_assert_eq(auth_keyring_generate(p, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(auth_keyring_load(p, &k1, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_eq(k1.n, 1);

	cr_assert_eq(auth_keyring_generate(p, errbuf, sizeof(errbuf)), -EEXIST);
	cr_assert_not_null(strstr(errbuf, p));
	cr_assert_eq(auth_keyring_load(p, &k2, errbuf, sizeof(errbuf)), 0);
	cr_assert_arr_eq(k1.keys[0], k2.keys[0], AUTH_KEY_LEN);   /* untouched */

	cr_assert_eq(auth_keyring_generate(q, errbuf, sizeof(errbuf)), 0);
	cr_assert_eq(auth_keyring_load(q, &k2, errbuf, sizeof(errbuf)), 0);
	cr_assert_arr_neq(k1.keys[0], k2.keys[0], AUTH_KEY_LEN);
}
