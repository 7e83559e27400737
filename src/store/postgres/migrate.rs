//! The schema's versions: `mdmlink_schema_version` records each step
//! applied. The shared runner ([`crate::store::schema`]) applies the
//! missing ones, each in its own transaction under a transaction-level
//! advisory lock, so that instances starting together wait for each other
//! instead of racing to create the same tables. A database migrated by a
//! newer mdmlink is refused, not changed.

use crate::store::schema::{self, Migrated, SchemaTarget};

/// The advisory lock taken while migrating: "mdmlink" in ASCII, one number
/// for every mdmlink store in the database.
pub(crate) const MIGRATION_LOCK: i64 = 0x006d_646d_6c69_6e6b;

/// One connection's schema, for the shared runner.
struct PgSchema<'a> {
    client: &'a mut postgres::Client,
    schema: Option<&'a str>,
}

impl SchemaTarget for PgSchema<'_> {
    type Error = postgres::Error;

    fn version(&mut self) -> Result<usize, postgres::Error> {
        version(self.client).map(|v| usize::try_from(v).unwrap_or(0))
    }

    fn begin(&mut self) -> Result<(), postgres::Error> {
        self.client.batch_execute("BEGIN")?;
        self.client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        if let Some(schema) = self.schema {
            self.client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
        }
        self.client.batch_execute(
            "CREATE TABLE IF NOT EXISTS mdmlink_schema_version (
                 version BIGINT PRIMARY KEY CHECK (version > 0),
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
    }

    fn apply(&mut self, step: &str, version: i64) -> Result<(), postgres::Error> {
        self.client.batch_execute(step)?;
        self.client.execute(
            "INSERT INTO mdmlink_schema_version (version) VALUES ($1)",
            &[&version],
        )?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), postgres::Error> {
        self.client.batch_execute("COMMIT")
    }

    fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK");
    }
}

/// Brings the schema up to `steps.len()`: step `n` (0-based) takes the
/// version from `n` to `n + 1`.
/// `schema` (already checked to be a plain identifier) is created first
/// when given; the connection's search path names it.
pub(crate) fn migrate(
    client: &mut postgres::Client,
    schema: Option<&str>,
    steps: &[&str],
) -> Result<Migrated, postgres::Error> {
    schema::migrate(&mut PgSchema { client, schema }, steps)
}

/// The version recorded in the database (0 when none).
pub(crate) fn version(client: &mut postgres::Client) -> Result<i64, postgres::Error> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('mdmlink_schema_version') IS NOT NULL",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM mdmlink_schema_version",
            &[],
        )?
        .get(0))
}
