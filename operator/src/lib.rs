//! # agora-operator
//!
//! Watches `SocialPlatform` objects and reconciles each into the Kubernetes objects of one
//! Agora tenant.
//!
//! # Layout
//! - [`crd`]: the resource's types (the source of `crds/`);
//! - [`resources`]: the desired objects, as pure functions of the resource;
//! - [`status`]: conditions and the rollout plan, as pure functions of what was observed;
//! - [`observed`]: what was observed of a workload, the input of `status` and `hibernation`;
//! - [`hibernation`]: `spec.hibernate`: when the bus may stop, the `Hibernated` condition;
//! - [`controller`]: the reconcile loop: apply, prune, status, events (no finalizer:
//!   deletion is owner references, see the module doc);
//! - [`backup`]: the backup CronJob's status and the `BackedUp` condition (pure);
//! - [`certificates`]: the platform's CA and certificate, issued and renewed (pure);
//! - [`rebuild`]: the `agora.dev/rebuild` annotation's request, steps and status (pure);
//! - [`replicas`]: which pods to ask where their replicas stand, and the status of it (pure);
//! - [`leader`]: leader election on a Lease, for more than one replica;
//! - [`plugin`]: `kubectl agora`, the actions as patches (binary `kubectl-agora`);
//! - [`telemetry`]: metrics and the health/metrics HTTP server.

pub mod backup;
pub mod certificates;
pub mod controller;
pub mod crd;
pub mod hibernation;
pub mod leader;
pub mod observed;
pub mod plugin;
pub mod rebuild;
pub mod replicas;
pub mod resources;
pub mod rolling;
pub mod status;
pub mod telemetry;

use kube::CustomResourceExt;

/// The CRD as YAML, exactly as `crds/` holds it.
#[expect(
    clippy::expect_used,
    reason = "a static document; a test compares it with crds/"
)]
pub fn crd_yaml() -> String {
    serde_saphyr::to_string(&crd::SocialPlatform::crd()).expect("the CRD serializes")
}
