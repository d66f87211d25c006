//! Group commit on SQLite's one writer: host transactions (reports, enrolments), findings transactions (a queued
//! host's evaluation, people's triage) and saved matches that arrive while another is being written join its
//! transaction, each in a savepoint of its own, and one `COMMIT` writes them all.
//!
//! Why: a first report touches about 1,500 pages of the two inverse indexes, and every commit writes each touched
//! page to the WAL whole: 8.9 MB written per report for 333 KiB kept (BENCHMARKS.md, issue 14). Hosts built from
//! one image touch the same pages, so one commit of N reports writes them once. PostgreSQL commits many
//! transactions at once and keeps one per report (`postgres::OneTx`).
//!
//! How: [`Groups`] keeps the open group behind a fair (first come, first served) mutex. A [`Member`] holds that
//! mutex from its `begin` to its commit or drop, so members run one after another on the connection, as single
//! transactions did. At its commit a member releases its savepoint. If another member is already queued for the
//! mutex, it leaves the group open for it (up to [`MAX_MEMBERS`] and [`MAX_AGE`]); otherwise it commits the group.
//! A member's commit returns only once its group is committed, so an acknowledged report is exactly as durable as
//! before. Whoever left the group open waits for the mutex as well: the group is committed by the last member to
//! finish, by whichever member finds it full or old, or by a waiting member when nobody is queued any more (the
//! queued one went away). A member that fails or is dropped rolls back to its savepoint: the others' work stays.
//! When SQLite ended the whole transaction itself (a full disk, an I/O error), the savepoint is gone and the whole
//! group fails: with the fault the failing member gave up with (`Member::give_up`, as reports do), else as busy,
//! so every member answers 503 and its agent sends again.
//!
//! Written here rather than taken from a crate: sqlx has no group commit, and the rules (who commits, what a
//! failure ends) are this store's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use super::{Fault, StoreError};

/// Most members in one group. A member's commit waits for the whole group, so this bounds its wait too.
const MAX_MEMBERS: usize = 32;
/// A group whose first member has waited this long is committed by the next member that finishes or waits for it,
/// whoever is queued:
/// under a steady stream of reports the first would otherwise wait for [`MAX_MEMBERS`] of them.
const MAX_AGE: Duration = Duration::from_millis(100);

/// The one writer's host transactions, grouped ([module docs](self)).
#[derive(Clone)]
pub(crate) struct Groups {
    writer: SqlitePool,
    /// How long `begin` waits for its turn and a connection, as the pool's acquire would: past it, the caller gets
    /// the pool's time-out (503 `busy`).
    wait: Duration,
    state: Arc<Mutex<State>>,
    /// Callers of [`Groups::begin`] waiting for the mutex: work that will join the open group.
    queued: Arc<AtomicUsize>,
    /// Members released into groups so far, for the tests to see where a member's commit is.
    #[cfg(test)]
    released: Arc<AtomicUsize>,
    /// Groups opened so far, for the tests likewise.
    #[cfg(test)]
    opened: Arc<AtomicUsize>,
}

type Guard = OwnedMutexGuard<State>;

#[derive(Default)]
struct State {
    open: Option<Open>,
}

struct Open {
    tx: Transaction<'static, Sqlite>,
    /// When the first member's commit began waiting for the group: [`MAX_AGE`] counts from here.
    first_waiting: Option<Instant>,
    /// Members whose savepoint was released: their work is in the group and they wait for its commit.
    members: usize,
    /// A member's savepoint is open: the member in hand's, or one whose member was dropped before it rolled back.
    in_savepoint: bool,
    /// The fault a member gave up with (`Member::give_up`): when SQLite ended the whole transaction, that is why.
    fault: Option<Fault>,
    /// Sent once, when the group commits or fails; always before the mutex is released.
    outcome: watch::Sender<Option<Outcome>>,
}

type Outcome = Result<(), Failed>;

/// A group's failure as every member reports it: the fault decides the HTTP answer (`StoreError::fault`).
#[derive(Clone, Debug)]
struct Failed {
    fault: Option<Fault>,
    message: String,
}

impl From<&StoreError> for Failed {
    fn from(e: &StoreError) -> Failed {
        match e {
            StoreError::Group { fault, message } => Failed { fault: *fault, message: message.clone() },
            _ => Failed { fault: e.fault(), message: e.to_string() },
        }
    }
}

impl From<Failed> for StoreError {
    fn from(f: Failed) -> StoreError {
        StoreError::Group { fault: f.fault, message: f.message }
    }
}

fn ended() -> StoreError {
    StoreError::Group { fault: None, message: "the transaction had already ended".into() }
}

/// No turn on the writer in time: what the pool's acquire answers, so the fault is the same (`Fault::Busy`).
fn busy() -> StoreError {
    StoreError::Database(sqlx::Error::PoolTimedOut)
}

/// A savepoint that could not be released or rolled back: SQLite ended the whole transaction itself, which it does
/// on a full disk, an I/O error or a lack of memory. The member that met it said which (`Member::give_up`); when
/// none did, it is still a fault to retry, not a defect.
fn gone(open: &Open, e: sqlx::Error) -> StoreError {
    StoreError::Group {
        fault: open.fault.or(Some(Fault::Busy)),
        message: format!("SQLite ended the transaction ({e})"),
    }
}

/// Counts a caller of [`Groups::begin`] as queued until it holds the mutex, or gives up waiting for it.
struct Queued(Arc<AtomicUsize>);

impl Queued {
    fn new(count: &Arc<AtomicUsize>) -> Queued {
        count.fetch_add(1, Ordering::SeqCst);
        Queued(count.clone())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Groups {
    pub(crate) fn new(writer: SqlitePool, wait: Duration) -> Groups {
        Groups {
            writer,
            wait,
            state: Arc::new(Mutex::new(State::default())),
            queued: Arc::new(AtomicUsize::new(0)),
            #[cfg(test)]
            released: Arc::new(AtomicUsize::new(0)),
            #[cfg(test)]
            opened: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A transaction of its own within the open group, or a new group; waits for the member in hand, and for the
    /// writer connection, for at most `wait` in all (then `busy`).
    pub(crate) async fn begin(&self) -> Result<Member, StoreError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let queued = Queued::new(&self.queued);
        let state = tokio::time::timeout_at(deadline, self.state.clone().lock_owned()).await.map_err(|_| busy())?;
        drop(queued);
        // A task of its own from here: a caller that goes away now (a client that hung up) leaves a member to be
        // rolled back when dropped, never a group without a member to end it.
        match tokio::spawn(self.clone().join(state, deadline)).await {
            Ok(member) => member,
            Err(e) => Err(StoreError::Group { fault: None, message: format!("the task beginning it ended: {e}") }),
        }
    }

    async fn join(self, mut state: Guard, deadline: tokio::time::Instant) -> Result<Member, StoreError> {
        settle(&mut state).await;
        if state.open.is_none() {
            let (outcome, _) = watch::channel(None);
            let tx = tokio::time::timeout_at(deadline, self.writer.begin()).await.map_err(|_| busy())??;
            state.open = Some(Open { tx, first_waiting: None, members: 0, in_savepoint: false, fault: None, outcome });
            #[cfg(test)]
            self.opened.fetch_add(1, Ordering::SeqCst);
        }
        let Some(open) = state.open.as_mut() else { return Err(ended()) };
        if let Err(e) = sqlx::query("SAVEPOINT member").execute(&mut *open.tx).await {
            let e = StoreError::from(e);
            fail(&mut state, &e).await;
            return Err(e);
        }
        open.in_savepoint = true;
        Ok(Member { state: Some(state), groups: self.clone() })
    }

    /// Ends whatever group is open when the store closes, so the writer connection goes back to its pool (which
    /// waits for it): committed for the members waiting for it, rolled back when nobody's work is in it.
    pub(crate) async fn end(&self) {
        let Ok(state) = tokio::time::timeout(self.wait, self.state.clone().lock_owned()).await else {
            return tracing::warn!("a write still held the writer at the close");
        };
        self.close_unattended(state, false).await;
    }

    /// Whether the group should wait for the members queued now rather than commit.
    fn keep_open(&self, open: &Open) -> bool {
        self.queued.load(Ordering::SeqCst) > 0
            && open.members < MAX_MEMBERS
            && open.first_waiting.is_none_or(|t| t.elapsed() < MAX_AGE)
    }

    /// A member's commit, run as a task of its own: once its savepoint is released the group must be committed,
    /// whatever becomes of the request that began it.
    async fn finish(self, mut state: Guard) -> Result<(), StoreError> {
        let Some(open) = state.open.as_mut().filter(|o| o.in_savepoint) else { return Err(ended()) };
        if let Err(e) = sqlx::query("RELEASE member").execute(&mut *open.tx).await {
            let e = gone(open, e);
            fail(&mut state, &e).await;
            return Err(e);
        }
        open.in_savepoint = false;
        open.members += 1;
        #[cfg(test)]
        self.released.fetch_add(1, Ordering::SeqCst);
        open.first_waiting.get_or_insert_with(Instant::now);
        let outcome = open.outcome.subscribe();
        if !self.keep_open(open) {
            return commit(state).await;
        }
        drop(state);
        self.wait(outcome).await
    }

    /// Waits for the group this member left open to be committed, and commits it itself if no member queued after
    /// it does (the one queued gave up waiting, say).
    async fn wait(&self, mut outcome: watch::Receiver<Option<Outcome>>) -> Result<(), StoreError> {
        loop {
            let mut state = tokio::select! {
                biased;
                done = outcome.wait_for(Option::is_some) => {
                    return match done.as_deref() {
                        Ok(Some(result)) => result.clone().map_err(StoreError::from),
                        _ => Err(StoreError::Group { fault: None, message: "the group ended unrecorded".into() }),
                    };
                }
                state = self.state.clone().lock_owned() => state,
            };
            // The outcome is sent before the mutex is released: without one, the open group is still this one.
            if outcome.borrow().is_some() {
                continue;
            }
            settle(&mut state).await;
            match state.open.as_ref() {
                Some(open) if self.keep_open(open) => drop(state),
                Some(_) => return commit(state).await,
                // `settle` failed the group, and sent its outcome.
                None => continue,
            }
        }
    }

    /// After a member was dropped without committing: its savepoint rolled back, and the group ended when nobody
    /// is left to end it.
    async fn abandon(self, state: Guard) {
        self.close_unattended(state, true).await;
    }

    /// The mutex's holder is nobody's commit (a dropped member, the store's close): a dropped member's savepoint is
    /// rolled back, and the group ended unless, with `for_queued`, a member queued now carries on in it.
    async fn close_unattended(&self, mut state: Guard, for_queued: bool) {
        settle(&mut state).await;
        match state.open.as_ref() {
            None => {}
            // Nothing of anyone's in it: ended at once, so the connection goes back to the other writers.
            Some(open) if open.members == 0 => fail(&mut state, &ended()).await,
            Some(open) if for_queued && self.keep_open(open) => {}
            Some(_) => {
                // The members waiting for it get the outcome; this caller has nobody to tell.
                let _ = commit(state).await;
            }
        }
    }
}

/// Rolls back the savepoint a dropped member left open; fails the group when it cannot (SQLite ended the whole
/// transaction).
async fn settle(state: &mut Guard) {
    let Some(open) = state.open.as_mut().filter(|o| o.in_savepoint) else { return };
    // Only the member being rolled back can say why the transaction is gone.
    let fault = open.fault.take();
    match sqlx::query("ROLLBACK TO member; RELEASE member").execute(&mut *open.tx).await {
        Ok(_) => open.in_savepoint = false,
        Err(e) => {
            open.fault = fault;
            let e = gone(open, e);
            fail(state, &e).await;
        }
    }
}

/// Commits the group; its members learn the outcome before the mutex is released.
async fn commit(mut state: Guard) -> Result<(), StoreError> {
    let Some(Open { tx, outcome, members, .. }) = state.open.take() else { return Err(ended()) };
    let result = tx.commit().await.map_err(StoreError::from);
    tracing::trace!(members, ok = result.is_ok(), "group committed");
    outcome.send_replace(Some(result.as_ref().map(|_| ()).map_err(Failed::from)));
    drop(state);
    result
}

/// Ends the group without committing it, telling its members why.
async fn fail(state: &mut Guard, why: &StoreError) {
    let Some(Open { tx, outcome, members, .. }) = state.open.take() else { return };
    if members > 0 {
        tracing::warn!(members, error = %why, "a shared write transaction failed: its members' writes (reports, findings) were not stored");
    }
    // A rollback that fails leaves the connection to the pool's check (`still_usable`), which closes it.
    let _ = tx.rollback().await;
    outcome.send_replace(Some(Err(Failed::from(why))));
}

/// One host transaction within a group: a savepoint on the one writer connection, held until
/// [`Member::commit`] or drop.
pub(crate) struct Member {
    state: Option<Guard>,
    groups: Groups,
}

impl Member {
    /// The writer connection, inside this member's savepoint.
    pub(crate) fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        match self.state.as_mut().and_then(|s| s.open.as_mut()) {
            Some(open) => Ok(&mut open.tx),
            None => Err(ended()),
        }
    }

    /// Keeps this member's work and returns once its group is committed (or failed).
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let Some(state) = self.state.take() else { return Err(ended()) };
        match tokio::spawn(self.groups.clone().finish(state)).await {
            Ok(result) => result,
            Err(e) => Err(StoreError::Group { fault: None, message: format!("the commit task ended: {e}") }),
        }
    }

    /// Dropped after `why` failed it, with the fault kept for the rest of the group ([`gone`]).
    pub(crate) fn give_up(mut self, why: &StoreError) {
        if let Some(open) = self.state.as_mut().and_then(|s| s.open.as_mut()) {
            open.fault = why.fault();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else { return };
        // The guard goes with the rollback, so nobody uses the connection before the savepoint is undone. Outside a
        // runtime (the collector stopping) the guard is released as it is: the next `begin`, or `end` at the
        // store's close, rolls back; till then the group keeps the writer connection.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.groups.clone().abandon(state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::SqliteStore;

    /// The real store on a file; the tests write `enroll_failures` rows, a table with nothing hanging off it.
    async fn store(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("muster.db").display())).await.unwrap()
    }

    async fn insert(conn: &mut SqliteConnection, v: &str) {
        sqlx::query("INSERT INTO enroll_failures (source_ip, at) VALUES ($1, 0)").bind(v).execute(conn).await.unwrap();
    }

    async fn put(member: &mut Member, v: &str) {
        insert(member.conn().unwrap(), v).await;
    }

    /// A member of its own that writes `v` and commits: the groups work again.
    async fn one_more(groups: &Groups, v: &str) {
        let mut member = within(groups.begin()).await.unwrap();
        put(&mut member, v).await;
        within(member.commit()).await.unwrap();
    }

    /// The writer connection is free for a write outside any group.
    async fn the_writer_takes_a_write(store: &SqliteStore, v: &str) {
        let mut conn = within(store.writer.acquire()).await.unwrap();
        insert(&mut conn, v).await;
    }

    async fn stored(store: &SqliteStore) -> Vec<String> {
        sqlx::query_scalar("SELECT source_ip FROM enroll_failures ORDER BY source_ip")
            .fetch_all(&store.pool)
            .await
            .unwrap()
    }

    /// Whether `fut` is still waiting after the test's other tasks have had their turn.
    async fn pending<T>(fut: &mut (impl std::future::Future<Output = T> + Unpin)) -> bool {
        tokio::time::timeout(Duration::from_millis(200), fut).await.is_err()
    }

    /// `fut`'s output, failing the test rather than hanging it when the code under test never ends `fut`.
    async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), fut).await.expect("ended in time")
    }

    /// Member `a` in hand with row "a" written, and a second `begin` queued behind it.
    async fn a_and_one_queued(
        groups: &Groups,
    ) -> (Member, std::pin::Pin<Box<impl std::future::Future<Output = Result<Member, StoreError>> + use<>>>) {
        let mut a = groups.begin().await.unwrap();
        put(&mut a, "a").await;
        let g = groups.clone();
        let mut b = Box::pin(async move { g.begin().await });
        assert!(pending(&mut b).await, "`b` waits for the mutex `a` holds");
        assert_eq!(groups.queued.load(Ordering::SeqCst), 1);
        (a, b)
    }

    /// `a` committed and waiting for its group, which `b` (in hand) has joined.
    async fn a_waiting_and_b_in_its_group(
        groups: &Groups,
    ) -> (tokio::task::JoinHandle<Result<(), StoreError>>, Member) {
        let (a, b) = a_and_one_queued(groups).await;
        let a_done = tokio::spawn(a.commit());
        (a_done, b.await.unwrap())
    }

    #[tokio::test]
    async fn a_member_queued_behind_another_joins_its_group_and_both_are_committed_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (a, b) = a_and_one_queued(&store.groups).await;
        let mut a_done = tokio::spawn(a.commit());
        let mut b = b.await.unwrap();
        assert!(pending(&mut a_done).await, "`a` left the group open for `b`, and waits for its commit");
        assert!(stored(&store).await.is_empty(), "nothing is visible before the group commits");
        put(&mut b, "b").await;
        within(b.commit()).await.unwrap();
        within(a_done).await.unwrap().unwrap();
        assert_eq!(stored(&store).await, ["a", "b"]);
    }

    /// A host's queued work (its findings, its schedule, the end of its claim; `app::queue`) is written as a member
    /// too: it waits for its turn behind the report in hand, not for the whole group, and shares the group's commit.
    #[tokio::test]
    async fn a_findings_transaction_joins_the_reports_group() {
        use crate::store::findings::FindingsStore;
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let mut a = store.groups.begin().await.unwrap();
        put(&mut a, "a").await;
        let mut findings = Box::pin(store.begin_findings_tx());
        assert!(pending(&mut findings).await, "the findings transaction waits for the member in hand");
        assert_eq!(store.groups.queued.load(Ordering::SeqCst), 1, "queued for the group's mutex, not the pool");
        let mut a_done = tokio::spawn(a.commit());
        let mut tx = within(findings).await.unwrap();
        assert!(pending(&mut a_done).await, "`a` left the group open for the findings transaction");
        let record = crate::store::AuditRecord {
            at: chrono::DateTime::UNIX_EPOCH,
            actor: "evaluator".into(),
            action: "test".into(),
            target: None,
            source_ip: None,
            details: serde_json::json!({}),
        };
        tx.audit(&record).await.unwrap();
        within(tx.commit()).await.unwrap();
        within(a_done).await.unwrap().unwrap();
        assert_eq!(store.groups.opened.load(Ordering::SeqCst), 1, "one group, one commit");
        assert_eq!(stored(&store).await, ["a"]);
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'test'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(audited, 1);
    }

    #[tokio::test]
    async fn a_member_dropped_in_a_group_loses_only_its_own_work() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (a_done, mut b) = a_waiting_and_b_in_its_group(&store.groups).await;
        put(&mut b, "b").await;
        drop(b);
        within(a_done).await.unwrap().unwrap();
        assert_eq!(stored(&store).await, ["a"]);
        // The group is over: the next member starts afresh.
        one_more(&store.groups, "c").await;
        assert_eq!(stored(&store).await, ["a", "c"]);
    }

    /// What SQLite does itself on SQLITE_FULL or an I/O error: the transaction ends, savepoints and all.
    async fn end_the_whole_transaction(member: &mut Member) {
        sqlx::query("ROLLBACK").execute(member.conn().unwrap()).await.unwrap();
    }

    #[tokio::test]
    async fn when_sqlite_ended_the_transaction_every_member_fails_with_the_fault_its_member_met() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (a_done, mut b) = a_waiting_and_b_in_its_group(&store.groups).await;
        put(&mut b, "b").await;
        end_the_whole_transaction(&mut b).await;
        b.give_up(&StoreError::Group { fault: Some(Fault::Full), message: "database or disk is full".into() });
        let a_commit = within(a_done).await.unwrap();
        assert!(matches!(a_commit, Err(StoreError::Group { fault: Some(Fault::Full), .. })), "{a_commit:?}");
        assert!(stored(&store).await.is_empty());
        // The writer is usable again (the pool closed the connection whose transaction sqlx lost track of).
        one_more(&store.groups, "c").await;
        assert_eq!(stored(&store).await, ["c"]);
    }

    /// How enrolment and reports, and a queued host's evaluation and people's triage, end their transaction
    /// (`tx::end`): a use case's error that is the store's fault reaches the rest of the group, so each of its
    /// members is told the disk is full, not that it was busy.
    #[tokio::test]
    async fn a_use_case_failed_by_the_store_tells_its_group_the_fault() {
        for findings in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = store(&dir).await;
            let (a_done, mut b) = a_waiting_and_b_in_its_group(&store.groups).await;
            put(&mut b, "b").await;
            end_the_whole_transaction(&mut b).await;
            let full = StoreError::Group { fault: Some(Fault::Full), message: "database or disk is full".into() };
            let ended = if findings {
                crate::store::tx::end(crate::store::sqlite::findings_tx_of(b), Err::<(), _>(full)).await
            } else {
                crate::store::tx::end(crate::store::sqlite::host_tx_of(b), Err::<(), _>(full)).await
            };
            assert!(matches!(ended, Err(StoreError::Group { fault: Some(Fault::Full), .. })), "{ended:?}");
            let a_commit = within(a_done).await.unwrap();
            assert!(
                matches!(a_commit, Err(StoreError::Group { fault: Some(Fault::Full), .. })),
                "{findings} {a_commit:?}"
            );
            assert!(stored(&store).await.is_empty());
        }
    }

    #[tokio::test]
    async fn a_transaction_ended_unexplained_fails_the_group_as_busy_not_as_a_defect() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (a_done, mut b) = a_waiting_and_b_in_its_group(&store.groups).await;
        put(&mut b, "b").await;
        end_the_whole_transaction(&mut b).await;
        let b_commit = b.commit().await;
        assert!(matches!(b_commit, Err(StoreError::Group { fault: Some(Fault::Busy), .. })), "{b_commit:?}");
        let a_commit = within(a_done).await.unwrap();
        assert!(matches!(a_commit, Err(StoreError::Group { fault: Some(Fault::Busy), .. })), "{a_commit:?}");
        assert!(stored(&store).await.is_empty());
    }

    #[tokio::test]
    async fn a_group_left_open_for_a_member_that_gave_up_waiting_is_committed_by_the_one_that_left_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (a, b) = a_and_one_queued(&store.groups).await;
        let mut a_done = tokio::spawn(a.commit());
        while store.groups.released.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // `a` released its savepoint and left the group open for `b`, to which the mutex now goes; `b` is never
        // polled again, so `a` can neither see an outcome nor commit.
        assert!(pending(&mut a_done).await, "`a` holds the group open for `b`");
        drop(b);
        within(a_done).await.unwrap().unwrap();
        assert_eq!(stored(&store).await, ["a"]);
    }

    #[tokio::test]
    async fn a_begin_given_up_once_it_opened_a_group_leaves_no_group_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let g = store.groups.clone();
        let mut b = Box::pin(async move { g.begin().await });
        // Polled until the group is open: the caller then goes away (a client that hung up) while the member's
        // savepoint is still to be made.
        let mut polls = 0;
        while store.groups.opened.load(Ordering::SeqCst) == 0 {
            let still_pending = std::future::poll_fn(|cx| std::task::Poll::Ready(b.as_mut().poll(cx).is_pending()));
            assert!(still_pending.await, "`begin` ended before its group was seen open");
            tokio::task::yield_now().await;
            polls += 1;
            assert!(polls < 100_000, "no group was opened");
        }
        drop(b);
        the_writer_takes_a_write(&store, "w").await;
        assert_eq!(stored(&store).await, ["w"]);
    }

    #[tokio::test]
    async fn a_begin_that_cannot_have_the_writer_in_time_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let groups = Groups::new(store.writer.clone(), Duration::from_millis(100));
        // Waiting behind a member in hand.
        let held = groups.begin().await.unwrap();
        let waited = within(groups.begin()).await;
        assert!(matches!(waited, Err(ref e) if e.fault() == Some(Fault::Busy)), "{:?}", waited.map(|_| ()));
        drop(held);
        // Waiting for the writer connection another write holds.
        let conn = within(store.writer.acquire()).await.unwrap();
        let waited = within(groups.begin()).await;
        assert!(matches!(waited, Err(ref e) if e.fault() == Some(Fault::Busy)), "{:?}", waited.map(|_| ()));
        drop(conn);
        one_more(&groups, "c").await;
        assert_eq!(stored(&store).await, ["c"]);
    }

    #[tokio::test]
    async fn a_lone_member_dropped_gives_the_connection_back_to_the_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let mut a = store.groups.begin().await.unwrap();
        put(&mut a, "a").await;
        drop(a);
        the_writer_takes_a_write(&store, "w").await;
        assert_eq!(stored(&store).await, ["w"]);
    }

    #[tokio::test]
    async fn a_group_that_grew_past_its_age_is_committed_by_its_next_member_whoever_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (a_done, mut b) = a_waiting_and_b_in_its_group(&store.groups).await;
        put(&mut b, "b").await;
        let g = store.groups.clone();
        let mut c = Box::pin(async move { g.begin().await });
        assert!(pending(&mut c).await);
        // `a` has waited for the group longer than MAX_AGE (the waits above): `b` commits it though `c` is queued.
        within(b.commit()).await.unwrap();
        within(a_done).await.unwrap().unwrap();
        assert_eq!(stored(&store).await, ["a", "b"]);
        let mut c = c.await.unwrap();
        put(&mut c, "c").await;
        c.commit().await.unwrap();
        assert_eq!(stored(&store).await, ["a", "b", "c"]);
    }
}
