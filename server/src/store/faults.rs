//! Fault injection for the store's write transactions: a test hook, off unless the relay is
//! started with `--inject-faults` (`CHATPAY_INJECT_FAULTS`), used by the end-to-end test that
//! kills and breaks the relay while visitors pay.
//!
//! Two kinds, each with its own probability per transaction or statement:
//! - **disk full** (SQLite): right after `BEGIN`, the connection's `max_page_count` is set to
//!   the file's current size, so any write that needs a new page fails for real with
//!   `SQLITE_FULL` — on this connection until it is replaced, as after a failed write;
//! - **killed connection**: a statement fails as if the connection had died under it;
//! - **failed sync** (SQLite): the fsync that makes commits durable fails (a dying disk);
//! - **first writes**: the first N statements written fail as if the connection had died (a
//!   fault that lasts only while the relay starts, like a disk that was full for a moment).

use std::sync::Mutex;

use super::sqlite::Slot;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Which faults to inject, and how often.
#[derive(Debug)]
pub struct Faults {
    /// Per transaction: the disk is full from now on for this connection (SQLite).
    disk_full: f64,
    /// Per statement: the connection dies.
    kill: f64,
    /// Per sync of the WAL: it fails.
    sync_fail: f64,
    /// Statements still to fail before the probabilities above take over.
    first_writes: std::sync::atomic::AtomicU32,
    rng: Mutex<StdRng>,
}

impl Faults {
    /// Parses `disk_full=0.02,kill=0.01[,sync_fail=0.5][,first_writes=3][,seed=7]`.
    pub fn parse(spec: &str) -> Result<Faults, String> {
        let (mut disk_full, mut kill, mut sync_fail, mut seed) = (0.0, 0.0, 0.0, None);
        let mut first_writes = 0;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("fault '{part}' needs a value, like disk_full=0.02"))?;
            let bad = || format!("fault '{part}': the value must be a number from 0 to 1");
            match k {
                "disk_full" => disk_full = v.parse().map_err(|_| bad())?,
                "kill" => kill = v.parse().map_err(|_| bad())?,
                "sync_fail" => sync_fail = v.parse().map_err(|_| bad())?,
                "first_writes" => {
                    first_writes = v
                        .parse()
                        .map_err(|_| format!("fault '{part}': first_writes is a whole number"))?
                }
                "seed" => {
                    seed = Some(
                        v.parse()
                            .map_err(|_| format!("fault '{part}': seed is a whole number"))?,
                    )
                }
                other => {
                    return Err(format!(
                        "unknown fault '{other}': use disk_full, kill, sync_fail, first_writes or seed"
                    ))
                }
            }
        }
        for p in [disk_full, kill, sync_fail] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("fault probability {p} is not between 0 and 1"));
            }
        }
        Ok(Faults {
            disk_full,
            kill,
            sync_fail,
            first_writes: first_writes.into(),
            rng: Mutex::new(match seed {
                Some(s) => StdRng::seed_from_u64(s),
                None => StdRng::from_entropy(),
            }),
        })
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap_or_else(|e| e.into_inner()).gen_bool(p)
    }

    /// Maybe fills the disk for SQLite's writer connection (just after its `BEGIN`).
    pub(super) fn after_begin(&self, writer: &mut Slot) {
        if !self.roll(self.disk_full) {
            return;
        }
        if let Ok(pages) = writer.pragma_i64("PRAGMA page_count") {
            tracing::warn!(pages, "injected fault: the disk is full for this connection");
            let _ = writer.batch(&format!("PRAGMA max_page_count = {pages}"));
        }
    }

    /// Maybe fails the next sync of the WAL.
    pub(super) fn sync_fails(&self) -> Option<std::io::Error> {
        self.roll(self.sync_fail).then(|| {
            tracing::warn!("injected fault: the WAL could not be synced to disk");
            std::io::Error::other("injected fault: fsync failed")
        })
    }

    /// Maybe kills the connection under the next statement.
    pub(super) fn before_statement(&self) -> Option<sqlx::Error> {
        use std::sync::atomic::Ordering;
        let first = self
            .first_writes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        (first || self.roll(self.kill)).then(|| {
            tracing::warn!("injected fault: the write connection died");
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected fault: the connection died",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        let f = Faults::parse("disk_full=0.5, kill=0.25, seed=3").unwrap();
        assert_eq!((f.disk_full, f.kill), (0.5, 0.25));
        assert!(Faults::parse("").is_ok());
        assert!(Faults::parse("kill=2").unwrap_err().contains("between 0 and 1"));
        assert!(Faults::parse("melt=0.1")
            .unwrap_err()
            .contains("unknown fault 'melt'"));
        assert!(Faults::parse("kill").unwrap_err().contains("needs a value"));
    }

    #[test]
    fn a_zero_rate_never_fires_and_a_full_rate_always_does() {
        let never = Faults::parse("kill=0").unwrap();
        assert!((0..1000).all(|_| never.before_statement().is_none()));
        let always = Faults::parse("kill=1").unwrap();
        assert!(always.before_statement().is_some());
    }

    #[test]
    fn first_writes_fail_then_stop_failing() {
        let f = Faults::parse("first_writes=2").unwrap();
        assert!(f.before_statement().is_some());
        assert!(f.before_statement().is_some());
        assert!((0..100).all(|_| f.before_statement().is_none()));
        assert!(Faults::parse("first_writes=-1")
            .unwrap_err()
            .contains("whole number"));
    }
}
