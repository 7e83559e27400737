//! One operation, one transaction, retried a bounded number of times when
//! PostgreSQL aborts it for a serialization failure (SQLSTATE 40001) or a
//! deadlock (40P01): both mean "run the same transaction again", and a retry
//! usually succeeds. Any other error ends the operation at once.
//! (The loop itself is [`super::PostgresStore`]'s `Store::transaction`.)

use std::time::Duration;

use postgres::error::SqlState;

/// How many times one operation is tried before giving up.
pub const MAX_ATTEMPTS: u32 = 6;

/// Whether PostgreSQL asks for the transaction to be run again.
pub(crate) fn is_retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// 5, 10, 20, 40 ... ms, each with up to as much again at random.
pub(crate) fn backoff(attempt: u32) -> Duration {
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
