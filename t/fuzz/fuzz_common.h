/*
 * Helpers shared by the libFuzzer harnesses (header-only: each harness is
 * one translation unit built by tools/fuzz).
 *
 *   - a growable byte log: each way of feeding an input records what the
 *     parser said into one, and the logs must be byte-identical;
 *   - a small PRNG for split points derived from the input;
 *   - fuzz_fail(): prints why and abort()s, so libFuzzer saves the input.
 */
#ifndef CORDIS_FUZZ_COMMON_H
#define CORDIS_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fuzz_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static inline void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("FUZZ CHECK FAILED: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* Aborts with the failed condition and where it is. */
#define FUZZ_CHECK(cond)                                        \
    do {                                                        \
        if (!(cond)) {                                          \
            fuzz_fail("%s:%d: %s", __FILE__, __LINE__, #cond);  \
        }                                                       \
    } while (0)

/* Aborts with a message of the caller's making. */
#define FUZZ_CHECKF(cond, ...)                                  \
    do {                                                        \
        if (!(cond)) {                                          \
            fuzz_fail(__VA_ARGS__);                             \
        }                                                       \
    } while (0)

/* ---- byte log --------------------------------------------------------- */

struct fuzz_log {
    unsigned char *p;
    size_t         len, cap;
};

static inline void
fuzz_log_put(struct fuzz_log *l, const void *data, size_t n)
{
    if (n > l->cap - l->len) {
        size_t cap = l->cap ? l->cap : 256;

        while (cap - l->len < n) {
            cap *= 2;
        }
        l->p = realloc(l->p, cap);
        if (l->p == NULL) {
            fuzz_fail("out of memory in the harness");
        }
        l->cap = cap;
    }
    if (n > 0) {
        memcpy(l->p + l->len, data, n);
    }
    l->len += n;
}

static inline void
fuzz_log_u64(struct fuzz_log *l, uint64_t v)
{
    fuzz_log_put(l, &v, sizeof(v));
}

/* A C string, with its length first so "ab"+"c" differs from "a"+"bc". */
static inline void
fuzz_log_str(struct fuzz_log *l, const char *s)
{
    size_t n = s == NULL ? SIZE_MAX : strlen(s);

    fuzz_log_u64(l, n);
    if (s != NULL) {
        fuzz_log_put(l, s, n);
    }
}

static inline void
fuzz_log_free(struct fuzz_log *l)
{
    free(l->p);
    l->p = NULL;
    l->len = l->cap = 0;
}

/* Aborts, showing where the two logs part, when they differ. */
static inline void
fuzz_log_same(const struct fuzz_log *a, const char *an,
              const struct fuzz_log *b, const char *bn)
{
    size_t i = 0, n = a->len < b->len ? a->len : b->len;

    if (a->len == b->len && (n == 0 || memcmp(a->p, b->p, n) == 0)) {
        return;
    }
    while (i < n && a->p[i] == b->p[i]) {
        i++;
    }
    fuzz_fail("feeding %s and %s give different results (logs of %zu and "
              "%zu bytes part at byte %zu)", an, bn, a->len, b->len, i);
}

/* ---- PRNG (splitmix64) ------------------------------------------------ */

static inline uint64_t
fuzz_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * Next read size, 1..left: mostly small (1..8 bytes, where line and
 * bulk-boundary bugs live), sometimes up to 64, sometimes anything.
 */
static inline size_t
fuzz_chunk(uint64_t *state, size_t left)
{
    uint64_t r = fuzz_rand(state);
    size_t   n;

    switch (r & 3) {
    case 0:  n = 1; break;
    case 1:  n = 1 + (size_t)((r >> 8) % 8); break;
    case 2:  n = 1 + (size_t)((r >> 8) % 64); break;
    default: n = 1 + (size_t)((r >> 8) % (left ? left : 1)); break;
    }
    return n < left ? n : left;
}

/* A fresh heap copy of exactly n bytes (n may be 0: ASan then flags any read). */
static inline char *
fuzz_dup(const void *data, size_t n)
{
    char *p = malloc(n ? n : 1);

    if (p == NULL) {
        fuzz_fail("out of memory in the harness");
    }
    if (n > 0) {
        memcpy(p, data, n);
    }
    return p;
}

/* True when s (a parser error) would break a one-line "-ERR ...\r\n" reply. */
static inline int
fuzz_has_crlf(const char *s)
{
    return strchr(s, '\r') != NULL || strchr(s, '\n') != NULL;
}

#endif /* CORDIS_FUZZ_COMMON_H */
