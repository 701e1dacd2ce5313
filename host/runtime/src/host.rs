//! The state of one attempt's `Store`: a capability-free WASI context, the host
//! functions of the `jobhost:plugin/host` interface, the memory limiter, and what the
//! attempt left behind (follow-ups, key-value writes, captured stderr, why it was
//! stopped).

use std::sync::Arc;
use std::time::Instant;

use tracing::{Level as TraceLevel, event};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::jobhost::plugin::{host, types};
use crate::bindings::{EnqueueOptions, Level};
use crate::capabilities::{Capabilities, HttpGate};
use crate::kv::KvView;
use crate::run::{CancelFlag, FollowUp};

/// Guest stderr kept per attempt (a panic message lands there).
const STDERR_CAPACITY: usize = 16 * 1024;
/// Longest log line a plugin may write; the rest is cut.
const MAX_LOG_LINE: usize = 4096;
/// Most follow-up jobs one attempt may enqueue.
const MAX_FOLLOWUPS: usize = 10_000;
/// Most table elements a guest may grow a table to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Why the epoch callback stopped an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    Deadline,
    Cancelled,
}

/// Refuses memory growth past the cap, and remembers that it did: the guest's
/// allocator then aborts with a trap that is really an out-of-memory.
pub(crate) struct MemoryLimiter {
    pub cap_bytes: usize,
    pub hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Whose attempt this is, for log lines.
pub(crate) struct LogContext {
    pub plugin: Arc<str>,
    pub job_id: String,
    pub job_type: String,
}

pub(crate) struct AttemptState {
    wasi: WasiCtx,
    http_ctx: WasiHttpCtx,
    pub http: HttpGate,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub stderr: MemoryOutputPipe,
    pub followups: Vec<FollowUp>,
    pub kv: KvView,
    pub log: LogContext,
    pub deadline: Instant,
    pub cancel: CancelFlag,
    pub stopped: Option<StopReason>,
    /// Set while `run-batch` runs: the calls that belong to one job's completion
    /// (`enqueue`, `kv-set`, `kv-delete`) are refused.
    pub in_batch: bool,
}

impl AttemptState {
    pub fn new(
        log: LogContext,
        kv: KvView,
        memory_cap: usize,
        deadline: Instant,
        capabilities: &Capabilities,
        cancel: CancelFlag,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // Nothing but what the manifest granted: no preopened directories, no
        // arguments, no stdin, no sockets; the environment holds the granted secrets
        // only; HTTP goes to granted hosts only. Output goes to a bounded pipe.
        let wasi = WasiCtxBuilder::new()
            .envs(capabilities.env())
            .stderr(stderr.clone())
            .stdout(stderr.clone())
            .build();
        AttemptState {
            wasi,
            http_ctx: WasiHttpCtx::new(),
            http: HttpGate::new(capabilities, deadline),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                cap_bytes: memory_cap,
                hit: false,
            },
            stderr,
            followups: Vec::new(),
            kv,
            log,
            deadline,
            cancel,
            stopped: None,
            in_batch: false,
        }
    }

    /// Refuses a call that belongs to one job's completion during `run-batch`.
    fn not_in_batch(&self, call: &str) -> Result<(), String> {
        if self.in_batch {
            return Err(format!(
                "{call} is not available in run-batch: the jobs of a batch settle one by \
                 one; take the type one job at a time (no batch-size) to use it"
            ));
        }
        Ok(())
    }

    /// What the guest wrote to stdout and stderr, as text.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for AttemptState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for AttemptState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

impl types::Host for AttemptState {}

impl host::Host for AttemptState {
    fn log(&mut self, level: Level, message: String) {
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let LogContext {
            plugin,
            job_id,
            job_type,
        } = &self.log;
        macro_rules! emit {
            ($level:expr) => {
                event!(target: "jobhost::plugin", $level, plugin = %plugin, job_id = %job_id, job_type = %job_type, "{message}")
            };
        }
        match level {
            Level::Trace => emit!(TraceLevel::TRACE),
            Level::Debug => emit!(TraceLevel::DEBUG),
            Level::Info => emit!(TraceLevel::INFO),
            Level::Warn => emit!(TraceLevel::WARN),
            Level::Error => emit!(TraceLevel::ERROR),
        }
    }

    fn enqueue(
        &mut self,
        job_type: String,
        payload: String,
        options: EnqueueOptions,
    ) -> Result<String, String> {
        self.not_in_batch("enqueue")?;
        if self.followups.len() >= MAX_FOLLOWUPS {
            return Err(format!(
                "an attempt may enqueue at most {MAX_FOLLOWUPS} jobs"
            ));
        }
        if job_type.is_empty() {
            return Err("the job type is empty".into());
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&payload) {
            return Err(format!("the payload is not valid JSON: {e}"));
        }
        let id = uuid::Uuid::now_v7().to_string();
        self.followups.push(FollowUp {
            id: id.clone(),
            job_type,
            payload,
            priority: options.priority,
            delay_ms: options.delay_ms,
            max_attempts: options.max_attempts,
            queue: options.queue,
            after: options.after,
        });
        Ok(id)
    }

    fn kv_get(&mut self, key: String) -> Result<Option<String>, String> {
        self.kv.get(&key)
    }

    fn kv_set(&mut self, key: String, value: String) -> Result<(), String> {
        self.not_in_batch("kv-set")?;
        self.kv.put(key, Some(value))
    }

    fn kv_delete(&mut self, key: String) -> Result<(), String> {
        self.not_in_batch("kv-delete")?;
        self.kv.put(key, None)
    }
}
