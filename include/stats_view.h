/*
 * Reading the stats rows: sums over every worker's row, the baseline taken
 * by a reset, percentiles from histograms. Used by the admin server.
 */
#ifndef CORDIS_STATS_VIEW_H
#define CORDIS_STATS_VIEW_H

#include <stdint.h>

#include "stats.h"

struct shm;

/* The sum of every row (and, for a view, minus the reset baseline). */
struct stats_total {
    uint64_t sessions_total;
    uint64_t sessions_alive;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t auth_failures;
    uint64_t rejected;
    uint64_t calls;          /* all commands */
    uint64_t fails;
    uint64_t redis_errors;
    struct stats_cmd cmd[COMMAND_COUNT];
};

void     stats_sum(const struct shm *shm, struct stats_total *out);
/* out = now - base, counter by counter (alive is taken as is). */
void     stats_sub(struct stats_total *now, const struct stats_total *base);
/* The p-th quantile (0..1) of a histogram, in microseconds (0 if empty). */
uint64_t stats_quantile(const uint64_t *hist, double p);
/* Upper bound of histogram bucket i, in microseconds. */
uint64_t stats_bucket_le(unsigned i);

#endif /* CORDIS_STATS_VIEW_H */
