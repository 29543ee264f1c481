/*
 * swim_proto.c - the gossip payload codec (the format is drawn in
 * swim_int.h).
 *
 * Decoding goes through a cursor that refuses to read past the end and
 * fails unless every byte was consumed; strings are returned as views
 * into the payload, so decoding allocates nothing and copies nothing.
 * The whole payload is validated before the protocol applies any of it,
 * so a refused payload has no partial effect.  Encoding goes through a
 * cursor with a sticky overflow flag; records are appended only when they
 * fit whole, which is how piggybacking stays within SWIM_PAYLOAD_MAX.
 */
#include "swim_int.h"

#include <errno.h>
#include <string.h>

/* ---- decoding ----------------------------------------------------------- */

struct rcur {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *take(struct rcur *c, size_t n)
{
	if (c->bad || n > c->len - c->off) {
		c->bad = true;
		return NULL;
	}
	const uint8_t *p = c->p + c->off;
	c->off += n;
	return p;
}

static uint64_t get_be(struct rcur *c, size_t n)
{
	const uint8_t *p = take(c, n);
	uint64_t v = 0;
	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* A string of 1..max bytes (0..max if may_be_empty) without NUL. */
static struct swim_str get_str(struct rcur *c, size_t max, bool may_be_empty)
{
	struct swim_str s = {NULL, 0};
	size_t n = (size_t)get_be(c, 1);
	const uint8_t *p = take(c, n);
	if (!p || n > max || (n == 0 && !may_be_empty) || (n && memchr(p, '\0', n))) {
		c->bad = true;
		return s;
	}
	s.p = p;
	s.len = (uint8_t)n;
	return s;
}

static void get_record(struct rcur *c, struct swim_rec *r)
{
	r->state = (uint8_t)get_be(c, 1);
	r->inc = get_be(c, 8);
	r->name = get_str(c, SWIM_NAME_MAX, false);
	r->addr = get_str(c, SWIM_ADDR_MAX, false);
	r->meta = get_str(c, SWIM_META_MAX, true);
	r->from = get_str(c, SWIM_NAME_MAX, true);
	if (r->state < SWIM_ALIVE || r->state > SWIM_LEFT)
		c->bad = true;
	if (r->state == SWIM_SUSPECT && r->from.len == 0)
		c->bad = true;
}

int swim_decode(const uint8_t *buf, size_t len, struct swim_msg *m)
{
	if (!buf || len > SWIM_PAYLOAD_MAX)
		return -EBADMSG;
	struct rcur c = {.p = buf, .len = len};
	memset(m, 0, offsetof(struct swim_msg, rec));

	if (get_be(&c, 1) != SWIM_MAGIC0 || get_be(&c, 1) != SWIM_MAGIC1 ||
	    get_be(&c, 1) != SWIM_PROTO_VERSION)
		return -EBADMSG;
	m->type = (uint8_t)get_be(&c, 1);
	m->seq = (uint32_t)get_be(&c, 4);
	m->sender = get_str(&c, SWIM_NAME_MAX, false);

	switch (m->type) {
	case SWIM_MSG_PING:
		m->target = get_str(&c, SWIM_NAME_MAX, false);
		break;
	case SWIM_MSG_PING_REQ:
		m->target = get_str(&c, SWIM_NAME_MAX, false);
		m->target_addr = get_str(&c, SWIM_ADDR_MAX, false);
		m->timeout_ms = (uint16_t)get_be(&c, 2);
		if (m->timeout_ms == 0)
			c.bad = true;
		break;
	case SWIM_MSG_SYNC:
		m->page = (uint16_t)get_be(&c, 2);
		m->pages = (uint16_t)get_be(&c, 2);
		if (m->pages == 0 || m->pages > SWIM_SYNC_PAGES_MAX || m->page >= m->pages)
			c.bad = true;
		break;
	case SWIM_MSG_ACK:
	case SWIM_MSG_NACK:
	case SWIM_MSG_JOIN:
	case SWIM_MSG_GOSSIP:
		break;
	default:
		return -EBADMSG;
	}

	size_t n = (size_t)get_be(&c, 1);
	if (n > SWIM_UPDATES_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < n && !c.bad; i++)
		get_record(&c, &m->rec[i]);
	m->nrec = (uint8_t)n;
	/* A JOIN is useless without the joiner's own record. */
	if (m->type == SWIM_MSG_JOIN && n == 0)
		return -EBADMSG;
	if (c.bad || c.off != c.len)
		return -EBADMSG;
	return 0;
}

/* ---- encoding ----------------------------------------------------------- */

static void put_be(struct swim_wbuf *w, uint64_t v, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		w->buf[w->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	w->len += n;
}

static void put_bytes(struct swim_wbuf *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* Strings are bounded by their producer (member fields); a longer one is
 * a bug upstream, so refuse rather than truncate silently. */
static void put_str_n(struct swim_wbuf *w, const void *p, size_t n)
{
	if (n > 255) {
		w->overflow = true;
		return;
	}
	put_be(w, n, 1);
	put_bytes(w, p, n);
}

void swim_enc_str(struct swim_wbuf *w, const char *s)
{
	put_str_n(w, s, s ? strlen(s) : 0);
}

void swim_enc_u16(struct swim_wbuf *w, uint16_t v)
{
	put_be(w, v, 2);
}

void swim_enc_header(struct swim_wbuf *w, uint8_t *buf, uint8_t type, uint32_t seq,
		     const char *sender)
{
	w->buf = buf;
	w->cap = SWIM_PAYLOAD_MAX;
	w->len = 0;
	w->overflow = false;
	put_be(w, SWIM_MAGIC0, 1);
	put_be(w, SWIM_MAGIC1, 1);
	put_be(w, SWIM_PROTO_VERSION, 1);
	put_be(w, type, 1);
	put_be(w, seq, 4);
	swim_enc_str(w, sender);
}

size_t swim_enc_records_begin(struct swim_wbuf *w)
{
	size_t off = w->len;
	put_be(w, 0, 1);
	return off;
}

size_t swim_rec_size(const struct swim_rec_src *r)
{
	return 1 + 8 + 1 + strlen(r->name) + 1 + strlen(r->addr) + 1 + r->meta_len + 1 +
	       (r->from ? strlen(r->from) : 0);
}

bool swim_enc_record(struct swim_wbuf *w, const struct swim_rec_src *r)
{
	if (w->overflow || swim_rec_size(r) > w->cap - w->len)
		return false;
	put_be(w, (uint8_t)r->state, 1);
	put_be(w, r->inc, 8);
	swim_enc_str(w, r->name);
	swim_enc_str(w, r->addr);
	put_str_n(w, r->meta, r->meta_len);
	swim_enc_str(w, r->from ? r->from : "");
	return !w->overflow;
}

void swim_enc_records_end(struct swim_wbuf *w, size_t count_off, unsigned count)
{
	if (!w->overflow && count_off < w->len)
		w->buf[count_off] = (uint8_t)count;
}

/* ---- views -------------------------------------------------------------- */

bool swim_str_eq(struct swim_str v, const char *s)
{
	size_t n = strlen(s);
	return n == v.len && (n == 0 || memcmp(v.p, s, n) == 0);
}

void swim_str_copy(char *dst, size_t dstsz, struct swim_str v)
{
	size_t n = v.len < dstsz - 1 ? v.len : dstsz - 1;
	if (n)
		memcpy(dst, v.p, n);
	dst[n] = '\0';
}
