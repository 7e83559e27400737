/*
 * C tests of the mdmlink C API: every entry point, every NULL argument,
 * wrong keys, garbage input, the `*err` rule, panics.
 *
 * Driven by tests/capi.rs (cargo test), which compiles this file with
 * -std=c11 -Wall -Wextra -Wpedantic -Werror and runs it, under valgrind in CI:
 *
 *   test_capi FIXTURE_DIR CARGO_VERSION EXPECTED_EXPIRY_UNIX [SIMULATOR_URL]
 *
 * FIXTURE_DIR is tests/fixtures/apple-token-1 (the real Apple token).
 * SIMULATOR_URL is a running simulator with the account of test_dep (token
 * CK_c/CS_c/AT_c/AS_c, 2,500 devices from seed 3); tests/capi.rs starts it.
 */
#include "mdmlink.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static const char *status_text(mdmlink_status s) {
    const char *name = mdmlink_status_name(s);
    return name ? name : "(unknown status)";
}

#define CHECK_STATUS(expr, expected)                                                       \
    do {                                                                                   \
        mdmlink_status got_ = (expr);                                                      \
        checks++;                                                                          \
        if (got_ != (mdmlink_status)(expected)) {                                          \
            fprintf(stderr, "%s:%d: %s\n  returned %s (%u), expected %s\n", __FILE__,      \
                    __LINE__, #expr, status_text(got_), (unsigned)got_,                    \
                    status_text((mdmlink_status)(expected)));                              \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

/* The status and message of the error left in `err`, then freed and reset. */
#define CHECK_ERR(err, expected)                                                 \
    do {                                                                         \
        CHECK((err) != NULL);                                                    \
        if ((err) != NULL) {                                                     \
            CHECK(mdmlink_error_status(err) == (mdmlink_status)(expected));      \
            CHECK(mdmlink_error_message(err) != NULL);                           \
            CHECK(strlen(mdmlink_error_message(err)) > 0);                       \
            mdmlink_error_free(err);                                             \
            (err) = NULL;                                                        \
        }                                                                        \
    } while (0)

static char fixture_dir[1024];

static uint8_t *read_file(const char *name, size_t *len) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap + 1);
            if (!buf) exit(2);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static int starts_with(const mdmlink_bytes *b, const char *prefix) {
    size_t n = strlen(prefix);
    return b->ptr != NULL && b->len >= n && memcmp(b->ptr, prefix, n) == 0;
}

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Fixtures shared by the tests. */
static uint8_t *key_pem, *key_der, *cert_pem, *token_file, *expected_json;
static size_t key_pem_len, key_der_len, cert_pem_len, token_file_len, expected_json_len;
static int64_t expected_expiry;
static const uint8_t sentinel_byte = 0xAB;

static void test_version(const char *cargo_version) {
    CHECK(strcmp(mdmlink_version(), cargo_version) == 0);
    CHECK(strcmp(mdmlink_version(), MDMLINK_VERSION) == 0);
    char macros[64];
    snprintf(macros, sizeof macros, "%d.%d.%d", MDMLINK_VERSION_MAJOR, MDMLINK_VERSION_MINOR,
             MDMLINK_VERSION_PATCH);
    CHECK(strcmp(macros, cargo_version) == 0);
    /* The ABI version is the SONAME's number: the minor version for 0.x. */
    CHECK(mdmlink_abi_version() == MDMLINK_ABI_VERSION);
    CHECK(MDMLINK_VERSION_MAJOR != 0 || MDMLINK_ABI_VERSION == MDMLINK_VERSION_MINOR);
}

static void test_status_numbers(void) {
    /* The numbers are ABI: fixed forever. */
    CHECK(MDMLINK_STATUS_OK == 0);
    CHECK(MDMLINK_STATUS_NULL_ARGUMENT == 1);
    CHECK(MDMLINK_STATUS_DEP_CURSOR == 92);
    CHECK(MDMLINK_STATUS_DEP_REPEATED_CURSOR == 93);
    CHECK(MDMLINK_STATUS_DEP_PROFILE_NOT_FOUND == 94);
    CHECK(MDMLINK_STATUS_DEP_BAD_REQUEST == 95);
    CHECK(MDMLINK_STATUS_DEP_SERVICE_UNAVAILABLE == 96);
    CHECK(MDMLINK_STATUS_DEP_REJECTED == 97);
    CHECK(MDMLINK_STATUS_PANIC == 2);
    CHECK(MDMLINK_STATUS_INVALID_ARGUMENT == 3);
    CHECK(MDMLINK_STATUS_ERROR_NOT_NULL == 4);
    CHECK(MDMLINK_STATUS_FEATURE_NOT_ENABLED == 5);
    CHECK(MDMLINK_STATUS_INVALID_NAME == 10);
    CHECK(MDMLINK_STATUS_ROLE_NOT_ALLOWED == 11);
    CHECK(MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE == 20);
    CHECK(MDMLINK_STATUS_KEY_MALFORMED == 21);
    CHECK(MDMLINK_STATUS_KEY_NOT_RSA == 22);
    CHECK(MDMLINK_STATUS_KEY_PASSWORD_REQUIRED == 23);
    CHECK(MDMLINK_STATUS_KEY_WRONG_PASSWORD == 24);
    CHECK(MDMLINK_STATUS_KEY_LEGACY_ENCRYPTED_PEM == 25);
    CHECK(MDMLINK_STATUS_CERTIFICATE_INVALID == 26);
    CHECK(MDMLINK_STATUS_CERTIFICATE_MISMATCH == 27);
    CHECK(MDMLINK_STATUS_NO_CERTIFICATE == 28);
    CHECK(MDMLINK_STATUS_RANDOM_FAILED == 29);
    CHECK(MDMLINK_STATUS_KEY_GENERATION_FAILED == 30);
    CHECK(MDMLINK_STATUS_ENCODE_FAILED == 31);
    CHECK(MDMLINK_STATUS_SIGN_FAILED == 32);
    CHECK(MDMLINK_STATUS_TOKEN_TOO_LARGE == 40);
    CHECK(MDMLINK_STATUS_TOKEN_FORMAT == 41);
    CHECK(MDMLINK_STATUS_TOKEN_MALFORMED == 42);
    CHECK(MDMLINK_STATUS_TOKEN_UNSUPPORTED_ALGORITHM == 43);
    CHECK(MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT == 44);
    CHECK(MDMLINK_STATUS_TOKEN_DECRYPT == 45);
    CHECK(MDMLINK_STATUS_TOKEN_PAYLOAD == 46);
    CHECK(MDMLINK_STATUS_TOKEN_SEAL == 47);
    CHECK(MDMLINK_STATUS_TOKEN_FILE_NAME == 48);
    CHECK(MDMLINK_STATUS_DUPLICATE_NAME == 60);
    CHECK(MDMLINK_STATUS_NOT_FOUND == 61);
    CHECK(MDMLINK_STATUS_NO_KEYPAIR == 62);
    CHECK(MDMLINK_STATUS_CONSUMER_KEY_CHANGED == 63);
    CHECK(MDMLINK_STATUS_CERTIFICATE_LIMIT == 64);
    CHECK(MDMLINK_STATUS_NO_STAGED_KEYPAIR == 65);
    CHECK(MDMLINK_STATUS_INVALID_RECORD == 66);
    CHECK(MDMLINK_STATUS_NO_TOKEN == 67);
    CHECK(MDMLINK_STATUS_TOKEN_NOT_NEWER == 69);
    CHECK(MDMLINK_STATUS_ALREADY_STAGED == 70);
    CHECK(MDMLINK_HEALTH_STATE_NO_TOKEN == 4);
    CHECK(MDMLINK_HEALTH_STATE_NO_CERTIFICATE == 5);
    CHECK(MDMLINK_STATUS_NO_SERVER_UUID == 68);
    CHECK(strcmp(mdmlink_status_name(MDMLINK_STATUS_NO_SERVER_UUID), "MDMLINK_STATUS_NO_SERVER_UUID") == 0);
    CHECK(MDMLINK_STATUS_SESSION_BAD_REQUEST == 80);
    CHECK(MDMLINK_STATUS_SESSION_UNAUTHORIZED == 81);
    CHECK(MDMLINK_STATUS_SESSION_TOKEN_EXPIRED == 82);
    CHECK(MDMLINK_STATUS_SESSION_EXPIRED == 83);
    CHECK(MDMLINK_STATUS_SESSION_TERMS_NOT_ACCEPTED == 84);
    CHECK(MDMLINK_STATUS_SESSION_ACCESS_DENIED == 85);
    CHECK(MDMLINK_STATUS_SESSION_FORBIDDEN == 86);
    CHECK(MDMLINK_STATUS_SESSION_RATE_LIMITED == 87);
    CHECK(MDMLINK_STATUS_SESSION_HTTP_STATUS == 88);
    CHECK(MDMLINK_STATUS_SESSION_MALFORMED_RESPONSE == 89);
    CHECK(MDMLINK_STATUS_SESSION_INVALID_URL == 90);
    CHECK(MDMLINK_STATUS_SESSION_TRANSPORT == 91);
    CHECK(strcmp(mdmlink_status_name(MDMLINK_STATUS_SESSION_TRANSPORT), "MDMLINK_STATUS_SESSION_TRANSPORT") == 0);
    CHECK(strcmp(mdmlink_status_name(MDMLINK_STATUS_OK), "MDMLINK_STATUS_OK") == 0);
    CHECK(strcmp(mdmlink_status_name(MDMLINK_STATUS_TOKEN_DECRYPT), "MDMLINK_STATUS_TOKEN_DECRYPT") == 0);
    CHECK(strcmp(mdmlink_status_name(MDMLINK_STATUS_NO_TOKEN), "MDMLINK_STATUS_NO_TOKEN") == 0);
    CHECK(strcmp(mdmlink_status_name(MDMLINK_STATUS_ERROR_NOT_NULL), "MDMLINK_STATUS_ERROR_NOT_NULL") == 0);
    CHECK(strcmp(mdmlink_status_name(MDMLINK_STATUS_FEATURE_NOT_ENABLED), "MDMLINK_STATUS_FEATURE_NOT_ENABLED") == 0);
    CHECK(mdmlink_status_name(6) == NULL);
    CHECK(mdmlink_status_name(0xFFFFFFFFu) == NULL);
}

static void test_server_names(void) {
    mdmlink_error *err = NULL;
    CHECK_STATUS(mdmlink_server_name_check("Main MDM", &err), MDMLINK_STATUS_OK);
    CHECK(err == NULL);
    CHECK_STATUS(mdmlink_server_name_check("Main MDM", NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_server_name_check("unassigned", &err), MDMLINK_STATUS_INVALID_NAME);
    CHECK(contains(mdmlink_error_message(err), "reserved"));
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_NAME);
    CHECK_STATUS(mdmlink_server_name_check("   ", &err), MDMLINK_STATUS_INVALID_NAME);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_NAME);
    CHECK_STATUS(mdmlink_server_name_check("bad\x01name", NULL), MDMLINK_STATUS_INVALID_NAME);
    CHECK_STATUS(mdmlink_server_name_check("\xff\xfe", &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_server_name_check(NULL, &err), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK(contains(mdmlink_error_message(err), "name"));
    CHECK_ERR(err, MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_server_name_check(NULL, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
}

static void test_error_not_null(void) {
    /* `*err` must be NULL on entry. A call given a non-NULL `*err` (an error
       not freed and reset, or an uninitialised variable) does nothing, returns
       MDMLINK_STATUS_ERROR_NOT_NULL and leaves `*err` alone: never freed
       (valgrind would see a double free below), never overwritten. */
    mdmlink_error *err = NULL;
    CHECK_STATUS(mdmlink_server_name_check("Reassigned", &err), MDMLINK_STATUS_INVALID_NAME);
    CHECK(err != NULL);
    mdmlink_error *first = err;
    CHECK_STATUS(mdmlink_server_name_check(NULL, &err), MDMLINK_STATUS_ERROR_NOT_NULL);
    CHECK(err == first && mdmlink_error_status(err) == MDMLINK_STATUS_INVALID_NAME);
    mdmlink_keypair *kp = NULL;
    CHECK_STATUS(mdmlink_keypair_from_pem(key_pem, key_pem_len, NULL, &kp, &err), MDMLINK_STATUS_ERROR_NOT_NULL);
    CHECK(kp == NULL && err == first);
    CHECK_STATUS(mdmlink_server_name_check("Fine", &err), MDMLINK_STATUS_ERROR_NOT_NULL);
    CHECK(err == first);
    mdmlink_error_free(err);
    err = NULL;
    /* A pointer that is not ours (standing in for an uninitialised variable)
       is refused the same way, and not touched. */
    mdmlink_error *garbage = (mdmlink_error *)&sentinel_byte;
    CHECK_STATUS(mdmlink_server_name_check("Main MDM", &garbage), MDMLINK_STATUS_ERROR_NOT_NULL);
    CHECK(garbage == (mdmlink_error *)&sentinel_byte);
    /* Freed and reset, the variable serves the next call. */
    CHECK_STATUS(mdmlink_keypair_from_pem((const uint8_t *)"junk", 4, NULL, &kp, &err),
                 MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_server_name_check("Fine", &err), MDMLINK_STATUS_OK);
    CHECK(err == NULL);
    /* The error accessors and free accept NULL. */
    CHECK(mdmlink_error_message(NULL) == NULL);
    CHECK(mdmlink_error_status(NULL) == MDMLINK_STATUS_NULL_ARGUMENT);
    mdmlink_error_free(NULL);
}

static void test_bytes_free(void) {
    mdmlink_bytes empty = {NULL, 0};
    mdmlink_bytes_free(NULL);
    mdmlink_bytes_free(&empty);
    CHECK(empty.ptr == NULL && empty.len == 0);
}

/* Every mdmlink_bytes output is followed by a NUL not counted in `len`. */
static int nul_terminated(const mdmlink_bytes *b) {
    return b->ptr != NULL && b->ptr[b->len] == 0 && strlen((const char *)b->ptr) == b->len;
}

static mdmlink_keypair *apple_keypair(void);

/* One rule for every byte input: NULL with length 0 is the empty input,
   judged like any other empty input (a pointer with length 0 gives the same
   status); NULL with a length is MDMLINK_STATUS_NULL_ARGUMENT. */
static void test_empty_byte_inputs(void) {
    const uint8_t d[1] = {0};
    mdmlink_keypair *k = NULL;
    mdmlink_error *err = NULL;
    CHECK_STATUS(mdmlink_keypair_from_pem(NULL, 0, NULL, &k, &err), MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_keypair_from_pem(d, 0, NULL, &k, NULL), MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_keypair_from_der(NULL, 0, NULL, &k, NULL), MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_keypair_from_der(d, 0, NULL, &k, NULL), MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_keypair_from_der(NULL, 1, NULL, &k, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK(k == NULL);
    mdmlink_keypair *kp = apple_keypair();
    mdmlink_token *t = NULL;
    CHECK_STATUS(mdmlink_token_open(kp, NULL, 0, &t, NULL), MDMLINK_STATUS_TOKEN_FORMAT);
    CHECK_STATUS(mdmlink_token_open(kp, d, 0, &t, NULL), MDMLINK_STATUS_TOKEN_FORMAT);
    CHECK(t == NULL);
    CHECK_STATUS(mdmlink_token_new("CK", "CS", "AT", "AS", 1795536000, &t, NULL), MDMLINK_STATUS_OK);
    mdmlink_bytes sealed = {NULL, 0};
    CHECK_STATUS(mdmlink_token_seal(t, NULL, 0, &sealed, NULL), MDMLINK_STATUS_CERTIFICATE_INVALID);
    CHECK_STATUS(mdmlink_token_seal(t, d, 0, &sealed, NULL), MDMLINK_STATUS_CERTIFICATE_INVALID);
    CHECK(sealed.ptr == NULL);
    mdmlink_organization *o = NULL;
    CHECK_STATUS(mdmlink_organization_new("Org", MDMLINK_PORTAL_BUSINESS_MANAGER, &o, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_add(o, "Main MDM", kp, 0, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_install_token(o, "Main MDM", NULL, 0, NULL, false, 0, NULL, NULL),
                 MDMLINK_STATUS_TOKEN_FORMAT);
    CHECK_STATUS(mdmlink_organization_server_install_token_file(o, "Main MDM", "Main MDM_Token_2025-01-17T11-02-21Z_smime.p7m",
                     NULL, 0, NULL, false, 0, NULL, NULL, NULL), MDMLINK_STATUS_TOKEN_FORMAT);
    CHECK_STATUS(mdmlink_session_check_response(200, NULL, 0, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_session_check_response(200, d, 0, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_session_check_response(200, NULL, 2, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
    mdmlink_organization_free(o);
    mdmlink_token_free(t);
    mdmlink_keypair_free(kp);
}

static mdmlink_keypair *apple_keypair(void) {
    mdmlink_keypair *kp = NULL;
    mdmlink_error *err = NULL;
    CHECK_STATUS(mdmlink_keypair_from_pem(key_pem, key_pem_len, NULL, &kp, &err), MDMLINK_STATUS_OK);
    CHECK(err == NULL);
    return kp;
}

static void check_apple_fields(const mdmlink_token *token) {
    static const char *names[4] = {"consumer_key", "consumer_secret", "access_token", "access_secret"};
    const char *values[4] = {mdmlink_token_consumer_key(token), mdmlink_token_consumer_secret(token),
                             mdmlink_token_access_token(token), mdmlink_token_access_secret(token)};
    for (int i = 0; i < 4; i++) {
        char needle[512];
        CHECK(values[i] != NULL);
        if (!values[i]) continue;
        snprintf(needle, sizeof needle, "\"%s\":\"%s\"", names[i], values[i]);
        CHECK(contains((const char *)expected_json, needle));
    }
    CHECK(strncmp(mdmlink_token_consumer_key(token), "CK_", 3) == 0);
    CHECK(mdmlink_token_expiry_unix(token) == expected_expiry);
}

static void test_open_apple_token(void) {
    mdmlink_error *err = NULL;
    mdmlink_keypair *kp = apple_keypair();
    CHECK(mdmlink_keypair_bits(kp) == 2048);

    mdmlink_token *token = NULL;
    CHECK_STATUS(mdmlink_token_open(kp, token_file, token_file_len, &token, &err), MDMLINK_STATUS_OK);
    CHECK(token != NULL && err == NULL);
    if (token) {
        check_apple_fields(token);
        mdmlink_bytes json = {NULL, 0};
        CHECK_STATUS(mdmlink_token_json(token, &json, &err), MDMLINK_STATUS_OK);
        size_t n = expected_json_len;
        while (n > 0 && (expected_json[n - 1] == '\n' || expected_json[n - 1] == '\r')) n--;
        CHECK(json.len == n && memcmp(json.ptr, expected_json, n) == 0);
        CHECK(nul_terminated(&json));
        mdmlink_bytes_free(&json);
        CHECK(json.ptr == NULL && json.len == 0);
        mdmlink_bytes_free(&json); /* twice is harmless */
    }
    mdmlink_token_free(token);

    /* The same key as DER. */
    mdmlink_keypair *kp_der = NULL;
    CHECK_STATUS(mdmlink_keypair_from_der(key_der, key_der_len, NULL, &kp_der, &err), MDMLINK_STATUS_OK);
    token = NULL;
    CHECK_STATUS(mdmlink_token_open(kp_der, token_file, token_file_len, &token, &err), MDMLINK_STATUS_OK);
    if (token) check_apple_fields(token);
    mdmlink_token_free(token);
    mdmlink_keypair_free(kp_der);

    /* Loaded without certificate: no certificate to export; outputs untouched. */
    mdmlink_bytes out = {(uint8_t *)&sentinel_byte, 7};
    CHECK_STATUS(mdmlink_keypair_certificate_pem(kp, &out, &err), MDMLINK_STATUS_NO_CERTIFICATE);
    CHECK(out.ptr == &sentinel_byte && out.len == 7);
    CHECK_ERR(err, MDMLINK_STATUS_NO_CERTIFICATE);
    CHECK_STATUS(mdmlink_keypair_certificate_der(kp, &out, NULL), MDMLINK_STATUS_NO_CERTIFICATE);
    CHECK(out.ptr == &sentinel_byte && out.len == 7);

    /* Key and certificate in one PEM: the certificate is kept. */
    size_t both_len = key_pem_len + cert_pem_len;
    uint8_t *both = malloc(both_len);
    memcpy(both, key_pem, key_pem_len);
    memcpy(both + key_pem_len, cert_pem, cert_pem_len);
    mdmlink_keypair *kp_cert = NULL;
    CHECK_STATUS(mdmlink_keypair_from_pem(both, both_len, NULL, &kp_cert, &err), MDMLINK_STATUS_OK);
    mdmlink_bytes pem = {NULL, 0}, der = {NULL, 0};
    CHECK_STATUS(mdmlink_keypair_certificate_pem(kp_cert, &pem, &err), MDMLINK_STATUS_OK);
    CHECK(pem.len == cert_pem_len || (pem.len + 1 == cert_pem_len)); /* same certificate text */
    CHECK(starts_with(&pem, "-----BEGIN CERTIFICATE-----"));
    CHECK(pem.ptr && memcmp(pem.ptr, cert_pem, pem.len < cert_pem_len ? pem.len : cert_pem_len) == 0);
    CHECK_STATUS(mdmlink_keypair_certificate_der(kp_cert, &der, &err), MDMLINK_STATUS_OK);
    CHECK(der.len > 100 && der.ptr[0] == 0x30);
    token = NULL;
    CHECK_STATUS(mdmlink_token_open(kp_cert, token_file, token_file_len, &token, &err), MDMLINK_STATUS_OK);
    if (token) check_apple_fields(token);
    mdmlink_token_free(token);
    mdmlink_bytes_free(&pem);
    mdmlink_bytes_free(&der);
    mdmlink_keypair_free(kp_cert);
    free(both);
    mdmlink_keypair_free(kp);
}

static void test_wrong_key_and_garbage(mdmlink_keypair *generated) {
    mdmlink_error *err = NULL;
    mdmlink_token *token = (mdmlink_token *)(void *)&sentinel_byte;

    /* A keypair with its certificate names both certificates. */
    CHECK_STATUS(mdmlink_token_open(generated, token_file, token_file_len, &token, &err),
                 MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT);
    CHECK(token == (mdmlink_token *)(void *)&sentinel_byte);
    CHECK(contains(mdmlink_error_message(err), "70FEDDC7D5AFA393"));
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT);

    /* The same wrong key without its certificate cannot decrypt. */
    mdmlink_bytes key = {NULL, 0};
    CHECK_STATUS(mdmlink_keypair_private_key_pem(generated, NULL, &key, &err), MDMLINK_STATUS_OK);
    CHECK(starts_with(&key, "-----BEGIN PRIVATE KEY-----"));
    mdmlink_keypair *bare = NULL;
    CHECK_STATUS(mdmlink_keypair_from_pem(key.ptr, key.len, NULL, &bare, &err), MDMLINK_STATUS_OK);
    mdmlink_bytes_free(&key);
    CHECK_STATUS(mdmlink_token_open(bare, token_file, token_file_len, &token, &err),
                 MDMLINK_STATUS_TOKEN_DECRYPT);
    CHECK(token == (mdmlink_token *)(void *)&sentinel_byte);
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_DECRYPT);
    mdmlink_keypair_free(bare);

    /* Garbage, truncated and empty token files. */
    mdmlink_keypair *kp = apple_keypair();
    static const uint8_t garbage[] = "this is not a token\n";
    mdmlink_status s = mdmlink_token_open(kp, garbage, sizeof garbage - 1, &token, &err);
    CHECK(s != MDMLINK_STATUS_OK && s != MDMLINK_STATUS_PANIC);
    CHECK_ERR(err, s);
    s = mdmlink_token_open(kp, token_file, token_file_len / 2, &token, &err);
    CHECK(s != MDMLINK_STATUS_OK && s != MDMLINK_STATUS_PANIC);
    CHECK_ERR(err, s);
    s = mdmlink_token_open(kp, token_file, 0, &token, &err);
    CHECK(s != MDMLINK_STATUS_OK && s != MDMLINK_STATUS_PANIC);
    CHECK_ERR(err, s);
    uint8_t *flipped = malloc(token_file_len);
    for (size_t i = 0; i < token_file_len; i++) flipped[i] = (uint8_t)(token_file[i] ^ 0x5A);
    s = mdmlink_token_open(kp, flipped, token_file_len, &token, NULL);
    CHECK(s != MDMLINK_STATUS_OK && s != MDMLINK_STATUS_PANIC);
    free(flipped);
    CHECK(token == (mdmlink_token *)(void *)&sentinel_byte);

    /* Garbage keys. */
    mdmlink_keypair *out = (mdmlink_keypair *)(void *)&sentinel_byte;
    CHECK_STATUS(mdmlink_keypair_from_pem(garbage, sizeof garbage - 1, NULL, &out, &err),
                 MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_keypair_from_der(garbage, sizeof garbage - 1, NULL, &out, &err),
                 MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_keypair_from_der(token_file, 0, NULL, &out, NULL), MDMLINK_STATUS_KEY_MALFORMED);
    /* A certificate is not a private key. */
    CHECK_STATUS(mdmlink_keypair_from_pem(cert_pem, cert_pem_len, NULL, &out, NULL), MDMLINK_STATUS_KEY_MALFORMED);
    /* A key with someone else's certificate. */
    mdmlink_bytes gen_cert = {NULL, 0};
    CHECK_STATUS(mdmlink_keypair_certificate_pem(generated, &gen_cert, &err), MDMLINK_STATUS_OK);
    uint8_t *mixed = malloc(key_pem_len + gen_cert.len);
    memcpy(mixed, key_pem, key_pem_len);
    memcpy(mixed + key_pem_len, gen_cert.ptr, gen_cert.len);
    CHECK_STATUS(mdmlink_keypair_from_pem(mixed, key_pem_len + gen_cert.len, NULL, &out, &err),
                 MDMLINK_STATUS_CERTIFICATE_MISMATCH);
    CHECK_ERR(err, MDMLINK_STATUS_CERTIFICATE_MISMATCH);
    free(mixed);
    mdmlink_bytes_free(&gen_cert);
    CHECK(out == (mdmlink_keypair *)(void *)&sentinel_byte);
    mdmlink_keypair_free(kp);
}

static void test_generate_and_export(mdmlink_keypair **generated_out) {
    mdmlink_error *err = NULL;
    mdmlink_keypair *kp = NULL;
    CHECK_STATUS(mdmlink_keypair_generate(1024, "Main MDM", 1800000000, &kp, &err), MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE);
    CHECK(kp == NULL);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE);
    CHECK_STATUS(mdmlink_keypair_generate(2048, "Main MDM", INT64_MAX, &kp, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK(kp == NULL);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_keypair_generate(2048, "Main MDM", (int64_t)time(NULL), &kp, &err), MDMLINK_STATUS_OK);
    CHECK(kp != NULL && err == NULL);
    CHECK(mdmlink_keypair_bits(kp) == 2048);

    mdmlink_bytes pem = {NULL, 0}, der = {NULL, 0};
    CHECK_STATUS(mdmlink_keypair_certificate_pem(kp, &pem, &err), MDMLINK_STATUS_OK);
    CHECK(starts_with(&pem, "-----BEGIN CERTIFICATE-----"));
    CHECK(nul_terminated(&pem));
    CHECK_STATUS(mdmlink_keypair_certificate_der(kp, &der, &err), MDMLINK_STATUS_OK);
    CHECK(der.len > 100 && der.ptr[0] == 0x30 && der.ptr[der.len] == 0);

    /* Encrypted private key: needs the password, refuses a wrong one. */
    mdmlink_bytes enc = {NULL, 0};
    CHECK_STATUS(mdmlink_keypair_private_key_pem(kp, "correct horse", &enc, &err), MDMLINK_STATUS_OK);
    CHECK(starts_with(&enc, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    mdmlink_keypair *back = NULL;
    CHECK_STATUS(mdmlink_keypair_from_pem(enc.ptr, enc.len, NULL, &back, &err), MDMLINK_STATUS_KEY_PASSWORD_REQUIRED);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_PASSWORD_REQUIRED);
    CHECK_STATUS(mdmlink_keypair_from_pem(enc.ptr, enc.len, "wrong", &back, &err), MDMLINK_STATUS_KEY_WRONG_PASSWORD);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_WRONG_PASSWORD);
    CHECK(back == NULL);
    CHECK_STATUS(mdmlink_keypair_from_pem(enc.ptr, enc.len, "correct horse", &back, &err), MDMLINK_STATUS_OK);
    CHECK(mdmlink_keypair_bits(back) == 2048);

    /* Seal a token to the new certificate (PEM and DER) and open it again. */
    mdmlink_token *issued = NULL;
    int64_t expiry = 1900000000;
    CHECK_STATUS(mdmlink_token_new("CK_1", "CS_2", "AT_3", "AS_4", expiry, &issued, &err), MDMLINK_STATUS_OK);
    mdmlink_bytes file = {NULL, 0};
    CHECK_STATUS(mdmlink_token_seal(issued, pem.ptr, pem.len, &file, &err), MDMLINK_STATUS_OK);
    mdmlink_token *opened = NULL;
    CHECK_STATUS(mdmlink_token_open(kp, file.ptr, file.len, &opened, &err), MDMLINK_STATUS_OK);
    if (opened) {
        CHECK(strcmp(mdmlink_token_consumer_key(opened), "CK_1") == 0);
        CHECK(strcmp(mdmlink_token_consumer_secret(opened), "CS_2") == 0);
        CHECK(strcmp(mdmlink_token_access_token(opened), "AT_3") == 0);
        CHECK(strcmp(mdmlink_token_access_secret(opened), "AS_4") == 0);
        CHECK(mdmlink_token_expiry_unix(opened) == expiry);
    }
    mdmlink_token_free(opened);
    /* The re-imported (encrypted) key has no certificate but the same key. */
    opened = NULL;
    CHECK_STATUS(mdmlink_token_open(back, file.ptr, file.len, &opened, &err), MDMLINK_STATUS_OK);
    mdmlink_token_free(opened);
    mdmlink_bytes_free(&file);
    CHECK_STATUS(mdmlink_token_seal(issued, der.ptr, der.len, &file, &err), MDMLINK_STATUS_OK);
    CHECK(file.len > 0);
    /* The Apple key cannot open a token sealed to the new certificate. */
    mdmlink_keypair *apple = apple_keypair();
    opened = NULL;
    CHECK_STATUS(mdmlink_token_open(apple, file.ptr, file.len, &opened, &err), MDMLINK_STATUS_TOKEN_DECRYPT);
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_DECRYPT);
    CHECK(opened == NULL);
    mdmlink_keypair_free(apple);
    mdmlink_bytes_free(&file);

    /* Bad token parts and certificates. */
    mdmlink_token *bad = NULL;
    CHECK_STATUS(mdmlink_token_new("", "CS_2", "AT_3", "AS_4", expiry, &bad, &err), MDMLINK_STATUS_TOKEN_PAYLOAD);
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_PAYLOAD);
    CHECK_STATUS(mdmlink_token_new("CK 1", "CS_2", "AT_3", "AS_4", expiry, &bad, &err), MDMLINK_STATUS_TOKEN_PAYLOAD);
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_PAYLOAD);
    CHECK_STATUS(mdmlink_token_new("CK_1", "CS_2", "AT_3", "AS_4", INT64_MAX, &bad, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    mdmlink_bytes untouched = {(uint8_t *)&sentinel_byte, 3};
    CHECK_STATUS(mdmlink_token_seal(issued, (const uint8_t *)"nope", 4, &untouched, &err), MDMLINK_STATUS_CERTIFICATE_INVALID);
    CHECK_ERR(err, MDMLINK_STATUS_CERTIFICATE_INVALID);
    CHECK(untouched.ptr == &sentinel_byte && untouched.len == 3);

    mdmlink_token_free(issued);
    mdmlink_keypair_free(back);
    mdmlink_bytes_free(&enc);
    mdmlink_bytes_free(&pem);
    mdmlink_bytes_free(&der);
    *generated_out = kp;
}

static void test_expiry(void) {
    mdmlink_error *err = NULL;
    mdmlink_expiry_policy *policy = NULL;
    CHECK_STATUS(mdmlink_expiry_policy_new(30, &policy, &err), MDMLINK_STATUS_OK);
    const int64_t day = 86400, now = 1800000000;
    mdmlink_health h;
    memset(&h, 0xFF, sizeof h);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate(policy, now + 100 * day, now, &h, &err), MDMLINK_STATUS_OK);
    /* Room to grow: the reserved words are written, as zeros. */
    for (size_t i = 0; i < sizeof h.reserved / sizeof h.reserved[0]; i++) CHECK(h.reserved[i] == 0);
    CHECK(h.state == MDMLINK_HEALTH_STATE_VALID && h.days_left == 100 && h.deadline_unix == now + 100 * day);
    CHECK(strcmp(h.label, "valid") == 0 && h.reason == MDMLINK_REPLACEMENT_REASON_NONE);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate(policy, now + 10 * day, now, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_RENEW_SOON && h.days_left == 10);
    CHECK(strcmp(h.label, "renew-soon") == 0);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate(policy, now, now, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_EXPIRED && h.deadline_unix == now);
    CHECK(strcmp(h.label, "expired") == 0);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate_with_event(policy, now + 100 * day,
                     MDMLINK_REPLACEMENT_REASON_DOWNLOADER_PASSWORD_CHANGED, now - day, now, &h, &err),
                 MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_MUST_REPLACE && h.deadline_unix == now - day);
    CHECK(h.reason == MDMLINK_REPLACEMENT_REASON_DOWNLOADER_PASSWORD_CHANGED);
    CHECK(strcmp(h.label, "must-replace") == 0);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate_with_event(policy, now + 100 * day,
                     MDMLINK_REPLACEMENT_REASON_NONE, 0, now, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_VALID);
    /* An expired token stays expired whatever happened. */
    CHECK_STATUS(mdmlink_expiry_policy_evaluate_with_event(policy, now - day, MDMLINK_REPLACEMENT_REASON_NEW_KEYPAIR,
                     now - 2 * day, now, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_EXPIRED);
    mdmlink_health before = h;
    CHECK_STATUS(mdmlink_expiry_policy_evaluate_with_event(policy, now, 99, now, now, &h, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK(before.state == h.state && before.days_left == h.days_left && before.deadline_unix == h.deadline_unix &&
          before.reason == h.reason && before.label == h.label);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate(policy, INT64_MAX, now, &h, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);

    /* The real token's health, against its own expiry. */
    mdmlink_keypair *kp = apple_keypair();
    mdmlink_token *token = NULL;
    CHECK_STATUS(mdmlink_token_open(kp, token_file, token_file_len, &token, &err), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_token_health(token, policy, expected_expiry - 40 * day, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_VALID && h.days_left == 40 && h.deadline_unix == expected_expiry);
    CHECK_STATUS(mdmlink_token_health(token, policy, expected_expiry - 5 * day, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_RENEW_SOON && h.days_left == 5);
    CHECK_STATUS(mdmlink_token_health(token, policy, expected_expiry + 1, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_EXPIRED);
    mdmlink_token_free(token);
    mdmlink_keypair_free(kp);
    mdmlink_expiry_policy_free(policy);
}

static void test_organization(void) {
    mdmlink_error *err = NULL;
    const int64_t day = 86400, now = expected_expiry - 100 * day;
    mdmlink_organization *org = NULL;
    CHECK_STATUS(mdmlink_organization_new("Example School", 7, &org, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK(org == NULL);
    CHECK_STATUS(mdmlink_organization_new("Example School", MDMLINK_PORTAL_SCHOOL_MANAGER, &org, &err), MDMLINK_STATUS_OK);
    CHECK(mdmlink_organization_server_count(org) == 0);

    mdmlink_keypair *generated = NULL;
    CHECK_STATUS(mdmlink_organization_server_add_generated(org, "Main MDM", 2048, now, &generated, &err), MDMLINK_STATUS_OK);
    CHECK(generated != NULL && mdmlink_keypair_bits(generated) == 2048);
    CHECK_STATUS(mdmlink_organization_server_add_generated(org, "MAIN mdm ", 2048, now, NULL, &err), MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK_ERR(err, MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK_STATUS(mdmlink_organization_server_add_generated(org, "Other", 1000, now, NULL, &err), MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE);
    CHECK_STATUS(mdmlink_organization_check_name(org, "main mdm ", &err), MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK(contains(mdmlink_error_message(err), "Main MDM"));
    CHECK_ERR(err, MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK_STATUS(mdmlink_organization_check_name(org, "Unassigned", &err), MDMLINK_STATUS_INVALID_NAME);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_NAME);
    CHECK_STATUS(mdmlink_organization_check_name(org, "Second MDM", &err), MDMLINK_STATUS_OK);

    /* The Apple server: key and certificate in one PEM. */
    size_t both_len = key_pem_len + cert_pem_len;
    uint8_t *both = malloc(both_len);
    memcpy(both, key_pem, key_pem_len);
    memcpy(both + key_pem_len, cert_pem, cert_pem_len);
    mdmlink_keypair *apple = NULL;
    CHECK_STATUS(mdmlink_keypair_from_pem(both, both_len, NULL, &apple, &err), MDMLINK_STATUS_OK);
    free(both);
    CHECK_STATUS(mdmlink_organization_server_add(org, "Apple Test", apple, now, &err), MDMLINK_STATUS_OK);
    CHECK(mdmlink_organization_server_count(org) == 2);

    /* Install: the right server, then the wrong one. */
    mdmlink_install_outcome outcome = (mdmlink_install_outcome)99;
    CHECK_STATUS(mdmlink_organization_server_install_token(org, "Main MDM", token_file, token_file_len, NULL, false, now, &outcome, &err),
                 MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT);
    CHECK(contains(mdmlink_error_message(err), "Main MDM"));
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT);
    CHECK(outcome == (mdmlink_install_outcome)99);
    CHECK_STATUS(mdmlink_organization_server_install_token(org, "apple test", token_file, token_file_len, "admin@example.com", false, now, &outcome, &err),
                 MDMLINK_STATUS_OK);
    CHECK(outcome == MDMLINK_INSTALL_OUTCOME_FIRST);
    /* The installed token again is not a renewal: refused, unless forced. */
    CHECK_STATUS(mdmlink_organization_server_install_token(org, "Apple Test", token_file, token_file_len, "admin@example.com", false, now, &outcome, &err),
                 MDMLINK_STATUS_TOKEN_NOT_NEWER);
    CHECK(contains(mdmlink_error_message(err), "already installed"));
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_NOT_NEWER);
    CHECK_STATUS(mdmlink_organization_server_install_token(org, "Apple Test", token_file, token_file_len, "admin@example.com", true, now, &outcome, &err),
                 MDMLINK_STATUS_OK);
    CHECK(outcome == MDMLINK_INSTALL_OUTCOME_RENEWED);
    CHECK_STATUS(mdmlink_organization_server_install_token(org, "Nobody", token_file, token_file_len, NULL, false, now, NULL, &err),
                 MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);

    mdmlink_token *token = NULL;
    CHECK_STATUS(mdmlink_organization_server_token(org, "Apple Test", &token, &err), MDMLINK_STATUS_OK);
    if (token) check_apple_fields(token);
    mdmlink_token_free(token);
    token = NULL;
    CHECK_STATUS(mdmlink_organization_server_token(org, "Main MDM", &token, &err), MDMLINK_STATUS_NO_TOKEN);
    CHECK_ERR(err, MDMLINK_STATUS_NO_TOKEN);
    CHECK_STATUS(mdmlink_organization_server_token(org, "Nobody", &token, &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);
    CHECK(token == NULL);

    /* Status and needs-action. */
    mdmlink_expiry_policy *policy = NULL;
    CHECK_STATUS(mdmlink_expiry_policy_new(30, &policy, &err), MDMLINK_STATUS_OK);
    mdmlink_server_status st;
    CHECK_STATUS(mdmlink_organization_server_status(org, "Apple Test", policy, now, &st, &err), MDMLINK_STATUS_OK);
    CHECK(st.has_token && st.token.state == MDMLINK_HEALTH_STATE_VALID && st.token.days_left == 100);
    CHECK(st.has_certificate && st.worst.state == MDMLINK_HEALTH_STATE_VALID && !st.staging_pending);
    CHECK_STATUS(mdmlink_organization_server_status(org, "Main MDM", policy, now, &st, &err), MDMLINK_STATUS_OK);
    CHECK(!st.has_token && st.has_certificate && st.worst.state == MDMLINK_HEALTH_STATE_NO_TOKEN);
    CHECK(st.token.state == MDMLINK_HEALTH_STATE_NO_TOKEN && st.token.deadline_unix == now);
    CHECK(strcmp(st.worst.label, "no-token") == 0);
    CHECK_STATUS(mdmlink_organization_server_status(org, "Nobody", policy, now, &st, &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);

    mdmlink_action_list *list = NULL;
    CHECK_STATUS(mdmlink_organization_needs_action(org, policy, now, &list, &err), MDMLINK_STATUS_OK);
    CHECK(mdmlink_action_list_len(list) == 1);
    CHECK(mdmlink_action_list_server(list, 0) && strcmp(mdmlink_action_list_server(list, 0), "Main MDM") == 0);
    CHECK(contains(mdmlink_action_list_advice(list, 0), "Apple School Manager"));
    CHECK(mdmlink_action_list_server(list, 1) == NULL && mdmlink_action_list_advice(list, 1) == NULL);
    mdmlink_health h;
    CHECK_STATUS(mdmlink_action_list_health(list, 0, &h, &err), MDMLINK_STATUS_OK);
    CHECK(h.state == MDMLINK_HEALTH_STATE_NO_TOKEN);
    CHECK_STATUS(mdmlink_action_list_health(list, 1, &h, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    mdmlink_action_list_free(list);

    /* Replacement events. */
    CHECK_STATUS(mdmlink_organization_server_record_event(org, "Apple Test", MDMLINK_REPLACEMENT_REASON_NEW_TOKEN_GENERATED, now + day, &err),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_status(org, "Apple Test", policy, now + 2 * day, &st, &err), MDMLINK_STATUS_OK);
    CHECK(st.worst.state == MDMLINK_HEALTH_STATE_MUST_REPLACE);
    CHECK(st.worst.reason == MDMLINK_REPLACEMENT_REASON_NEW_TOKEN_GENERATED && st.worst.deadline_unix == now + day);
    CHECK_STATUS(mdmlink_organization_server_record_event(org, "Apple Test", 0, now, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_organization_server_record_event(org, "Nobody", 1, now, &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);
    size_t affected = 99;
    CHECK_STATUS(mdmlink_organization_record_user_event(org, "ADMIN@example.com", MDMLINK_REPLACEMENT_REASON_DOWNLOADER_LEFT_ORGANIZATION,
                     now + 3 * day, &affected, &err), MDMLINK_STATUS_OK);
    CHECK(affected == 1);
    CHECK_STATUS(mdmlink_organization_record_user_event(org, "someone@else", 3, now, NULL, &err), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_status(org, "Apple Test", policy, now + 4 * day, &st, &err), MDMLINK_STATUS_OK);
    CHECK(st.worst.reason == MDMLINK_REPLACEMENT_REASON_DOWNLOADER_LEFT_ORGANIZATION);
    list = NULL;
    CHECK_STATUS(mdmlink_organization_needs_action(org, policy, now + 4 * day, &list, &err), MDMLINK_STATUS_OK);
    CHECK(mdmlink_action_list_len(list) == 2);
    mdmlink_action_list_free(list);

    /* Rotation: stage a keypair, then remove a server. */
    CHECK_STATUS(mdmlink_organization_server_stage_keypair(org, "Apple Test", generated, now, &err), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_status(org, "Apple Test", policy, now, &st, &err), MDMLINK_STATUS_OK);
    CHECK(st.staging_pending && st.staging_since_unix == now);
    CHECK_STATUS(mdmlink_organization_server_stage_keypair(org, "Nobody", generated, now, &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);
    CHECK_STATUS(mdmlink_organization_server_remove(org, "main mdm", &err), MDMLINK_STATUS_OK);
    CHECK(mdmlink_organization_server_count(org) == 1);
    CHECK_STATUS(mdmlink_organization_server_remove(org, "Main MDM", &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);

    mdmlink_expiry_policy_free(policy);
    mdmlink_keypair_free(apple);
    mdmlink_keypair_free(generated);
    mdmlink_organization_free(org);
}

static int bytes_equal(const mdmlink_bytes *a, const mdmlink_bytes *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static int bytes_contain(const mdmlink_bytes *b, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; b->ptr && i + n <= b->len; i++)
        if (memcmp(b->ptr + i, needle, n) == 0) return 1;
    return 0;
}

/* Key rotation, Access Management JWTs and token file names. */
static void test_rotation(const mdmlink_keypair *generated) {
    mdmlink_error *err = NULL;
    const int64_t day = 86400, now = expected_expiry - 100 * day;
    mdmlink_organization *org = NULL;
    CHECK_STATUS(mdmlink_organization_new("Example", MDMLINK_PORTAL_BUSINESS_MANAGER, &org, &err), MDMLINK_STATUS_OK);
    mdmlink_keypair *apple = apple_keypair();
    CHECK_STATUS(mdmlink_organization_server_add(org, "Apple Test", apple, now, &err), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_add(org, "Generated", generated, now, &err), MDMLINK_STATUS_OK);

    /* Install with the file's name: matching name, no warning. */
    mdmlink_install_outcome outcome = (mdmlink_install_outcome)99;
    mdmlink_bytes warning = {(uint8_t *)&sentinel_byte, 77};
    CHECK_STATUS(mdmlink_organization_server_install_token_file(org, "Apple Test", "/tmp/apple test_Token_2025-01-17T11-02-21Z_smime.p7m",
                     token_file, token_file_len, NULL, false, now, &outcome, &warning, &err), MDMLINK_STATUS_OK);
    CHECK(outcome == MDMLINK_INSTALL_OUTCOME_FIRST);
    CHECK(warning.ptr != NULL && warning.len == 0 && warning.ptr[0] == 0);
    mdmlink_bytes_free(&warning);
    /* Another server's name: installed all the same, with a warning. */
    CHECK_STATUS(mdmlink_organization_server_install_token_file(org, "Apple Test", "Other Server_Token_2025-01-17T11-02-21Z_smime.p7m",
                     token_file, token_file_len, NULL, true, now, &outcome, &warning, &err), MDMLINK_STATUS_OK);
    CHECK(outcome == MDMLINK_INSTALL_OUTCOME_RENEWED);
    CHECK(bytes_contain(&warning, "Other Server") && bytes_contain(&warning, "Apple Test"));
    mdmlink_bytes_free(&warning);
    /* A token for neither key names the certificates it was checked against. */
    CHECK_STATUS(mdmlink_organization_server_install_token_file(org, "Generated", "x.p7m", token_file, token_file_len, NULL, false, now,
                     NULL, NULL, &err), MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT);
    CHECK(contains(mdmlink_error_message(err), "current certificate serial"));
    CHECK(contains(mdmlink_error_message(err), "SHA-256"));
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT);

    /* Staging: reported in the status, remembered by needs-action, discarded. */
    mdmlink_expiry_policy *policy = NULL;
    CHECK_STATUS(mdmlink_expiry_policy_new(30, &policy, &err), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_discard_staging(org, "Apple Test", &err), MDMLINK_STATUS_NO_STAGED_KEYPAIR);
    CHECK_ERR(err, MDMLINK_STATUS_NO_STAGED_KEYPAIR);
    CHECK_STATUS(mdmlink_organization_server_stage_keypair(org, "Apple Test", generated, now, &err), MDMLINK_STATUS_OK);
    mdmlink_server_status st;
    CHECK_STATUS(mdmlink_organization_server_status(org, "Apple Test", policy, now + day, &st, &err), MDMLINK_STATUS_OK);
    CHECK(st.staging_pending && st.staging_since_unix == now && st.worst.state == MDMLINK_HEALTH_STATE_VALID);
    mdmlink_action_list *list = NULL;
    CHECK_STATUS(mdmlink_organization_needs_action(org, policy, now + 4 * day, &list, &err), MDMLINK_STATUS_OK);
    size_t n = mdmlink_action_list_len(list), found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(mdmlink_action_list_server(list, i), "Apple Test") == 0) {
            found++;
            CHECK(mdmlink_action_list_staging_since(list, i) == now);
            CHECK(contains(mdmlink_action_list_advice(list, i), "staging pending since"));
        }
    }
    CHECK(found == 1);
    CHECK(mdmlink_action_list_staging_since(list, n) == 0);
    CHECK(mdmlink_action_list_staging_since(NULL, 0) == 0);
    mdmlink_action_list_free(list);
    /* The current key still opens its token while staged: a renewal (forced: the same token). */
    CHECK_STATUS(mdmlink_organization_server_install_token(org, "Apple Test", token_file, token_file_len, NULL, true, now, &outcome, &err),
                 MDMLINK_STATUS_OK);
    CHECK(outcome == MDMLINK_INSTALL_OUTCOME_RENEWED);
    CHECK_STATUS(mdmlink_organization_server_discard_staging(org, "apple test", &err), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_status(org, "Apple Test", policy, now, &st, &err), MDMLINK_STATUS_OK);
    CHECK(!st.staging_pending && st.staging_since_unix == 0);
    CHECK_STATUS(mdmlink_organization_server_discard_staging(org, "Nobody", &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);
    CHECK_STATUS(mdmlink_organization_server_stage_generated(org, "Nobody", 2048, now, NULL, &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);
    CHECK_STATUS(mdmlink_organization_server_stage_generated(org, "Generated", 1000, now, NULL, &err), MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE);
    CHECK_ERR(err, MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE);
    mdmlink_keypair *staged = NULL;
    CHECK_STATUS(mdmlink_organization_server_stage_generated(org, "generated", 2048, now, &staged, &err), MDMLINK_STATUS_OK);
    CHECK(staged != NULL && mdmlink_keypair_bits(staged) == 2048);
    CHECK_STATUS(mdmlink_organization_server_status(org, "Generated", policy, now, &st, &err), MDMLINK_STATUS_OK);
    CHECK(st.staging_pending && st.staging_since_unix == now);
    mdmlink_keypair_free(staged);

    /* Access Management JWT: needs the server UUID; RS256 header; stable for the same inputs. */
    mdmlink_bytes jwt = {(uint8_t *)&sentinel_byte, 77}, jwt2 = {NULL, 0}, jwt3 = {NULL, 0};
    CHECK_STATUS(mdmlink_organization_server_jwt(org, "Apple Test", now, "jti-1", &jwt, &err), MDMLINK_STATUS_NO_SERVER_UUID);
    CHECK(contains(mdmlink_error_message(err), "server_uuid"));
    CHECK_ERR(err, MDMLINK_STATUS_NO_SERVER_UUID);
    CHECK(jwt.ptr == (uint8_t *)&sentinel_byte && jwt.len == 77);
    CHECK_STATUS(mdmlink_organization_server_set_uuid(org, "Apple Test", "", &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_organization_server_set_uuid(org, "Nobody", "U", &err), MDMLINK_STATUS_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_NOT_FOUND);
    CHECK_STATUS(mdmlink_organization_server_set_uuid(org, "Apple Test", "2A87349736CF4614A94F624E705841BE", &err), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_jwt(org, "Apple Test", now, "jti 1", &jwt, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_organization_server_jwt(org, "Apple Test", now, "jti-1", &jwt, &err), MDMLINK_STATUS_OK);
    CHECK(starts_with(&jwt, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."));
    size_t dots = 0;
    for (size_t i = 0; i < jwt.len; i++) dots += jwt.ptr[i] == '.';
    CHECK(dots == 2 && !bytes_contain(&jwt, "="));
    CHECK_STATUS(mdmlink_organization_server_jwt(org, "Apple Test", now, "jti-1", &jwt2, &err), MDMLINK_STATUS_OK);
    CHECK(bytes_equal(&jwt, &jwt2));
    CHECK_STATUS(mdmlink_organization_server_jwt(org, "Apple Test", now, NULL, &jwt3, &err), MDMLINK_STATUS_OK);
    CHECK(jwt3.len > 0 && !bytes_equal(&jwt, &jwt3));
    mdmlink_bytes_free(&jwt);
    mdmlink_bytes_free(&jwt2);
    mdmlink_bytes_free(&jwt3);

    /* Token file names. */
    mdmlink_bytes server = {NULL, 0};
    int64_t downloaded = 0;
    CHECK_STATUS(mdmlink_token_file_name_parse("/tmp/Caf\xc3\xa9 Nord_Token_2026-01-17T11-02-21Z_smime (1).p7m", &server, &downloaded, &err),
                 MDMLINK_STATUS_OK);
    CHECK(server.len == strlen("Caf\xc3\xa9 Nord") && memcmp(server.ptr, "Caf\xc3\xa9 Nord", server.len) == 0);
    CHECK(downloaded == 1768647741);
    mdmlink_bytes_free(&server);
    CHECK_STATUS(mdmlink_token_file_name_parse("lab_Token_x_Token_2026-01-17T11-02-21Z_smime.p7m", &server, NULL, &err), MDMLINK_STATUS_OK);
    CHECK(server.len == strlen("lab_Token_x") && memcmp(server.ptr, "lab_Token_x", server.len) == 0);
    mdmlink_bytes_free(&server);
    downloaded = 5;
    CHECK_STATUS(mdmlink_token_file_name_parse("token.p7m", &server, &downloaded, &err), MDMLINK_STATUS_TOKEN_FILE_NAME);
    CHECK(contains(mdmlink_error_message(err), "_smime"));
    CHECK_ERR(err, MDMLINK_STATUS_TOKEN_FILE_NAME);
    CHECK(downloaded == 5 && server.ptr == NULL);

    mdmlink_expiry_policy_free(policy);
    mdmlink_keypair_free(apple);
    mdmlink_organization_free(org);
}

/* Every required pointer argument, NULL in turn: a status, never a crash, and
   outputs untouched. */
static void test_null_arguments(const mdmlink_keypair *kp) {
    mdmlink_error *err = NULL;
    mdmlink_keypair *k = NULL;
    mdmlink_token *t = NULL;
    mdmlink_bytes b = {NULL, 0};
    mdmlink_expiry_policy *p = NULL;
    mdmlink_organization *o = NULL;
    mdmlink_action_list *l = NULL;
    mdmlink_health h;
    mdmlink_server_status st;
    const uint8_t d[1] = {0};
    const mdmlink_status N = MDMLINK_STATUS_NULL_ARGUMENT;

    CHECK_STATUS(mdmlink_expiry_policy_new(30, &p, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_new("Org", MDMLINK_PORTAL_BUSINESS_MANAGER, &o, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_token_open(kp, token_file, token_file_len, &t, NULL), MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT);
    mdmlink_keypair *apple = apple_keypair();
    CHECK_STATUS(mdmlink_token_open(apple, token_file, token_file_len, &t, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_needs_action(o, p, 0, &l, NULL), MDMLINK_STATUS_OK);

    CHECK_STATUS(mdmlink_keypair_generate(2048, NULL, 0, &k, &err), N);
    CHECK_ERR(err, N);
    CHECK_STATUS(mdmlink_keypair_generate(2048, "x", 0, NULL, &err), N);
    CHECK_ERR(err, N);
    CHECK_STATUS(mdmlink_keypair_from_pem(NULL, 5, NULL, &k, &err), N);
    CHECK_ERR(err, N);
    CHECK_STATUS(mdmlink_keypair_from_pem(key_pem, key_pem_len, NULL, NULL, &err), N);
    CHECK_ERR(err, N);
    CHECK_STATUS(mdmlink_keypair_from_der(NULL, 5, NULL, &k, NULL), N);
    CHECK_STATUS(mdmlink_keypair_from_der(key_der, key_der_len, NULL, NULL, NULL), N);
    CHECK(k == NULL);
    CHECK_STATUS(mdmlink_keypair_certificate_pem(NULL, &b, &err), N);
    CHECK_ERR(err, N);
    CHECK_STATUS(mdmlink_keypair_certificate_pem(kp, NULL, NULL), N);
    CHECK_STATUS(mdmlink_keypair_certificate_der(NULL, &b, NULL), N);
    CHECK_STATUS(mdmlink_keypair_certificate_der(kp, NULL, NULL), N);
    CHECK_STATUS(mdmlink_keypair_private_key_pem(NULL, NULL, &b, NULL), N);
    CHECK_STATUS(mdmlink_keypair_private_key_pem(kp, NULL, NULL, &err), N);
    CHECK_ERR(err, N);
    CHECK(b.ptr == NULL);
    CHECK(mdmlink_keypair_bits(NULL) == 0);

    mdmlink_token *t2 = NULL;
    CHECK_STATUS(mdmlink_token_open(NULL, d, 1, &t2, &err), N);
    CHECK_ERR(err, N);
    CHECK_STATUS(mdmlink_token_open(kp, NULL, 1, &t2, NULL), N);
    CHECK_STATUS(mdmlink_token_open(kp, d, 1, NULL, NULL), N);
    CHECK_STATUS(mdmlink_token_new(NULL, "a", "b", "c", 0, &t2, NULL), N);
    CHECK_STATUS(mdmlink_token_new("a", NULL, "b", "c", 0, &t2, NULL), N);
    CHECK_STATUS(mdmlink_token_new("a", "b", NULL, "c", 0, &t2, NULL), N);
    CHECK_STATUS(mdmlink_token_new("a", "b", "c", NULL, 0, &t2, NULL), N);
    CHECK_STATUS(mdmlink_token_new("a", "b", "c", "d", 0, NULL, NULL), N);
    CHECK(t2 == NULL);
    CHECK_STATUS(mdmlink_token_seal(NULL, d, 1, &b, NULL), N);
    CHECK_STATUS(mdmlink_token_seal(t, NULL, 1, &b, NULL), N);
    CHECK_STATUS(mdmlink_token_seal(t, d, 1, NULL, NULL), N);
    CHECK(mdmlink_token_consumer_key(NULL) == NULL);
    CHECK(mdmlink_token_consumer_secret(NULL) == NULL);
    CHECK(mdmlink_token_access_token(NULL) == NULL);
    CHECK(mdmlink_token_access_secret(NULL) == NULL);
    CHECK(mdmlink_token_expiry_unix(NULL) == 0);
    CHECK_STATUS(mdmlink_token_health(NULL, p, 0, &h, NULL), N);
    CHECK_STATUS(mdmlink_token_health(t, NULL, 0, &h, NULL), N);
    CHECK_STATUS(mdmlink_token_health(t, p, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_token_json(NULL, &b, NULL), N);
    CHECK_STATUS(mdmlink_token_json(t, NULL, &err), N);
    CHECK_ERR(err, N);
    CHECK(b.ptr == NULL);

    CHECK_STATUS(mdmlink_expiry_policy_new(30, NULL, NULL), N);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate(NULL, 0, 0, &h, NULL), N);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate(p, 0, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate_with_event(NULL, 0, 1, 0, 0, &h, NULL), N);
    CHECK_STATUS(mdmlink_expiry_policy_evaluate_with_event(p, 0, 1, 0, 0, NULL, NULL), N);

    mdmlink_organization *o2 = NULL;
    CHECK_STATUS(mdmlink_organization_new(NULL, 0, &o2, NULL), N);
    CHECK_STATUS(mdmlink_organization_new("x", 0, NULL, NULL), N);
    CHECK(o2 == NULL);
    CHECK(mdmlink_organization_server_count(NULL) == 0);
    CHECK_STATUS(mdmlink_organization_check_name(NULL, "x", NULL), N);
    CHECK_STATUS(mdmlink_organization_check_name(o, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_add(NULL, "x", kp, 0, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_add(o, NULL, kp, 0, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_add(o, "x", NULL, 0, &err), N);
    CHECK_ERR(err, N);
    CHECK_STATUS(mdmlink_organization_server_add_generated(NULL, "x", 2048, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_add_generated(o, NULL, 2048, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_remove(NULL, "x", NULL), N);
    CHECK_STATUS(mdmlink_organization_server_remove(o, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_stage_keypair(NULL, "x", kp, 0, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_stage_keypair(o, NULL, kp, 0, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_stage_keypair(o, "x", NULL, 0, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_install_token(NULL, "x", d, 1, NULL, false, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_install_token(o, NULL, d, 1, NULL, false, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_install_token(o, "x", NULL, 1, NULL, false, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_token(NULL, "x", &t2, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_token(o, NULL, &t2, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_token(o, "x", NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_record_event(NULL, "x", 1, 0, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_record_event(o, NULL, 1, 0, NULL), N);
    CHECK_STATUS(mdmlink_organization_record_user_event(NULL, "x", 1, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_record_user_event(o, NULL, 1, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_status(NULL, "x", p, 0, &st, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_status(o, NULL, p, 0, &st, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_status(o, "x", NULL, 0, &st, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_status(o, "x", p, 0, NULL, NULL), N);
    mdmlink_action_list *l2 = NULL;
    CHECK_STATUS(mdmlink_organization_needs_action(NULL, p, 0, &l2, NULL), N);
    CHECK_STATUS(mdmlink_organization_needs_action(o, NULL, 0, &l2, NULL), N);
    CHECK_STATUS(mdmlink_organization_needs_action(o, p, 0, NULL, NULL), N);
    CHECK(l2 == NULL);
    mdmlink_bytes b2 = {NULL, 0};
    CHECK_STATUS(mdmlink_organization_server_stage_generated(NULL, "x", 2048, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_stage_generated(o, NULL, 2048, 0, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_discard_staging(NULL, "x", NULL), N);
    CHECK_STATUS(mdmlink_organization_server_discard_staging(o, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_set_uuid(NULL, "x", "u", NULL), N);
    CHECK_STATUS(mdmlink_organization_server_set_uuid(o, NULL, "u", NULL), N);
    CHECK_STATUS(mdmlink_organization_server_set_uuid(o, "x", NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_jwt(NULL, "x", 0, NULL, &b2, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_jwt(o, NULL, 0, NULL, &b2, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_jwt(o, "x", 0, NULL, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_install_token_file(NULL, "x", "f", d, 1, NULL, false, 0, NULL, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_install_token_file(o, NULL, "f", d, 1, NULL, false, 0, NULL, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_install_token_file(o, "x", NULL, d, 1, NULL, false, 0, NULL, NULL, NULL), N);
    CHECK_STATUS(mdmlink_organization_server_install_token_file(o, "x", "f", NULL, 1, NULL, false, 0, NULL, NULL, NULL), N);
    CHECK_STATUS(mdmlink_token_file_name_parse(NULL, &b2, NULL, NULL), N);
    CHECK_STATUS(mdmlink_token_file_name_parse("f", NULL, NULL, NULL), N);
    CHECK(b2.ptr == NULL && b2.len == 0);
    CHECK(mdmlink_action_list_len(NULL) == 0);
    CHECK(mdmlink_action_list_server(NULL, 0) == NULL);
    CHECK(mdmlink_action_list_advice(NULL, 0) == NULL);
    CHECK_STATUS(mdmlink_action_list_health(NULL, 0, &h, NULL), N);
    CHECK_STATUS(mdmlink_action_list_health(l, 0, NULL, NULL), N);
    CHECK(mdmlink_organization_server_count(o) == 0);

    /* Every _free accepts NULL. */
    mdmlink_keypair_free(NULL);
    mdmlink_token_free(NULL);
    mdmlink_expiry_policy_free(NULL);
    mdmlink_organization_free(NULL);
    mdmlink_action_list_free(NULL);
    mdmlink_error_free(NULL);
    mdmlink_bytes_free(NULL);

    mdmlink_action_list_free(l);
    mdmlink_organization_free(o);
    mdmlink_token_free(t);
    mdmlink_keypair_free(apple);
    mdmlink_expiry_policy_free(p);
}

static void test_panic_hook(void) {
#if defined(MDMLINK_FFI_TEST_HOOKS)
    mdmlink_error *err = NULL;
    CHECK_STATUS(mdmlink_test_panic(&err), MDMLINK_STATUS_PANIC);
    CHECK(contains(mdmlink_error_message(err), "panicked"));
    CHECK_ERR(err, MDMLINK_STATUS_PANIC);
    CHECK_STATUS(mdmlink_test_panic(NULL), MDMLINK_STATUS_PANIC);
    /* The library still works after a panic. */
    CHECK_STATUS(mdmlink_server_name_check("After Panic", &err), MDMLINK_STATUS_OK);
    /* A panic while a call holds an organization's lock: reported, and the
       organization stays usable (its lock is taken back, nothing is lost). */
    mdmlink_organization *org = NULL;
    mdmlink_keypair *kp = apple_keypair();
    CHECK_STATUS(mdmlink_organization_new("Panics", MDMLINK_PORTAL_BUSINESS_MANAGER, &org, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_organization_server_add(org, "Before", kp, 0, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_test_panic_holding_organization(org, &err), MDMLINK_STATUS_PANIC);
    CHECK(contains(mdmlink_error_message(err), "panicked"));
    CHECK_ERR(err, MDMLINK_STATUS_PANIC);
    CHECK_STATUS(mdmlink_test_panic_holding_organization(NULL, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK(mdmlink_organization_server_count(org) == 1);
    CHECK_STATUS(mdmlink_organization_server_add(org, "After", kp, 0, &err), MDMLINK_STATUS_OK);
    CHECK(err == NULL);
    CHECK_STATUS(mdmlink_organization_check_name(org, "Before", &err), MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK_ERR(err, MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK(mdmlink_organization_server_count(org) == 2);
    mdmlink_organization_free(org);
    mdmlink_keypair_free(kp);
    printf("panic hook: tested\n");
#else
    printf("panic hook: not built (enable the ffi-test-hooks feature)\n");
#endif
}

/* Handles shared across threads: one keypair opens the token in every thread,
   and every thread adds servers to one organization. */
struct shared {
    const mdmlink_keypair *kp;
    mdmlink_organization *org;
    int index;
    int ok;
};

static void *worker(void *arg) {
    struct shared *s = arg;
    s->ok = 1;
    for (int i = 0; i < 3; i++) {
        mdmlink_token *t = NULL;
        mdmlink_error *err = NULL;
        if (mdmlink_token_open(s->kp, token_file, token_file_len, &t, &err) != MDMLINK_STATUS_OK) s->ok = 0;
        if (mdmlink_token_expiry_unix(t) != expected_expiry) s->ok = 0;
        mdmlink_token_free(t);
        char name[64];
        snprintf(name, sizeof name, "Server %d-%d", s->index, i);
        if (mdmlink_organization_server_add(s->org, name, s->kp, 0, &err) != MDMLINK_STATUS_OK) s->ok = 0;
        mdmlink_error_free(err);
    }
    return NULL;
}

static void test_threads(void) {
    mdmlink_keypair *kp = apple_keypair();
    mdmlink_organization *org = NULL;
    CHECK_STATUS(mdmlink_organization_new("Shared", MDMLINK_PORTAL_BUSINESS_ESSENTIALS, &org, NULL), MDMLINK_STATUS_OK);
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct shared shared[THREADS];
    for (int i = 0; i < THREADS; i++) {
        shared[i] = (struct shared){kp, org, i, 0};
        CHECK(pthread_create(&threads[i], NULL, worker, &shared[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(shared[i].ok);
    }
    CHECK(mdmlink_organization_server_count(org) == THREADS * 3);
    mdmlink_organization_free(org);
    mdmlink_keypair_free(kp);
}

/* The OAuth header for GET /session: the signature is a known answer computed
 * by Python's oauthlib 4.0.1 for the same token, URL, time and nonce. */
static void test_session(void) {
    mdmlink_token *t = NULL;
    mdmlink_error *err = NULL;
    CHECK_STATUS(mdmlink_token_new("CK_c_api", "CS_c_api", "AT_c_api", "AS_c_api", 1795536000, &t, NULL),
                 MDMLINK_STATUS_OK);
    const char *url = "https://mdmenrollment.apple.com/session";
    mdmlink_bytes header = {NULL, 0};
    CHECK_STATUS(mdmlink_session_authorization_header(t, url, 1764000000, "c0ffee42", &header, &err),
                 MDMLINK_STATUS_OK);
    CHECK(nul_terminated(&header));
    char *text = calloc(1, header.len + 1);
    if (text && header.ptr) memcpy(text, header.ptr, header.len);
    CHECK(text && strncmp(text, "OAuth realm=\"ADM\", ", 19) == 0);
    CHECK(text && contains(text, "oauth_consumer_key=\"CK_c_api\""));
    CHECK(text && contains(text, "oauth_token=\"AT_c_api\""));
    CHECK(text && contains(text, "oauth_signature_method=\"HMAC-SHA1\""));
    CHECK(text && contains(text, "oauth_timestamp=\"1764000000\""));
    CHECK(text && contains(text, "oauth_nonce=\"c0ffee42\""));
    CHECK(text && contains(text, "oauth_version=\"1.0\""));
    CHECK(text && contains(text, "oauth_signature=\"VFKJJAZBQaVEaZcQ3etNcSV1oos%3D\""));
    free(text);
    mdmlink_bytes_free(&header);

    /* A NULL nonce draws a random one: two headers differ. */
    mdmlink_bytes a = {NULL, 0}, b = {NULL, 0};
    CHECK_STATUS(mdmlink_session_authorization_header(t, url, 1764000000, NULL, &a, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_session_authorization_header(t, url, 1764000000, NULL, &b, NULL), MDMLINK_STATUS_OK);
    CHECK(a.len > 0 && b.len > 0 && (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0));
    mdmlink_bytes_free(&a);
    mdmlink_bytes_free(&b);

    /* Bad arguments: outputs untouched. */
    mdmlink_bytes untouched = {(uint8_t *)&sentinel_byte, 7};
    CHECK_STATUS(mdmlink_session_authorization_header(t, "not a url at all", 1764000000, "n", &untouched, &err),
                 MDMLINK_STATUS_SESSION_INVALID_URL);
    CHECK_ERR(err, MDMLINK_STATUS_SESSION_INVALID_URL);
    CHECK_STATUS(mdmlink_session_authorization_header(t, url, 1764000000, "", &untouched, &err),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_session_authorization_header(t, url, -5, "n", &untouched, &err),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_session_authorization_header(NULL, url, 0, NULL, &untouched, NULL),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK(untouched.ptr == (uint8_t *)&sentinel_byte && untouched.len == 7);

    /* The reply to /session. */
    const char *base = "https://mdmenrollment.apple.com";
    const char *ok_body = "{\"auth_session_token\": \"1413984256401-AFAEBCD\"}";
    mdmlink_session *s = NULL;
    CHECK_STATUS(mdmlink_session_parse_response(200, (const uint8_t *)ok_body, strlen(ok_body), base, &s, &err),
                 MDMLINK_STATUS_OK);
    CHECK(s && strcmp(mdmlink_session_auth_token(s), "1413984256401-AFAEBCD") == 0);
    CHECK(s && strcmp(mdmlink_session_base_url(s), base) == 0);
    CHECK(strcmp(mdmlink_session_protocol_version(), "10") == 0);
    mdmlink_session_free(s);

    struct {
        uint16_t http;
        const char *body;
        mdmlink_status want;
    } replies[] = {
        {401, "oauth_problem=signature_invalid", MDMLINK_STATUS_SESSION_UNAUTHORIZED},
        {401, "{\"code\": \"TOKEN_EXPIRED\"}", MDMLINK_STATUS_SESSION_TOKEN_EXPIRED},
        {403, "T_C_NOT_SIGNED", MDMLINK_STATUS_SESSION_TERMS_NOT_ACCEPTED},
        {403, "{\"code\": \"ACCESS_DENIED\"}", MDMLINK_STATUS_SESSION_ACCESS_DENIED},
        {400, "oauth_problem=parameter_absent", MDMLINK_STATUS_SESSION_BAD_REQUEST},
        {429, "", MDMLINK_STATUS_SESSION_RATE_LIMITED},
        {500, "", MDMLINK_STATUS_SESSION_HTTP_STATUS},
        {200, "{\"token\": 1}", MDMLINK_STATUS_SESSION_MALFORMED_RESPONSE},
        {200, "", MDMLINK_STATUS_SESSION_MALFORMED_RESPONSE},
        {1000, "", MDMLINK_STATUS_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        mdmlink_session *out = (mdmlink_session *)&sentinel_byte;
        size_t len = strlen(replies[i].body);
        const uint8_t *body = len ? (const uint8_t *)replies[i].body : NULL;
        CHECK_STATUS(mdmlink_session_parse_response(replies[i].http, body, len, base, &out, &err), replies[i].want);
        CHECK_ERR(err, replies[i].want);
        CHECK(out == (mdmlink_session *)&sentinel_byte);
    }
    CHECK_STATUS(mdmlink_session_parse_response(200, NULL, 3, base, &s, NULL), MDMLINK_STATUS_NULL_ARGUMENT);

    /* Replies of service endpoints. */
    CHECK_STATUS(mdmlink_session_check_response(200, NULL, 0, NULL), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_session_check_response(401, NULL, 0, &err), MDMLINK_STATUS_SESSION_EXPIRED);
    CHECK_ERR(err, MDMLINK_STATUS_SESSION_EXPIRED);
    CHECK_STATUS(mdmlink_session_check_response(403, (const uint8_t *)"T_C_NOT_SIGNED", 14, NULL),
                 MDMLINK_STATUS_SESSION_TERMS_NOT_ACCEPTED);

    /* A refreshed token from a reply header. */
    CHECK_STATUS(mdmlink_session_new("refreshed-1", base, &s, NULL), MDMLINK_STATUS_OK);
    CHECK(s && strcmp(mdmlink_session_auth_token(s), "refreshed-1") == 0);
    mdmlink_session_free(s);
    CHECK_STATUS(mdmlink_session_new("", base, &s, &err), MDMLINK_STATUS_SESSION_MALFORMED_RESPONSE);
    CHECK_ERR(err, MDMLINK_STATUS_SESSION_MALFORMED_RESPONSE);
    CHECK_STATUS(mdmlink_session_new("x", "ftp://example.com", &s, &err), MDMLINK_STATUS_SESSION_INVALID_URL);
    CHECK_ERR(err, MDMLINK_STATUS_SESSION_INVALID_URL);
    CHECK(mdmlink_session_auth_token(NULL) == NULL);
    CHECK(mdmlink_session_base_url(NULL) == NULL);
    mdmlink_session_free(NULL);
    mdmlink_token_free(t);
}

/* Counts the occurrences of `needle` in `len` bytes (not NUL-terminated). */
static size_t count_in(const uint8_t *hay, size_t len, const char *needle) {
    size_t n = 0, k = strlen(needle);
    for (size_t i = 0; k > 0 && i + k <= len; i++) {
        if (memcmp(hay + i, needle, k) == 0) {
            n++;
        }
    }
    return n;
}

/* The device assignment service through the C API, against the simulator:
 * a full fetch then sync one step at a time with the cursor kept here, a
 * profile defined and assigned, and the error paths. */
static void test_dep(const char *base_url) {
    mdmlink_error *err = NULL;
    mdmlink_token *t = NULL;
    CHECK_STATUS(mdmlink_token_new("CK_c", "CS_c", "AT_c", "AS_c", 4102444800, &t, &err), MDMLINK_STATUS_OK);
    mdmlink_dep_client *c = NULL;
    CHECK_STATUS(mdmlink_dep_client_new(t, base_url, NULL, &c, &err), MDMLINK_STATUS_OK);
    mdmlink_token_free(t); /* the client keeps its own copy */
    if (c == NULL) {
        return;
    }

    /* Sync: the caller owns the cursor and passes it back after "storing". */
    uint8_t *cursor = NULL;
    size_t cursor_len = 0, devices = 0;
    int steps = 0, done = 0;
    while (!done && steps < 20) {
        mdmlink_bytes page = {0}, next = {0};
        CHECK_STATUS(mdmlink_dep_sync_step(c, cursor, cursor_len, (int64_t)time(NULL), &page, &next, &err),
                     MDMLINK_STATUS_OK);
        if (page.ptr == NULL) {
            break;
        }
        devices += count_in(page.ptr, page.len, "\"serial_number\"");
        done = count_in(page.ptr, page.len, "\"done\":true") == 1;
        if (steps == 0) {
            CHECK(count_in(page.ptr, page.len, "\"restart\":\"no_cursor\"") == 1);
            CHECK(count_in(page.ptr, page.len, "\"device_family\"") == 1000);
        }
        free(cursor);
        cursor = malloc(next.len);
        memcpy(cursor, next.ptr, next.len);
        cursor_len = next.len;
        CHECK(cursor_len > 3 && memcmp(cursor, "v1:", 3) == 0);
        mdmlink_bytes_free(&page);
        mdmlink_bytes_free(&next);
        steps++;
    }
    CHECK(done);
    CHECK(devices == 2500);
    CHECK(steps == 4); /* three fetch pages of 1,000, one empty sync */

    /* A cursor mdmlink did not write, and a NULL with a length. */
    mdmlink_bytes untouched = {(uint8_t *)&cursor_len, 7}, untouched2 = {(uint8_t *)&cursor_len, 7};
    CHECK_STATUS(mdmlink_dep_sync_step(c, (const uint8_t *)"garbage", 7, 0, &untouched, &untouched2, &err),
                 MDMLINK_STATUS_DEP_CURSOR);
    CHECK_ERR(err, MDMLINK_STATUS_DEP_CURSOR);
    CHECK(untouched.ptr == (uint8_t *)&cursor_len && untouched.len == 7);
    CHECK_STATUS(mdmlink_dep_sync_step(c, NULL, 3, 0, &untouched, &untouched2, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_dep_sync_step(NULL, NULL, 0, 0, &untouched, &untouched2, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
    free(cursor);

    /* Define a profile, then assign it. */
    const char *profile = "{\"profile_name\":\"Lab\",\"url\":\"https://mdm.example.com/enroll\",\"is_supervised\":true}";
    mdmlink_bytes defined = {0};
    CHECK_STATUS(mdmlink_dep_profile_define(c, (const uint8_t *)profile, strlen(profile), &defined, &err),
                 MDMLINK_STATUS_OK);
    char uuid[128] = {0};
    if (defined.ptr != NULL) {
        const char *key = "\"profile_uuid\":\"";
        for (size_t i = 0; i + strlen(key) < defined.len; i++) {
            if (memcmp(defined.ptr + i, key, strlen(key)) == 0) {
                size_t start = i + strlen(key), end = start;
                while (end < defined.len && defined.ptr[end] != '"' && end - start < sizeof uuid - 1) {
                    end++;
                }
                memcpy(uuid, defined.ptr + start, end - start);
                break;
            }
        }
    }
    mdmlink_bytes_free(&defined);
    CHECK(strlen(uuid) > 0);
    const char *serials[] = {"S00300000000", "S00300000001", "NOTMINE00001"};
    mdmlink_bytes assigned = {0};
    CHECK_STATUS(mdmlink_dep_profile_assign(c, uuid, serials, 3, &assigned, &err), MDMLINK_STATUS_OK);
    CHECK(count_in(assigned.ptr, assigned.len, "\"SUCCESS\"") == 2);
    CHECK(count_in(assigned.ptr, assigned.len, "\"NOTMINE00001\":\"NOT_ACCESSIBLE\"") == 1);
    CHECK(count_in(assigned.ptr, assigned.len, "\"requests\":1") == 1);
    mdmlink_bytes_free(&assigned);

    CHECK_STATUS(mdmlink_dep_profile_assign(c, "0000-NONE", serials, 1, &assigned, &err),
                 MDMLINK_STATUS_DEP_PROFILE_NOT_FOUND);
    CHECK_ERR(err, MDMLINK_STATUS_DEP_PROFILE_NOT_FOUND);
    CHECK_STATUS(mdmlink_dep_profile_assign(c, uuid, serials, 0, &assigned, &err), MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    const char *with_null[] = {"S00300000000", NULL};
    CHECK_STATUS(mdmlink_dep_profile_assign(c, uuid, with_null, 2, &assigned, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_dep_profile_define(c, (const uint8_t *)"{}", 2, &defined, &err),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_ERR(err, MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_dep_client_new(NULL, base_url, NULL, &c, NULL), MDMLINK_STATUS_NULL_ARGUMENT);
    mdmlink_dep_client_free(c);
    mdmlink_dep_client_free(NULL);
    printf("dep: tested against %s\n", base_url);
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s FIXTURE_DIR CARGO_VERSION EXPECTED_EXPIRY_UNIX [SIMULATOR_URL]\n", argv[0]);
        return 2;
    }
    snprintf(fixture_dir, sizeof fixture_dir, "%s", argv[1]);
    expected_expiry = strtoll(argv[3], NULL, 10);
    key_pem = read_file("apple-mdm-client-tests-1.pem", &key_pem_len);
    key_der = read_file("apple-mdm-client-tests-1.der", &key_der_len);
    cert_pem = read_file("apple-mdm-client-tests-1.crt", &cert_pem_len);
    token_file = read_file("apple-mdm-client-tests-1-server-token.p7m", &token_file_len);
    expected_json = read_file("expected.json", &expected_json_len);

    mdmlink_keypair *generated = NULL;
    test_version(argv[2]);
    test_status_numbers();
    test_server_names();
    test_error_not_null();
    test_empty_byte_inputs();
    test_bytes_free();
    test_open_apple_token();
    test_generate_and_export(&generated);
    test_wrong_key_and_garbage(generated);
    test_expiry();
    test_organization();
    test_rotation(generated);
    test_null_arguments(generated);
    test_panic_hook();
    test_threads();
    test_session();
    if (argc == 5) {
        test_dep(argv[4]);
    }
    mdmlink_keypair_free(generated);

    free(key_pem);
    free(key_der);
    free(cert_pem);
    free(token_file);
    free(expected_json);
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
