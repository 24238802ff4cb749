//! The server's connection threads: one single-threaded tokio runtime per
//! core, each running every task of the connections it was given.
//!
//! A connection is several tasks that hand data to each other for every
//! chunk moved: the connection task, the readers of its programs' output,
//! the writers of their input, its forwardings. On tokio's work-stealing
//! runtime each hand-over may wake a parked worker on the other core,
//! which then steals the task; measured in `bench/` on 2 cores, a download
//! through `tobirad` ran 10–15 % faster with one worker than with two.
//! Here a connection lives on one
//! thread from accept to close, so a hand-over is a push onto that
//! thread's own run queue, and the connections are spread over the
//! threads: the least busy one takes the next (see [`ConnectionThreads::spawn`]).
//! The slow steps of a key exchange still run on each runtime's blocking
//! pool, off these threads.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

/// How often a thread with live connections measures how busy it is.
const BUSY_SAMPLE: Duration = Duration::from_millis(250);
/// Busy shares closer than this to the least busy thread's (in
/// thousandths of the thread's time) count as equal to it when choosing
/// a thread; among those, the connection count decides.
const BUSY_STEP: u32 = 250;

/// Work for a connection thread: called on it, inside its runtime, so that
/// it can register sockets with that runtime and spawn tasks onto it.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// One thread: where its jobs go, and what the choice of a thread reads.
#[derive(Debug)]
struct Lane {
    jobs: mpsc::UnboundedSender<Job>,
    state: Arc<LaneState>,
}

/// A thread's connection count and recent busy share, shared between the
/// thread (which measures) and the dispatcher (which chooses).
#[derive(Debug, Default)]
struct LaneState {
    /// Live connections.
    live: AtomicUsize,
    /// Thousandths of the last [`BUSY_SAMPLE`] the thread spent running
    /// tasks (tokio's `worker_total_busy_duration`); 0 while it has no
    /// live connection.
    busy: AtomicU32,
    /// Wakes the sampler when the thread gets its first connection.
    wake: Notify,
}

/// A fixed set of connection threads. Dropping it lets each thread finish:
/// its runtime is shut down (every connection task dropped, as when the
/// whole server's runtime ends) and the thread is joined.
#[derive(Debug)]
pub struct ConnectionThreads {
    lanes: Vec<Lane>,
    threads: Vec<JoinHandle<()>>,
}

impl ConnectionThreads {
    /// Starts `count` threads (at least one), named `name-0`, `name-1`, ….
    pub fn start(count: usize, name: &str) -> io::Result<Self> {
        let mut lanes = Vec::new();
        let mut threads = Vec::new();
        for i in 0..count.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let state = Arc::new(LaneState::default());
            let measured = Arc::clone(&state);
            let thread = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                rt.block_on(async move {
                    let sampler = tokio::spawn(sample_busy(measured));
                    while let Some(job) = rx.recv().await {
                        job();
                    }
                    sampler.abort();
                });
                // Dropping the runtime drops every connection task still
                // running on it.
                drop(rt);
            })?;
            lanes.push(Lane { jobs: tx, state });
            threads.push(thread);
        }
        Ok(Self { lanes, threads })
    }

    /// One thread per core the process may run on.
    pub fn per_core(name: &str) -> io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::start(cores, name)
    }

    /// How many threads there are.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Always false: there is at least one thread.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Live connections per thread, in thread order.
    pub fn live_counts(&self) -> Vec<usize> {
        self.lanes
            .iter()
            .map(|l| l.state.live.load(Ordering::Relaxed))
            .collect()
    }

    /// Runs the future that `make` returns as a task on the least busy
    /// thread, counted as one of its connections until it ends (or its
    /// thread shuts down). `make` is called on that thread, inside its
    /// runtime. The least busy thread is chosen by [`least_busy`]: the
    /// busy shares first, the connection counts between shares within a
    /// quarter of the least (so a bulk transfer on one thread sends the
    /// next connection to an idle one, however many idle sessions that one
    /// holds). A thread that has ended takes no more; fails only when
    /// every thread has.
    pub fn spawn<F, Fut>(&self, make: F) -> io::Result<()>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let loads: Vec<_> = self
            .lanes
            .iter()
            .map(|l| {
                (!l.jobs.is_closed()).then(|| {
                    (
                        l.state.busy.load(Ordering::Relaxed),
                        l.state.live.load(Ordering::Relaxed),
                    )
                })
            })
            .collect();
        let lane = least_busy(&loads)
            .and_then(|i| self.lanes.get(i))
            .ok_or_else(|| io::Error::other("every connection thread has ended"))?;
        let guard = LiveGuard::new(Arc::clone(&lane.state));
        lane.state.wake.notify_one();
        let job: Job = Box::new(move || {
            tokio::spawn(counted(guard, make));
        });
        lane.jobs
            .send(job)
            .map_err(|_| io::Error::other("connection thread has ended"))
    }
}

/// The thread to take the next connection, from each thread's busy share
/// and live connections (`None` for a thread that has ended): among the
/// threads whose share is within [`BUSY_STEP`] of the least busy one's,
/// the one with the fewest connections (the first of equals).
fn least_busy(loads: &[Option<(u32, usize)>]) -> Option<usize> {
    let least = loads.iter().flatten().map(|&(busy, _)| busy).min()?;
    loads
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|(busy, live)| (i, busy, live)))
        .filter(|&(_, busy, _)| busy < least.saturating_add(BUSY_STEP))
        .min_by_key(|&(_, _, live)| live)
        .map(|(i, _, _)| i)
}

/// Measures, every [`BUSY_SAMPLE`] while the thread has live
/// connections, the share of its time the thread spent running tasks, and
/// publishes it in `state`. Idle, it waits for its next connection
/// instead of waking the thread.
async fn sample_busy(state: Arc<LaneState>) {
    let metrics = tokio::runtime::Handle::current().metrics();
    loop {
        if state.live.load(Ordering::Relaxed) == 0 {
            state.busy.store(0, Ordering::Relaxed);
            state.wake.notified().await;
        }
        let (t0, b0) = (Instant::now(), metrics.worker_total_busy_duration(0));
        tokio::time::sleep(BUSY_SAMPLE).await;
        let (t1, b1) = (Instant::now(), metrics.worker_total_busy_duration(0));
        let share = b1.saturating_sub(b0).as_secs_f64() / t1.duration_since(t0).as_secs_f64().max(1e-3);
        // At most 1000: the cast saturates.
        state.busy.store((share * 1000.0).min(1000.0) as u32, Ordering::Relaxed);
    }
}

/// The connection's task: `make`'s future, counted while it lives.
/// `make` is called inside the task: a future made outside it and awaited
/// inside would be stored twice in the task (once captured, once awaited),
/// doubling a connection's largest allocation (12 KiB → 24 KiB per idle
/// session in tobirad, measured with heaptrack).
async fn counted<F, Fut>(guard: LiveGuard, make: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let _guard = guard;
    make().await;
}

impl Drop for ConnectionThreads {
    fn drop(&mut self) {
        self.lanes.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Counts a connection as live on its thread from dispatch to its end.
struct LiveGuard(Arc<LaneState>);

impl LiveGuard {
    fn new(state: Arc<LaneState>) -> Self {
        state.live.fetch_add(1, Ordering::Relaxed);
        Self(state)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (up to 10 s) until `f` holds.
    fn until(f: impl Fn() -> bool) -> bool {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// The name of the thread that runs the next connection.
    fn thread_of_next(threads: &ConnectionThreads) -> Option<String> {
        let (tx, rx) = std::sync::mpsc::channel();
        threads
            .spawn(move || async move {
                tx.send(std::thread::current().name().map(str::to_owned)).unwrap();
            })
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn a_connection_task_holds_its_future_once() {
        const STATE: usize = 16 * 1024;
        let make = || async {
            let state = [7u8; STATE];
            tokio::task::yield_now().await;
            assert_eq!(std::hint::black_box(&state)[STATE - 1], 7);
        };
        let alone = std::mem::size_of_val(&make());
        assert!(alone >= STATE);
        let state = Arc::new(LaneState::default());
        let task = counted(LiveGuard::new(Arc::clone(&state)), make);
        // Made outside and awaited inside, it would be twice `alone`.
        assert!(
            std::mem::size_of_val(&task) < alone + 256,
            "{} vs {alone}",
            std::mem::size_of_val(&task)
        );
        assert_eq!(state.live.load(Ordering::Relaxed), 1);
        drop(task);
        assert_eq!(state.live.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn connections_go_to_the_least_loaded_thread_and_stay_on_it() {
        let threads = ConnectionThreads::start(2, "test-conn").unwrap();
        assert_eq!(threads.len(), 2);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let mut release = Vec::new();
        for _ in 0..4 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            release.push(tx);
            let seen = seen_tx.clone();
            threads
                .spawn(move || async move {
                    let first = std::thread::current().name().map(str::to_owned);
                    // A task it spawns runs on the same thread.
                    let inner = tokio::spawn(async { std::thread::current().name().map(str::to_owned) });
                    let second = inner.await.unwrap();
                    let _ = rx.await;
                    seen.send((first, second)).unwrap();
                })
                .unwrap();
            // Each dispatch counts at once, so the next goes elsewhere.
        }
        assert_eq!(threads.live_counts(), vec![2, 2]);
        // Ending two on thread 0's side lets thread 0 take the next one.
        drop(release.remove(0));
        drop(release.remove(1));
        let mut names = Vec::new();
        for _ in 0..2 {
            let (first, second) = seen_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(first, second, "a connection's tasks share its thread");
            names.push(first.unwrap());
        }
        names.sort();
        assert_eq!(names, vec!["test-conn-0", "test-conn-0"]);
        assert!(
            until(|| threads.live_counts() == vec![0, 2]),
            "{:?}",
            threads.live_counts()
        );
        assert_eq!(thread_of_next(&threads).as_deref(), Some("test-conn-0"));
    }

    #[test]
    fn the_choice_weighs_busy_shares_then_counts() {
        // Shares within a quarter of the least busy count as equal.
        assert_eq!(least_busy(&[Some((240, 5)), Some((260, 1))]), Some(1));
        assert_eq!(least_busy(&[Some((0, 5)), Some((249, 1))]), Some(1));
        // A quarter or more apart, the less busy one, whatever its count.
        assert_eq!(least_busy(&[Some((0, 5)), Some((250, 1))]), Some(0));
        assert_eq!(least_busy(&[Some((900, 0)), Some((100, 40))]), Some(1));
        // Equal: the first.
        assert_eq!(least_busy(&[Some((0, 2)), Some((0, 2))]), Some(0));
        // Ended threads are skipped, even the least loaded; none left, none.
        assert_eq!(least_busy(&[None, Some((1000, 9))]), Some(1));
        assert_eq!(least_busy(&[None, None]), None);
        assert_eq!(least_busy(&[]), None);
    }

    #[test]
    fn a_busy_thread_gets_no_new_connection_while_another_is_idle() {
        let threads = ConnectionThreads::start(2, "test-busy").unwrap();
        // Thread 0: one connection that keeps its thread busy (a bulk
        // transfer), yielding now and then as a connection does.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = Arc::clone(&stop);
        threads
            .spawn(move || async move {
                while !s.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_millis(1) {
                        std::hint::spin_loop();
                    }
                    tokio::task::yield_now().await;
                }
            })
            .unwrap();
        assert!(until(|| threads.lanes[0].state.busy.load(Ordering::Relaxed) >= 500));
        // Three idle connections: all to thread 1, though thread 0 has
        // fewer.
        let mut idle = Vec::new();
        for _ in 0..3 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            idle.push(tx);
            threads
                .spawn(move || async move {
                    let _ = rx.await;
                })
                .unwrap();
        }
        assert_eq!(threads.live_counts(), vec![1, 3]);
        // Measured with its idle connections, thread 1 stays unbusy.
        std::thread::sleep(BUSY_SAMPLE * 2);
        assert!(threads.lanes[1].state.busy.load(Ordering::Relaxed) < BUSY_STEP);
        // By count it would go to thread 0; by how busy they are, to 1.
        assert_eq!(thread_of_next(&threads).as_deref(), Some("test-busy-1"));
        // Idle again, thread 0 is measured as such, and the count decides.
        stop.store(true, Ordering::Relaxed);
        assert!(until(|| threads.lanes[0].state.busy.load(Ordering::Relaxed) == 0));
        assert!(until(|| threads.live_counts() == vec![0, 3]));
        assert_eq!(thread_of_next(&threads).as_deref(), Some("test-busy-0"));
        drop(idle);
    }

    #[test]
    fn a_panic_in_make_ends_only_its_connection() {
        let threads = ConnectionThreads::start(1, "test-panic").unwrap();
        threads
            .spawn(|| -> std::future::Ready<()> { panic!("test: one connection fails") })
            .unwrap();
        assert!(until(|| threads.live_counts() == vec![0]));
        let (tx, rx) = std::sync::mpsc::channel();
        threads.spawn(move || async move { tx.send(()).unwrap() }).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(!threads.lanes[0].jobs.is_closed());
    }

    #[test]
    fn a_thread_that_has_ended_takes_no_more_connections() {
        let threads = ConnectionThreads::start(2, "test-dead").unwrap();
        // A panic outside any task ends thread 0. (A panic in `make` is
        // inside the connection's task: tokio catches it.)
        threads.lanes[0]
            .jobs
            .send(Box::new(|| panic!("test: the thread ends")))
            .unwrap();
        assert!(until(|| threads.lanes[0].jobs.is_closed()));
        for _ in 0..3 {
            assert_eq!(thread_of_next(&threads).as_deref(), Some("test-dead-1"));
        }
    }

    #[test]
    fn dropping_the_threads_ends_their_connections_and_joins() {
        struct Dropped(std::sync::mpsc::Sender<()>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let threads = ConnectionThreads::start(1, "test-drop").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (started_tx, started) = std::sync::mpsc::channel();
        threads
            .spawn(move || async move {
                let _d = Dropped(tx);
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await;
            })
            .unwrap();
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(threads.live_counts(), vec![1]);
        drop(threads);
        // The never-ending task was dropped before `drop` returned.
        assert!(rx.try_recv().is_ok());
    }
}
