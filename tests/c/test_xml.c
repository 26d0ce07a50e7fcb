/*
 * test_xml.c — xml.h's C tree: shape, limits, hostile documents, every
 * truncation of a response and random corruption returning -1 with a
 * message and never crashing or leaking (run under ASan by make check-asan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "xml.h"

static const char RESPONSE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
    "  <requestId>req-1</requestId>\n"
    "  <vpcSet>\n"
    "    <item><vpcId>vpc-1</vpcId><tagSet><item><key>Name</key><value>a &amp; b</value></item></tagSet></item>\n"
    "    <item><vpcId>vpc-2</vpcId><tagSet/></item>\n"
    "  </vpcSet>\n"
    "</DescribeVpcsResponse>\n";

/* One decoder reused by every parse() (as the Lua binding does), so its
 * reuse after failures is exercised too. */
static struct wpo_xml_decoder decoder;

static int parse(const char *s, size_t n, const struct wpo_xml_limits *lim, char *err, size_t errlen)
{
    struct wpo_xml_doc doc = {0};
    int rc = wpo_xml_decode(&decoder, s, n, lim, &doc, err, errlen);
    if (rc == 0) {
        CHECK(doc.root != NULL);
        wpo_xml_recycle(&decoder, &doc);
    } else {
        CHECK(doc.root == NULL && doc.arena == NULL);
    }
    return rc;
}

static void test_shape(void)
{
    struct wpo_xml_doc doc = {0};
    char err[256];
    CHECK(wpo_xml_parse(RESPONSE, sizeof RESPONSE - 1, NULL, &doc, err, sizeof err) == 0);
    struct wpo_xml_node *root = doc.root;
    CHECK(root && strcmp(root->name, "DescribeVpcsResponse") == 0);
    CHECK(root && root->nchildren == 2 && root->nattrs == 0 && root->text_len == 0);
    struct wpo_xml_node *set = root ? root->first->next : NULL;
    CHECK(set && strcmp(set->name, "vpcSet") == 0 && set->nchildren == 2);
    struct wpo_xml_node *item2 = set ? set->first->next : NULL;
    CHECK(item2 && strcmp(item2->first->text, "vpc-2") == 0 && item2->first->next->nchildren == 0);
    struct wpo_xml_node *value = set ? set->first->first->next->first->first->next : NULL;
    CHECK(value && strcmp(value->name, "value") == 0 && strcmp(value->text, "a & b") == 0);
    wpo_xml_free(&doc);

    CHECK(wpo_xml_parse("<a xmlns:p='urn:p' p:k='v' k2='w'/>", 35, NULL, &doc, err, sizeof err) == 0);
    CHECK(doc.root && doc.root->nattrs == 2 && strcmp(doc.root->attrs[0].name, "k") == 0 &&
          strcmp(doc.root->attrs[0].value, "v") == 0);
    wpo_xml_free(&doc);
}

static void test_hostile(void)
{
    char err[256];
    const char *laughs = "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
                         "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]><l>&c;&c;&c;&c;</l>";
    CHECK(parse(laughs, strlen(laughs), NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "DTDs are refused") != NULL);
    const char *xxe = "<!DOCTYPE f [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><f>&x;</f>";
    CHECK(parse(xxe, strlen(xxe), NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "DTDs are refused") != NULL);

    size_t depth = 10000, n = 0;
    char *deep = malloc(depth * 7 + 1);
    for (size_t i = 0; i < depth; i++) {
        memcpy(deep + n, "<a>", 3);
        n += 3;
    }
    for (size_t i = 0; i < depth; i++) {
        memcpy(deep + n, "</a>", 4);
        n += 4;
    }
    CHECK(parse(deep, n, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "nesting deeper than 256 levels at line 1") != NULL);
    struct wpo_xml_limits lim = {0, 10001};
    CHECK(parse(deep, n, &lim, err, sizeof err) == 0);
    free(deep);

    struct wpo_xml_limits small = {16, 0};
    CHECK(parse(RESPONSE, sizeof RESPONSE - 1, &small, err, sizeof err) == -1);
    CHECK(strstr(err, "larger than the limit") != NULL);
}

/* A document bigger than one expat chunk (16 MiB) is fed in pieces. */
static void test_large_text(void)
{
    size_t body = (size_t)20 << 20;
    char *doc = malloc(body + 8);
    memcpy(doc, "<a>", 3);
    memset(doc + 3, 'x', body);
    memcpy(doc + 3 + body, "</a>", 4);
    struct wpo_xml_doc d = {0};
    char err[256];
    CHECK(wpo_xml_parse(doc, body + 7, NULL, &d, err, sizeof err) == 0);
    CHECK(d.root && d.root->text_len == body);
    wpo_xml_free(&d);
    CHECK(parse(doc, body + 6, NULL, err, sizeof err) == -1);
    free(doc);
}

static void test_every_truncation(void)
{
    char err[256];
    for (size_t n = 0; n < sizeof RESPONSE - 2; n++) {
        err[0] = '\0';
        CHECK(parse(RESPONSE, n, NULL, err, sizeof err) == -1);
        CHECK(strncmp(err, "xml: ", 5) == 0 && strstr(err, " at line ") != NULL);
    }
}

static void test_random_corruption(void)
{
    static const char alphabet[] = "<>/&;=\"' !?[]-x#%\0\xff\xc3";
    char doc[sizeof RESPONSE], err[256];
    uint32_t seed = 7;
    int ok = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        memcpy(doc, RESPONSE, sizeof RESPONSE);
        seed = seed * 1664525 + 1013904223;
        for (uint32_t k = 0; k < 1 + (seed >> 28) % 4; k++) {
            seed = seed * 1664525 + 1013904223;
            size_t at = (seed >> 8) % (sizeof RESPONSE - 1);
            seed = seed * 1664525 + 1013904223;
            doc[at] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        err[0] = '\0';
        int rc = parse(doc, sizeof RESPONSE - 1, NULL, err, sizeof err);
        /* a fresh parser gives the same answer as the reused one */
        struct wpo_xml_doc fresh = {0};
        char err2[256];
        int rc2 = wpo_xml_parse(doc, sizeof RESPONSE - 1, NULL, &fresh, err2, sizeof err2);
        CHECK(rc == rc2 && (rc == 0 || strcmp(err, err2) == 0));
        wpo_xml_free(&fresh);
        if (rc == 0)
            ok++;
        else
            refused++;
        CHECK(rc == 0 || strncmp(err, "xml: ", 5) == 0);
    }
    CHECK(ok > 100 && refused > 100);
}

int main(void)
{
    static const struct test_case cases[] = {
        TEST(test_shape), TEST(test_hostile), TEST(test_large_text), TEST(test_every_truncation),
        TEST(test_random_corruption), {NULL, NULL}};
    int rc = test_run("xml", cases);
    wpo_xml_decoder_free(&decoder);
    return rc;
}
