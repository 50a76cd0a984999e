/*
 * Codis's proxy API (see codis_api.h): the routes a codis-dashboard calls,
 * the token and xauth, the online state and what the dashboard told us.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "admin.h"
#include "codis_api.h"
#include "conf.h"
#include "ha.h"
#include "jodis.h"
#include "log.h"
#include "master.h"
#include "sentinel.h"
#include "shm.h"
#include "util.h"

/* Codis's status code for an error, with {"Cause", "Stack"}. */
#define CODIS_API_ERROR_STATUS 800
/* Interfaces whose MAC goes into the token. */
#define CODIS_API_MAX_MACS     64
/* GRE over IPv6 (linux/if_arp.h; glibc's net/if_arp.h lacks it). */
#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif
/* Bit of GET /api/proxy/stats's flags that adds the per-command figures. */
#define CODIS_API_STATS_CMDS   1u
/* Sentinels kept from PUT /api/proxy/sentinels. */
#define CODIS_API_MAX_SENTINELS 64

/* What a dashboard told this master; kept across admin server restarts. */
struct codis_api {
    json_t       *sentinels;      /* array of "host:port" strings */
    bool          out_of_sync;    /* as the dashboard sent it */
    bool          closing;        /* PUT /api/proxy/shutdown: closed from now on */
    struct jodis *jodis;          /* the ZooKeeper registration, while online */
    char         *jodis_key;      /* what it was started with: servers, auth, path, data */
    char          jodis_path[CORDIS_ADDR_LEN + 128];  /* its node; "" = none */
};

/* One call of a Codis route. */
struct codis_call {
    struct admin          *a;
    struct master         *m;
    struct MHD_Connection *conn;
    struct admin_request  *req;
    const char            *body;
    size_t                 len;
    const char            *arg;   /* the segment after the xauth, or NULL */
};

typedef enum MHD_Result (*codis_api_handler)(struct codis_call *c);

static struct codis_api *
codis_api_state(struct master *m)
{
    if (m->codis == NULL) {
        m->codis = calloc(1, sizeof(*m->codis));
    }
    return m->codis;
}

void
codis_api_free(struct master *m)
{
    if (m->codis != NULL) {
        codis_api_jodis_stop(m);
        json_decref(m->codis->sentinels);
        free(m->codis);
        m->codis = NULL;
    }
}

json_t *
codis_api_sentinel_list(const struct master *m)
{
    static json_t *none;

    if (m->codis != NULL && m->codis->sentinels != NULL) {
        return m->codis->sentinels;
    }
    if (none == NULL) {
        none = json_array();
    }
    return none;
}

bool
codis_api_closed(const struct master *m)
{
    return m->state != MASTER_RUNNING || (m->codis != NULL && m->codis->closing);
}

bool
codis_api_online(const struct master *m)
{
    return __atomic_load_n(&m->shm->header.online, __ATOMIC_ACQUIRE) != 0
           && !codis_api_closed(m);
}

/* Codis's JSON as codis-proxy writes it (Go's MarshalIndent, 4 spaces):
 * scripts that grep it for '"online": true' find it. */
static enum MHD_Result
codis_api_json(struct MHD_Connection *conn, unsigned status, json_t *value)
{
    return admin_reply_json_as(conn, status, value, JSON_INDENT(4));
}

/* --- token and xauth ------------------------------------------------------------ */

static void
codis_api_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/* out gets the first 16 bytes of the digest of text, in hex. */
static void
codis_api_digest(const EVP_MD *md, const char *text, char out[CODIS_API_HEX_LEN])
{
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(text, strlen(text), sum, &n, md, NULL) != 1 || n < 16) {
        memset(sum, 0, 16);   /* never matches an xauth a dashboard computed */
    }
    codis_api_hex(sum, 16, out);
}

void
codis_api_token_of(const char *const *macs, size_t nmacs, const char *product,
                   const char *proxy_addr, const char *admin_addr,
                   char out[CODIS_API_HEX_LEN])
{
    size_t size = 128 + strlen(product) + strlen(proxy_addr) + strlen(admin_addr);
    char *text, *p;

    for (size_t i = 0; i < nmacs; i++) {
        size += strlen(macs[i]) + 1;
    }
    text = malloc(size);
    if (text == NULL) {
        codis_api_digest(EVP_md5(), "", out);
        return;
    }
    /* Go's fmt.Fprintf("Codis-Token@%v", []string): "[a b c]". */
    p = text + sprintf(text, "Codis-Token@[");
    for (size_t i = 0; i < nmacs; i++) {
        p += sprintf(p, "%s%s", i > 0 ? " " : "", macs[i]);
    }
    sprintf(p, "]-{%s}-{%s}-{%s}", product, proxy_addr, admin_addr);
    codis_api_digest(EVP_md5(), text, out);
    free(text);
}

void
codis_api_xauth_of(const char *product, const char *auth, const char *token,
                   char out[CODIS_API_HEX_LEN])
{
    size_t size = 64 + strlen(product) + strlen(auth) + strlen(token);
    char *text = malloc(size);

    if (text == NULL) {
        codis_api_digest(EVP_sha256(), "", out);
        return;
    }
    snprintf(text, size, "Codis-XAuth-[%s]-[%s]-[%s]", product, auth, token);
    codis_api_digest(EVP_sha256(), text, out);
    free(text);
}

static int
codis_api_strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The hardware addresses Go's net.Interfaces() reports: every interface,
 * up or down, with a non-zero address, but not the IP addresses that IP
 * tunnels give as theirs. Sorted. Returns how many (names in buf).
 */
static size_t
codis_api_macs(char buf[CODIS_API_MAX_MACS][64], const char *list[CODIS_API_MAX_MACS])
{
    struct ifaddrs *ifs, *i;
    size_t n = 0;

    if (getifaddrs(&ifs) != 0) {
        return 0;
    }
    for (i = ifs; i != NULL && n < CODIS_API_MAX_MACS; i = i->ifa_next) {
        const struct sockaddr_ll *ll = (const struct sockaddr_ll *)i->ifa_addr;
        bool nonzero = false;
        char *p;

        if (ll == NULL || ll->sll_family != AF_PACKET || ll->sll_halen == 0
            || ll->sll_halen > sizeof(ll->sll_addr)) {
            continue;
        }
        if ((ll->sll_halen == 4 && (ll->sll_hatype == ARPHRD_TUNNEL
                                    || ll->sll_hatype == ARPHRD_IPGRE
                                    || ll->sll_hatype == ARPHRD_SIT))
            || (ll->sll_halen == 16 && (ll->sll_hatype == ARPHRD_TUNNEL6
                                        || ll->sll_hatype == ARPHRD_IP6GRE))) {
            continue;
        }
        for (int b = 0; b < ll->sll_halen; b++) {
            nonzero = nonzero || ll->sll_addr[b] != 0;
        }
        if (!nonzero) {
            continue;
        }
        p = buf[n];
        for (int b = 0; b < ll->sll_halen; b++) {
            p += sprintf(p, "%s%02x", b > 0 ? ":" : "", ll->sll_addr[b]);
        }
        list[n] = buf[n];
        n++;
    }
    freeifaddrs(ifs);
    qsort(list, n, sizeof(list[0]), codis_api_strcmp);
    return n;
}

/* A listen address as Go's Listener.Addr().String() shows it. */
static void
codis_api_canonical(const char *addr, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (util_parse_addr(addr, &ss, &len) == CORDIS_OK) {
        util_addr_text((struct sockaddr *)&ss, out, size);
    } else {
        snprintf(out, size, "%s", addr);
    }
}

void
codis_api_token(const struct master *m, char out[CODIS_API_HEX_LEN])
{
    char buf[CODIS_API_MAX_MACS][64], proxy[CORDIS_ADDR_LEN + 8], admin[CORDIS_ADDR_LEN + 8];
    const char *macs[CODIS_API_MAX_MACS];
    size_t n = codis_api_macs(buf, macs);

    codis_api_canonical(m->conf->proxy.listen, proxy, sizeof(proxy));
    codis_api_canonical(m->conf->admin.listen, admin, sizeof(admin));
    codis_api_token_of(macs, n, m->conf->product_name, proxy, admin, out);
}

void
codis_api_xauth(const struct master *m, char out[CODIS_API_HEX_LEN])
{
    char token[CODIS_API_HEX_LEN];

    codis_api_token(m, token);
    codis_api_xauth_of(m->conf->product_name, m->conf->codis.product_auth, token, out);
}

/* --- replies ------------------------------------------------------------------------ */

enum MHD_Result
codis_api_error(struct MHD_Connection *conn, const char *fmt, ...)
{
    char cause[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cause, sizeof(cause), fmt, ap);
    va_end(ap);
    return codis_api_json(conn, CODIS_API_ERROR_STATUS,
                            json_pack("{s:s, s:n}", "Cause", cause, "Stack"));
}

static enum MHD_Result
codis_api_ok(struct codis_call *c)
{
    return codis_api_json(c->conn, MHD_HTTP_OK, json_string("OK"));
}

/* --- the model ------------------------------------------------------------------------- */

/*
 * The address the dashboard should use for a listener: host (codis.host_*)
 * when set; else the listen address, with an unspecified IP (0.0.0.0, ::)
 * replaced by this machine's first global address, as codis-proxy does.
 */
static void
codis_api_advertised(const char *listen, const char *host, char *out, size_t size)
{
    struct sockaddr_storage ss;
    struct ifaddrs *ifs, *i;
    socklen_t len;
    unsigned port;
    char ip[INET6_ADDRSTRLEN];

    snprintf(out, size, "%s", host[0] != '\0' ? host : listen);
    if (host[0] != '\0' || util_parse_addr(listen, &ss, &len) != CORDIS_OK) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

        if (sin->sin_addr.s_addr != htonl(INADDR_ANY)) {
            return;
        }
        port = ntohs(sin->sin_port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

        if (!IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr)) {
            return;
        }
        port = ntohs(sin6->sin6_port);
    }
    if (getifaddrs(&ifs) != 0) {
        return;
    }
    for (int family = AF_INET; family != 0; family = family == AF_INET ? AF_INET6 : 0) {
        for (i = ifs; i != NULL; i = i->ifa_next) {
            if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family
                || !(i->ifa_flags & IFF_UP) || util_addr_is_loopback(i->ifa_addr)) {
                continue;
            }
            if (family == AF_INET6) {
                const struct in6_addr *a6 = &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

                if (IN6_IS_ADDR_LINKLOCAL(a6)) {
                    continue;
                }
                inet_ntop(AF_INET6, a6, ip, sizeof(ip));
                snprintf(out, size, "[%s]:%u", ip, port);
            } else {
                inet_ntop(AF_INET, &((const struct sockaddr_in *)i->ifa_addr)->sin_addr,
                          ip, sizeof(ip));
                snprintf(out, size, "%s:%u", ip, port);
            }
            freeifaddrs(ifs);
            return;
        }
    }
    freeifaddrs(ifs);
}

/* --- jodis --------------------------------------------------------------------- */

/* The node's data, as codis-proxy writes it: keys sorted, 4-space indent. */
static char *
codis_api_jodis_data(struct master *m, const char *token)
{
    const struct conf *conf = m->conf;
    char proxy[CORDIS_ADDR_LEN + 64], admin[CORDIS_ADDR_LEN + 64], start[32];
    json_t *o;
    char *text;

    codis_api_advertised(conf->proxy.listen, conf->codis.host_proxy, proxy, sizeof(proxy));
    codis_api_advertised(conf->admin.listen, conf->codis.host_admin, admin, sizeof(admin));
    admin_iso_time(m->started, start, sizeof(start));
    o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "addr", proxy, "admin", admin, "start", start,
                  "state", "online", "token", token);
    text = o != NULL ? json_dumps(o, JSON_INDENT(4) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return text;
}

void
codis_api_jodis_stop(struct master *m)
{
    struct codis_api *c = m->codis;

    if (c == NULL || c->jodis == NULL) {
        return;
    }
    jodis_stop(c->jodis);   /* deletes the node: clients stop choosing us */
    c->jodis = NULL;
    free(c->jodis_key);
    c->jodis_key = NULL;
    c->jodis_path[0] = '\0';
}

void
codis_api_jodis_update(struct master *m)
{
    const struct conf *conf = m->conf;
    char token[CODIS_API_HEX_LEN], path[sizeof(m->codis->jodis_path)];
    struct codis_api *c;
    char *data, *key = NULL;

    if (conf->codis.jodis_addr[0] == '\0' || !codis_api_online(m)) {
        codis_api_jodis_stop(m);
        return;
    }
    c = codis_api_state(m);
    codis_api_token(m, token);
    data = codis_api_jodis_data(m, token);
    if (c == NULL || data == NULL
        || !jodis_path(path, sizeof(path), conf->product_name, token,
                       conf->codis.jodis_compatible)
        || asprintf(&key, "%s\n%s\n%lld\n%s\n%s", conf->codis.jodis_addr,
                    conf->codis.jodis_auth, (long long)conf->codis.jodis_timeout, path,
                    data) < 0) {
        log_error("jodis: cannot make the registration (out of memory or product_name too "
                  "long)");
        free(data);
        return;
    }
    if (c->jodis != NULL && strcmp(c->jodis_key, key) == 0) {
        free(key);
        free(data);
        return;   /* registered as configured already */
    }
    codis_api_jodis_stop(m);
    c->jodis = jodis_start(conf->codis.jodis_addr, conf->codis.jodis_auth,
                           (int)conf->codis.jodis_timeout, path, data);
    free(data);
    if (c->jodis == NULL) {
        log_error("jodis: cannot start the ZooKeeper registration of %s", path);
        free(key);
        return;
    }
    log_info("jodis: registering %s at %s", path, conf->codis.jodis_addr);
    c->jodis_key = key;
    snprintf(c->jodis_path, sizeof(c->jodis_path), "%s", path);
}

void
codis_api_model(struct master *m, json_t *model)
{
    const struct conf *conf = m->conf;
    char token[CODIS_API_HEX_LEN], addr[CORDIS_ADDR_LEN + 64], cwd[4096], sys[1024];
    struct sockaddr_storage ss;
    struct utsname u;
    socklen_t len;

    codis_api_token(m, token);
    json_object_set_new(model, "token", json_string(token));
    codis_api_advertised(conf->admin.listen, conf->codis.host_admin, addr, sizeof(addr));
    json_object_set_new(model, "admin_addr", json_string(addr));
    codis_api_advertised(conf->proxy.listen, conf->codis.host_proxy, addr, sizeof(addr));
    json_object_set_new(model, "proxy_addr", json_string(addr));
    json_object_set_new(model, "proto_type", json_string(
        util_parse_addr(conf->proxy.listen, &ss, &len) == CORDIS_OK && ss.ss_family == AF_INET6
        ? "tcp6" : "tcp4"));
    json_object_set_new(model, "pwd", json_string(getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ""));
    if (uname(&u) == 0) {
        snprintf(sys, sizeof(sys), "%s %s %s %s %s", u.sysname, u.nodename, u.release,
                 u.version, u.machine);
    } else {
        sys[0] = '\0';
    }
    json_object_set_new(model, "sys", json_string(sys));
    json_object_set_new(model, "datacenter", json_string(conf->codis.datacenter));
    if (m->codis != NULL && m->codis->jodis != NULL) {
        json_object_set_new(model, "jodis_path", json_string(m->codis->jodis_path));
        json_object_set_new(model, "jodis_state",
                            json_string(jodis_state_name(jodis_state(m->codis->jodis))));
    }
}

void
codis_api_stats(struct master *m, json_t *stats)
{
    json_t *sentinels = json_object(), *learned = ha_json(m), *masters = json_object(), *v;
    struct codis_api *c = m->codis;
    const char *gid;

    if (c != NULL && json_array_size(c->sentinels) > 0) {
        json_object_set(sentinels, "servers", c->sentinels);
    } else if (m->conf->sentinel.naddrs > 0) {
        json_t *list = json_array();

        for (int i = 0; i < m->conf->sentinel.naddrs; i++) {
            json_array_append_new(list, json_string(m->conf->sentinel.addr[i]));
        }
        json_object_set_new(sentinels, "servers", list);
    }
    /* Codis's masters and switched: the groups Sentinel moved, which tells
     * a dashboard to look at the sentinels itself. */
    json_object_foreach(learned, gid, v) {
        if (strcmp(json_string_value(json_object_get(v, "source")), "sentinel") == 0) {
            json_object_set(masters, gid, json_object_get(v, "primary"));
        }
    }
    if (json_object_size(masters) > 0) {
        json_object_set(sentinels, "masters", masters);
        json_object_set_new(sentinels, "switched", json_true());
    }
    json_decref(masters);
    json_object_set_new(stats, "sentinels", sentinels);
    /* cordis's own view: each sentinel's state, and every primary that is
     * not the file's, with where it came from. */
    json_object_set_new(stats, "ha", json_pack("{s:o, s:o}", "sentinel", sentinel_json(m),
                                               "primaries", learned));
}

/* --- GET routes --------------------------------------------------------------------------- */

static enum MHD_Result
codis_api_get_xping(struct codis_call *c)
{
    return codis_api_ok(c);
}

/* Codis's stats: cordis's, whose keys are Codis's plus some of its own. */
static json_t *
codis_api_stats_json(struct codis_call *c, unsigned flags)
{
    return admin_stats_json(c->a, (flags & CODIS_API_STATS_CMDS) != 0);
}

static enum MHD_Result
codis_api_get_stats(struct codis_call *c)
{
    const char *flags = c->arg;
    char *end;
    long v = 0;

    if (flags == NULL) {
        flags = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "flags");
    }
    if (flags != NULL) {
        v = strtol(flags, &end, 10);
        if (flags[0] == '\0' || *end != '\0' || v < 0 || v > 0xffffffffL) {
            return codis_api_error(c->conn, "strconv.Atoi: parsing \"%.32s\": invalid syntax",
                                   flags);
        }
    }
    return codis_api_json(c->conn, MHD_HTTP_OK, codis_api_stats_json(c, (unsigned)v));
}

/* The slot table as Codis's Slot objects (zero fields left out). */
static json_t *
codis_api_slots_json(struct master *m)
{
    struct shm_route *route = malloc(sizeof(*route));
    json_t *list = json_array();

    if (route == NULL) {
        return list;
    }
    shm_route_copy(m->shm, route);
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        const struct shm_slot *slot = &route->slots[s];
        const struct shm_group *g = shm_route_group(route, slot->group);
        const struct shm_group *from = shm_route_group(route, slot->migrate_from);
        json_t *o = json_pack("{s:i}", "id", s);

        if (slot->locked) {
            json_object_set_new(o, "locked", json_true());
        }
        if (g != NULL) {
            json_object_set_new(o, "backend_addr", json_string(g->primary));
            json_object_set_new(o, "backend_addr_group_id", json_integer(g->id));
        }
        if (from != NULL) {
            json_object_set_new(o, "migrate_from", json_string(from->primary));
            json_object_set_new(o, "migrate_from_group_id", json_integer(from->id));
        }
        if (slot->method != 0) {
            json_object_set_new(o, "forward_method", json_integer(slot->method));
        }
        if (g != NULL && g->nreplicas > 0 && from == NULL && !slot->locked) {
            json_t *set = json_array();

            for (int r = 0; r < g->nreplicas; r++) {
                json_array_append_new(set, json_string(g->replicas[r]));
            }
            json_object_set_new(o, "replica_groups", json_pack("[o]", set));
        }
        json_array_append_new(list, o);
    }
    free(route);
    return list;
}

static enum MHD_Result
codis_api_get_slots(struct codis_call *c)
{
    return codis_api_json(c->conn, MHD_HTTP_OK, codis_api_slots_json(c->m));
}

/* proxy.toml's keys for what cordis has (secrets left out, as Codis does). */
/* A duration (ms) as proxy.toml writes it: "30s", "500ms". */
static json_t *
codis_api_duration(int64_t ms)
{
    char text[32];

    if (ms % 1000 == 0) {
        snprintf(text, sizeof(text), "%llds", (long long)(ms / 1000));
    } else {
        snprintf(text, sizeof(text), "%lldms", (long long)ms);
    }
    return json_string(text);
}

static json_t *
codis_api_config_json(const struct conf *conf)
{
    json_t *o;

    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}",
                  "proto_type", "tcp4", "proxy_addr", conf->proxy.listen,
                  "admin_addr", conf->admin.listen, "jodis_name", conf->codis.jodis_name,
                  "jodis_addr", conf->codis.jodis_addr,
                  "product_name", conf->product_name,
                  "proxy_max_clients", conf->proxy.max_clients);
    json_object_set_new(o, "proxy_datacenter", json_string(conf->codis.datacenter));
    json_object_set_new(o, "jodis_auth", json_string(conf->codis.jodis_auth[0] ? "******" : ""));
    json_object_set_new(o, "jodis_timeout", codis_api_duration(conf->codis.jodis_timeout));
    json_object_set_new(o, "jodis_compatible", json_boolean(conf->codis.jodis_compatible));
    json_object_set_new(o, "backend_ping_period", codis_api_duration(conf->backend.ping_period));
    json_object_set_new(o, "backend_recv_timeout", codis_api_duration(conf->backend.recv_timeout));
    json_object_set_new(o, "backend_send_timeout", codis_api_duration(conf->backend.send_timeout));
    json_object_set_new(o, "backend_primary_only", json_boolean(conf->backend.primary_only));
    json_object_set_new(o, "backend_primary_parallel",
                        json_integer(conf->backend.primary_parallel));
    json_object_set_new(o, "backend_replica_parallel",
                        json_integer(conf->backend.replica_parallel));
    json_object_set_new(o, "backend_number_databases", json_integer(conf->backend.databases));
    json_object_set_new(o, "session_recv_timeout", codis_api_duration(conf->session.recv_timeout));
    json_object_set_new(o, "session_send_timeout", codis_api_duration(conf->session.send_timeout));
    json_object_set_new(o, "session_max_pipeline", json_integer(conf->session.max_pipeline));
    return o;
}

/* GET /proxy and its parts: codis-fe's overview, no xauth. */
static enum MHD_Result
codis_api_get_overview(struct codis_call *c)
{
    const char *part = c->arg;

    if (part == NULL) {
        json_t *o = json_pack("{s:s, s:s}", "version", PACKAGE_VERSION,
                              "compile", "cordis " PACKAGE_VERSION);

        json_object_set_new(o, "config", codis_api_config_json(c->m->conf));
        json_object_set_new(o, "model", admin_model_json(c->a));
        json_object_set_new(o, "stats", codis_api_stats_json(c, ~0u));
        json_object_set_new(o, "slots", codis_api_slots_json(c->m));
        return codis_api_json(c->conn, MHD_HTTP_OK, o);
    }
    if (strcmp(part, "model") == 0) {
        return codis_api_json(c->conn, MHD_HTTP_OK, admin_model_json(c->a));
    }
    if (strcmp(part, "stats") == 0) {
        return codis_api_json(c->conn, MHD_HTTP_OK, codis_api_stats_json(c, ~0u));
    }
    return codis_api_json(c->conn, MHD_HTTP_OK, codis_api_slots_json(c->m));
}

/* --- PUT routes ------------------------------------------------------------------------------ */

static enum MHD_Result
codis_api_put_fillslots(struct codis_call *c)
{
    json_error_t jerr;
    json_t *list, *item, *v;
    enum MHD_Result rc;
    size_t i;

    list = json_loadb(c->body != NULL ? c->body : "", c->len, 0, &jerr);
    if (list == NULL) {
        return codis_api_error(c->conn, "bad JSON at line %d column %d: %s", jerr.line,
                               jerr.column, jerr.text);
    }
    if (!json_is_array(list)) {
        json_decref(list);
        return codis_api_error(c->conn, "expected a JSON array of slots");
    }
    json_array_foreach(list, i, item) {
        v = json_object_get(item, "id");
        if (!json_is_object(item) || !json_is_integer(v) || json_integer_value(v) < 0
            || json_integer_value(v) >= CORDIS_SLOTS) {
            json_decref(list);
            return codis_api_error(c->conn, "use of invalid slot id");
        }
        v = json_object_get(item, "forward_method");
        if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0
                          || json_integer_value(v) > 1)) {
            json_decref(list);
            return codis_api_error(c->conn, "use of invalid forwarder method");
        }
        /* Codis's object only: no backend_addr is an offline slot. */
        json_object_del(item, "group");
        json_object_del(item, "migrate_from_group");
        if (json_object_get(item, "backend_addr") == NULL) {
            json_object_set_new(item, "backend_addr", json_string(""));
        }
    }
    rc = admin_fillslots(c->a, c->conn, c->req, list, true);
    json_decref(list);
    return rc;
}

static enum MHD_Result
codis_api_put_start(struct codis_call *c)
{
    if (__atomic_exchange_n(&c->m->shm->header.online, 1, __ATOMIC_ACQ_REL) == 0) {
        log_info("codis: proxy started: clients are served");
    }
    codis_api_jodis_update(c->m);   /* online: clients may find us now */
    return codis_api_ok(c);
}

/* "a b c" from an array of strings, for the log. */
static const char *
codis_api_list_text(json_t *list, char *buf, size_t size)
{
    size_t used = 0, i;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(list, i, v) {
        int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? " " : "",
                         json_string_value(v) != NULL ? json_string_value(v) : "?");

        if (n < 0 || (size_t)n >= size - used) {
            break;
        }
        used += (size_t)n;
    }
    return buf;
}

static enum MHD_Result
codis_api_put_sentinels(struct codis_call *c)
{
    struct codis_api *state = codis_api_state(c->m);
    json_error_t jerr;
    json_t *body, *servers, *out_of_sync, *v;
    char list[1024];
    size_t i;

    if (state == NULL) {
        return codis_api_error(c->conn, "out of memory");
    }
    if (c->arg != NULL) {   /* rewatch */
        log_info("codis: rewatch sentinels = [%s]",
                 codis_api_list_text(state->sentinels, list, sizeof(list)));
        sentinel_rewatch(c->m);
        return codis_api_ok(c);
    }
    body = json_loadb(c->body != NULL ? c->body : "", c->len, 0, &jerr);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        return codis_api_error(c->conn, "expected a JSON object such as "
                               "{\"servers\": [\"host:port\"], \"out_of_sync\": false}");
    }
    servers = json_object_get(body, "servers");
    out_of_sync = json_object_get(body, "out_of_sync");
    if ((servers != NULL && !json_is_null(servers) && !json_is_array(servers))
        || json_array_size(servers) > CODIS_API_MAX_SENTINELS
        || (out_of_sync != NULL && !json_is_boolean(out_of_sync))) {
        json_decref(body);
        return codis_api_error(c->conn, "servers: expected an array of addresses; "
                               "out_of_sync: true or false");
    }
    json_array_foreach(servers, i, v) {
        if (!json_is_string(v) || json_string_length(v) >= CORDIS_ADDR_LEN) {
            json_decref(body);
            return codis_api_error(c->conn, "servers[%zu]: expected an address", i);
        }
    }
    json_decref(state->sentinels);
    state->sentinels = json_is_array(servers) ? json_incref(servers) : json_array();
    state->out_of_sync = json_is_true(out_of_sync);
    json_decref(body);
    log_info("codis: set sentinels = [%s]",
             codis_api_list_text(state->sentinels, list, sizeof(list)));
    sentinel_update(c->m);   /* followed unless sentinel.addrs names others */
    return codis_api_ok(c);
}

static enum MHD_Result
codis_api_put_shutdown(struct codis_call *c)
{
    struct codis_api *state = codis_api_state(c->m);

    if (state != NULL) {
        state->closing = true;
    }
    log_info("codis: shutdown by the dashboard");
    admin_shutdown_soon(c->a);
    return codis_api_ok(c);
}

static enum MHD_Result
codis_api_put_reset(struct codis_call *c)
{
    admin_stats_reset(c->a);
    return codis_api_ok(c);
}

static enum MHD_Result
codis_api_put_forcegc(struct codis_call *c)
{
    return codis_api_ok(c);   /* no garbage collector here */
}

static enum MHD_Result
codis_api_put_loglevel(struct codis_call *c)
{
    static const struct { const char *name; int level; } names[] = {
        { "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
        { "warning", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },
        { "debug", LOG_LEVEL_DEBUG }, { "none", LOG_LEVEL_ERROR },
    };

    if (c->arg == NULL || c->arg[0] == '\0') {
        return codis_api_error(c->conn, "missing loglevel");
    }
    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(names); i++) {
        if (util_strieq(c->arg, strlen(c->arg), names[i].name)) {
            admin_set_log_level(c->a, names[i].level);
            return codis_api_ok(c);
        }
    }
    return codis_api_error(c->conn, "invalid loglevel");
}

/* --- routing ---------------------------------------------------------------------------------- */

/* Where the caller of a state-changing route may be (codis_api.h). */
static bool
codis_api_caller_allowed(struct master *m, struct MHD_Connection *conn, char *who, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info != NULL ? info->client_addr : NULL;

    snprintf(who, size, "an unknown address");
    if (sa != NULL) {
        util_addr_text(sa, who, size);
    }
    return m->conf->codis.product_auth[0] != '\0' || util_addr_is_loopback(sa)
           || conf_dashboard_allows(m->conf, sa);
}

/* What every xauth route checks first, with Codis's words. */
static bool
codis_api_verify(struct codis_call *c, const char *xauth, enum MHD_Result *rc)
{
    char want[CODIS_API_HEX_LEN];

    if (codis_api_closed(c->m)) {
        *rc = codis_api_error(c->conn, "use of closed proxy");
        return false;
    }
    if (xauth == NULL || xauth[0] == '\0') {
        *rc = codis_api_error(c->conn, "missing xauth, please check product name & auth");
        return false;
    }
    codis_api_xauth(c->m, want);
    if (!util_secret_equal(xauth, strlen(xauth), want, strlen(want))) {
        *rc = codis_api_error(c->conn, "invalid xauth, please check product name & auth");
        return false;
    }
    return true;
}

struct codis_route {
    const char        *method;   /* "GET" or "PUT" */
    const char        *name;     /* path between /api/proxy/ and the xauth */
    int                min_args; /* segments after the xauth */
    int                max_args;
    const char        *tail;     /* the one allowed segment after the xauth, or NULL */
    codis_api_handler  handler;
};

static const struct codis_route codis_routes[] = {
    { "GET", "xping",       0, 0, NULL,      codis_api_get_xping },
    { "GET", "stats",       0, 1, NULL,      codis_api_get_stats },
    { "GET", "slots",       0, 0, NULL,      codis_api_get_slots },
    { "PUT", "fillslots",   0, 0, NULL,      codis_api_put_fillslots },
    { "PUT", "start",       0, 0, NULL,      codis_api_put_start },
    { "PUT", "sentinels",   0, 1, "rewatch", codis_api_put_sentinels },
    { "PUT", "shutdown",    0, 0, NULL,      codis_api_put_shutdown },
    { "PUT", "stats/reset", 0, 0, NULL,      codis_api_put_reset },
    { "PUT", "forcegc",     0, 0, NULL,      codis_api_put_forcegc },
    { "PUT", "loglevel",    1, 1, NULL,      codis_api_put_loglevel },
};

bool
codis_api_route(struct admin *a, struct MHD_Connection *conn, const char *method,
                const char *url, struct admin_request *req, const char *body,
                size_t len, bool too_big, enum MHD_Result *rc)
{
    static const char prefix[] = "/api/proxy/";
    struct codis_call c = { a, admin_master(a), conn, req, body, len, NULL };
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0
               || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    char path[512], xauth[128] = "", who[CORDIS_ADDR_LEN + 8];

    if (get && strncmp(url, "/proxy", 6) == 0
        && (url[6] == '\0' || strcmp(url + 6, "/model") == 0
            || strcmp(url + 6, "/stats") == 0 || strcmp(url + 6, "/slots") == 0)) {
        c.arg = url[6] != '\0' ? url + 7 : NULL;
        *rc = codis_api_get_overview(&c);
        return true;
    }
    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0
        || strlen(url) - (sizeof(prefix) - 1) >= sizeof(path)) {
        return false;
    }
    strcpy(path, url + sizeof(prefix) - 1);
    for (size_t r = 0; r < CORDIS_ARRAY_SIZE(codis_routes); r++) {
        const struct codis_route *route = &codis_routes[r];
        size_t n = strlen(route->name);
        char *rest, *slash, *arg = NULL;
        int nargs = 0;

        if (strcmp(method, route->method) != 0 && !(get && route->method[0] == 'G')) {
            continue;
        }
        if (strncmp(path, route->name, n) != 0 || path[n] != '/') {
            continue;
        }
        /* xauth[/arg] */
        rest = path + n + 1;
        slash = strchr(rest, '/');
        if (slash != NULL) {
            *slash = '\0';
            arg = slash + 1;
            nargs = strchr(arg, '/') != NULL ? 2 : 1;
        }
        if (nargs < route->min_args || nargs > route->max_args
            || (arg != NULL && route->tail != NULL && strcmp(arg, route->tail) != 0)) {
            strcpy(path, url + sizeof(prefix) - 1);
            continue;
        }
        snprintf(xauth, sizeof(xauth), "%s", rest);
        c.arg = arg;
        if (!codis_api_verify(&c, xauth, rc)) {
            return true;
        }
        if (!get) {
            if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin") != NULL) {
                *rc = codis_api_error(conn, "cross-origin requests are refused");
                return true;
            }
            if (!codis_api_caller_allowed(c.m, conn, who, sizeof(who))) {
                log_warn("codis: PUT %s from %s refused: not loopback, not in "
                         "codis.dashboard, and codis.product_auth is empty",
                         route->name, who);
                *rc = codis_api_error(conn, "refused: %s is not loopback nor in "
                                      "codis.dashboard, and codis.product_auth is empty",
                                      who);
                return true;
            }
            if (too_big) {
                *rc = codis_api_error(conn, "request body too large");
                return true;
            }
        }
        *rc = route->handler(&c);
        return true;
    }
    return false;
}

/* --- binary upgrade -------------------------------------------------------------------------------- */

void
codis_api_adopt(struct master *m)
{
    struct shm_route *route;

    if (!m->conf->codis.enabled || m->old_shm == NULL) {
        return;
    }
    route = malloc(sizeof(*route));
    if (route == NULL) {
        return;
    }
    shm_route_copy(m->old_shm, route);
    shm_route_publish(m->shm, route);
    free(route);
    __atomic_store_n(&m->shm->header.online,
                     __atomic_load_n(&m->old_shm->header.online, __ATOMIC_ACQUIRE),
                     __ATOMIC_RELEASE);
    log_info("codis: slots and online state taken over from the old master");
}
