//! When each key was last used: noted on the request path in memory, written in batches by the
//! bookkeeping task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::apikey::KeyId;
use super::clock::Clock;
use super::observer::Observer;
use super::store::KeyStore;

/// Keys' last-used times, batched.
#[derive(Debug)]
pub struct UsageLog {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
    used: Mutex<HashMap<KeyId, DateTime<Utc>>>,
    /// Held from taking the batch to its write's end.
    flushing: tokio::sync::Mutex<()>,
    write_deadline: std::time::Duration,
}

impl UsageLog {
    pub fn new(
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        observer: Arc<dyn Observer>,
        write_deadline: std::time::Duration,
    ) -> Self {
        Self {
            store,
            clock,
            observer,
            used: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            write_deadline,
        }
    }

    /// The key was used now.
    pub fn note(&self, id: &KeyId) {
        let now = self.clock.now();
        self.used
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(*id, now);
    }

    /// Writes the batched last-used times; called periodically, off the request path. Returns
    /// once every time noted before the call is written (or given up): a flush that finds the
    /// periodic one under way waits for it rather than returning with nothing to do.
    pub async fn flush(&self) {
        let _one_at_a_time = self.flushing.lock().await;
        let used: Vec<_> = {
            let mut usage = self
                .used
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            usage.drain().collect()
        };
        if used.is_empty() {
            return;
        }
        match tokio::time::timeout(self.write_deadline, self.store.record_usage(&used)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                self.observer.store_write_failed("usage");
                tracing::warn!(error = %err, "could not record key usage");
            }
            Err(_) => {
                self.observer.store_write_failed("usage");
                tracing::warn!(deadline = ?self.write_deadline, "recording key usage missed its deadline");
            }
        }
    }
}
