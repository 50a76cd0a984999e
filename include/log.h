/*
 * Logging: one line per event, to a file (O_APPEND, one write per line) or
 * stderr, each with time, level, pid and the process role:
 *
 *   2026-11-21 17:30:01.123 [info] 4711 worker 0: listening on 0.0.0.0:19000
 */
#ifndef CORDIS_LOG_H
#define CORDIS_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

/* Opens path for appending ("" or NULL = stderr). Returns CORDIS_OK/ERROR. */
int  log_init(const char *path, enum log_level level);
/* Reopens the same path (after logrotate moved it). */
int  log_reopen(void);
/* Switches to another file; keeps the old one if the new cannot be opened. */
int  log_set_file(const char *path);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Names this process in every line: -1 = master, N = worker N. */
void log_set_worker(int worker);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int  log_level_parse(const char *name);
const char *log_level_name(enum log_level level);
void log_close(void);
/* The descriptor lines go to (a forked worker keeps it). */
int  log_fd(void);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                            \
    do {                                                          \
        if (log_get_level() >= LOG_LEVEL_DEBUG)                   \
            log_write(LOG_LEVEL_DEBUG, __VA_ARGS__);              \
    } while (0)

#endif /* CORDIS_LOG_H */
