//! Leader election: with several operator replicas, only the holder of the Lease
//! `agora-operator-leader` reconciles (kube-lease-manager, server-side apply on the Lease).
//! A replica that loses the Lease exits, and Kubernetes restarts it as a candidate.

use std::future::Future;

use kube_lease_manager::LeaseManagerBuilder;

pub const LEASE: &str = "agora-operator-leader";

/// Waits for the Lease, then runs `work` until it ends or the Lease is lost.
pub async fn run_while_leading(
    client: kube::Client,
    namespace: &str,
    work: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("agora-operator-{}", std::process::id()));
    let manager = LeaseManagerBuilder::new(client, LEASE)
        .with_namespace(namespace)
        .with_identity(identity.clone())
        .with_duration(15)
        .with_grace(5)
        .build()
        .await?;
    let (mut leading, task) = manager.watch().await;
    tracing::info!(%identity, lease = LEASE, "waiting for leadership");
    while !*leading.borrow_and_update() {
        leading.changed().await?;
    }
    tracing::info!(%identity, "leading: reconciling");
    let lost = async {
        loop {
            if leading.changed().await.is_err() || !*leading.borrow_and_update() {
                return;
            }
        }
    };
    let outcome = tokio::select! {
        () = work => Ok(()),
        () = lost => Err(anyhow::anyhow!("lost the leader Lease; exiting so that a new candidate takes over")),
    };
    drop(leading);
    let _ = task.await;
    outcome
}
