//! How an `agora-node` pod reaches the platform's bus, managed or external: its URL, the
//! stream's settings and the credentials of an external bus, for the contexts, the
//! gateway and a restore.

use k8s_openapi::api::core::v1::{EnvVar, SecretVolumeSource, Volume, VolumeMount};

use super::{Platform, env, nats};

/// The URL contexts use to reach the bus (managed or external).
pub fn url(p: &Platform) -> String {
    match &p.sp.spec.event_bus.external {
        Some(external) => external.url.clone(),
        None => format!(
            "{}://{}.{}.svc:{}",
            if super::tls::enabled(p) {
                "tls"
            } else {
                "nats"
            },
            p.object_name(nats::COMPONENT),
            p.namespace,
            nats::CLIENT_PORT
        ),
    }
}

/// Replicas of the stream: the bus cluster's size.
pub fn stream_replicas(p: &Platform) -> i32 {
    match (&p.sp.spec.event_bus.external, p.sp.spec.event_bus.managed()) {
        (Some(external), _) => external.stream_replicas,
        (None, Some(managed)) => managed.replicas,
        (None, None) => 1,
    }
}

/// Where the platform's bus is and what its stream is like, for a context and for a
/// restore that puts a backup's stream back (with [`creds_env`] where it needs them).
pub fn environment(p: &Platform) -> Vec<EnvVar> {
    let mut vars = vec![
        env("AGORA_NATS_URL", url(p)),
        env("AGORA_STREAM_REPLICAS", stream_replicas(p).to_string()),
        env(
            "AGORA_STREAM_MAX_AGE_DAYS",
            p.sp.spec.event_bus.stream_max_age_days.to_string(),
        ),
    ];
    vars.extend(ca_env(p));
    vars
}

/// `AGORA_NATS_CA`: the managed bus's certificate is the platform's (an external bus is
/// checked against the system's roots).
pub fn ca_env(p: &Platform) -> Option<EnvVar> {
    let managed = p.sp.spec.event_bus.external.is_none();
    (managed && super::tls::enabled(p))
        .then(|| env("AGORA_NATS_CA", format!("{}/ca.crt", super::tls::MOUNT)))
}

fn has_creds(p: &Platform) -> bool {
    p.sp.spec
        .event_bus
        .external
        .as_ref()
        .is_some_and(|e| e.credentials_secret.is_some())
}

/// `AGORA_NATS_CREDS`, where an external bus needs credentials.
pub fn creds_env(p: &Platform) -> Option<EnvVar> {
    has_creds(p).then(|| env("AGORA_NATS_CREDS", "/etc/nats-creds/nats.creds"))
}

/// The credentials Secret's mount, where an external bus needs credentials.
pub fn creds_mount(p: &Platform) -> Option<VolumeMount> {
    has_creds(p).then(|| VolumeMount {
        name: "nats-creds".into(),
        mount_path: "/etc/nats-creds".into(),
        read_only: Some(true),
        ..Default::default()
    })
}

/// The credentials Secret as a volume, where an external bus needs credentials.
pub fn creds_volume(p: &Platform) -> Option<Volume> {
    let secret =
        p.sp.spec
            .event_bus
            .external
            .as_ref()?
            .credentials_secret
            .clone()?;
    Some(Volume {
        name: "nats-creds".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fixtures::platform;

    #[test]
    fn a_pod_reaches_an_external_bus_at_its_url_with_its_credentials() {
        let sp = platform(
            "demo",
            serde_json::json!({"eventBus": {"external": {"url": "nats://bus:4222",
                "streamReplicas": 3, "credentialsSecret": "nats-creds"}}}),
        );
        let p = Platform::new(&sp);
        assert_eq!(url(&p), "nats://bus:4222");
        assert_eq!(stream_replicas(&p), 3);
        assert_eq!(
            creds_env(&p).and_then(|e| e.value).as_deref(),
            Some("/etc/nats-creds/nats.creds")
        );
        let volume = creds_volume(&p).unwrap();
        assert_eq!(
            volume.secret.unwrap().secret_name.as_deref(),
            Some("nats-creds")
        );
    }

    #[test]
    fn a_pod_reaches_the_managed_bus_through_its_service_without_credentials() {
        let sp = platform("demo", serde_json::json!({}));
        let p = Platform::new(&sp);
        assert_eq!(url(&p), "tls://demo-nats.tenants.svc:4222");
        assert!(creds_env(&p).is_none() && creds_volume(&p).is_none());
        let sp = platform("demo", serde_json::json!({"tls": {"enabled": false}}));
        assert_eq!(
            url(&Platform::new(&sp)),
            "nats://demo-nats.tenants.svc:4222"
        );
    }
}
