/*
 * libFuzzer harness: the request parser (resp_parse_request) on a client's
 * byte stream, fed whole, byte by byte and in chunks drawn from the input,
 * each call on an exactly-sized fresh heap copy (see req_feed.h). The three
 * feeds must give identical results, and each result must be sound.
 *
 * The last byte of the input picks the configuration (req_cfg_from_byte):
 * before/after AUTH and max_bulk.
 *
 * Built and run by tools/fuzz; a single input replays with
 *   build-fuzz/fuzz_request FILE
 */
#include <stddef.h>
#include <stdint.h>

#include "req_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct req_cfg cfg = req_cfg_from_byte(size ? data[size - 1] : '\n');

    req_feed_all(data, size, &cfg);
    return 0;
}
