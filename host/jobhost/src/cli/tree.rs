//! The workflow tree `jobhost jobs show` draws: the job that enqueued this one, this
//! one, and under it what it waits on, the follow-ups it enqueued, and the jobs that
//! wait on it.

use jobhost_store::{DependencyLink, JobLinks, JobRef};

/// How a linked job reads in the tree: `ID TYPE (STATUS)`, or `ID (gone)` when it is no
/// longer stored.
fn describe(job: &JobRef) -> String {
    if job.status.is_empty() {
        return format!("{} (gone)", job.id);
    }
    format!("{} {} ({})", job.id, job.job_type, job.status)
}

fn dependency(label: &str, link: &DependencyLink) -> String {
    format!("{label} {} [{}]", describe(&link.job), link.state.as_str())
}

/// The tree as lines of text; `None` when the job has no links at all.
pub fn draw(this: &JobRef, links: &JobLinks) -> Option<String> {
    let mut branches: Vec<String> = Vec::new();
    branches.extend(links.waits_on.iter().map(|l| dependency("waits on", l)));
    branches.extend(
        links
            .children
            .iter()
            .map(|c| format!("child {}", describe(c))),
    );
    branches.extend(
        links
            .waited_on_by
            .iter()
            .map(|l| dependency("waited on by", l)),
    );
    if links.parent.is_none() && branches.is_empty() {
        return None;
    }
    let mut out = String::new();
    let indent = match &links.parent {
        Some(parent) => {
            out.push_str(&format!("parent {}\n└─ ", describe(parent)));
            "   "
        }
        None => "",
    };
    out.push_str(&format!("{}  ◀ this job\n", describe(this)));
    let last = branches.len().saturating_sub(1);
    for (i, branch) in branches.iter().enumerate() {
        let joint = if i == last { "└─" } else { "├─" };
        out.push_str(&format!("{indent}{joint} {branch}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use jobhost_store::DependencyState;

    use super::*;

    fn job(id: &str, job_type: &str, status: &str) -> JobRef {
        JobRef {
            id: id.into(),
            job_type: job_type.into(),
            status: status.into(),
        }
    }

    #[test]
    fn the_tree_shows_parent_prerequisites_children_and_waiters() {
        let links = JobLinks {
            parent: Some(job("p", "place_order", "completed")),
            children: vec![job("c", "sync_inventory", "pending")],
            waits_on: vec![DependencyLink {
                job: job("a", "generate_invoice", "dead"),
                state: DependencyState::Failed,
            }],
            waited_on_by: vec![DependencyLink {
                job: job("w", "archive", ""),
                state: DependencyState::Waiting,
            }],
        };
        let drawn = draw(&job("me", "send_order_confirmation", "blocked"), &links).unwrap();
        assert_eq!(
            drawn,
            "parent p place_order (completed)\n\
             └─ me send_order_confirmation (blocked)  ◀ this job\n   \
             ├─ waits on a generate_invoice (dead) [failed]\n   \
             ├─ child c sync_inventory (pending)\n   \
             └─ waited on by w (gone) [waiting]\n"
        );
    }

    #[test]
    fn a_job_without_links_draws_nothing() {
        assert_eq!(
            draw(&job("me", "echo", "pending"), &JobLinks::default()),
            None
        );
    }
}
