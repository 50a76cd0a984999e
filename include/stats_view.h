/*
 * Reading the stats rows: sums over every worker's row, the baseline taken
 * by a reset, percentiles from histograms. Used by the admin server.
 */
#ifndef CORDIS_STATS_VIEW_H
#define CORDIS_STATS_VIEW_H

#include <stdint.h>

#include "stats.h"

struct shm;

/* Sums every row of a segment, plus what it carries from earlier masters. */
void     stats_sum(const struct shm *shm, struct stats_total *out);
/* out += more, counter by counter. */
void     stats_add(struct stats_total *out, const struct stats_total *more);
/* out = now - base, counter by counter (alive is taken as is). */
void     stats_sub(struct stats_total *now, const struct stats_total *base);
/* The p-th quantile (0..1) of a histogram, in microseconds (0 if empty). */
uint64_t stats_quantile(const uint64_t *hist, double p);
/* Upper bound of histogram bucket i, in microseconds. */
uint64_t stats_bucket_le(unsigned i);

#endif /* CORDIS_STATS_VIEW_H */
