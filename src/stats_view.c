/*
 * Summing stats rows; quantiles from log-scale histograms.
 */
#include "config.h"

#include <string.h>

#include "shm.h"
#include "stats_view.h"

/* One command's counters added to another's. */
static void
stats_cmd_add(struct stats_cmd *out, const struct stats_cmd *more)
{
    out->calls += more->calls;
    out->usecs += more->usecs;
    out->fails += more->fails;
    out->redis_errors += more->redis_errors;
    for (int b = 0; b < STATS_HIST_BUCKETS; b++) {
        out->hist[b] += more->hist[b];
    }
}

void
stats_add(struct stats_total *out, const struct stats_total *more)
{
    out->sessions_total += more->sessions_total;
    out->sessions_alive += more->sessions_alive;
    out->bytes_in += more->bytes_in;
    out->bytes_out += more->bytes_out;
    out->auth_failures += more->auth_failures;
    out->rejected += more->rejected;
    for (int k = 0; k < 3; k++) {
        out->pinned[k] += more->pinned[k];
    }
    out->calls += more->calls;
    out->fails += more->fails;
    out->redis_errors += more->redis_errors;
    for (int i = 0; i < COMMAND_COUNT; i++) {
        stats_cmd_add(&out->cmd[i], &more->cmd[i]);
    }
}

void
stats_sum(const struct shm *shm, struct stats_total *out)
{
    memset(out, 0, sizeof(*out));
    for (int r = 0; r < SHM_ROWS; r++) {
        const struct stats_row *row = &shm->rows[r];

        if (!row->in_use) {
            continue;
        }
        out->sessions_total += row->sessions_total;
        out->sessions_alive += row->sessions_alive;
        out->bytes_in += row->bytes_in;
        out->bytes_out += row->bytes_out;
        out->auth_failures += row->auth_failures;
        out->rejected += row->rejected;
        for (int k = 0; k < 3; k++) {
            out->pinned[k] += row->pinned[k];
        }
        for (int i = 0; i < COMMAND_COUNT; i++) {
            if (row->cmd[i].calls != 0) {
                stats_cmd_add(&out->cmd[i], &row->cmd[i]);
            }
        }
    }
    for (int i = 0; i < COMMAND_COUNT; i++) {
        out->calls += out->cmd[i].calls;
        out->fails += out->cmd[i].fails;
        out->redis_errors += out->cmd[i].redis_errors;
    }
    /* Counts of masters this one took over from (binary upgrades). */
    stats_add(out, &shm->carried);
}

static uint64_t
stats_minus(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

void
stats_sub(struct stats_total *now, const struct stats_total *base)
{
    now->sessions_total = stats_minus(now->sessions_total, base->sessions_total);
    now->bytes_in = stats_minus(now->bytes_in, base->bytes_in);
    now->bytes_out = stats_minus(now->bytes_out, base->bytes_out);
    now->auth_failures = stats_minus(now->auth_failures, base->auth_failures);
    now->rejected = stats_minus(now->rejected, base->rejected);
    now->calls = stats_minus(now->calls, base->calls);
    now->fails = stats_minus(now->fails, base->fails);
    now->redis_errors = stats_minus(now->redis_errors, base->redis_errors);
    for (int i = 0; i < COMMAND_COUNT; i++) {
        struct stats_cmd *n = &now->cmd[i];
        const struct stats_cmd *b = &base->cmd[i];

        n->calls = stats_minus(n->calls, b->calls);
        n->usecs = stats_minus(n->usecs, b->usecs);
        n->fails = stats_minus(n->fails, b->fails);
        n->redis_errors = stats_minus(n->redis_errors, b->redis_errors);
        for (int k = 0; k < STATS_HIST_BUCKETS; k++) {
            n->hist[k] = stats_minus(n->hist[k], b->hist[k]);
        }
    }
}

uint64_t
stats_bucket_le(unsigned i)
{
    return (uint64_t)1 << i;
}

uint64_t
stats_quantile(const uint64_t *hist, double p)
{
    uint64_t total = 0, seen = 0;
    double want;

    for (int b = 0; b < STATS_HIST_BUCKETS; b++) {
        total += hist[b];
    }
    if (total == 0) {
        return 0;
    }
    want = p * (double)total;
    for (int b = 0; b < STATS_HIST_BUCKETS; b++) {
        if (hist[b] == 0) {
            continue;
        }
        if ((double)(seen + hist[b]) >= want) {
            /* Interpolate inside the bucket [2^(b-1), 2^b). */
            double lo = b == 0 ? 0.0 : (double)((uint64_t)1 << (b - 1));
            double hi = (double)stats_bucket_le((unsigned)b);
            double frac = (want - (double)seen) / (double)hist[b];

            return (uint64_t)(lo + (hi - lo) * frac + 0.5);
        }
        seen += hist[b];
    }
    return stats_bucket_le(STATS_HIST_BUCKETS - 1);
}
