//! One operation, one transaction, retried a bounded number of times when
//! PostgreSQL aborts it for a serialization failure (SQLSTATE 40001) or a
//! deadlock (40P01): both mean "run the same transaction again", and a retry
//! usually succeeds. Any other error ends the operation at once.

use std::time::Duration;

use postgres::error::SqlState;

/// How many times one operation is tried before giving up.
pub(crate) const MAX_ATTEMPTS: u32 = 6;

/// Why a transaction's body stopped.
#[derive(Debug)]
pub(crate) enum TxError<E> {
    /// The database's error (retried when it is a serialization failure or a deadlock).
    Db(postgres::Error),
    /// The operation's own refusal (never retried).
    Op(E),
}

impl<E> From<postgres::Error> for TxError<E> {
    fn from(e: postgres::Error) -> Self {
        TxError::Db(e)
    }
}

/// How a transaction ended without committing.
#[derive(Debug)]
pub(crate) enum Failed<E> {
    /// The database's error, not worth retrying.
    Db(postgres::Error),
    /// Every attempt hit a serialization failure or a deadlock.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        last: postgres::Error,
    },
    /// The operation refused (its transaction was rolled back).
    Op(E),
}

/// Whether PostgreSQL asks for the transaction to be run again.
pub(crate) fn is_retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Runs `body` in a transaction and commits it, retrying the whole
/// transaction (up to [`MAX_ATTEMPTS`]) on a serialization failure or a
/// deadlock, with a short randomized pause so that the contenders spread out.
pub(crate) fn run<T, E>(
    client: &mut postgres::Client,
    mut body: impl FnMut(&mut postgres::Transaction<'_>) -> Result<T, TxError<E>>,
) -> Result<T, Failed<E>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = (|| {
            let mut tx = client.transaction().map_err(TxError::Db)?;
            let value = body(&mut tx)?;
            tx.commit().map_err(TxError::Db)?;
            Ok(value)
        })();
        // A transaction dropped without commit is rolled back by the driver.
        match outcome {
            Ok(value) => return Ok(value),
            Err(TxError::Op(e)) => return Err(Failed::Op(e)),
            Err(TxError::Db(e)) if is_retryable(&e) => {
                if attempt >= MAX_ATTEMPTS {
                    return Err(Failed::GaveUp {
                        attempts: attempt,
                        last: e,
                    });
                }
                std::thread::sleep(backoff(attempt));
            }
            Err(TxError::Db(e)) => return Err(Failed::Db(e)),
        }
    }
}

/// 5, 10, 20, 40 ... ms, each with up to as much again at random.
fn backoff(attempt: u32) -> Duration {
    let base = 5u64 << attempt.min(8).saturating_sub(1);
    let mut jitter = [0u8; 2];
    let jitter = match getrandom::fill(&mut jitter) {
        Ok(()) => u64::from(u16::from_le_bytes(jitter)) % (base + 1),
        Err(_) => base / 2,
    };
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..=MAX_ATTEMPTS {
            let b = backoff(attempt).as_millis() as u64;
            let base = 5u64 << (attempt - 1);
            assert!((base..=2 * base).contains(&b), "attempt {attempt}: {b} ms");
        }
        assert!(backoff(100) <= Duration::from_millis(2 * (5 << 7)));
    }
}
