//! `spec.tls`: encryption between the platform's parts.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// TLS between the platform's parts: the gateway and the operator to the contexts, every
/// part to the managed NATS, and the NATS servers to each other.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// Certificates issued by the operator from the platform's own CA (Secret
    /// `<platform>-ca`, valid 10 years, never mounted in a pod) into `<platform>-tls`
    /// (valid 90 days, renewed 30 days before it ends, picked up by the contexts without a
    /// restart). `false` only where something else encrypts the pod network (a service
    /// mesh's mTLS). The gateway's public listener is not covered: TLS for clients ends at
    /// the Ingress (`gateway.ingress.tlsSecretName`).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Default for TlsSpec {
    fn default() -> Self {
        TlsSpec { enabled: true }
    }
}
