//! One migration runner for every database: a schema is a versioned list of
//! SQL steps (step `n`, 0-based, takes the version from `n` to `n + 1`);
//! each missing step is applied in its own transaction, which also records
//! the new version, so a crash leaves the schema at a version it names.
//! A database at a newer version than the list knows is refused unchanged.
//!
//! What differs between databases (how a transaction that excludes other
//! migrators begins, where the version is kept) is a [`SchemaTarget`].

/// A database whose schema [`migrate`] brings up to date.
pub(crate) trait SchemaTarget {
    /// The database's own error.
    type Error;

    /// The version recorded (0 for a new database; a negative one is the
    /// target's error). Called outside a transaction first (an up-to-date
    /// database then takes no lock), then inside each one.
    fn version(&mut self) -> Result<usize, Self::Error>;

    /// Begins a transaction that excludes other migrators until it ends.
    fn begin(&mut self) -> Result<(), Self::Error>;

    /// Runs one step and records `version` as the schema's version, in the
    /// transaction.
    fn apply(&mut self, step: &str, version: i64) -> Result<(), Self::Error>;

    /// Commits the transaction.
    fn commit(&mut self) -> Result<(), Self::Error>;

    /// Rolls the transaction back (after a failure; best effort).
    fn rollback(&mut self);
}

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
    /// The database's schema is newer than the steps know; nothing changed.
    Newer {
        /// The version in the database.
        found: i64,
    },
}

/// Brings `target` up to `steps.len()`, one transaction per step.
pub(crate) fn migrate<T: SchemaTarget>(
    target: &mut T,
    steps: &[&str],
) -> Result<Migrated, T::Error> {
    let known = steps.len();
    let found = target.version()?;
    if found > known {
        return Ok(Migrated::Newer {
            found: i64::try_from(found).unwrap_or(i64::MAX),
        });
    }
    let mut applied = 0;
    let mut version = found;
    while version < known {
        target.begin()?;
        match step(target, steps).and_then(|v| target.commit().map(|()| v)) {
            Ok((v, ran)) => {
                applied += usize::from(ran);
                if v > known {
                    // Another migrator, of a newer build, got there first.
                    return Ok(Migrated::Newer {
                        found: i64::try_from(v).unwrap_or(i64::MAX),
                    });
                }
                version = v;
            }
            Err(e) => {
                target.rollback();
                return Err(e);
            }
        }
    }
    Ok(Migrated::To {
        version: known as i64,
        applied,
    })
}

/// In the transaction: reads the version again (another migrator may have
/// moved it) and applies the next step if one is missing. Returns the
/// version now and whether a step ran.
fn step<T: SchemaTarget>(target: &mut T, steps: &[&str]) -> Result<(usize, bool), T::Error> {
    let version = target.version()?;
    match steps.get(version) {
        Some(sql) => {
            target.apply(sql, version as i64 + 1)?;
            Ok((version + 1, true))
        }
        None => Ok((version, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in memory: its version, the steps run, and a failure to inject.
    #[derive(Default)]
    struct Fake {
        version: i64,
        pending: Option<i64>,
        ran: Vec<String>,
        fail_on: Option<&'static str>,
        commits: usize,
    }

    impl SchemaTarget for Fake {
        type Error = String;
        fn version(&mut self) -> Result<usize, String> {
            Ok(self.pending.unwrap_or(self.version) as usize)
        }
        fn begin(&mut self) -> Result<(), String> {
            Ok(())
        }
        fn apply(&mut self, step: &str, version: i64) -> Result<(), String> {
            if self.fail_on == Some(step) {
                return Err(format!("{step} failed"));
            }
            self.ran.push(step.to_owned());
            self.pending = Some(version);
            Ok(())
        }
        fn commit(&mut self) -> Result<(), String> {
            self.commits += 1;
            if let Some(v) = self.pending.take() {
                self.version = v;
            }
            Ok(())
        }
        fn rollback(&mut self) {
            self.pending = None;
        }
    }

    #[test]
    fn applies_the_missing_steps_one_commit_each() {
        let mut db = Fake {
            version: 1,
            ..Fake::default()
        };
        let m = migrate(&mut db, &["a", "b", "c"]).unwrap();
        assert_eq!(
            m,
            Migrated::To {
                version: 3,
                applied: 2
            }
        );
        assert_eq!(db.ran, ["b", "c"]);
        assert_eq!((db.version, db.commits), (3, 2));
        // Up to date: no transaction at all.
        assert_eq!(
            migrate(&mut db, &["a", "b", "c"]).unwrap(),
            Migrated::To {
                version: 3,
                applied: 0
            }
        );
        assert_eq!(db.commits, 2);
    }

    #[test]
    fn a_failed_step_keeps_the_steps_before_it() {
        let mut db = Fake {
            fail_on: Some("b"),
            ..Fake::default()
        };
        assert_eq!(migrate(&mut db, &["a", "b", "c"]).unwrap_err(), "b failed");
        assert_eq!(db.version, 1);
    }

    #[test]
    fn a_newer_database_is_left_alone() {
        let mut db = Fake {
            version: 5,
            ..Fake::default()
        };
        assert_eq!(
            migrate(&mut db, &["a"]).unwrap(),
            Migrated::Newer { found: 5 }
        );
        assert!(db.ran.is_empty());
        assert_eq!(db.commits, 0);
    }
}
