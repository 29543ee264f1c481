/*
 * auth.h - the authenticated datagram and the cluster keyring; the only
 * module that talks to libsodium.
 *
 * Datagram layout (all integers big-endian):
 *
 *   0      2    3    4         8                16               24
 *   +------+----+----+---------+----------------+----------------+
 *   |magic |ver |type| key id  |   sender id    |  incarnation   |
 *   +------+----+----+---------+----------------+----------------+
 *   24               32               40                        64
 *   +----------------+----------------+--------------------------+
 *   |   sequence     |  timestamp ms  |  nonce (24 bytes) ...    |
 *   +----------------+----------------+--------------------------+
 *   64
 *   +-------------------------------------------+----------------+
 *   | body, XChaCha20-Poly1305 ciphertext        |  tag (16)     |
 *   +-------------------------------------------+----------------+
 *
 * The 64-byte clear header is the associated data: nothing in it can be
 * changed without failing the tag.  magic is "SD"; ver is WIRE_VERSION;
 * key id is the first 4 bytes of BLAKE2b(key), so a receiver finds the
 * key among its keyring (rotation: add the new key everywhere, then make
 * it primary, then remove the old one).  Authenticate before parsing:
 * nothing but the header is looked at until the tag verifies.
 *
 * Replay protection (auth_replay_*): per sender id, the highest
 * incarnation seen and a 64-wide window of sequence numbers below the
 * highest sequence; an older incarnation, a sequence already seen or
 * below the window, or a timestamp further than max_skew from the
 * receiver's wall clock is refused.
 */
#ifndef SCHED_AUTH_H
#define SCHED_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN 32
#define AUTH_KEYS_MAX 8
#define AUTH_HEADER_LEN 64
#define AUTH_TAG_LEN 16
#define AUTH_OVERHEAD (AUTH_HEADER_LEN + AUTH_TAG_LEN)
#define AUTH_DATAGRAM_MAX (AUTH_OVERHEAD + 1200) /* WIRE_BODY_MAX */
#define AUTH_REPLAY_WINDOW 64

struct auth_keyring {
	size_t n;                           /* keys loaded, >= 1 */
	size_t primary;                     /* index used for sending */
	uint8_t keys[AUTH_KEYS_MAX][AUTH_KEY_LEN];
	uint32_t ids[AUTH_KEYS_MAX];
};

struct auth_header {
	uint8_t version;
	uint8_t type;
	uint32_t key_id;        /* filled by auth_seal */
	uint64_t sender;
	uint64_t incarnation;
	uint64_t seq;
	int64_t timestamp_ms;   /* sender's wall clock */
};

/* Why datagrams were refused; every refusal bumps exactly one counter. */
struct auth_stats {
	uint64_t accepted;
	uint64_t short_packet;   /* shorter than header + tag */
	uint64_t oversized;      /* longer than AUTH_DATAGRAM_MAX */
	uint64_t bad_magic;
	uint64_t bad_version;
	uint64_t unknown_key;
	uint64_t bad_tag;        /* tampered, truncated or wrong key */
	uint64_t replayed;       /* sequence seen or below the window */
	uint64_t stale_incarnation;
	uint64_t not_fresh;      /* timestamp outside max skew */
};

/* Call once before anything else (sodium_init); 0 or -EIO. */
int auth_init(void);

/*
 * Keyring file: one key per line as 64 hex digits; the first is the
 * primary; blank lines and '#' comments are ignored.  Refused (-EPERM)
 * if the file is readable or writable by group or others; the error names
 * the file and line.  Returns 0 or a negative errno with a reason in err.
 */
int auth_keyring_load(const char *path, struct auth_keyring *kr, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Create path (O_EXCL, mode 0600) with one fresh random key. 0 or -errno. */
int auth_keyring_generate(const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Wipe all keys. */
void auth_keyring_wipe(struct auth_keyring *kr);

/* Stable 64-bit sender id for a node name (BLAKE2b). */
uint64_t auth_sender_id(const char *name);

/* A random 64-bit value from the system CSPRNG. */
uint64_t auth_random_u64(void);

/*
 * Seal body into out: header (key id of the primary key is set here),
 * random nonce, ciphertext, tag.  Returns 0 and *outlen, or -EMSGSIZE.
 */
int auth_seal(const struct auth_keyring *kr, const struct auth_header *h,
	      const uint8_t *body, size_t blen, uint8_t *out, size_t cap, size_t *outlen)
	__attribute__((warn_unused_result));

/*
 * Verify and decrypt a datagram.  On success returns 0 with the header in
 * *h and the plaintext in body (*blen bytes, cap >= len).  On failure
 * returns -EBADMSG (or -EMSGSIZE for oversized) and bumps one counter of
 * st (st may be NULL).  Does not check replay: see auth_replay_check.
 */
int auth_open(const struct auth_keyring *kr, const uint8_t *pkt, size_t len,
	      struct auth_header *h, uint8_t *body, size_t cap, size_t *blen,
	      struct auth_stats *st)
	__attribute__((warn_unused_result));

/* Replay state for up to `cap` senders (least recently heard evicted). */
struct auth_replay;

int auth_replay_new(size_t cap, struct auth_replay **out);
void auth_replay_free(struct auth_replay *r);

/*
 * Decide whether an authenticated header is fresh and new; records it if
 * so.  Returns 0 (accept), or -EALREADY (replayed or below the window),
 * -ESTALE (older incarnation of that sender) or -ETIME (timestamp further
 * than max_skew_ms from now_wall_ms), bumping the matching counter of st.
 */
int auth_replay_check(struct auth_replay *r, const struct auth_header *h,
		      int64_t now_wall_ms, int64_t max_skew_ms, struct auth_stats *st);

#endif
