/*
 * Reference-counted byte buffers. A session reads client bytes into one; a
 * request parsed from it keeps a reference while it is in flight, so its
 * bytes are forwarded to the backend straight from there (no copy). A
 * backend connection reads replies the same way, and a client is written
 * from the backend's buffer.
 *
 * Buffers of the standard size come from a small free list that is bounded,
 * so memory is given back after a burst.
 */
#ifndef CORDIS_MBUF_H
#define CORDIS_MBUF_H

#include <stddef.h>
#include <stdint.h>

/* Size of a standard buffer (bytes of data). */
#define MBUF_SIZE       (16 * 1024)
/* Least room worth a read(2). */
#define MBUF_MIN_READ   1024
/* Standard buffers kept on the free list at most. */
#define MBUF_FREE_MAX   256

struct mbuf {
    uint32_t refs;     /* owner + every request or reply pointing into it */
    size_t   size;     /* bytes of data[] */
    size_t   rpos;     /* owner's parse position: bytes before it are taken */
    size_t   wpos;     /* bytes filled by reads */
    char     data[];
};

/* A buffer of at least size bytes (MBUF_SIZE when size is smaller). */
struct mbuf *mbuf_new(size_t size);
static inline struct mbuf *
mbuf_ref(struct mbuf *b)
{
    b->refs++;
    return b;
}
void mbuf_unref(struct mbuf *b);
/* Bytes of large buffers freed since the last call (then resets). */
size_t mbuf_large_freed(void);
/* Empties the free list (tests, and workers after a burst). */
void mbuf_trim(void);

static inline size_t mbuf_unparsed(const struct mbuf *b) { return b->wpos - b->rpos; }
static inline size_t mbuf_room(const struct mbuf *b) { return b->size - b->wpos; }

/*
 * Makes room for reading into *bp: when only its owner holds it and it is
 * fully parsed it is rewound; when the unparsed tail needs more room than
 * is left it moves to a new buffer of at least `need` bytes (counted from
 * the tail's start), and the old buffer is released by the owner.
 * Returns 0, or -1 when memory ran out.
 */
int mbuf_prepare_read(struct mbuf **bp, size_t need);

#endif /* CORDIS_MBUF_H */
