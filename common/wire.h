/*
 * wire.h - the message codec: typed messages <-> body bytes.
 *
 * This layer knows nothing of keys or sockets: auth.h wraps a body in the
 * authenticated datagram (clear header + AEAD ciphertext), net.h moves it.
 * Encoding is explicit big-endian through a bounds-checked cursor; strings
 * are a u16 length then bytes (no NUL on the wire, no NUL allowed inside);
 * a decoder fails unless it consumed every byte of the body.  Message
 * numbers are stable: add new ones, never renumber (WIRE_VERSION bumps on
 * any incompatible change).  See docs/protocol.md for the exchange.
 */
#ifndef SCHED_WIRE_H
#define SCHED_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 1
#define WIRE_BODY_MAX 1200       /* plaintext body limit per datagram */
#define WIRE_NAME_MAX 63         /* node and task names */
#define WIRE_LABELS_MAX 255
#define WIRE_COMMAND_MAX 900
#define WIRE_TAIL_MAX 400        /* output tail carried by RUN_ENDED */
#define WIRE_ERROR_MAX 200
#define WIRE_PATH_MAX 200
#define WIRE_RUNS_MAX 32         /* runs listed in one heartbeat/lease */
#define WIRE_CTL_ARGS_MAX 900    /* all ctl argv strings together */
#define WIRE_CTL_ARGC_MAX 32
#define WIRE_CTL_PAGE_MAX 1000   /* bytes of response text per page */
#define WIRE_GOSSIP_MAX 1100     /* membership payload (common/swim.h) */
#define WIRE_CKPT_HASH 16        /* BLAKE2b-128 (crypto_generichash) of a whole checkpoint */
#define WIRE_CKPT_CHUNK 1024     /* checkpoint bytes per CKPT_PUT / CKPT_DATA */
#define WIRE_CKPT_TOTAL_MAX (1u << 20) /* no checkpoint is larger (a cap's ceiling) */

enum wire_type {
	WIRE_HELLO = 1,       /* worker -> schedd: I am here (start, restart) */
	WIRE_WELCOME = 2,     /* schedd -> worker: reply to HELLO */
	WIRE_HEARTBEAT = 3,   /* worker -> schedd: alive + lease renewal */
	WIRE_LEASE = 4,       /* schedd -> worker: lease grant per run */
	WIRE_DISPATCH = 5,    /* schedd -> worker: run this */
	WIRE_ACCEPT = 6,      /* worker -> schedd: persisted, will run */
	WIRE_REJECT = 7,      /* worker -> schedd: never started, never will */
	WIRE_STARTED = 8,     /* worker -> schedd: process started */
	WIRE_ENDED = 9,       /* worker -> schedd: process ended */
	WIRE_ACK = 10,        /* either way: acknowledges a run message */
	WIRE_CANCEL = 11,     /* schedd -> worker: stop this run */
	WIRE_CKPT_PUT = 12,   /* worker -> schedd: a chunk of a run's checkpoint */
	WIRE_CKPT_DATA = 13,  /* schedd -> worker: a chunk of the stored checkpoint */
	WIRE_CKPT_ACK = 14,   /* schedd -> worker: a PUT chunk's receipt or verdict;
				 worker -> schedd: a DATA chunk wanted */
	WIRE_CTL_REQ = 20,    /* schedctl -> schedd */
	WIRE_CTL_RESP = 21,   /* schedd -> schedctl */
	WIRE_GOSSIP = 30,     /* any member -> any member: SWIM payload */
	WIRE_TYPE_MAX = 30,
};

/* Verdicts in a LEASE grant. */
enum wire_lease_verdict {
	LEASE_OK = 1,         /* keep running; lease extended */
	LEASE_UNKNOWN = 2,    /* scheduler has no such active run on you: stop */
	LEASE_CANCEL = 3,     /* operator cancelled it: stop */
	LEASE_HOLD = 4,       /* your node is being fenced: not renewed, keep
				 running until the lease ends (then self-fence) */
	LEASE_LOST = 5,       /* your node was fenced: the run is lost; kill it
				 and report it lost (never resume it) */
};

/* Status of a CKPT_ACK (docs/protocol.md, "Checkpoints"). */
enum wire_ckpt_status {
	CKPT_PART = 1,        /* schedd: this chunk is in, the checkpoint is not whole yet */
	CKPT_STORED = 2,      /* schedd: stored as the task's checkpoint */
	CKPT_STALE = 3,       /* schedd: refused: the token is not the task's current one,
				 the run is not active on you, or a newer one is stored */
	CKPT_TOO_BIG = 4,     /* schedd: refused: over scheduler.checkpoint_max */
	CKPT_BAD = 5,         /* schedd: refused: the chunks do not hash to `hash` */
	CKPT_WANT = 6,        /* worker: send me the chunk at `offset` */
	CKPT_GONE = 7,        /* schedd: the checkpoint with that hash is no longer stored */
};

/* Reject codes. */
enum wire_reject_code {
	REJECT_NO_SLOT = 1,
	REJECT_STALE_TOKEN = 2,  /* a higher token of this task was seen */
	REJECT_SHUTTING_DOWN = 3,
	REJECT_INTERNAL = 4,     /* could not persist or start */
	REJECT_CANCELLED = 5,    /* cancelled before it started */
};

struct wire_hello {
	char name[WIRE_NAME_MAX + 1];
	uint32_t slots;
	char labels[WIRE_LABELS_MAX + 1];
	uint32_t lease_ms;       /* lease the worker asks for (0: default) */
	uint64_t prev_incarnation; /* the life before this one that used the
				      same worker database (0: new database) */
};

struct wire_welcome {
	uint64_t sched_incarnation;
	uint32_t heartbeat_ms;
	uint32_t lease_ms;
};

struct wire_run_entry {
	uint64_t run_id;
	uint64_t token;
	uint8_t state;           /* enum run_state (heartbeat) or enum wire_lease_verdict (lease) */
};

struct wire_heartbeat {
	char name[WIRE_NAME_MAX + 1];
	uint32_t slots;
	uint32_t nruns;
	struct wire_run_entry runs[WIRE_RUNS_MAX];
};

struct wire_lease {
	uint64_t hb_seq;         /* sequence number of the heartbeat answered */
	uint32_t lease_ms;
	uint32_t nruns;
	struct wire_run_entry runs[WIRE_RUNS_MAX];
};

struct wire_dispatch {
	uint64_t run_id;
	uint64_t token;
	uint32_t attempt;
	int64_t scheduled_for;   /* Unix seconds */
	uint32_t timeout_ms;     /* 0: none */
	uint32_t lease_ms;
	uint8_t reason;          /* enum run_reason */
	char task[WIRE_NAME_MAX + 1];
	char command[WIRE_COMMAND_MAX + 1];
	char node[WIRE_NAME_MAX + 1]; /* the worker it is for: others drop it */
	uint64_t incarnation;    /* ...in this life: a later life drops it */
	uint8_t ckpt;            /* 1: the run starts with a stored checkpoint */
	uint32_t ckpt_size;      /* ...of this many bytes (0 when ckpt is 0) */
	uint8_t ckpt_hash[WIRE_CKPT_HASH]; /* ...hashing to this (zero when ckpt is 0) */
};

struct wire_run_ref {        /* ACCEPT, CANCEL */
	uint64_t run_id;
	uint64_t token;
};

struct wire_reject {
	uint64_t run_id;
	uint64_t token;
	uint8_t code;            /* enum wire_reject_code */
	char reason[WIRE_ERROR_MAX + 1];
};

struct wire_started {
	uint64_t run_id;
	uint64_t token;
	int64_t started_at_ms;
	uint32_t pid;
};

struct wire_ended {
	uint64_t run_id;
	uint64_t token;
	uint8_t state;           /* terminal enum run_state */
	int32_t exit_code;       /* -1 when killed by a signal or unknown */
	int32_t signal;          /* 0 when it exited */
	int64_t started_at_ms;   /* 0 if it never started */
	int64_t finished_at_ms;
	char tail[WIRE_TAIL_MAX + 1];
	char error[WIRE_ERROR_MAX + 1];
	char log_path[WIRE_PATH_MAX + 1];
};

struct wire_ack {
	uint8_t acked_type;      /* enum wire_type acknowledged */
	uint64_t run_id;
	uint64_t token;
};

struct wire_ckpt_chunk {     /* CKPT_PUT, CKPT_DATA */
	uint64_t run_id;
	uint64_t token;
	uint64_t seq;            /* PUT: the content's version within the run, grows; DATA: 0 */
	uint32_t total;          /* size of the whole checkpoint, <= WIRE_CKPT_TOTAL_MAX */
	uint8_t hash[WIRE_CKPT_HASH]; /* of the whole checkpoint */
	uint32_t offset;         /* of this chunk: a multiple of WIRE_CKPT_CHUNK */
	uint16_t len;            /* <= WIRE_CKPT_CHUNK */
	uint8_t data[WIRE_CKPT_CHUNK];
};

struct wire_ckpt_ack {
	uint64_t run_id;
	uint64_t token;
	uint64_t seq;            /* the PUT's seq (0 for WANT and GONE) */
	uint8_t hash[WIRE_CKPT_HASH];
	uint32_t offset;
	uint8_t status;          /* enum wire_ckpt_status */
};

struct wire_ctl_req {
	uint64_t req_id;         /* chosen by schedctl, unique per invocation */
	uint32_t page;           /* which page of the response is wanted */
	uint8_t json;            /* 1: --json */
	uint8_t argc;
	char *argv[WIRE_CTL_ARGC_MAX];       /* point into args */
	char args[WIRE_CTL_ARGS_MAX + WIRE_CTL_ARGC_MAX]; /* NUL-separated */
};

struct wire_ctl_resp {
	uint64_t req_id;
	uint32_t page;
	uint32_t npages;
	uint8_t exit_code;       /* 0 ok, 1 failure, 2 usage */
	uint16_t len;
	uint8_t data[WIRE_CTL_PAGE_MAX];
};

struct wire_gossip {         /* opaque to this layer: swim decodes it */
	uint16_t len;
	uint8_t data[WIRE_GOSSIP_MAX];
};

struct wire_msg {
	uint8_t type;            /* enum wire_type */
	union {
		struct wire_hello hello;
		struct wire_welcome welcome;
		struct wire_heartbeat heartbeat;
		struct wire_lease lease;
		struct wire_dispatch dispatch;
		struct wire_run_ref ref;     /* ACCEPT, CANCEL */
		struct wire_reject reject;
		struct wire_started started;
		struct wire_ended ended;
		struct wire_ack ack;
		struct wire_ckpt_chunk ckpt;    /* CKPT_PUT, CKPT_DATA */
		struct wire_ckpt_ack ckpt_ack;
		struct wire_ctl_req ctl_req;
		struct wire_ctl_resp ctl_resp;
		struct wire_gossip gossip;
	} u;
};

/*
 * Encode m into buf (cap bytes).  Returns 0 and the length in *len, or
 * -EMSGSIZE if it does not fit (or exceeds WIRE_BODY_MAX), -EINVAL for a
 * message that breaks its own limits (string too long, nruns too big,
 * unknown type).
 */
int wire_encode(const struct wire_msg *m, uint8_t *buf, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/*
 * Decode a body of the given type.  Returns 0, or -EBADMSG when the body
 * is truncated, has trailing bytes, a string over its limit or containing
 * NUL, a count over its limit, or the type is unknown.  Never reads
 * outside buf[0..len).
 */
int wire_decode(uint8_t type, const uint8_t *buf, size_t len, struct wire_msg *out)
	__attribute__((warn_unused_result));

/* "HELLO", "DISPATCH", ...; "?" for unknown. */
const char *wire_type_name(uint8_t type);

/* ctl_req helpers: append one argument (0, or -EMSGSIZE/-E2BIG). */
int wire_ctl_req_add_arg(struct wire_ctl_req *r, const char *arg);

#endif
