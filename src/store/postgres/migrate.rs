//! The schema's versions: `mdmlink_schema_version` records each step
//! applied, and opening a store applies the missing ones in one transaction
//! under a transaction-level advisory lock, so that instances starting
//! together wait for each other instead of racing to create the same tables.
//! A database migrated by a newer mdmlink is refused, not changed.

/// The advisory lock taken while migrating: "mdmlink" in ASCII, one number
/// for every mdmlink store in the database.
pub(crate) const MIGRATION_LOCK: i64 = 0x006d_646d_6c69_6e6b;

/// What [`migrate`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Migrated {
    /// The schema is at `version` (steps were applied when `applied > 0`).
    To {
        /// The version now.
        version: i64,
        /// How many steps this call applied.
        applied: usize,
    },
    /// The database's schema is newer than `steps` knows.
    Newer {
        /// The version in the database.
        found: i64,
    },
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
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mdmlink_schema_version (
             version BIGINT PRIMARY KEY CHECK (version > 0),
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let found: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM mdmlink_schema_version",
            &[],
        )?
        .get(0);
    let known = steps.len() as i64;
    if found > known {
        // Nothing to undo; the transaction only created what existed.
        tx.rollback()?;
        return Ok(Migrated::Newer { found });
    }
    let mut applied = 0;
    for (i, step) in steps.iter().enumerate().skip(found as usize) {
        tx.batch_execute(step)?;
        tx.execute(
            "INSERT INTO mdmlink_schema_version (version) VALUES ($1)",
            &[&(i as i64 + 1)],
        )?;
        applied += 1;
    }
    tx.commit()?;
    Ok(Migrated::To {
        version: known,
        applied,
    })
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
