/*
 * libFuzzer harness: the config loader (conf_load_text) on arbitrary text,
 * as "cordis -t", a reload (master.c) and a worker (worker.c) call it.
 *
 * It must never crash or leak (LeakSanitizer runs after every input). On
 * success the struct conf must be sound and is freed with conf_free; on
 * error *out is NULL and the message is one line (no control bytes) that
 * starts with the path, "fuzz.conf".
 *
 * Inputs containing "@include" are skipped: an include reads whatever file
 * it names (/dev/zero, /dev/stdin, ...), which says nothing about our code,
 * and the file is the operator's own.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5 (Debian 12) leaks a string token that bison throws away
 * while recovering from a syntax error, as for the text "\"a\"" or "\"\""
 * (a bare string where a setting name belongs): it has no %destructor for
 * TOK_STRING (upstream issue 142, fixed in 1.7.3 by pull request 155). Not
 * ours; a reload of such a file leaks a few bytes in the master. Only the
 * allocations made by libconfig's lexer are suppressed (strings it hands
 * to the parser, via strbuf_append or directly): a missing config_destroy()
 * would still show through the settings tree's own allocations. Replayed
 * by t/fuzz/regressions/fuzz_conf/libconfig-142-*.
 */
const char *
__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

#define FUZZ_CONF_PATH "fuzz.conf"

/* Checks what a successful load must give. */
static void
conf_check(const struct conf *c)
{
    const char *what = NULL;
    int i, r, s;

    FUZZ_CHECK(c->path != NULL && strcmp(c->path, FUZZ_CONF_PATH) == 0);
    FUZZ_CHECK(c->product_name != NULL && c->pid_file != NULL);
    FUZZ_CHECK(c->log.file != NULL && c->proxy.listen != NULL);
    FUZZ_CHECK(c->admin.listen != NULL && c->admin.token != NULL);
    FUZZ_CHECK(c->session.auth != NULL && c->backend.auth != NULL);
    FUZZ_CHECK(c->proxy.workers >= 1 && c->proxy.workers <= CORDIS_MAX_WORKERS);
    FUZZ_CHECK(c->proxy.workers_conf >= 0
               && c->proxy.workers_conf <= CORDIS_MAX_WORKERS);
    FUZZ_CHECK(c->session.max_bulk_len >= 1024 * 1024);
    FUZZ_CHECK(c->backend.databases >= 1);
    FUZZ_CHECK(c->ngroups >= 0 && c->ngroups <= CORDIS_MAX_GROUPS);
    FUZZ_CHECK(c->ngroups == 0 || c->groups != NULL);
    for (i = 0; i < c->ngroups; i++) {
        const struct conf_group *g = &c->groups[i];

        FUZZ_CHECK(g->id >= 1 && g->id <= 65535);
        FUZZ_CHECK(conf_group_find(c, g->id) == g);
        FUZZ_CHECK(memchr(g->primary, '\0', sizeof(g->primary)) != NULL);
        FUZZ_CHECK(g->nreplicas >= 0 && g->nreplicas <= CORDIS_MAX_REPLICAS);
        for (r = 0; r < g->nreplicas; r++) {
            FUZZ_CHECK(memchr(g->replicas[r], '\0', sizeof(g->replicas[r]))
                       != NULL);
        }
    }
    for (s = 0; s < CORDIS_SLOTS; s++) {
        FUZZ_CHECK(c->slot_group[s] == 0
                   || conf_group_find(c, c->slot_group[s]) != NULL);
    }
    FUZZ_CHECK(!conf_needs_restart(c, c, &what));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char include[] = "@include";
    struct conf *conf = (struct conf *)&conf;   /* must come back NULL on error */
    char         err[256], *text;
    size_t       i, plen = strlen(FUZZ_CONF_PATH);
    int          rc;

    if (size > CONF_TEXT_MAX
        || memmem(data, size, include, sizeof(include) - 1) != NULL) {
        return -1;  /* not added to the corpus */
    }
    /* As conf_read_file() hands it over: NUL-terminated, size excludes it. */
    text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(text, data, size);
    }
    text[size] = '\0';
    memset(err, 'X', sizeof(err));

    rc = conf_load_text(FUZZ_CONF_PATH, text, size, &conf, err, sizeof(err));
    free(text);

    if (rc == CORDIS_OK) {
        FUZZ_CHECK(conf != NULL);
        conf_check(conf);
        conf_free(conf);
        return 0;
    }
    FUZZ_CHECK(rc == CORDIS_ERROR);
    FUZZ_CHECK(conf == NULL);
    FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    FUZZ_CHECK(strncmp(err, FUZZ_CONF_PATH, plen) == 0);
    FUZZ_CHECK(err[plen] == ':');
    for (i = 0; err[i] != '\0'; i++) {
        FUZZ_CHECKF((unsigned char)err[i] >= 0x20 && err[i] != 0x7f,
                    "error message has control byte 0x%02x at %zu: %s",
                    (unsigned char)err[i], i, err);
    }
    return 0;
}
