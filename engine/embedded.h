/*
 * embedded.h — the stdlib compiled into the binary (tools/embed.c generates
 * the definitions at build time; engine/state.c uses them).
 */
#ifndef WPO_EMBEDDED_H
#define WPO_EMBEDDED_H

#include <stddef.h>

struct wpo_embedded_module {
    const char *name;           /* "wpo.cli"; NULL ends the list */
    size_t offset, len;         /* its bytecode in wpo_embedded_blob */
};

/* The absolute path of the stdlib the chunks were compiled from: their
 * chunknames are "@" .. root .. "/wpo/...". */
extern const char wpo_embedded_root[];
extern const struct wpo_embedded_module wpo_embedded_modules[];
/* The resource types the modules define (resource.define "name"), NULL-ended. */
extern const char *const wpo_embedded_types[];
extern const unsigned char wpo_embedded_blob[];

#endif
