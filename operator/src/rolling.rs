//! Rolling updates of a context that runs several replicas, in the order that hands its
//! lease over once: followers first, the writer last (pure). Its StatefulSet is
//! `OnDelete` ([`crate::resources::node`]), so Kubernetes replaces a pod only when the
//! operator deletes it (`controller/rolling.rs`), one at a time, each back and ready
//! before the next; a writer that is deleted hands its lease to a follower as it stops,
//! and by then every follower already runs the new version.

/// A pod of the workload, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    /// Its `controller-revision-hash` label: the StatefulSet revision it was made from.
    pub revision: Option<String>,
    pub ready: bool,
    /// It is being deleted already.
    pub terminating: bool,
}

/// The pod to delete next so that it comes back at `update_revision`: none while the
/// workload is not whole (fewer pods than `replicas`, one not ready or going), or when every
/// pod runs that revision. An outdated follower goes before any pod in `writers` (those
/// writing for one of the workload's contexts); among equals, the highest ordinal first,
/// as the StatefulSet controller itself would.
pub fn next(
    pods: &[Pod],
    update_revision: &str,
    replicas: usize,
    writers: &[String],
) -> Option<String> {
    let whole = pods.len() == replicas && pods.iter().all(|p| p.ready && !p.terminating);
    if !whole {
        return None;
    }
    pods.iter()
        .filter(|p| p.revision.as_deref() != Some(update_revision))
        .max_by_key(|p| (!writers.contains(&p.name), ordinal(&p.name)))
        .map(|p| p.name.clone())
}

/// The ordinal a StatefulSet's pod name ends with.
fn ordinal(name: &str) -> u32 {
    name.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(n: u32, revision: &str) -> Pod {
        Pod {
            name: format!("demo-posts-{n}"),
            revision: Some(revision.into()),
            ready: true,
            terminating: false,
        }
    }

    fn writers(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn followers_go_first_highest_ordinal_first_and_the_writer_last() {
        let writer = writers(&["demo-posts-2"]);
        let mut pods = vec![pod(0, "old"), pod(1, "old"), pod(2, "old")];
        assert_eq!(
            next(&pods, "new", 3, &writer).as_deref(),
            Some("demo-posts-1")
        );
        pods[1] = pod(1, "new");
        assert_eq!(
            next(&pods, "new", 3, &writer).as_deref(),
            Some("demo-posts-0")
        );
        pods[0] = pod(0, "new");
        assert_eq!(
            next(&pods, "new", 3, &writer).as_deref(),
            Some("demo-posts-2")
        );
        pods[2] = pod(2, "new");
        assert_eq!(
            next(&pods, "new", 3, &writer),
            None,
            "all at the new revision"
        );
    }

    #[test]
    fn nothing_goes_while_a_pod_is_missing_unready_or_going() {
        let pods = vec![pod(0, "old"), pod(1, "old")];
        assert_eq!(next(&pods, "new", 3, &[]), None, "one missing");
        let mut unready = vec![pod(0, "old"), pod(1, "old"), pod(2, "new")];
        unready[2].ready = false;
        assert_eq!(next(&unready, "new", 3, &[]), None);
        let mut going = vec![pod(0, "old"), pod(1, "old"), pod(2, "old")];
        going[0].terminating = true;
        assert_eq!(next(&going, "new", 3, &[]), None);
    }

    #[test]
    fn without_a_known_writer_the_order_is_the_statefulset_controllers() {
        let pods = vec![pod(0, "old"), pod(1, "old"), pod(10, "old")];
        assert_eq!(next(&pods, "new", 3, &[]).as_deref(), Some("demo-posts-10"));
        // A writer of another context of the same pod (compact topology) counts too.
        let compact = writers(&["demo-posts-10", "demo-posts-1"]);
        assert_eq!(
            next(&pods, "new", 3, &compact).as_deref(),
            Some("demo-posts-0")
        );
    }
}
