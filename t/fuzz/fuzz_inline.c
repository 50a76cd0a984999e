/*
 * libFuzzer harness: inline requests ("SET k \"v\\x41\"\r\n", as redis-cli
 * and sdssplitargs take them). The input is made to start with a byte other
 * than '*' (a leading '*' becomes a space) and "\r\n" is appended, so the
 * first request is always inline and complete; later lines may be anything,
 * and are fed whole, byte by byte and in random chunks exactly as in
 * fuzz_request (req_feed.h), with identical results required.
 *
 * The input's own last byte (before "\r\n" is added) picks the
 * configuration, as in fuzz_request.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "req_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct req_cfg cfg = req_cfg_from_byte(size ? data[size - 1] : '\n');
    uint8_t       *in = malloc(size + 2);

    if (in == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(in, data, size);
        if (in[0] == '*') {
            in[0] = ' ';
        }
    }
    in[size] = '\r';
    in[size + 1] = '\n';

    req_feed_all(in, size + 2, &cfg);
    free(in);
    return 0;
}
