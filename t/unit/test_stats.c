/*
 * Unit tests for the stats rows (stats.h) and their readers (stats_view.c):
 * histogram buckets, recording one request, quantiles from hand-built
 * histograms, summing the rows of a real segment, and subtracting a reset
 * baseline without ever wrapping below zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shm.h"
#include "stats.h"
#include "stats_view.h"

#define POW2(i) ((uint64_t)1 << (i))

/* ---- buckets ------------------------------------------------------------ */

static void
test_bucket_edges(void **state)
{
    (void)state;
    assert_int_equal(stats_hist_bucket(0), 0);
    assert_int_equal(stats_hist_bucket(1), 1);
    assert_int_equal(stats_hist_bucket(2), 2);
    assert_int_equal(stats_hist_bucket(3), 2);
    assert_int_equal(stats_hist_bucket(4), 3);
    assert_int_equal(stats_hist_bucket(1023), 10);
    assert_int_equal(stats_hist_bucket(1024), 11);
    assert_int_equal(stats_hist_bucket(1025), 11);
    /* Bucket 24 is "< 16.7 s"; everything from 2^24 us on is the last one. */
    assert_int_equal(stats_hist_bucket(POW2(24) - 1), 24);
    assert_int_equal(stats_hist_bucket(POW2(24)), STATS_HIST_BUCKETS - 1);
    assert_int_equal(stats_hist_bucket(POW2(25)), STATS_HIST_BUCKETS - 1);
    assert_int_equal(stats_hist_bucket(3600ULL * 1000000), STATS_HIST_BUCKETS - 1);
    assert_int_equal(stats_hist_bucket(UINT64_MAX), STATS_HIST_BUCKETS - 1);
    assert_int_equal(STATS_HIST_BUCKETS, 26);
}

/* Every value lands in the one bucket whose bounds hold it: below its
 * upper bound (the Prometheus "le") and not below the previous one. */
static void
test_bucket_bounds_agree(void **state)
{
    (void)state;
    assert_int_equal(stats_bucket_le(0), 1);
    assert_int_equal(stats_bucket_le(10), 1024);
    assert_int_equal(stats_bucket_le(24), POW2(24));
    for (unsigned shift = 0; shift < 40; shift++) {
        for (int delta = -1; delta <= 1; delta++) {
            uint64_t v = POW2(shift) + (uint64_t)(int64_t)delta;
            unsigned b = stats_hist_bucket(v);

            assert_true(b < STATS_HIST_BUCKETS);
            if (b > 0) {
                assert_true(v >= stats_bucket_le(b - 1));
            }
            if (b < STATS_HIST_BUCKETS - 1) {
                assert_true(v < stats_bucket_le(b));
            }
        }
    }
}

/* ---- recording ---------------------------------------------------------- */

static void
test_record(void **state)
{
    struct stats_row *row = calloc(1, sizeof(*row));

    (void)state;
    assert_non_null(row);
    stats_record(row, COMMAND_GET, 5, 0, 0);
    stats_record(row, COMMAND_GET, 1000, 1, 0);
    stats_record(row, COMMAND_GET, 0, 0, 1);
    stats_record(row, COMMAND_SET, UINT64_C(40000000), 0, 0);

    assert_int_equal(row->cmd[COMMAND_GET].calls, 3);
    assert_int_equal(row->cmd[COMMAND_GET].usecs, 1005);
    assert_int_equal(row->cmd[COMMAND_GET].fails, 1);
    assert_int_equal(row->cmd[COMMAND_GET].redis_errors, 1);
    assert_int_equal(row->cmd[COMMAND_GET].hist[0], 1);    /* 0 us */
    assert_int_equal(row->cmd[COMMAND_GET].hist[3], 1);    /* 5 us: [4, 8) */
    assert_int_equal(row->cmd[COMMAND_GET].hist[10], 1);   /* 1000 us: [512, 1024) */
    uint64_t n = 0;
    for (int b = 0; b < STATS_HIST_BUCKETS; b++) {
        n += row->cmd[COMMAND_GET].hist[b];
    }
    assert_int_equal(n, 3);

    assert_int_equal(row->cmd[COMMAND_SET].calls, 1);
    assert_int_equal(row->cmd[COMMAND_SET].usecs, 40000000);
    assert_int_equal(row->cmd[COMMAND_SET].hist[STATS_HIST_BUCKETS - 1], 1);
    assert_int_equal(row->cmd[COMMAND_SET].fails, 0);

    /* Nothing else was touched. */
    for (int i = 0; i < COMMAND_COUNT; i++) {
        if (i != COMMAND_GET && i != COMMAND_SET) {
            assert_int_equal(row->cmd[i].calls, 0);
            assert_int_equal(row->cmd[i].usecs, 0);
        }
    }
    assert_int_equal(row->sessions_total, 0);
    free(row);
}

/* ---- quantiles ---------------------------------------------------------- */

static void
test_quantile_empty(void **state)
{
    uint64_t hist[STATS_HIST_BUCKETS] = { 0 };

    (void)state;
    assert_int_equal(stats_quantile(hist, 0.0), 0);
    assert_int_equal(stats_quantile(hist, 0.5), 0);
    assert_int_equal(stats_quantile(hist, 0.99), 0);
    assert_int_equal(stats_quantile(hist, 1.0), 0);
}

/* All samples in one bucket: every quantile is inside that bucket. */
static void
test_quantile_one_bucket(void **state)
{
    static const double ps[] = { 0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0 };

    (void)state;
    for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++) {
        uint64_t hist[STATS_HIST_BUCKETS] = { 0 };
        uint64_t lo = b == 0 ? 0 : stats_bucket_le(b - 1);

        hist[b] = 1000;
        for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
            uint64_t q = stats_quantile(hist, ps[k]);

            if (q < lo || (b < STATS_HIST_BUCKETS - 1 && q > stats_bucket_le(b))) {
                fail_msg("bucket %u, p %.3f: %llu outside [%llu, %llu]", b, ps[k],
                         (unsigned long long)q, (unsigned long long)lo,
                         (unsigned long long)stats_bucket_le(b));
            }
        }
    }
    /* One sample is enough. */
    uint64_t one[STATS_HIST_BUCKETS] = { 0 };

    one[7] = 1;
    assert_in_range(stats_quantile(one, 0.5), 64, 128);
    assert_in_range(stats_quantile(one, 0.99), 64, 128);
}

static void
test_quantile_order(void **state)
{
    uint64_t hist[STATS_HIST_BUCKETS] = { 0 };

    (void)state;
    /* 990 fast requests (8..16 us) and 10 slow ones (0.5..1 s). */
    hist[4] = 990;
    hist[20] = 10;
    uint64_t p50 = stats_quantile(hist, 0.5);
    uint64_t p99 = stats_quantile(hist, 0.99);
    uint64_t p999 = stats_quantile(hist, 0.999);

    assert_in_range(p50, 8, 16);
    assert_in_range(p99, 8, 16);          /* the 990th is still fast */
    assert_in_range(p999, POW2(19), POW2(20));
    assert_true(p50 <= p99);
    assert_true(p99 <= p999);

    /* Quantiles never decrease with p, on a spread histogram. */
    memset(hist, 0, sizeof(hist));
    for (int b = 0; b < STATS_HIST_BUCKETS; b++) {
        hist[b] = (uint64_t)((b * 37) % 11);
    }
    uint64_t last = 0;
    for (int i = 0; i <= 1000; i++) {
        uint64_t q = stats_quantile(hist, i / 1000.0);

        if (q < last) {
            fail_msg("p %.3f gives %llu, below %llu for a smaller p", i / 1000.0,
                     (unsigned long long)q, (unsigned long long)last);
        }
        last = q;
    }
    assert_true(stats_quantile(hist, 0.5) <= stats_quantile(hist, 0.99));
}

/* ---- summing rows --------------------------------------------------------- */

static void
row_fill(struct stats_row *row, uint64_t k, int in_use)
{
    row->in_use = (uint32_t)in_use;
    row->pid = (int32_t)(1000 + k);
    row->sessions_total = 10 * k;
    row->sessions_alive = k;
    row->bytes_in = 100 * k;
    row->bytes_out = 200 * k;
    row->auth_failures = k;
    row->rejected = 2 * k;
    row->cmd[COMMAND_GET].calls = 3 * k;
    row->cmd[COMMAND_GET].usecs = 30 * k;
    row->cmd[COMMAND_GET].fails = k;
    row->cmd[COMMAND_GET].redis_errors = 2 * k;
    row->cmd[COMMAND_GET].hist[5] = 3 * k;
    row->cmd[COMMAND_SET].calls = k;
    row->cmd[COMMAND_SET].usecs = 7 * k;
    row->cmd[COMMAND_SET].hist[STATS_HIST_BUCKETS - 1] = k;
    row->cmd[COMMAND_COUNT - 1].calls = k;       /* the last command too */
    row->cmd[COMMAND_COUNT - 1].hist[0] = k;
}

static void
test_sum(void **state)
{
    struct shm *shm = shm_create();
    struct stats_total *t = malloc(sizeof(*t));

    (void)state;
    assert_non_null(shm);
    assert_non_null(t);
    row_fill(&shm->rows[0], 1, 1);
    row_fill(&shm->rows[1], 2, 1);
    row_fill(&shm->rows[2], 1000, 0);              /* never used: ignored */
    row_fill(&shm->rows[SHM_ROWS - 1], 4, 1);      /* the last row counts */

    memset(t, 0xa5, sizeof(*t));                   /* stats_sum starts from zero */
    stats_sum(shm, t);
    assert_int_equal(t->sessions_total, 70);
    assert_int_equal(t->sessions_alive, 7);
    assert_int_equal(t->bytes_in, 700);
    assert_int_equal(t->bytes_out, 1400);
    assert_int_equal(t->auth_failures, 7);
    assert_int_equal(t->rejected, 14);
    assert_int_equal(t->cmd[COMMAND_GET].calls, 21);
    assert_int_equal(t->cmd[COMMAND_GET].usecs, 210);
    assert_int_equal(t->cmd[COMMAND_GET].fails, 7);
    assert_int_equal(t->cmd[COMMAND_GET].redis_errors, 14);
    assert_int_equal(t->cmd[COMMAND_GET].hist[5], 21);
    assert_int_equal(t->cmd[COMMAND_GET].hist[4], 0);
    assert_int_equal(t->cmd[COMMAND_SET].calls, 7);
    assert_int_equal(t->cmd[COMMAND_SET].usecs, 49);
    assert_int_equal(t->cmd[COMMAND_SET].hist[STATS_HIST_BUCKETS - 1], 7);
    assert_int_equal(t->cmd[COMMAND_COUNT - 1].calls, 7);
    assert_int_equal(t->cmd[COMMAND_COUNT - 1].hist[0], 7);
    assert_int_equal(t->cmd[COMMAND_KEYS].calls, 0);
    assert_int_equal(t->cmd[COMMAND_KEYS].hist[0], 0);
    /* Totals over every command. */
    assert_int_equal(t->calls, 21 + 7 + 7);
    assert_int_equal(t->fails, 7);
    assert_int_equal(t->redis_errors, 14);

    /* A row taken into use later joins the sum; the master-written fields
     * (pid, generation) do not matter to it. */
    shm->rows[2].in_use = 1;
    shm->rows[0].pid = 0;
    stats_sum(shm, t);
    assert_int_equal(t->sessions_total, 10070);
    assert_int_equal(t->cmd[COMMAND_GET].calls, 3021);
    assert_int_equal(t->calls, 3021 + 1007 + 1007);

    /* Nothing in use: all zero. */
    for (int r = 0; r < SHM_ROWS; r++) {
        shm->rows[r].in_use = 0;
    }
    stats_sum(shm, t);
    assert_int_equal(t->calls, 0);
    assert_int_equal(t->sessions_total, 0);
    assert_int_equal(t->cmd[COMMAND_GET].hist[5], 0);

    free(t);
    shm_destroy(shm);
}

/* ---- the reset baseline ----------------------------------------------------- */

static void
test_sub(void **state)
{
    struct stats_total *now = calloc(1, sizeof(*now));
    struct stats_total *base = calloc(1, sizeof(*base));

    (void)state;
    assert_non_null(now);
    assert_non_null(base);
    now->sessions_total = 50;
    base->sessions_total = 20;
    now->sessions_alive = 3;
    base->sessions_alive = 9;          /* a gauge: kept as it is */
    now->bytes_in = 5;
    base->bytes_in = 500;              /* counters were lowered (rows reused): 0, never a wrap */
    now->bytes_out = 10;
    base->bytes_out = 10;
    now->auth_failures = 0;
    base->auth_failures = 1;
    now->rejected = 7;
    now->calls = 10;
    base->calls = 11;
    now->fails = 4;
    base->fails = 1;
    now->redis_errors = 1;
    base->redis_errors = UINT64_MAX;
    now->cmd[COMMAND_GET].calls = 100;
    base->cmd[COMMAND_GET].calls = 40;
    now->cmd[COMMAND_GET].usecs = 1000;
    base->cmd[COMMAND_GET].usecs = 2000;
    now->cmd[COMMAND_GET].fails = 1;
    base->cmd[COMMAND_GET].fails = 2;
    now->cmd[COMMAND_GET].redis_errors = 9;
    base->cmd[COMMAND_GET].redis_errors = 4;
    now->cmd[COMMAND_GET].hist[3] = 60;
    base->cmd[COMMAND_GET].hist[3] = 20;
    now->cmd[COMMAND_GET].hist[4] = 1;
    base->cmd[COMMAND_GET].hist[4] = 5;
    base->cmd[COMMAND_SET].calls = 3;
    base->cmd[COMMAND_SET].hist[STATS_HIST_BUCKETS - 1] = 3;

    stats_sub(now, base);
    assert_int_equal(now->sessions_total, 30);
    assert_int_equal(now->sessions_alive, 3);
    assert_int_equal(now->bytes_in, 0);
    assert_int_equal(now->bytes_out, 0);
    assert_int_equal(now->auth_failures, 0);
    assert_int_equal(now->rejected, 7);
    assert_int_equal(now->calls, 0);
    assert_int_equal(now->fails, 3);
    assert_int_equal(now->redis_errors, 0);
    assert_int_equal(now->cmd[COMMAND_GET].calls, 60);
    assert_int_equal(now->cmd[COMMAND_GET].usecs, 0);
    assert_int_equal(now->cmd[COMMAND_GET].fails, 0);
    assert_int_equal(now->cmd[COMMAND_GET].redis_errors, 5);
    assert_int_equal(now->cmd[COMMAND_GET].hist[3], 40);
    assert_int_equal(now->cmd[COMMAND_GET].hist[4], 0);
    assert_int_equal(now->cmd[COMMAND_SET].calls, 0);
    assert_int_equal(now->cmd[COMMAND_SET].hist[STATS_HIST_BUCKETS - 1], 0);

    /* No field anywhere wrapped around. */
    const uint64_t *w = (const uint64_t *)now;
    for (size_t i = 0; i < sizeof(*now) / sizeof(uint64_t); i++) {
        if (w[i] > (UINT64_C(1) << 62)) {
            fail_msg("word %zu of the difference is %llu: it wrapped", i,
                     (unsigned long long)w[i]);
        }
    }

    /* Subtracting a baseline from itself leaves zero (the state right after a reset). */
    memcpy(now, base, sizeof(*now));
    now->sessions_alive = 2;
    stats_sub(now, base);
    assert_int_equal(now->calls, 0);
    assert_int_equal(now->cmd[COMMAND_SET].calls, 0);
    assert_int_equal(now->sessions_total, 0);
    assert_int_equal(now->sessions_alive, 2);

    free(now);
    free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_bucket_bounds_agree),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_quantile_empty),
        cmocka_unit_test(test_quantile_one_bucket),
        cmocka_unit_test(test_quantile_order),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_sub),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
