/*
 * xml.h — the XML decoder's C side: expat builds a plain C tree (no Lua in
 * expat's callbacks); xml.c's binding turns it into Lua tables afterwards.
 * tests/c/test_xml.c uses it directly.
 */
#ifndef WPO_XML_H
#define WPO_XML_H

#include <stddef.h>
#include <stdint.h>

#define WPO_XML_MAX_DEPTH 256
#define WPO_XML_MAX_BYTES ((size_t)64 << 20)

struct wpo_xml_attr {
    const char *name;   /* local name: prefix and namespace dropped */
    const char *value;
    size_t value_len;
};

struct wpo_xml_node {
    const char *name;   /* local name */
    struct wpo_xml_attr *attrs;
    size_t nattrs;
    const char *text;   /* this element's own character data, concatenated; "" when
                           it is only whitespace between child elements */
    size_t text_len;
    struct wpo_xml_node *first, *next;  /* children, in document order */
    size_t nchildren;
};

struct wpo_xml_limits {
    size_t max_bytes;   /* 0: WPO_XML_MAX_BYTES */
    int max_depth;      /* 0: WPO_XML_MAX_DEPTH */
};

/* Everything a parse allocates, freed at once by wpo_xml_free. */
struct wpo_xml_doc {
    struct wpo_xml_node *root;
    void *arena;
};

/* Parse len bytes into doc (zero it first). 0, or -1 with err holding
 * "xml: <what> at line N" (malformed, truncated, a DTD or entity
 * declaration, too deep, too large, out of memory); doc is then empty. */
int wpo_xml_parse(const char *data, size_t len, const struct wpo_xml_limits *limits,
                  struct wpo_xml_doc *doc, char *err, size_t errlen);

void wpo_xml_free(struct wpo_xml_doc *doc);

/* A decoder kept from one document to the next: its expat parser, its
 * per-depth buffers and one arena block are reused (zero it first; one
 * thread at a time). wpo_xml_parse is a decoder used once. */
struct wpo_xml_decoder {
    void *parser;       /* XML_Parser */
    void *levels;
    int nlevels;
    void *spare;        /* an arena block ready for the next document */
    uint64_t salt;      /* expat's hash salt, a different one per document */
};

int wpo_xml_decode(struct wpo_xml_decoder *dec, const char *data, size_t len,
                   const struct wpo_xml_limits *limits, struct wpo_xml_doc *doc,
                   char *err, size_t errlen);

/* Free doc, keeping a block of its memory for the decoder's next document. */
void wpo_xml_recycle(struct wpo_xml_decoder *dec, struct wpo_xml_doc *doc);

void wpo_xml_decoder_free(struct wpo_xml_decoder *dec);

#endif
