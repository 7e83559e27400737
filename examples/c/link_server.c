/*
 * mdmlink from C: generate a server keypair and write the certificate to
 * upload, then open a real Apple server token with its key and print the
 * consumer key and the days left before it expires.
 *
 *   link_server CERT_OUT TOKEN_FILE KEY_FILE
 *
 * `make run` uses the Apple token in ../../tests/fixtures/apple-token-1/.
 */
#include <mdmlink.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int fail(const char *what, mdmlink_status status, mdmlink_error *err) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, err ? mdmlink_error_message(err) : "no details",
            mdmlink_status_name(status));
    mdmlink_error_free(err);
    return 1;
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap = cap ? 2 * cap : 4096);
            if (!bigger) { free(buf); fclose(f); return NULL; }
            buf = bigger;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CERT_OUT TOKEN_FILE KEY_FILE\n", argv[0]);
        return 2;
    }
    printf("mdmlink %s\n", mdmlink_version());
    mdmlink_error *err = NULL;
    mdmlink_status s;

    /* 1. A new server: keypair, and the certificate the admin uploads. */
    mdmlink_keypair *server = NULL;
    if ((s = mdmlink_keypair_generate(2048, "Main MDM", (int64_t)time(NULL), &server, &err)) != MDMLINK_STATUS_OK)
        return fail("generating the keypair", s, err);
    mdmlink_bytes cert = {NULL, 0};
    if ((s = mdmlink_keypair_certificate_pem(server, &cert, &err)) != MDMLINK_STATUS_OK)
        return fail("exporting the certificate", s, err);
    FILE *out = fopen(argv[1], "wb");
    if (!out || fwrite(cert.ptr, 1, cert.len, out) != cert.len || fclose(out) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[1]);
        return 1;
    }
    printf("wrote the certificate to upload: %s (%zu bytes)\n", argv[1], cert.len);
    mdmlink_bytes_free(&cert);
    mdmlink_keypair_free(server);

    /* 2. An existing server's key and the token the portal gave it. */
    size_t key_len = 0, token_len = 0;
    uint8_t *key = read_file(argv[3], &key_len);
    uint8_t *file = read_file(argv[2], &token_len);
    if (!key || !file) {
        fprintf(stderr, "cannot read %s or %s\n", argv[3], argv[2]);
        return 1;
    }
    mdmlink_keypair *keypair = NULL;
    s = mdmlink_keypair_from_pem(key, key_len, NULL, &keypair, &err);
    free(key);
    if (s != MDMLINK_STATUS_OK) return fail("reading the private key", s, err);
    mdmlink_token *token = NULL;
    s = mdmlink_token_open(keypair, file, token_len, &token, &err);
    free(file);
    mdmlink_keypair_free(keypair);
    if (s != MDMLINK_STATUS_OK) return fail("opening the token", s, err);

    /* 3. What the MDM server needs, and how long it lasts. */
    int64_t expiry = mdmlink_token_expiry_unix(token);
    int64_t now = (int64_t)time(NULL);
    mdmlink_expiry_policy *policy = NULL;
    mdmlink_health health;
    if ((s = mdmlink_expiry_policy_new(30, &policy, &err)) != MDMLINK_STATUS_OK ||
        (s = mdmlink_token_health(token, policy, now, &health, &err)) != MDMLINK_STATUS_OK)
        return fail("checking the expiry", s, err);
    printf("consumer key: %s\n", mdmlink_token_consumer_key(token));
    printf("expires: %lld (Unix time)\n", (long long)expiry);
    /* Whole days, rounded toward minus infinity: negative once expired. */
    int64_t diff = expiry - now;
    int64_t days = diff >= 0 ? diff / 86400 : -((-diff + 86399) / 86400);
    printf("days to expiry: %lld (%s)\n", (long long)days, health.label);

    mdmlink_expiry_policy_free(policy);
    mdmlink_token_free(token);
    return 0;
}
