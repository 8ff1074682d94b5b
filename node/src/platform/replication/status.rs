//! `GET /ops/replicas` on the control channel: where each replicated context of this
//! process stands (its role, its LSN, what the change stream holds, whether it needs a new
//! copy), which the operator gathers from every pod into the platform's status.

use axum::extract::State;
use serde::Serialize;

use crate::platform::Platform;
use crate::platform::storage::Role;

/// One replicated context of this process.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplicaStatus {
    pub context: &'static str,
    /// `writer`, `follower` or `stopped`.
    pub role: &'static str,
    /// The last transaction this replica holds.
    pub lsn: u64,
    /// The highest LSN the change stream holds whole as far as this replica knows.
    pub stream_lsn: u64,
    pub needs_copy: bool,
}

/// The control route (loopback, or the control token).
pub fn routes(platform: Platform) -> axum::Router {
    let guard = axum::middleware::from_fn_with_state(
        platform.control.clone(),
        crate::platform::control::Control::guard,
    );
    axum::Router::new()
        .route("/ops/replicas", axum::routing::get(replicas))
        .route_layer(guard)
        .with_state(platform)
}

async fn replicas(State(platform): State<Platform>) -> axum::Json<Vec<ReplicaStatus>> {
    let statuses = platform
        .running()
        .iter()
        .filter(|r| r.store.replicated())
        .map(|r| ReplicaStatus {
            context: r.name,
            role: match r.store.role() {
                Role::Writer => "writer",
                Role::Follower => "follower",
                Role::Stopped => "stopped",
            },
            lsn: r.store.lsn().unwrap_or(0),
            stream_lsn: *r.store.stream_lsn.borrow(),
            needs_copy: r.store.needs_copy(),
        })
        .collect();
    axum::Json(statuses)
}
