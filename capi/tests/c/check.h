/*
 * The checks the store and portal API C tests share: CHECK(cond) and
 * CHECK_STATUS(expr, expected), counting into `checks` and `failures`
 * (each test program prints them and fails when `failures` is not 0).
 * Include after mdmlink.h.
 */
#ifndef MDMLINK_TEST_CHECK_H
#define MDMLINK_TEST_CHECK_H

#include <stdio.h>

static int failures;
static int checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

/* `expr` returns `expected`; a failure's error is printed and freed. */
#define CHECK_STATUS(expr, expected)                                                  \
    do {                                                                              \
        mdmlink_error *e_ = NULL;                                                     \
        mdmlink_error **ep_ = &e_;                                                    \
        (void)ep_;                                                                    \
        mdmlink_status got_ = (expr);                                                 \
        checks++;                                                                     \
        if (got_ != (mdmlink_status)(expected)) {                                     \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s: %s\n", __FILE__,     \
                    __LINE__, #expr, mdmlink_status_name(got_),                       \
                    mdmlink_status_name((mdmlink_status)(expected)),                  \
                    e_ ? mdmlink_error_message(e_) : "(no error)");                   \
            failures++;                                                               \
        }                                                                             \
        if (got_ != MDMLINK_STATUS_OK) {                                              \
            checks++;                                                                 \
            if (e_ == NULL || mdmlink_error_status(e_) != got_) failures++;           \
        }                                                                             \
        mdmlink_error_free(e_);                                                       \
    } while (0)

#endif
