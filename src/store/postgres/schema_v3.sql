-- mdmlink PostgreSQL schema, version 3: an organization's School and
-- Business Manager API account, and the id the API gave a server.

-- At most one API account per organization (its id is the key), removed
-- with the organization. The P-256 private key is a ciphertext sealed under
-- the store's master key, bound to this row: the store refuses a plaintext
-- one, and so does the database.
CREATE TABLE mdmlink_api_accounts (
    organization_id BIGINT PRIMARY KEY REFERENCES mdmlink_organizations (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL CHECK (length(client_id) <= 256),
    key_id TEXT NOT NULL CHECK (length(key_id) BETWEEN 1 AND 256),
    scope TEXT NOT NULL CHECK (scope IN ('business.api', 'school.api')),
    created_at TEXT NOT NULL CHECK (length(created_at) > 0),
    private_key BYTEA NOT NULL CHECK (
        length(private_key) > 3 AND substring(private_key FROM 1 FOR 3) <> '\x505431'::BYTEA
    ),
    CHECK ((scope = 'business.api' AND substr(client_id, 1, 12) = 'BUSINESSAPI.'
                AND length(client_id) > 12)
        OR (scope = 'school.api' AND substr(client_id, 1, 10) = 'SCHOOLAPI.'
                AND length(client_id) > 10))
);

ALTER TABLE mdmlink_servers ADD COLUMN portal_server_id TEXT
    CHECK (portal_server_id IS NULL OR length(portal_server_id) BETWEEN 1 AND 256);
