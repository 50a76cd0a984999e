/*
 * Unit tests for the reference-counted buffers (mbuf.c): how reading room
 * is made without moving bytes that requests still point at.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "mbuf.h"

/* Appends text as if read from a socket. */
static void
fill(struct mbuf *b, const char *text)
{
    size_t n = strlen(text);

    assert_true(mbuf_room(b) >= n);
    memcpy(b->data + b->wpos, text, n);
    b->wpos += n;
}

static void
test_new_and_free_list(void **state)
{
    struct mbuf *a = mbuf_new(10), *big = mbuf_new(MBUF_SIZE * 4);

    assert_int_equal(a->size, MBUF_SIZE);      /* never smaller than standard */
    assert_int_equal(a->refs, 1);
    assert_int_equal(mbuf_unparsed(a), 0);
    assert_true(big->size >= MBUF_SIZE * 4);
    mbuf_unref(a);
    mbuf_unref(big);
    assert_true(mbuf_large_freed() >= MBUF_SIZE * 4);   /* counted for malloc_trim */
    assert_int_equal(mbuf_large_freed(), 0);            /* and reset by asking */
    mbuf_trim();
}

static void
test_rewind_when_nobody_points_in(void **state)
{
    struct mbuf *b = mbuf_new(0), *before = b;

    fill(b, "PING\r\n");
    b->rpos = b->wpos;                   /* parsed, nothing in flight */
    assert_int_equal(mbuf_prepare_read(&b, 0), 0);
    assert_ptr_equal(b, before);
    assert_int_equal(b->rpos, 0);
    assert_int_equal(b->wpos, 0);
    mbuf_unref(b);
}

static void
test_in_flight_bytes_never_move(void **state)
{
    struct mbuf *b = mbuf_new(0), *held;
    const char *req;

    /* A request in flight points into the buffer; a partial one follows. */
    fill(b, "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET");
    req = b->data;
    held = mbuf_ref(b);
    b->rpos = 14;
    b->wpos = b->size - 10;             /* almost full */
    assert_int_equal(mbuf_prepare_read(&b, 0), 0);
    /* A new buffer for the tail; the old bytes stay where the request is. */
    assert_ptr_not_equal(b, held);
    assert_memory_equal(req, "*1\r\n$4\r\nPING\r\n", 14);
    assert_memory_equal(b->data, "*2\r\n$3\r\nGET", 11);
    assert_int_equal(b->rpos, 0);
    assert_true(mbuf_room(b) >= MBUF_MIN_READ);
    mbuf_unref(held);                   /* the request's reply was written */
    mbuf_unref(b);
}

static void
test_slide_when_alone(void **state)
{
    struct mbuf *b = mbuf_new(0), *before = b;

    memset(b->data, 'x', b->size);
    b->rpos = b->size - 100;            /* a 100-byte partial request at the end */
    b->wpos = b->size;
    memcpy(b->data + b->rpos, "*3\r\n", 4);
    assert_int_equal(mbuf_prepare_read(&b, 0), 0);
    assert_ptr_equal(b, before);        /* only we hold it: slid, not copied */
    assert_int_equal(b->rpos, 0);
    assert_int_equal(b->wpos, 100);
    assert_memory_equal(b->data, "*3\r\n", 4);
    mbuf_unref(b);
}

static void
test_grow_to_what_the_parser_needs(void **state)
{
    struct mbuf *b = mbuf_new(0);
    size_t need = 8 * 1024 * 1024 + 20;   /* "$8388608\r\n" seen: the whole value */

    fill(b, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8388608\r\n");
    assert_int_equal(mbuf_prepare_read(&b, need), 0);
    assert_true(b->size - b->rpos >= need);
    assert_memory_equal(b->data + b->rpos, "*3\r\n$3\r\nSET", 11);
    /* Once it is parsed and nothing points in, a big buffer is given back
     * for a standard one. */
    b->rpos = b->wpos;
    assert_int_equal(mbuf_prepare_read(&b, 0), 0);
    assert_int_equal(b->size, MBUF_SIZE);
    mbuf_unref(b);
    mbuf_trim();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_free_list),
        cmocka_unit_test(test_rewind_when_nobody_points_in),
        cmocka_unit_test(test_in_flight_bytes_never_move),
        cmocka_unit_test(test_slide_when_alone),
        cmocka_unit_test(test_grow_to_what_the_parser_needs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
