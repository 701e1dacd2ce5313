//! Batches: the jobs of one claim whose type its plugin takes in batches (`batch-size`
//! in `describe`) are handed to an executor together, up to that size, and run in one
//! call of the plugin's `run-batch`. The claim itself is the plain one, so a batch holds
//! the jobs of that type that came due together: under load it fills up (a claim takes
//! up to `--claim-batch` jobs), and a lone job runs as a batch of one.

use std::collections::HashMap;

use jobhost_runtime::Registry;
use jobhost_store::ClaimedJob;

/// What an executor takes from the dispatcher.
#[derive(Debug)]
pub(crate) enum Work {
    One(ClaimedJob),
    /// Jobs of one type, in claim order, for one `run-batch` call.
    Batch(Vec<ClaimedJob>),
}

/// The batch size of a type, if its plugin (as loaded now) takes it in batches.
fn batch_size(registry: &Registry, job_type: &str) -> Option<usize> {
    let plugin = registry.get(job_type)?;
    let size = plugin.job_type(job_type)?.batch_size?;
    plugin.takes_batches().then_some(size as usize)
}

/// The largest batch any loaded plugin takes (0 when none takes batches): a claim needs
/// room for one, or a batch would be cut into pieces before the pace says claim more.
pub(crate) fn largest_batch(registry: &Registry) -> usize {
    registry
        .plugins()
        .iter()
        .filter(|plugin| plugin.takes_batches())
        .flat_map(|plugin| plugin.job_types().iter().filter_map(|t| t.batch_size))
        .max()
        .unwrap_or(0) as usize
}

/// Splits a claim into work: each job alone, except the jobs of batching types, which
/// go in groups of up to their batch size, each group where its first job was.
pub(crate) fn group(registry: &Registry, claimed: Vec<ClaimedJob>) -> Vec<Work> {
    let mut work: Vec<Work> = Vec::with_capacity(claimed.len());
    // The open batch of each batching type: its index in `work`, and the size limit.
    let mut open: HashMap<String, (usize, usize)> = HashMap::new();
    let mut sizes: HashMap<String, Option<usize>> = HashMap::new();
    for job in claimed {
        let size = *sizes
            .entry(job.job_type.clone())
            .or_insert_with(|| batch_size(registry, &job.job_type));
        let Some(size) = size else {
            work.push(Work::One(job));
            continue;
        };
        if let Some(&(index, _)) = open.get(&job.job_type)
            && let Work::Batch(jobs) = &mut work[index]
            && jobs.len() < size
        {
            jobs.push(job);
            continue;
        }
        open.insert(job.job_type.clone(), (work.len(), size));
        work.push(Work::Batch(vec![job]));
    }
    work
}
