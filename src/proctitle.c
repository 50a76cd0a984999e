/*
 * Process titles: overwrite the argv area with our own text.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "proctitle.h"

extern char **environ;

static char   *title_area;     /* start of argv[0] */
static char  **env_copies __attribute__((used)); /* our copies of the environment strings: kept
                                  here too, since unsetenv() drops pointers */
static size_t  title_size;     /* contiguous bytes we may overwrite */

void
proctitle_init(int argc, char **argv)
{
    char *end, **env;
    int n = 0;

    if (argc == 0 || argv[0] == NULL) {
        return;
    }
    end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; i++) {
        if (argv[i] == end) {
            end = argv[i] + strlen(argv[i]) + 1;
        }
    }
    for (n = 0; environ[n] != NULL; n++) {
        if (environ[n] == end) {
            end = environ[n] + strlen(environ[n]) + 1;
        }
    }
    /* The environment strings follow argv: move them to the heap so that
     * getenv() keeps working after we overwrite the area. */
    env = malloc(sizeof(char *) * (size_t)(n + 1));
    if (env == NULL) {
        return;
    }
    for (int i = 0; i < n; i++) {
        env[i] = strdup(environ[i]);
        if (env[i] == NULL) {
            return;
        }
    }
    env[n] = NULL;
    env_copies = malloc(sizeof(char *) * (size_t)(n + 1));
    if (env_copies != NULL) {
        memcpy(env_copies, env, sizeof(char *) * (size_t)(n + 1));
    }
    environ = env;
    /* argv[1..] must stay readable for the caller: they were parsed already. */
    title_area = argv[0];
    title_size = (size_t)(end - argv[0]);
}

void
proctitle_set(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    prctl(PR_SET_NAME, (unsigned long)(strncmp(buf, "cordis: ", 8) == 0 ? buf + 8 : buf), 0, 0, 0);
    if (title_area == NULL || title_size < 2) {
        return;
    }
    memset(title_area, 0, title_size);
    memcpy(title_area, buf, (size_t)n < title_size - 1 ? (size_t)n : title_size - 1);
}
