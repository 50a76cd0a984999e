/*
 * The shared-memory segment: creation, and the seqlock-style double buffers
 * for the route table and the config text. See shm.h for the protocol.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "shm.h"

static int shm_memfd = -1;

struct shm *
shm_create(void)
{
    struct shm *shm;

    /* A memfd has no name in /dev/shm that another user could open; it
     * reaches workers through fork and a new binary through exec. */
    shm_memfd = memfd_create("cordis-shm", MFD_CLOEXEC);
    if (shm_memfd < 0) {
        log_error("memfd_create() failed (%d: %s)", errno, strerror(errno));
        return NULL;
    }
    if (ftruncate(shm_memfd, (off_t)sizeof(*shm)) < 0) {
        log_error("ftruncate() of the shared memory to %zu bytes failed (%d: %s)",
                  sizeof(*shm), errno, strerror(errno));
        close(shm_memfd);
        shm_memfd = -1;
        return NULL;
    }
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED, shm_memfd, 0);
    if (shm == MAP_FAILED) {
        log_error("mmap() of %zu bytes of shared memory failed (%d: %s)",
                  sizeof(*shm), errno, strerror(errno));
        close(shm_memfd);
        shm_memfd = -1;
        return NULL;
    }
    shm->header.magic = SHM_MAGIC;
    shm->header.version = SHM_VERSION;
    shm->header.size = sizeof(*shm);
    if (scripts_init(&shm->scripts) != CORDIS_OK) {
        log_error("cannot make the script store's lock");
        munmap(shm, sizeof(*shm));
        close(shm_memfd);
        shm_memfd = -1;
        return NULL;
    }
    return shm;
}

void
shm_destroy(struct shm *shm)
{
    if (shm != NULL) {
        munmap(shm, sizeof(*shm));
    }
    if (shm_memfd >= 0) {
        close(shm_memfd);
        shm_memfd = -1;
    }
}

int
shm_fd(void)
{
    return shm_memfd;
}

const struct shm *
shm_map_old(int fd)
{
    struct stat st;
    const struct shm *old;

    if (fstat(fd, &st) < 0 || (size_t)st.st_size != sizeof(*old)) {
        return NULL;
    }
    old = mmap(NULL, sizeof(*old), PROT_READ, MAP_SHARED, fd, 0);
    if (old == MAP_FAILED) {
        return NULL;
    }
    if (shm_check(old) != CORDIS_OK) {
        munmap((void *)old, sizeof(*old));
        return NULL;
    }
    return old;
}

void
shm_unmap_old(const struct shm *old)
{
    if (old != NULL) {
        munmap((void *)old, sizeof(*old));
    }
}

int
shm_check(const struct shm *shm)
{
    if (shm->header.magic != SHM_MAGIC || shm->header.version != SHM_VERSION
        || shm->header.size != sizeof(*shm)) {
        return CORDIS_ERROR;
    }
    return CORDIS_OK;
}

uint64_t
shm_route_gen(const struct shm *shm)
{
    return __atomic_load_n(&shm->header.route_gen, __ATOMIC_ACQUIRE);
}

uint64_t
shm_conf_gen(const struct shm *shm)
{
    return __atomic_load_n(&shm->header.conf_gen, __ATOMIC_ACQUIRE);
}

void
shm_route_publish(struct shm *shm, const struct shm_route *route)
{
    uint64_t gen = shm->header.route_gen + 1;

    /* Order the previous publication before our writes to the copy that a
     * slow reader may still be reading; it will see the generation move. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(&shm->route[gen & 1], route, sizeof(*route));
    __atomic_store_n(&shm->header.route_gen, gen, __ATOMIC_RELEASE);
}

uint64_t
shm_route_copy(const struct shm *shm, struct shm_route *out)
{
    uint64_t before, after;

    for (;;) {
        before = shm_route_gen(shm);
        memcpy(out, &shm->route[before & 1], sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        after = __atomic_load_n(&shm->header.route_gen, __ATOMIC_RELAXED);
        if (before == after) {
            return before;
        }
    }
}

int
shm_conf_publish(struct shm *shm, const char *path, const char *text,
                 size_t size)
{
    uint64_t gen = shm->header.conf_gen + 1;
    struct shm_conf *c = &shm->conf[gen & 1];

    if (size >= SHM_CONF_MAX || strlen(path) >= sizeof(c->path)) {
        return CORDIS_ERROR;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(c->text, text, size);
    c->text[size] = '\0';
    c->size = (uint32_t)size;
    strcpy(c->path, path);
    __atomic_store_n(&shm->header.conf_gen, gen, __ATOMIC_RELEASE);
    return CORDIS_OK;
}

uint64_t
shm_conf_copy(const struct shm *shm, char *path, size_t pathlen, char *text,
              size_t *size)
{
    uint64_t before, after;
    const struct shm_conf *c;

    for (;;) {
        before = shm_conf_gen(shm);
        c = &shm->conf[before & 1];
        *size = CORDIS_MIN(c->size, SHM_CONF_MAX - 1);
        memcpy(text, c->text, *size);
        text[*size] = '\0';
        snprintf(path, pathlen, "%s", c->path);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        after = __atomic_load_n(&shm->header.conf_gen, __ATOMIC_RELAXED);
        if (before == after) {
            return before;
        }
    }
}

const struct shm_group *
shm_route_group(const struct shm_route *route, int id)
{
    for (uint32_t i = 0; i < route->ngroups; i++) {
        if (route->groups[i].id == id) {
            return &route->groups[i];
        }
    }
    return NULL;
}
