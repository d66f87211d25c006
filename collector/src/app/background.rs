//! The background work of `serve` (queue workers, scheduled evaluation, retention, statistics, deliveries, advisory
//! updates) under one stop: at shutdown every loop ends at its next wait or between units of work, and whatever
//! still runs after a bounded time is cancelled, so nothing writes to the database once `serve` folds SQLite's log
//! into its file. A cancelled unit ends as it would at a crash: its open transaction rolls back, and what it left
//! undone is done again after the start.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long the background work may take to end its current units at a stop before it is cancelled. With the
/// requests' 10 s and the log fold's 8 s, a stop stays within the 30 s systemd and Kubernetes give it.
pub const STOP_LIMIT: Duration = Duration::from_secs(5);

/// The tasks `serve` runs beside its requests, and their stop.
#[derive(Clone)]
pub struct Background {
    stop: CancellationToken,
    /// `None` once the stop began: a task spawned then (a worker started late) is not run.
    tasks: Arc<Mutex<Option<JoinSet<()>>>>,
}

/// How the background work ended at a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Tasks that ended on their own, at a wait or between units.
    pub ended: usize,
    /// Tasks still in a unit of work at the limit, cancelled.
    pub cancelled: usize,
}

impl Default for Background {
    fn default() -> Background {
        Background::new()
    }
}

impl Background {
    pub fn new() -> Background {
        Background { stop: CancellationToken::new(), tasks: Arc::new(Mutex::new(Some(JoinSet::new()))) }
    }

    /// Runs the task `start` makes (given this `Background`, to watch for the stop) until it ends, or until it is
    /// cancelled at the end of a stop's limit.
    pub fn spawn<F>(&self, start: impl FnOnce(Background) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        match tasks.as_mut() {
            Some(set) => {
                set.spawn(start(self.clone()));
            }
            None => tracing::debug!("the collector is stopping: a background task was not started"),
        }
    }

    /// True once the stop began: loops check it between units of work.
    pub fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// `work`'s output, or `None` when the stop begins first (`work` is then dropped). For waits, and for long
    /// units that are safe to drop midway (their transactions roll back and they run again after the restart).
    pub async fn unless_stopped<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => None,
            out = work => Some(out),
        }
    }

    /// Asks every task to end, waits up to `limit` for them, then cancels the rest and waits for that.
    pub async fn stop(&self, limit: Duration) -> Stopped {
        self.stop.cancel();
        let taken = self.tasks.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(mut set) = taken else {
            return Stopped { ended: 0, cancelled: 0 };
        };
        let mut ended = 0;
        let waited = tokio::time::timeout(limit, async {
            while set.join_next().await.is_some() {
                ended += 1;
            }
        })
        .await;
        let mut cancelled = 0;
        if waited.is_err() {
            set.abort_all();
            while let Some(joined) = set.join_next().await {
                // A task may have ended between the limit and the abort.
                match joined {
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    _ => ended += 1,
                }
            }
        }
        Stopped { ended, cancelled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn loops_end_at_their_next_wait_and_busy_work_is_cancelled_at_the_limit() {
        let background = Background::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<&str>();
        let waiter_done = done_tx.clone();
        background.spawn(|waits| async move {
            while waits.unless_stopped(tokio::time::sleep(Duration::from_secs(60))).await.is_some() {}
            waiter_done.send("waiter ended").unwrap();
        });
        let busy_done = done_tx.clone();
        background.spawn(|_| async move {
            // A unit that does not look at the stop: only the limit ends it.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            busy_done.send("busy unit finished").unwrap();
        });
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        let stopped = background.stop(Duration::from_secs(5)).await;
        assert_eq!(stopped, Stopped { ended: 1, cancelled: 1 });
        assert_eq!(started.elapsed(), Duration::from_secs(5), "the busy task was cancelled at the limit");
        drop(done_tx);
        assert_eq!(done_rx.recv().await, Some("waiter ended"));
        assert_eq!(done_rx.recv().await, None, "the cancelled unit never finished");
        assert!(background.stopping());
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_starts_after_the_stop() {
        let background = Background::new();
        assert_eq!(background.stop(Duration::from_secs(1)).await, Stopped { ended: 0, cancelled: 0 });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        background.spawn(|_| async move { tx.send(()).unwrap() });
        assert_eq!(rx.recv().await, None, "the task was dropped unstarted");
        assert_eq!(background.unless_stopped(async { 1 }).await, None);
    }
}
