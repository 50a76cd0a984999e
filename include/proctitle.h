/*
 * Process titles as `ps` shows them ("cordis: master process ...",
 * "cordis: worker process 0"). Linux shows argv's memory, so the title is
 * written over argv (and the environment strings that follow it, which are
 * copied elsewhere first).
 */
#ifndef CORDIS_PROCTITLE_H
#define CORDIS_PROCTITLE_H

/* Call once from main before anything reads environ or argv again. */
void proctitle_init(int argc, char **argv);
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CORDIS_PROCTITLE_H */
