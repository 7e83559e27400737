/*
 * C tests of Apple's School and Business Manager API through the store
 * (mdmlink_store_api_*, mdmlink_store_server_*_via_api) against the
 * mdmlink-simulator binary over loopback HTTP: an Apple Business
 * organization and an Apple School Manager one, each with the API account
 * its simulator wrote. Driven by tests/capi.rs (under valgrind in CI):
 *
 *   test_portal_api WORK_DIR BUSINESS_DIR BUSINESS_URL SCHOOL_DIR SCHOOL_URL
 *
 * Each simulator DIR holds api_client_id, api_key_id and api_key.pem; the
 * Business one seeds the servers "MDM Server" and "Lab MDM", 6 devices on
 * "MDM Server" and 1 unassigned device.
 */
#define MDMLINK_STORE 1
#include "mdmlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The file DIR/NAME, NUL-terminated, trailing newlines cut. */
static char *read_file(const char *dir, const char *name, size_t *len) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) exit(2);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

/* An API account as the simulator in DIR wrote it. */
struct account {
    char *client_id, *key_id, *key;
    size_t key_len;
};

static struct account read_account(const char *dir) {
    struct account a;
    size_t n;
    a.client_id = read_file(dir, "api_client_id", &n);
    a.key_id = read_file(dir, "api_key_id", &n);
    a.key = read_file(dir, "api_key.pem", &a.key_len);
    /* PEM ends with a newline; keep the file as the portal served it. */
    a.key[a.key_len] = '\n';
    a.key_len++;
    return a;
}

static void free_account(struct account *a) {
    free(a->client_id);
    free(a->key_id);
    free(a->key);
}

static int contains(const mdmlink_bytes *b, const char *needle) {
    /* Every mdmlink_bytes has a NUL after its `len` bytes. */
    return b->ptr != NULL && strstr((const char *)b->ptr, needle) != NULL;
}

/* The serial number of the first device whose `status` is `status` in a
   devices JSON array (the library writes `serialNumber` first in each
   object), copied into `out`; 0 when none. */
static int serial_with_status(const mdmlink_bytes *devices, const char *status, char *out, size_t out_len) {
    char want[64];
    snprintf(want, sizeof want, "\"status\":\"%s\"", status);
    const char *text = (const char *)devices->ptr;
    const char *hit = strstr(text, want);
    if (hit == NULL) return 0;
    const char *key = "\"serialNumber\":\"";
    const char *found = NULL;
    for (const char *p = strstr(text, key); p != NULL && p < hit; p = strstr(p + 1, key)) found = p;
    if (found == NULL) return 0;
    found += strlen(key);
    const char *end = strchr(found, '"');
    if (end == NULL || (size_t)(end - found) >= out_len) return 0;
    memcpy(out, found, (size_t)(end - found));
    out[end - found] = 0;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: test_portal_api WORK_DIR BUSINESS_DIR BUSINESS_URL SCHOOL_DIR SCHOOL_URL\n");
        return 2;
    }
    const char *base = argv[3], *school_base = argv[5];
    char token_url[1024], school_token_url[1024], path[2048];
    snprintf(token_url, sizeof token_url, "%s/auth/oauth2/token", base);
    snprintf(school_token_url, sizeof school_token_url, "%s/auth/oauth2/token", school_base);
    snprintf(path, sizeof path, "%s/portal-api.sqlite", argv[1]);
    remove(path);
    struct account business = read_account(argv[2]);
    struct account school = read_account(argv[4]);
    uint8_t master[32];
    for (int i = 0; i < 32; i++) master[i] = (uint8_t)(i * 5 + 3);
    const int64_t now = 1780000000;

    mdmlink_store *store = NULL;
    CHECK_STATUS(mdmlink_store_open(path, master, 32, NULL, &store, ep_), MDMLINK_STATUS_OK);
    if (store == NULL) return 1;
    CHECK_STATUS(mdmlink_store_organization_add(store, "Acme", MDMLINK_PORTAL_BUSINESS_MANAGER, NULL, ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_organization_add(store, "Springfield", MDMLINK_PORTAL_SCHOOL_MANAGER, NULL, ep_),
                 MDMLINK_STATUS_OK);

    /* NULL arguments: refused before anything runs, outputs untouched. */
    mdmlink_bytes out = {NULL, 0};
    const char *one[] = {"ABC123"};
    CHECK_STATUS(mdmlink_store_api_account_add(NULL, "Acme", business.client_id, business.key_id,
                                               (const uint8_t *)business.key, business.key_len, false, now, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Acme", NULL, business.key_id, (const uint8_t *)business.key,
                                               business.key_len, false, now, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Acme", business.client_id, business.key_id, NULL, 0, false,
                                               now, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_accounts_json(store, NULL, ep_), MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_servers_json(store, "Acme", base, token_url, NULL, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_devices_json(NULL, "Acme", NULL, base, token_url, &out, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", NULL, one, 1, false, base, token_url, &out, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", "Lab MDM", NULL, 1, false, base, token_url, &out, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    const char *holes[] = {"ABC123", NULL};
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", "Lab MDM", holes, 2, false, base, token_url, &out, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_server_add_via_api(store, "Acme", NULL, 2048, false, now, base, token_url, &out, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_server_rotate_key_via_api(store, "Acme", "Lab MDM", 2048, now, base, token_url, NULL,
                                                         ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_reconcile_json(store, "Acme", base, token_url, NULL, ep_),
                 MDMLINK_STATUS_NULL_ARGUMENT);
    CHECK(out.ptr == NULL);

    /* No account yet: the organization's account is not found. */
    CHECK_STATUS(mdmlink_store_api_servers_json(store, "Acme", base, token_url, &out, ep_), MDMLINK_STATUS_NOT_FOUND);
    CHECK(out.ptr == NULL);

    /* The account: a key that is not P-256 is refused; the School account
       does not fit the Business organization; a second one needs `replace`. */
    const char not_a_key[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Acme", business.client_id, business.key_id,
                                               (const uint8_t *)not_a_key, sizeof not_a_key - 1, false, now, ep_),
                 MDMLINK_STATUS_API_ACCOUNT_INVALID);
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Acme", school.client_id, school.key_id,
                                               (const uint8_t *)school.key, school.key_len, false, now, ep_),
                 MDMLINK_STATUS_PORTAL_MISMATCH);
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Acme", business.client_id, business.key_id,
                                               (const uint8_t *)business.key, business.key_len, false, now, ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Acme", business.client_id, business.key_id,
                                               (const uint8_t *)business.key, business.key_len, false, now, ep_),
                 MDMLINK_STATUS_API_ACCOUNT_EXISTS);
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Acme", business.client_id, business.key_id,
                                               (const uint8_t *)business.key, business.key_len, true, now, ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_api_account_add(store, "Springfield", school.client_id, school.key_id,
                                               (const uint8_t *)school.key, school.key_len, false, now, ep_),
                 MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_api_accounts_json(store, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&out, business.client_id));
    CHECK(contains(&out, "\"scope\":\"business.api\""));
    CHECK(contains(&out, "\"scope\":\"school.api\""));
    CHECK(!contains(&out, "PRIVATE KEY"));
    mdmlink_bytes_free(&out);

    /* The portal's seeded servers. */
    CHECK_STATUS(mdmlink_store_api_servers_json(store, "Acme", base, token_url, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"serverName\":\"MDM Server\""));
    CHECK(contains(&out, "\"serverName\":\"Lab MDM\""));
    CHECK(contains(&out, "\"serverType\":\"MDM\""));
    CHECK(contains(&out, "\"id\":\""));
    mdmlink_bytes_free(&out);
    CHECK(out.ptr == NULL);

    /* "Lab MDM" is taken in the portal: nothing is added to the store. */
    CHECK_STATUS(mdmlink_store_server_add_via_api(store, "Acme", "Lab MDM", 2048, false, now, base, token_url, &out,
                                                  ep_),
                 MDMLINK_STATUS_NAME_TAKEN_IN_PORTAL);
    CHECK(out.ptr == NULL);
    /* The seeded servers, linked by hand before. */
    CHECK_STATUS(mdmlink_store_server_add_generated(store, "Acme", "MDM Server", 2048, now, &out, ep_),
                 MDMLINK_STATUS_OK);
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_server_add_generated(store, "Acme", "Lab MDM", 2048, now, &out, ep_),
                 MDMLINK_STATUS_OK);
    mdmlink_bytes_free(&out);
    /* A name the store holds is refused before any request. */
    CHECK_STATUS(mdmlink_store_server_add_via_api(store, "Acme", "lab mdm", 2048, false, now, base, token_url, &out,
                                                  ep_),
                 MDMLINK_STATUS_DUPLICATE_NAME);

    /* A server created through the API: its certificate comes back, the
       portal lists it, and the store and the portal agree. */
    CHECK_STATUS(mdmlink_store_server_add_via_api(store, "Acme", "Branch MDM", 2048, true, now, base, token_url, &out,
                                                  ep_),
                 MDMLINK_STATUS_OK);
    CHECK(contains(&out, "-----BEGIN CERTIFICATE-----"));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_api_servers_json(store, "Acme", base, token_url, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"serverName\":\"Branch MDM\""));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_servers_json(store, "Acme", 30, now, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"name\":\"Branch MDM\""));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_api_reconcile_json(store, "Acme", base, token_url, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"agrees\":true"));
    CHECK(contains(&out, "\"missingInPortal\":[]"));
    CHECK(contains(&out, "\"Branch MDM\""));
    mdmlink_bytes_free(&out);

    /* A store server the portal lacks: reconcile names it (OK, agrees false). */
    CHECK_STATUS(mdmlink_store_server_add_generated(store, "Acme", "Only Here", 2048, now, &out, ep_),
                 MDMLINK_STATUS_OK);
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_api_reconcile_json(store, "Acme", base, token_url, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"agrees\":false"));
    CHECK(contains(&out, "\"missingInPortal\":[\"Only Here\"]"));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_server_remove(store, "Acme", "Only Here", ep_), MDMLINK_STATUS_OK);

    /* Devices: every one, keyed as Apple names them; assign an unassigned
       one to the new server, which then lists it. */
    char serial[128] = "";
    CHECK_STATUS(mdmlink_store_api_devices_json(store, "Acme", NULL, base, token_url, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(out.ptr != NULL && out.ptr[0] == '[' && out.ptr[out.len - 1] == ']');
    CHECK(contains(&out, "\"status\":\"ASSIGNED\""));
    CHECK(serial_with_status(&out, "UNASSIGNED", serial, sizeof serial));
    mdmlink_bytes_free(&out);
    const char *serials[] = {serial};
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", "Branch MDM", serials, 1, false, base, token_url, &out, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"activityType\":\"ASSIGN_DEVICES\""));
    CHECK(contains(&out, "\"completed\":true"));
    CHECK(contains(&out, "\"status\":\"COMPLETED\""));
    CHECK(contains(&out, "\"devices\":1"));
    CHECK(contains(&out, "\"succeeded\":true"));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_api_devices_json(store, "Acme", "Branch MDM", base, token_url, &out, ep_),
                 MDMLINK_STATUS_OK);
    char expected[256];
    snprintf(expected, sizeof expected, "[{\"serialNumber\":\"%s\"}]", serial);
    CHECK(out.ptr != NULL && strcmp((const char *)out.ptr, expected) == 0);
    mdmlink_bytes_free(&out);
    /* And back. */
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", "Branch MDM", serials, 1, true, base, token_url, &out, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"activityType\":\"UNASSIGN_DEVICES\""));
    CHECK(contains(&out, "\"completed\":true"));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_api_devices_json(store, "Acme", "Branch MDM", base, token_url, &out, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(out.ptr != NULL && strcmp((const char *)out.ptr, "[]") == 0);
    mdmlink_bytes_free(&out);
    /* Refused before any request: not a serial number, no serial numbers;
       a server the portal does not have. */
    const char *bad[] = {"not a serial!"};
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", "Branch MDM", bad, 1, false, base, token_url, &out, ep_),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", "Branch MDM", serials, 0, false, base, token_url, &out, ep_),
                 MDMLINK_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mdmlink_store_api_assign(store, "Acme", "Nowhere", serials, 1, false, base, token_url, &out, ep_),
                 MDMLINK_STATUS_NOT_IN_PORTAL);
    CHECK(out.ptr == NULL);

    /* Rotating by API stages a key and uploads its certificate; a second
       rotation waits for the first. */
    CHECK_STATUS(mdmlink_store_server_rotate_key_via_api(store, "Acme", "Branch MDM", 2048, now, base, token_url,
                                                         &out, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(contains(&out, "-----BEGIN CERTIFICATE-----"));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_servers_json(store, "Acme", 30, now, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"staged_certificate_serial\":\""));
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_server_rotate_key_via_api(store, "Acme", "Branch MDM", 2048, now, base, token_url,
                                                         &out, ep_),
                 MDMLINK_STATUS_ALREADY_STAGED);

    /* Apple School Manager: servers are read-only in its API, so adding or
       re-keying through it is refused before any request, and the store is
       unchanged. Reading works. */
    CHECK_STATUS(mdmlink_store_server_add_via_api(store, "Springfield", "Lab Carts", 2048, false, now, school_base,
                                                  school_token_url, &out, ep_),
                 MDMLINK_STATUS_API_BUSINESS_ONLY);
    CHECK(out.ptr == NULL);
    CHECK_STATUS(mdmlink_store_servers_json(store, "Springfield", 30, now, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(out.ptr != NULL && strcmp((const char *)out.ptr, "[]") == 0);
    mdmlink_bytes_free(&out);
    CHECK_STATUS(mdmlink_store_api_servers_json(store, "Springfield", school_base, school_token_url, &out, ep_),
                 MDMLINK_STATUS_OK);
    CHECK(contains(&out, "\"serverName\":\"MDM Server\""));
    mdmlink_bytes_free(&out);
    /* The Business account against the School simulator: its token
       endpoint does not know the account. */
    CHECK_STATUS(mdmlink_store_api_servers_json(store, "Acme", school_base, school_token_url, &out, ep_),
                 MDMLINK_STATUS_API_TOKEN_REFUSED);

    /* Removing the account: the API calls then have none. */
    CHECK_STATUS(mdmlink_store_api_account_remove(store, "Acme", ep_), MDMLINK_STATUS_OK);
    CHECK_STATUS(mdmlink_store_api_account_remove(store, "Acme", ep_), MDMLINK_STATUS_NOT_FOUND);
    CHECK_STATUS(mdmlink_store_api_reconcile_json(store, "Acme", base, token_url, &out, ep_),
                 MDMLINK_STATUS_NOT_FOUND);
    CHECK_STATUS(mdmlink_store_api_accounts_json(store, &out, ep_), MDMLINK_STATUS_OK);
    CHECK(!contains(&out, business.client_id));
    CHECK(contains(&out, school.client_id));
    mdmlink_bytes_free(&out);

    mdmlink_store_free(store);
    free_account(&business);
    free_account(&school);
    printf("portal api: tested against %s\n", base);
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
