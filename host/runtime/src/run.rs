//! One attempt: a fresh `Store` and instance from the plugin's pre-instantiated
//! component, one call of `run` under fuel, deadline and memory limits, and the
//! classification of how it ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap, UpdateDeadline, WasmBacktrace};

use crate::bindings::{Job, JobError};
use crate::capabilities::Capabilities;
use crate::host::{AttemptState, LogContext, StopReason};
use crate::kv::{KvSource, KvView, KvWrite};
use crate::limits::Limits;
use crate::plugin::Plugin;

/// One attempt at one job, as the runtime is given it.
#[derive(Debug, Clone)]
pub struct JobInput {
    pub id: String,
    pub job_type: String,
    /// A JSON document.
    pub payload: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    pub max_attempts: u32,
}

/// Set from another thread to stop an attempt at the next epoch tick.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Clears a cancel that has been answered, so the next attempt may run.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A job the attempt asked to enqueue; it exists only if the attempt completed.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// Chosen by the host when the guest called `enqueue`, and returned to it.
    pub id: String,
    pub job_type: String,
    pub payload: String,
    pub priority: Option<i32>,
    pub delay_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub queue: Option<String>,
    /// Jobs it waits on; the host starts it only after each of them completed.
    pub after: Vec<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler's result, a JSON document.
    Completed(String),
    /// The handler returned `job-error::retry`.
    Retry(String),
    /// The handler returned `job-error::fail`.
    Fail(String),
    /// Out of fuel, or past the wall-clock deadline; the message says which.
    Timeout(String),
    /// The memory cap refused to grow memory and the guest gave up.
    OutOfMemory(String),
    /// Any other trap: its message, the guest's output and backtrace.
    Crashed(String),
    /// Stopped through the [`CancelFlag`].
    Cancelled,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Completed(result) => write!(f, "completed: {result}"),
            Outcome::Retry(message) => write!(f, "retry: {message}"),
            Outcome::Fail(message) => write!(f, "failed: {message}"),
            Outcome::Timeout(message) => write!(f, "timed out: {message}"),
            Outcome::OutOfMemory(message) => write!(f, "out of memory: {message}"),
            Outcome::Crashed(message) => write!(f, "crashed: {message}"),
            Outcome::Cancelled => f.write_str("cancelled"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    pub fuel_used: u64,
    pub duration: Duration,
    /// Empty unless the outcome is `Completed`.
    pub followups: Vec<FollowUp>,
    /// The plugin's key-value writes, to commit with the completion; empty unless the
    /// outcome is `Completed`.
    pub kv_writes: Vec<KvWrite>,
}

/// A store for one call into a plugin, with every limit armed.
pub(crate) fn new_store(
    engine: &Engine,
    log: LogContext,
    kv: KvView,
    limits: &Limits,
    capabilities: &Capabilities,
    cancel: CancelFlag,
) -> Store<AttemptState> {
    let deadline = Instant::now() + limits.timeout;
    let state = AttemptState::new(
        log,
        kv,
        limits.memory_bytes(),
        deadline,
        capabilities,
        cancel,
    );
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store
        .set_fuel(limits.fuel)
        .expect("fuel is enabled in every engine this crate builds");
    // Check the deadline and the cancel flag at every epoch tick.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        if state.cancel.is_cancelled() {
            state.stopped = Some(StopReason::Cancelled);
            return Ok(UpdateDeadline::Interrupt);
        }
        if Instant::now() >= state.deadline {
            state.stopped = Some(StopReason::Deadline);
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store
}

pub(crate) fn fuel_used(store: &Store<AttemptState>, limits: &Limits) -> u64 {
    limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0))
}

pub(crate) fn run(
    engine: &Engine,
    kv: &Arc<dyn KvSource>,
    plugin: &Plugin,
    job: &JobInput,
    cancel: &CancelFlag,
) -> Attempt {
    let start = Instant::now();
    let limits = plugin
        .job_type(&job.job_type)
        .map_or(plugin.default_limits(), |spec| spec.limits);
    let log = LogContext {
        plugin: plugin.name_arc(),
        job_id: job.id.clone(),
        job_type: job.job_type.clone(),
    };
    let kv = KvView::new(Some(kv.clone()), plugin.name_arc());
    let mut store = new_store(
        engine,
        log,
        kv,
        &limits,
        plugin.capabilities(),
        cancel.clone(),
    );
    let wit_job = Job {
        id: job.id.clone(),
        job_type: job.job_type.clone(),
        payload: job.payload.clone(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
    };
    let result = plugin.pre().instantiate(&mut store).and_then(|bindings| {
        bindings
            .jobhost_plugin_handler()
            .call_run(&mut store, &wit_job)
    });
    let fuel_used = fuel_used(&store, &limits);
    let outcome = match result {
        Ok(Ok(result)) => Outcome::Completed(result),
        Ok(Err(JobError::Retry(message))) => Outcome::Retry(message),
        Ok(Err(JobError::Fail(message))) => Outcome::Fail(message),
        Err(error) => classify(&error, store.data(), &limits),
    };
    let outcome = refusals_are_permanent(outcome, &store.data().http.refused);
    let (followups, kv_writes) = match outcome {
        Outcome::Completed(_) => {
            let state = store.data_mut();
            (std::mem::take(&mut state.followups), state.kv.take_writes())
        }
        _ => (Vec::new(), Vec::new()),
    };
    Attempt {
        outcome,
        fuel_used,
        duration: start.elapsed(),
        followups,
        kv_writes,
    }
}

/// An attempt that was refused a destination and did not complete fails for good: no
/// retry can reach a host its manifest does not grant.
pub(crate) fn refusals_are_permanent(outcome: Outcome, refused: &[String]) -> Outcome {
    match outcome {
        Outcome::Completed(_) | Outcome::Fail(_) | Outcome::Cancelled => outcome,
        _ if refused.is_empty() => outcome,
        other => Outcome::Fail(format!(
            "outbound HTTP to {} was refused: the plugin's manifest does not grant it \
             ([capabilities] http); the attempt then ended as {other}",
            refused.join(", ")
        )),
    }
}

/// Names what stopped a call that returned an error. The store's state says whether the
/// deadline, a cancel or the memory limiter was involved; the trap code says the rest.
pub(crate) fn classify(error: &wasmtime::Error, state: &AttemptState, limits: &Limits) -> Outcome {
    match state.stopped {
        Some(StopReason::Cancelled) => return Outcome::Cancelled,
        Some(StopReason::Deadline) => {
            return Outcome::Timeout(format!(
                "exceeded the {} ms deadline",
                limits.timeout.as_millis()
            ));
        }
        None => {}
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return Outcome::Timeout(format!("ran out of fuel (budget {})", limits.fuel));
    }
    if state.limiter.hit {
        return Outcome::OutOfMemory(format!("hit the memory cap of {} MiB", limits.memory_mib));
    }
    let mut message = match error.downcast_ref::<Trap>() {
        Some(trap) => format!("trap: {trap}"),
        None => format!("{error:#}"),
    };
    let output = state.output();
    if !output.is_empty() {
        message.push_str("\nguest output:\n");
        message.push_str(&output);
    }
    if let Some(backtrace) = error.downcast_ref::<WasmBacktrace>() {
        message.push_str(&format!("\n{backtrace}"));
    }
    Outcome::Crashed(message)
}
