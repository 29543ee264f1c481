/*
 * auth.c - the authenticated datagram, the keyring file and the replay
 * table of auth.h.  The only file that includes <sodium.h>.
 *
 * The order of checks in auth_open is the order of cost and of trust:
 * size, then the clear header fields that select a key (magic, version,
 * key id), then the tag.  Nothing after the header is looked at before
 * the tag verifies, and every refusal bumps exactly one counter of
 * struct auth_stats, so the counters add up to the datagrams received.
 * `accepted` is bumped by auth_replay_check, the last stage, so that a
 * datagram that authenticates but is replayed is counted once, as
 * replayed, not also as accepted.
 *
 * The replay table is a small hash of sender ids (chained through
 * indices into a fixed array) plus a doubly linked list in order of the
 * last acceptance; when full, the least recently accepted sender is
 * forgotten.  A forgotten sender's old datagrams are then only refused
 * by the freshness bound, which is why that check comes first.
 */
#include "auth.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(AUTH_DATAGRAM_MAX == AUTH_OVERHEAD + WIRE_BODY_MAX, "datagram size");
_Static_assert(AUTH_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(AUTH_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");

/* Offsets in the clear header (see the diagram in auth.h). */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 2,
	OFF_TYPE = 3,
	OFF_KEY_ID = 4,
	OFF_SENDER = 8,
	OFF_INCARNATION = 16,
	OFF_SEQ = 24,
	OFF_TIMESTAMP = 32,
	OFF_NONCE = 40,
};
_Static_assert(OFF_NONCE + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == AUTH_HEADER_LEN,
	       "header layout");

#define AUTH_MAGIC0 'S'
#define AUTH_MAGIC1 'D'
#define KEYFILE_MAX 65536        /* a keyring file is a few hundred bytes */

/* ---- small helpers ---------------------------------------------------- */

static void be_put(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The first 4 bytes of BLAKE2b-256(key), big-endian. */
static uint32_t key_id(const uint8_t key[static AUTH_KEY_LEN])
{
	uint8_t h[crypto_generichash_BYTES];
	crypto_generichash(h, sizeof(h), key, AUTH_KEY_LEN, NULL, 0);
	return (uint32_t)be_get(h, 4);
}

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

uint64_t auth_sender_id(const char *name)
{
	uint8_t h[crypto_generichash_BYTES];
	crypto_generichash(h, sizeof(h), (const unsigned char *)name, strlen(name), NULL, 0);
	return be_get(h, 8);
}

uint64_t auth_random_u64(void)
{
	uint8_t b[8];
	randombytes_buf(b, sizeof(b));
	return be_get(b, 8);
}

void auth_keyring_wipe(struct auth_keyring *kr)
{
	sodium_memzero(kr, sizeof(*kr));
}

/* ---- keyring file ----------------------------------------------------- */

/* Why a mode is refused, most serious first; NULL if it is private. */
static const char *mode_problem(mode_t mode)
{
	if (mode & S_IROTH)
		return "readable by others";
	if (mode & S_IWOTH)
		return "writable by others";
	if (mode & S_IRGRP)
		return "readable by its group";
	if (mode & S_IWGRP)
		return "writable by its group";
	if (mode & (S_IXGRP | S_IXOTH))
		return "accessible by group or others";
	return NULL;
}

/*
 * Read all of fd into a fresh buffer (NUL terminated).  The caller wipes
 * and frees *out.  0 or -errno.
 */
static int read_all(int fd, char **out, size_t *outlen)
{
	char *buf = malloc(KEYFILE_MAX + 1);
	size_t len = 0;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, KEYFILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;
			sodium_memzero(buf, KEYFILE_MAX + 1);
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEYFILE_MAX) {
			sodium_memzero(buf, KEYFILE_MAX + 1);
			free(buf);
			return -EFBIG;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/*
 * Parse one line (NUL terminated, no newline) into kr.  Blank lines and
 * comments add nothing; '#' starts a comment anywhere, since it can
 * never be part of a key.  lines[] remembers the line of each key for
 * duplicate messages.  0 or -EINVAL with err set.
 */
static int parse_line(const char *path, unsigned lineno, char *line, struct auth_keyring *kr,
		      unsigned lines[static AUTH_KEYS_MAX], char *err, size_t errlen)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n == 0)
		return 0;

	uint8_t key[AUTH_KEY_LEN];
	size_t klen = 0;
	const char *end = NULL;
	if (n != 2 * AUTH_KEY_LEN ||
	    sodium_hex2bin(key, sizeof(key), s, n, NULL, &klen, &end) != 0 ||
	    klen != AUTH_KEY_LEN || end != s + n) {
		sodium_memzero(key, sizeof(key));
		set_err(err, errlen, "%s:%u: expected a key of %d hex digits", path, lineno,
			2 * AUTH_KEY_LEN);
		return -EINVAL;
	}
	if (kr->n == AUTH_KEYS_MAX) {
		sodium_memzero(key, sizeof(key));
		set_err(err, errlen, "%s:%u: more than %d keys", path, lineno, AUTH_KEYS_MAX);
		return -EINVAL;
	}

	uint32_t id = key_id(key);
	for (size_t i = 0; i < kr->n; i++) {
		if (sodium_memcmp(kr->keys[i], key, AUTH_KEY_LEN) == 0) {
			set_err(err, errlen, "%s:%u: duplicate of the key on line %u", path,
				lineno, lines[i]);
			sodium_memzero(key, sizeof(key));
			return -EINVAL;
		}
		if (kr->ids[i] == id) {
			/* 1 in 2^32: the receiver could not tell the two apart. */
			set_err(err, errlen, "%s:%u: key id %08x collides with line %u; "
				"generate another key", path, lineno, id, lines[i]);
			sodium_memzero(key, sizeof(key));
			return -EINVAL;
		}
	}
	memcpy(kr->keys[kr->n], key, AUTH_KEY_LEN);
	kr->ids[kr->n] = id;
	lines[kr->n] = lineno;
	kr->n++;
	sodium_memzero(key, sizeof(key));
	return 0;
}

/*
 * Load path into *kr (wiped first, and wiped again on any failure).  The
 * mode is checked on the open descriptor, so the file judged is the one
 * read.  The file contents are wiped from memory before returning.
 */
int auth_keyring_load(const char *path, struct auth_keyring *kr, char *err, size_t errlen)
{
	unsigned lines[AUTH_KEYS_MAX] = { 0 };
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	int rc, fd;

	auth_keyring_wipe(kr);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-rc));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		set_err(err, errlen, "%s: not a regular file", path);
		goto out_close;
	}
	const char *why = mode_problem(st.st_mode);
	if (why) {
		rc = -EPERM;
		set_err(err, errlen, "%s: mode %04o is %s; chmod 600", path,
			(unsigned)(st.st_mode & 07777), why);
		goto out_close;
	}
	rc = read_all(fd, &text, &len);
	if (rc < 0) {
		set_err(err, errlen, "%s: %s", path,
			rc == -EFBIG ? "too large for a keyring" : strerror(-rc));
		goto out_close;
	}
	if (memchr(text, '\0', len)) {
		rc = -EINVAL;
		set_err(err, errlen, "%s: binary data in a keyring file", path);
		goto out_free;
	}

	unsigned lineno = 0;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		rc = parse_line(path, ++lineno, line, kr, lines, err, errlen);
		if (rc < 0)
			goto out_free;
		line = nl ? nl + 1 : NULL;
	}
	if (kr->n == 0) {
		rc = -EINVAL;
		set_err(err, errlen, "%s: no keys", path);
		goto out_free;
	}
	kr->primary = 0;
	rc = 0;

out_free:
	sodium_memzero(text, len);
	free(text);
out_close:
	close(fd);
	if (rc < 0)
		auth_keyring_wipe(kr);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Never overwrites: O_EXCL refuses an existing file (and a symlink in
 * its place).  A partly written file is removed.  The key and its hex
 * form are wiped before returning.
 */
int auth_keyring_generate(const char *path, char *err, size_t errlen)
{
	uint8_t key[AUTH_KEY_LEN];
	char text[128 + 2 * AUTH_KEY_LEN];
	char hex[2 * AUTH_KEY_LEN + 1];
	int rc, fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	int n = snprintf(text, sizeof(text),
			 "# sched cluster keyring: the first key is the primary (used to send).\n"
			 "%s\n", hex);
	rc = write_all(fd, text, (size_t)n);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(-rc));
		unlink(path);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(text, sizeof(text));
	return rc;
}

/* ---- seal and open ---------------------------------------------------- */

/*
 * The version written is always WIRE_VERSION (h->version is ignored; it
 * is filled by auth_open), the key id is the primary's.  body and out
 * must not overlap.
 */
int auth_seal(const struct auth_keyring *kr, const struct auth_header *h,
	      const uint8_t *body, size_t blen, uint8_t *out, size_t cap, size_t *outlen)
{
	if (kr->n == 0 || kr->primary >= kr->n)
		return -EINVAL;
	if (blen > WIRE_BODY_MAX || cap < AUTH_OVERHEAD || blen > cap - AUTH_OVERHEAD)
		return -EMSGSIZE;

	out[OFF_MAGIC] = AUTH_MAGIC0;
	out[OFF_MAGIC + 1] = AUTH_MAGIC1;
	out[OFF_VERSION] = WIRE_VERSION;
	out[OFF_TYPE] = h->type;
	be_put(out + OFF_KEY_ID, kr->ids[kr->primary], 4);
	be_put(out + OFF_SENDER, h->sender, 8);
	be_put(out + OFF_INCARNATION, h->incarnation, 8);
	be_put(out + OFF_SEQ, h->seq, 8);
	be_put(out + OFF_TIMESTAMP, (uint64_t)h->timestamp_ms, 8);
	randombytes_buf(out + OFF_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);

	unsigned long long clen = 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + AUTH_HEADER_LEN, &clen, body, blen,
						   out, AUTH_HEADER_LEN, NULL,
						   out + OFF_NONCE, kr->keys[kr->primary]);
	*outlen = AUTH_HEADER_LEN + (size_t)clen;
	return 0;
}

static int refuse(uint64_t *counter, int rc)
{
	if (counter)
		(*counter)++;
	return rc;
}

/*
 * len is checked against AUTH_DATAGRAM_MAX before any byte of pkt is
 * read, so a caller may pass the untruncated length that recvfrom(...,
 * MSG_TRUNC) reports for a datagram bigger than its buffer.  cap must
 * hold len - AUTH_OVERHEAD bytes (WIRE_BODY_MAX always does); a smaller
 * one is the caller's bug: -ENOBUFS, nothing counted.
 */
int auth_open(const struct auth_keyring *kr, const uint8_t *pkt, size_t len,
	      struct auth_header *h, uint8_t *body, size_t cap, size_t *blen,
	      struct auth_stats *st)
{
	struct auth_stats dummy;
	if (!st)
		st = &dummy;

	if (len > AUTH_DATAGRAM_MAX)
		return refuse(&st->oversized, -EMSGSIZE);
	if (len < AUTH_OVERHEAD)
		return refuse(&st->short_packet, -EBADMSG);
	if (pkt[OFF_MAGIC] != AUTH_MAGIC0 || pkt[OFF_MAGIC + 1] != AUTH_MAGIC1)
		return refuse(&st->bad_magic, -EBADMSG);
	if (pkt[OFF_VERSION] != WIRE_VERSION)
		return refuse(&st->bad_version, -EBADMSG);

	uint32_t id = (uint32_t)be_get(pkt + OFF_KEY_ID, 4);
	size_t k;
	for (k = 0; k < kr->n && kr->ids[k] != id; k++)
		;
	if (k == kr->n)
		return refuse(&st->unknown_key, -EBADMSG);
	if (cap < len - AUTH_OVERHEAD)
		return -ENOBUFS;

	unsigned long long mlen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, &mlen, NULL, pkt + AUTH_HEADER_LEN,
						       len - AUTH_HEADER_LEN, pkt,
						       AUTH_HEADER_LEN, pkt + OFF_NONCE,
						       kr->keys[k]) != 0)
		return refuse(&st->bad_tag, -EBADMSG);

	h->version = pkt[OFF_VERSION];
	h->type = pkt[OFF_TYPE];
	h->key_id = id;
	h->sender = be_get(pkt + OFF_SENDER, 8);
	h->incarnation = be_get(pkt + OFF_INCARNATION, 8);
	h->seq = be_get(pkt + OFF_SEQ, 8);
	h->timestamp_ms = (int64_t)be_get(pkt + OFF_TIMESTAMP, 8);
	*blen = (size_t)mlen;
	return 0;
}

/* ---- replay table ----------------------------------------------------- */

#define NIL SIZE_MAX

struct replay_entry {
	uint64_t sender;
	uint64_t incarnation;
	uint64_t top;            /* highest sequence accepted */
	uint64_t window;         /* bit i: top - i was accepted */
	size_t hnext;            /* next in the hash chain */
	size_t prev, next;       /* LRU list, head = most recently accepted */
};

struct auth_replay {
	size_t cap, used;
	size_t mask;             /* buckets - 1 */
	size_t *buckets;
	struct replay_entry *e;
	size_t head, tail;
};

int auth_replay_new(size_t cap, struct auth_replay **out)
{
	struct auth_replay *r = NULL;
	size_t nb = 1;

	if (cap == 0 || cap > SIZE_MAX / 4 / sizeof(struct replay_entry))
		return -EINVAL;
	while (nb < 2 * cap)
		nb <<= 1;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto err;
	r->buckets = malloc(nb * sizeof(*r->buckets));
	r->e = calloc(cap, sizeof(*r->e));
	if (!r->buckets || !r->e)
		goto err;
	for (size_t i = 0; i < nb; i++)
		r->buckets[i] = NIL;
	r->cap = cap;
	r->mask = nb - 1;
	r->head = r->tail = NIL;
	*out = r;
	return 0;
err:
	auth_replay_free(r);
	return -ENOMEM;
}

void auth_replay_free(struct auth_replay *r)
{
	if (!r)
		return;
	free(r->buckets);
	free(r->e);
	free(r);
}

/* Sender ids are BLAKE2b output, so their low bits are already uniform. */
static size_t bucket_of(const struct auth_replay *r, uint64_t sender)
{
	return (size_t)(sender ^ (sender >> 32)) & r->mask;
}

static size_t replay_find(const struct auth_replay *r, uint64_t sender)
{
	size_t i = r->buckets[bucket_of(r, sender)];
	while (i != NIL && r->e[i].sender != sender)
		i = r->e[i].hnext;
	return i;
}

static void lru_unlink(struct auth_replay *r, size_t i)
{
	struct replay_entry *x = &r->e[i];
	if (x->prev != NIL)
		r->e[x->prev].next = x->next;
	else
		r->head = x->next;
	if (x->next != NIL)
		r->e[x->next].prev = x->prev;
	else
		r->tail = x->prev;
}

static void lru_push_front(struct auth_replay *r, size_t i)
{
	r->e[i].prev = NIL;
	r->e[i].next = r->head;
	if (r->head != NIL)
		r->e[r->head].prev = i;
	r->head = i;
	if (r->tail == NIL)
		r->tail = i;
}

static void hash_remove(struct auth_replay *r, size_t i)
{
	size_t *pp = &r->buckets[bucket_of(r, r->e[i].sender)];
	while (*pp != i)
		pp = &r->e[*pp].hnext;
	*pp = r->e[i].hnext;
}

/* A slot for a new sender: a free one, or the least recently accepted. */
static size_t replay_insert(struct auth_replay *r, uint64_t sender)
{
	size_t i;
	if (r->used < r->cap) {
		i = r->used++;
	} else {
		i = r->tail;
		lru_unlink(r, i);
		hash_remove(r, i);
	}
	size_t b = bucket_of(r, sender);
	r->e[i] = (struct replay_entry){ .sender = sender, .hnext = r->buckets[b] };
	r->buckets[b] = i;
	lru_push_front(r, i);
	return i;
}

static bool fresh(int64_t ts, int64_t now, int64_t max_skew)
{
	/* The distance in unsigned arithmetic cannot overflow. */
	uint64_t d = ts > now ? (uint64_t)ts - (uint64_t)now : (uint64_t)now - (uint64_t)ts;
	return max_skew >= 0 && d <= (uint64_t)max_skew;
}

/*
 * Checks, in order: freshness (-ETIME, not_fresh), incarnation (-ESTALE,
 * stale_incarnation), sequence (-EALREADY, replayed).  A refusal changes
 * no state.  An acceptance bumps `accepted` and makes the sender the most
 * recently accepted.  A first datagram from an unknown (or forgotten)
 * sender is accepted if fresh.
 */
int auth_replay_check(struct auth_replay *r, const struct auth_header *h,
		      int64_t now_wall_ms, int64_t max_skew_ms, struct auth_stats *st)
{
	struct auth_stats dummy;
	if (!st)
		st = &dummy;

	if (!fresh(h->timestamp_ms, now_wall_ms, max_skew_ms))
		return refuse(&st->not_fresh, -ETIME);

	size_t i = replay_find(r, h->sender);
	struct replay_entry *x = i == NIL ? NULL : &r->e[i];
	if (!x || h->incarnation > x->incarnation) {
		if (!x)
			x = &r->e[i = replay_insert(r, h->sender)];
		x->incarnation = h->incarnation;
		x->top = h->seq;
		x->window = 1;
	} else if (h->incarnation < x->incarnation) {
		return refuse(&st->stale_incarnation, -ESTALE);
	} else if (h->seq > x->top) {
		uint64_t shift = h->seq - x->top;
		x->window = shift >= AUTH_REPLAY_WINDOW ? 0 : x->window << shift;
		x->window |= 1;
		x->top = h->seq;
	} else {
		uint64_t back = x->top - h->seq;
		if (back >= AUTH_REPLAY_WINDOW || (x->window & (UINT64_C(1) << back)))
			return refuse(&st->replayed, -EALREADY);
		x->window |= UINT64_C(1) << back;
	}
	lru_unlink(r, i);
	lru_push_front(r, i);
	st->accepted++;
	return 0;
}
