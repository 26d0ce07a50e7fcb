/*
 * test.h — the C unit tests' harness: CHECK records a failure with its
 * file:line and goes on; TEST_MAIN runs the listed tests and prints
 * "c-NAME: N passed, N failed" (a test passes when none of its checks failed).
 */
#ifndef WPO_TEST_H
#define WPO_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_checks;

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        test_failed_checks++; \
    } } while (0)

#define CHECK_STR(got, want) do { \
    const char *g_ = (got), *w_ = (want); \
    if (!g_ || strcmp(g_, w_) != 0) { \
        fprintf(stderr, "  %s:%d: %s\n    got:  \"%s\"\n    want: \"%s\"\n", \
                __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_); \
        test_failed_checks++; \
    } } while (0)

struct test_case { const char *name; void (*fn)(void); };

static int test_run(const char *suite, const struct test_case *cases)
{
    int passed = 0, failed = 0;
    for (const struct test_case *t = cases; t->name; t++) {
        int before = test_failed_checks;
        t->fn();
        if (test_failed_checks == before) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAILED %s: %s\n", suite, t->name);
        }
    }
    printf("c-%s: %d passed, %d failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}

#define TEST(fn) { #fn, fn }

#endif
