//! Acknowledged means on disk (SQLite): the writer commits with `synchronous = NORMAL`, so a
//! commit reaches the WAL file without an fsync of its own; whoever promises "stored" to
//! someone who will not ask again (the webhook route, before its 200 to Stripe) waits on
//! [`Syncer::sync`], which fsyncs the WAL once for everyone waiting at that moment. That is
//! group commit for the sync: many webhooks in flight share one fsync, one alone pays one.
//!
//! Why the WAL alone is enough: SQLite syncs the WAL before it checkpoints and the database
//! file after, so a commit no longer in the WAL (checkpointed, or the file restarted or
//! removed) is already in the synced database file. PostgreSQL commits are durable by
//! themselves (`synchronous_commit = on`): there [`Syncer::sync`] returns at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::faults::Faults;

/// One fsync at a time for all the callers that committed before it started.
#[derive(Debug)]
pub struct Syncer {
    /// The SQLite database file (`None`: PostgreSQL, nothing to do).
    db: Option<PathBuf>,
    /// Tickets handed out: one per call, taken after the caller's commit.
    asked: AtomicU64,
    /// Every ticket up to this one is on disk.
    synced: AtomicU64,
    /// Held while an fsync runs.
    turn: tokio::sync::Mutex<()>,
}

impl Syncer {
    pub fn new(db: Option<PathBuf>) -> Syncer {
        Syncer {
            db,
            asked: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Returns once everything committed before the call is on disk.
    pub async fn sync(&self, faults: Option<&Arc<Faults>>) -> std::io::Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.turn.lock().await;
        if self.synced.load(Ordering::SeqCst) >= ticket {
            // An fsync that started after this caller's commit has finished.
            return Ok(());
        }
        // Everyone who asked so far committed before this fsync starts.
        let upto = self.asked.load(Ordering::SeqCst);
        if let Some(e) = faults.and_then(|f| f.sync_fails()) {
            return Err(e);
        }
        let db = db.clone();
        tokio::task::spawn_blocking(move || fsync_wal(&db))
            .await
            .map_err(std::io::Error::other)??;
        self.synced.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }
}

/// Fsyncs `<db>-wal`; without a WAL file (checkpointed and removed), the database file.
fn fsync_wal(db: &std::path::Path) -> std::io::Result<()> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    match std::fs::File::open(&wal) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::File::open(db)?.sync_data(),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn callers_waiting_together_share_one_fsync() {
        let dir = std::env::temp_dir().join(format!("chatpay-sync-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("db.sqlite");
        std::fs::write(&db, b"x").unwrap();
        std::fs::write(dir.join("db.sqlite-wal"), b"y").unwrap();
        let syncer = Arc::new(Syncer::new(Some(db)));
        // The first caller holds the turn while the rest ask: they all ride on the next fsync.
        let guard = syncer.turn.lock().await;
        let waiting: Vec<_> = (0..16)
            .map(|_| {
                let s = syncer.clone();
                tokio::spawn(async move { s.sync(None).await })
            })
            .collect();
        while syncer.asked.load(Ordering::SeqCst) < 16 {
            tokio::task::yield_now().await;
        }
        drop(guard);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert_eq!(
            syncer.synced.load(Ordering::SeqCst),
            16,
            "every ticket is on disk"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn postgres_needs_no_sync() {
        Syncer::new(None).sync(None).await.unwrap();
    }
}
