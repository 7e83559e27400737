-- mdmlink PostgreSQL store, schema version 1.
-- Every table is prefixed mdmlink_ so the store can share a database.

-- The store's identity: a random 16-byte id, made once (part of every
-- secret's authenticated data, so ciphertexts cannot move between stores).
CREATE TABLE mdmlink_store (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    store_id BYTEA NOT NULL CHECK (length(store_id) = 16),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- gen_random_uuid() draws from the server's strong random source; its 16
-- bytes (122 of them random) serve as the id.
INSERT INTO mdmlink_store (id, store_id) VALUES (1, uuid_send(gen_random_uuid()));

-- Small values: the master key's public parameters (KDF, salt, check value).
CREATE TABLE mdmlink_meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- One portal account each.
CREATE TABLE mdmlink_organizations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    portal TEXT NOT NULL,
    customer TEXT,
    created_at TEXT NOT NULL
);

-- Times are RFC 3339 text, exact to the nanosecond as the library gives
-- them (a PostgreSQL timestamp keeps only microseconds); a cast to
-- timestamptz reads them in SQL.

-- One MDM server each. Listing and health read only the non-secret columns;
-- private_key, staged_private_key and token hold ciphertexts sealed under
-- the store's master key (this store refuses to write them otherwise).
CREATE TABLE mdmlink_servers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES mdmlink_organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    options TEXT NOT NULL,
    created_at TEXT,
    certificate_serial TEXT,
    certificate_not_after TEXT,
    staged_certificate_serial TEXT,
    staged_certificate_not_after TEXT,
    staged_at TEXT,
    token_expires_at TEXT,
    token_installed_at TEXT,
    token_downloaded_by TEXT,
    token_issued_at TEXT,
    token_certificate_serial TEXT,
    token_consumer_key_hint TEXT,
    replacement_reason TEXT,
    replacement_at TEXT,
    server_uuid TEXT,
    certificate_pem TEXT,
    staged_certificate_pem TEXT,
    private_key BYTEA,
    staged_private_key BYTEA,
    token BYTEA,
    -- Certificates held at the portal: the current one, plus a staged one.
    certificates SMALLINT GENERATED ALWAYS AS
        (((certificate_serial IS NOT NULL)::INT + (staged_at IS NOT NULL)::INT)::SMALLINT) STORED,
    CHECK ((replacement_reason IS NULL) = (replacement_at IS NULL))
);
-- Names are unique per organization, by their normalized key.
CREATE UNIQUE INDEX mdmlink_servers_name ON mdmlink_servers (organization_id, name_key);

-- The device assignment service's state, per server.
CREATE TABLE mdmlink_dep_cursors (
    server_id BIGINT PRIMARY KEY REFERENCES mdmlink_servers (id) ON DELETE CASCADE,
    cursor TEXT NOT NULL,
    issued_at TEXT NOT NULL
);
CREATE TABLE mdmlink_dep_devices (
    server_id BIGINT NOT NULL REFERENCES mdmlink_servers (id) ON DELETE CASCADE,
    serial TEXT NOT NULL,
    op_type TEXT,
    op_date TEXT,
    deleted BOOLEAN NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (server_id, serial)
);
