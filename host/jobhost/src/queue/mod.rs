//! The job model's rules, apart from where jobs are stored or how they run: what an
//! attempt's outcome does to its job (retry, dead letter, complete), how long a retry
//! waits, what a new job looks like before it is stored, when a cron schedule fires, and
//! how operators write rates.

pub mod backoff;
pub mod enqueue;
pub mod outcome;
pub mod priority;
pub mod rate;
pub mod schedule;

pub use backoff::Backoff;
pub use enqueue::EnqueueRequest;
pub use outcome::settlement_for;
