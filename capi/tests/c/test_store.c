/*
 * C tests of the store API (mdmlink_store_*): organizations and servers that
 * persist in an SQLite file, secrets under a master key, on the real Apple
 * token. Driven by tests/capi.rs (under valgrind in CI):
 *
 *   test_store FIXTURE_DIR WORK_DIR
 */
#define MDMLINK_STORE 1
#include "mdmlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static char fixture_dir[1024];

static uint8_t *read_file(const char *name, size_t *len) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) exit(2);
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static int contains(const mdmlink_bytes *b, const char *needle) {
    char *text = malloc(b->len + 1);
    if (!text) exit(2);
    memcpy(text, b->ptr, b->len);
    text[b->len] = 0;
    int found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_store FIXTURE_DIR WORK_DIR\n");
        return 2;
    }
    snprintf(fixture_dir, sizeof fixture_dir, "%s", argv[1]);
    char path[2048];
    snprintf(path, sizeof path, "%s/store.sqlite", argv[2]);
    remove(path);

    size_t key_len, token_len, cert_len;
    uint8_t *key = read_file("apple-mdm-client-tests-1.pem", &key_len);
    uint8_t *token = read_file("apple-mdm-client-tests-1-server-token.p7m", &token_len);
    uint8_t *cert = read_file("apple-mdm-client-tests-1.crt", &cert_len);
    uint8_t master[32], other[32];
    for (int i = 0; i < 32; i++) {
        master[i] = (uint8_t)(i * 7 + 1);
        other[i] = (uint8_t)(i * 7 + 2);
    }
    const int64_t now = 1740000000; /* 2025-02-19, before the Apple token expires */

    /* Arguments. */
    mdmlink_store *store = NULL;
    CHECK_STATUS(mdmlink_store_open(NULL, NULL, 0, NULL, &store, ep_), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_open(path, master, 31, NULL, &store, ep_), MDMLINK_STATUS_INVALID_ARGUMENT);
    /* A key loader that failed (NULL with a length) never opens the store
       unencrypted. */
    CHECK_STATUS(mdmlink_store_open(path, NULL, 32, NULL, &store, ep_), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_open(path, NULL, 32, "a passphrase of length", &store, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK(store == NULL);
    CHECK_STATUS(mdmlink_store_open(path, master, 32, "and a passphrase", &store, ep_),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK(store == NULL);
    CHECK_STATUS(mdmlink_store_open(path, master, 32, NULL, &store, ep_), MDMLINK_STATUS_OK);
    CHECK(store != NULL);

    /* Organizations: two customers, each with a "Main MDM". */
    CHECK_STATUS(mdmlink_store_organization_add(store, "Contoso", MDMLINK_PORTAL_BUSINESS_MANAGER, "Contoso Ltd", ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_organization_add(store, "Fabrikam", MDMLINK_PORTAL_SCHOOL_MANAGER, NULL, ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_organization_add(store, "CONTOSO", MDMLINK_PORTAL_BUSINESS_MANAGER, NULL, ep_),
                 MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK_STATUS(mdmlink_store_organization_add(store, "X", 99, NULL, ep_), MDMLINK_STATUS_INVALID_ARGUMENT);

    /* Import the Apple-made key, certificate and token. */
    CHECK_STATUS(mdmlink_store_server_import(store, "Contoso", "Main MDM", key, key_len, NULL, cert, cert_len,
                                             token, token_len, now, ep_),
                 MDMLINK_STATUS_OK);
    /* Every server has its certificate: a key alone is refused. */
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "Main MDM", key, key_len, NULL, NULL, 0, NULL, 0,
                                             now, ep_),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    /* NULL with a length is a NULL argument, for optional inputs too. */
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "Main MDM", key, key_len, NULL, NULL, 5, NULL, 0,
                                             now, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "Main MDM", key, key_len, NULL, cert, cert_len, NULL,
                                             7, now, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "Main MDM", NULL, 9, NULL, cert, cert_len, NULL, 0,
                                             now, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    /* NULL with length 0 is the empty key: malformed, not a NULL argument. */
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "Main MDM", NULL, 0, NULL, cert, cert_len, NULL, 0,
                                             now, ep_),
                 MDMLINK_STATUS_KEY_MALFORMED);
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "Main MDM", key, key_len, NULL, cert, cert_len, NULL,
                                             0, now, ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "main mdm", key, key_len, NULL, cert, cert_len, NULL,
                                             0, now, ep_),
                 MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK_STATUS(mdmlink_store_server_import(store, "Fabrikam", "Bad", (const uint8_t *)"junk", 4, NULL, NULL, 0,
                                             NULL, 0, now, ep_),
                 MDMLINK_STATUS_KEY_MALFORMED);
    /* Two organizations: a server call must name one. */
    CHECK_STATUS(mdmlink_store_server_remove(store, NULL, "Main MDM", ep_), MDMLINK_STATUS_ORGANIZATION_REQUIRED);
    CHECK_STATUS(mdmlink_store_server_remove(store, "Nowhere", "Main MDM", ep_),
                 MDMLINK_STATUS_UNKNOWN_ORGANIZATION);
    CHECK_STATUS(mdmlink_store_server_remove(store, "Contoso", "Nobody", ep_), MDMLINK_STATUS_NOT_FOUND);

    /* Listing (JSON), without any secret. */
    mdmlink_bytes json = {0};
    CHECK_STATUS(mdmlink_store_servers_json(store, NULL, 30, now, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&json, "\"organization\":\"Contoso\""));
    CHECK(contains(&json, "\"organization\":\"Fabrikam\""));
    CHECK(contains(&json, "\"health\":\"no-token\""));
    mdmlink_bytes_free(&json);
    CHECK_STATUS(mdmlink_store_servers_json(store, "fabrikam", 30, now, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(!contains(&json, "Contoso"));
    mdmlink_bytes_free(&json);
    CHECK_STATUS(mdmlink_store_needs_action_json(store, NULL, 30, now, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&json, "\"organization\":\"Fabrikam\""));
    mdmlink_bytes_free(&json);
    CHECK_STATUS(mdmlink_store_organizations_json(store, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&json, "\"customer\":\"Contoso Ltd\""));
    mdmlink_bytes_free(&json);

    /* One server's operations. */
    mdmlink_token *tok = NULL;
    CHECK_STATUS(mdmlink_store_server_token(store, "Contoso", "Main MDM", &tok, ep_), MDMLINK_STATUS_OK);
    CHECK(tok != NULL && strncmp(mdmlink_token_consumer_key(tok), "CK_", 3) == 0);
    mdmlink_token_free(tok);
    tok = NULL;
    CHECK_STATUS(mdmlink_store_server_token(store, "Fabrikam", "Main MDM", &tok, ep_), MDMLINK_STATUS_NO_TOKEN);
    mdmlink_install_outcome outcome;
    /* NULL with length 0 is the empty input: judged (not a token), not a NULL argument. */
    mdmlink_status empty = mdmlink_store_server_install_token(store, "Fabrikam", "Main MDM", NULL, NULL, 0, false,
                                                              now, &outcome, NULL);
    CHECK(empty != MDMLINK_STATUS_OK && empty != MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_server_install_token(store, "Fabrikam", "Main MDM", NULL, NULL, 3, false, now,
                                                    &outcome, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_server_install_token(store, "Fabrikam", "Main MDM", NULL, token, token_len, false,
                                                    now, &outcome, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(outcome == MDMLINK_INSTALL_OUTCOME_FIRST);
    CHECK_STATUS(mdmlink_store_server_record_event(store, "Contoso", "Main MDM", 3, now, ep_), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_server_record_event(store, "Contoso", "Main MDM", 77, now, ep_),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    mdmlink_bytes jwt = {0};
    CHECK_STATUS(mdmlink_store_server_jwt(store, "Contoso", "Main MDM", now, "jti-1", &jwt, ep_),
                 MDMLINK_STATUS_NO_SERVER_UUID);
    CHECK_STATUS(mdmlink_store_server_set_uuid(store, "Contoso", "Main MDM", "6F1B8F4E-AAAA-4AAA-8AAA-AAAAAAAAAAAA", ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_server_jwt(store, "Contoso", "Main MDM", now, "jti-1", &jwt, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(jwt.len > 100);
    mdmlink_bytes_free(&jwt);
    CHECK_STATUS(mdmlink_store_server_discard_staging(store, "Contoso", "Main MDM", ep_),
                 MDMLINK_STATUS_NO_STAGED_KEYPAIR);
    CHECK_STATUS(mdmlink_store_organization_remove(store, "Fabrikam", false, ep_), MDMLINK_STATUS_ORGANIZATION_NOT_EMPTY);
    CHECK_STATUS(mdmlink_store_organization_remove(store, "Fabrikam", true, ep_), MDMLINK_STATUS_OK);
    mdmlink_store_free(store);
    store = NULL;

    /* Reopened without the key: listing works, secrets do not. */
    CHECK_STATUS(mdmlink_store_open(path, NULL, 0, NULL, &store, ep_), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_servers_json(store, NULL, 30, now, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&json, "\"replacement\":\"downloader-password-changed\""));
    CHECK(contains(&json, "\"server_uuid\":\"6F1B8F4E-AAAA-4AAA-8AAA-AAAAAAAAAAAA\""));
    mdmlink_bytes_free(&json);
    CHECK_STATUS(mdmlink_store_server_token(store, NULL, "Main MDM", &tok, ep_), MDMLINK_STATUS_MASTER_KEY_REQUIRED);
    mdmlink_store_free(store);
    CHECK_STATUS(mdmlink_store_open(path, other, 32, NULL, &store, ep_), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_server_token(store, NULL, "Main MDM", &tok, ep_), MDMLINK_STATUS_MASTER_KEY_WRONG);
    mdmlink_store_free(store);
    /* Rekey to `other`; then `master` is wrong. */
    CHECK_STATUS(mdmlink_store_open(path, master, 32, NULL, &store, ep_), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_rekey(store, other, 32, NULL, ep_), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_server_remove(store, NULL, "Main MDM", ep_), MDMLINK_STATUS_OK);
    mdmlink_store_free(store);
    CHECK_STATUS(mdmlink_store_open(path, master, 32, NULL, &store, ep_), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_servers_json(store, NULL, 30, now, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(json.len == 2); /* [] */
    mdmlink_bytes_free(&json);
    mdmlink_store_free(store);
    mdmlink_store_free(NULL);

    /* A new server in an empty store: the library's "My organization"
       default, as `mdmlink server add --portal` makes it. */
    char path2[2048];
    snprintf(path2, sizeof path2, "%s/store-default.sqlite", argv[2]);
    remove(path2);
    CHECK_STATUS(mdmlink_store_open(path2, master, 32, NULL, &store, ep_), MDMLINK_STATUS_OK);
    mdmlink_bytes pem = {0};
    /* Without a portal there is no organization to put it in. */
    CHECK_STATUS(mdmlink_store_server_add_generated(store, NULL, "Main MDM", 2048, now, &pem, ep_),
                 MDMLINK_STATUS_UNKNOWN_ORGANIZATION);
    CHECK_STATUS(mdmlink_store_server_add_generated_with_portal(store, NULL, "Main MDM", 99, NULL, 2048, now, &pem,
                                                                ep_),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK(pem.ptr == NULL);
    CHECK_STATUS(mdmlink_store_server_add_generated_with_portal(store, NULL, "Main MDM",
                                                                MDMLINK_PORTAL_SCHOOL_MANAGER, "Lincoln High", 2048,
                                                                now, &pem, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(pem.ptr != NULL && contains(&pem, "-----BEGIN CERTIFICATE-----"));
    mdmlink_bytes_free(&pem);
    CHECK_STATUS(mdmlink_store_organizations_json(store, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&json, "\"name\":\"My organization\""));
    CHECK(contains(&json, "\"portal\":\"school-manager\""));
    CHECK(contains(&json, "\"customer\":\"Lincoln High\""));
    CHECK(contains(&json, "\"servers\":1"));
    mdmlink_bytes_free(&json);
    /* The second goes into the same organization; another portal is refused. */
    CHECK_STATUS(mdmlink_store_server_add_generated_with_portal(store, NULL, "Second", MDMLINK_PORTAL_BUSINESS_MANAGER,
                                                                NULL, 2048, now, &pem, ep_),
                 MDMLINK_STATUS_PORTAL_MISMATCH);
    CHECK_STATUS(mdmlink_store_server_add_generated_with_portal(store, NULL, "main mdm", MDMLINK_PORTAL_SCHOOL_MANAGER,
                                                                NULL, 2048, now, &pem, ep_),
                 MDMLINK_STATUS_DUPLICATE_NAME);
    CHECK_STATUS(mdmlink_store_server_add_generated_with_portal(store, NULL, "Second", MDMLINK_PORTAL_SCHOOL_MANAGER,
                                                                NULL, 2048, now, &pem, ep_),
                 MDMLINK_STATUS_OK);
    mdmlink_bytes_free(&pem);
    CHECK_STATUS(mdmlink_store_organizations_json(store, &json, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&json, "\"servers\":2"));
    mdmlink_bytes_free(&json);
    mdmlink_store_free(store);
    remove(path2);

    free(key);
    free(token);
    free(cert);
    printf("store: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
