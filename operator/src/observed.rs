//! What the operator observed of one workload, the input of its pure decisions
//! ([`crate::status`], [`crate::hibernation`]).

/// What was observed of one workload (a StatefulSet or the gateway Deployment).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub image: String,
    pub replicas: i32,
    pub ready_replicas: i32,
    /// Pods that exist, ready or not (a pod still shutting down counts).
    pub pods: i32,
    /// Every pod runs the latest template (no rollout in progress).
    pub rolled_out: bool,
}

impl Observed {
    pub fn ready(&self) -> bool {
        self.rolled_out && self.ready_replicas >= self.replicas && self.replicas > 0
    }
}
