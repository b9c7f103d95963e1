/* An app built for a future ABI major: it exports only `nsgi_app_entry_v2`. A v1 gateway must
 * refuse it with a message naming both majors. */
#include "nsgi.h"

static const uint32_t DESCRIPTOR_V2[4] = { NSGI_APP_MAGIC, 2u, 48u, 0u };

NSGI_EXPORT const void *nsgi_app_entry_v2(void) {
    return DESCRIPTOR_V2;
}
