//! Where each replica of a replicated context stands, for `status.contexts[*].writer` and
//! `.replicaPods` (pure: which pods to ask, and what they said in, status out). The pods
//! are asked over their control channel (`GET /ops/replicas`, `controller/replicas.rs`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::crd::ReplicaPod;
use crate::resources::{HTTP_PORT, Platform, node};

/// One pod to ask: its name and its address through the headless Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub pod: String,
    pub host: String,
}

/// Every pod of the workloads whose contexts run as replicas (none while hibernating).
pub fn targets(p: &Platform) -> Vec<Target> {
    p.workloads()
        .into_iter()
        .filter(|w| node::replicated(p, w))
        .flat_map(|w| {
            let set = p.object_name(&w.component);
            let headless = p.object_name(&format!("{}-headless", w.component));
            (0..p.pods(node::replicas(p, &w))).map(move |i| Target {
                pod: format!("{set}-{i}"),
                host: format!("{set}-{i}.{headless}.{}.svc:{HTTP_PORT}", p.namespace),
            })
        })
        .collect()
}

/// One replicated context of a pod, as the pod said it (`GET /ops/replicas`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Said {
    pub context: String,
    pub role: String,
    pub lsn: u64,
    #[serde(default)]
    pub needs_copy: bool,
}

/// What the pods said, per context: the writer (when one says it writes) and each pod,
/// behind the writer by the LSNs it lacks (0 when no pod writes).
pub fn summarize(
    said: &[(String, Vec<Said>)],
) -> BTreeMap<String, (Option<String>, Vec<ReplicaPod>)> {
    let mut out: BTreeMap<String, (Option<String>, Vec<ReplicaPod>)> = BTreeMap::new();
    for (pod, contexts) in said {
        for s in contexts {
            let entry = out.entry(s.context.clone()).or_default();
            if s.role == "writer" {
                entry.0 = Some(pod.clone());
            }
            entry.1.push(ReplicaPod {
                pod: pod.clone(),
                role: s.role.clone(),
                lsn: s.lsn,
                behind: 0,
                needs_copy: s.needs_copy,
            });
        }
    }
    for (writer, pods) in out.values_mut() {
        let head = writer
            .as_ref()
            .and_then(|w| pods.iter().find(|p| &p.pod == w))
            .map_or(0, |p| p.lsn);
        for pod in pods.iter_mut() {
            pod.behind = head.saturating_sub(pod.lsn);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    fn said(context: &str, role: &str, lsn: u64) -> Said {
        Said {
            context: context.into(),
            role: role.into(),
            lsn,
            needs_copy: false,
        }
    }

    #[test]
    fn only_replicated_workloads_are_asked_pod_by_pod() {
        let sp = platform(
            "demo",
            serde_json::json!({"contexts": {"overrides": {"posts": {"replicas": 3}}}}),
        );
        let p = Platform::new(&sp);
        let pods: Vec<String> = targets(&p).into_iter().map(|t| t.pod).collect();
        assert_eq!(pods, ["demo-posts-0", "demo-posts-1", "demo-posts-2"]);
        assert_eq!(
            targets(&p)[1].host,
            "demo-posts-1.demo-posts-headless.tenants.svc:8080"
        );
        let single = platform("demo", serde_json::json!({}));
        assert!(targets(&Platform::new(&single)).is_empty());
    }

    #[test]
    fn the_writer_is_named_and_followers_are_behind_it() {
        let summary = summarize(&[
            ("demo-posts-0".into(), vec![said("posts", "follower", 90)]),
            ("demo-posts-1".into(), vec![said("posts", "writer", 100)]),
            ("demo-posts-2".into(), vec![said("posts", "follower", 100)]),
        ]);
        let (writer, pods) = &summary["posts"];
        assert_eq!(writer.as_deref(), Some("demo-posts-1"));
        let behind: Vec<u64> = pods.iter().map(|p| p.behind).collect();
        assert_eq!(behind, [10, 0, 0]);
        let leaderless = summarize(&[("a".into(), vec![said("auth", "follower", 5)])]);
        assert_eq!(leaderless["auth"].0, None);
    }
}
