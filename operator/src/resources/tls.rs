//! TLS between the platform's parts (`spec.tls`): the Secrets holding the platform's CA and
//! certificate, the names the certificate carries, and how a pod gets them (files under
//! [`MOUNT`], `AGORA_TLS_*`). What is issued when is decided in `crate::certificates`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EnvVar, KeyToPath, Secret, SecretVolumeSource, Volume, VolumeMount,
};

use super::{Platform, env, image_tag};
use crate::certificates::{Ca, Issued, Stamp, digest, names_digest};

/// Where the certificate's Secret is mounted in a pod.
pub const MOUNT: &str = "/etc/agora/tls";
/// Annotations of the certificate's Secret: what it was issued for.
const NAMES: &str = "agora.dev/tls-names";
const NOT_AFTER: &str = "agora.dev/tls-not-after";
const ISSUER: &str = "agora.dev/tls-ca";
/// Annotation on pod templates: the CA's digest (a pod trusts the CA it started with, so a
/// new CA rolls every pod) or, on the NATS servers, which do not read their files again,
/// the certificate's.
pub const POD_ANNOTATION: &str = "agora.dev/tls";

/// What the pods' templates carry of the platform's certificates (from the controller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests {
    pub ca: String,
    pub cert: String,
}

pub fn enabled(p: &Platform) -> bool {
    p.sp.spec.tls.enabled
}

/// `https` or `http`: how the contexts are reached.
pub fn scheme(p: &Platform) -> &'static str {
    if enabled(p) { "https" } else { "http" }
}

/// The Secret holding the CA's certificate and key (`ca.crt`, `ca.key`): created once,
/// read by the operator only.
pub fn ca_secret_name(p: &Platform) -> String {
    p.object_name("ca")
}

/// The Secret holding the certificate (`tls.crt`, `tls.key`, `ca.crt`), mounted in pods.
pub fn secret_name(p: &Platform) -> String {
    p.object_name("tls")
}

/// The names the certificate carries: every Service of the platform's contexts and its
/// managed bus (short, namespaced and cluster-local forms), their pods through the
/// headless Services, and loopback (commands run inside a pod, probes).
pub fn names(p: &Platform) -> Vec<String> {
    let ns = &p.namespace;
    let mut names = Vec::new();
    for service in p.services() {
        for domain in [
            "",
            ns,
            &format!("{ns}.svc"),
            &format!("{ns}.svc.cluster.local"),
        ] {
            let dot = if domain.is_empty() { "" } else { "." };
            names.push(format!("{service}{dot}{domain}"));
            names.push(format!("*.{service}-headless{dot}{domain}"));
        }
    }
    names.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
    names
}

/// The CA's Secret.
pub fn ca_secret(p: &Platform, ca: &Ca) -> Secret {
    Secret {
        metadata: p.meta(ca_secret_name(p), "tls", image_tag(&p.sp.spec.image)),
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            ("ca.crt".to_string(), ca.cert_pem.clone()),
            ("ca.key".to_string(), ca.key_pem.clone()),
        ])),
        ..Default::default()
    }
}

/// The CA held in its Secret, if it holds one.
pub fn ca_of(secret: &Secret) -> Option<Ca> {
    Some(Ca {
        cert_pem: super::secret_text(secret, "ca.crt")?,
        key_pem: super::secret_text(secret, "ca.key")?,
    })
}

/// The certificate's Secret (`kubernetes.io/tls`), stamped with what it was issued for.
pub fn secret(p: &Platform, ca: &Ca, issued: &Issued, names: &[String]) -> Secret {
    let mut metadata = p.meta(secret_name(p), "tls", image_tag(&p.sp.spec.image));
    let not_after = issued
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    metadata.annotations = Some(BTreeMap::from([
        (NAMES.to_string(), names_digest(names)),
        (NOT_AFTER.to_string(), not_after),
        (ISSUER.to_string(), digest(&ca.cert_pem)),
    ]));
    Secret {
        metadata,
        type_: Some("kubernetes.io/tls".into()),
        string_data: Some(BTreeMap::from([
            ("tls.crt".to_string(), issued.cert_pem.clone()),
            ("tls.key".to_string(), issued.key_pem.clone()),
            ("ca.crt".to_string(), ca.cert_pem.clone()),
        ])),
        ..Default::default()
    }
}

/// What the certificate's Secret says it was issued for (`None`: no stamp, issue anew).
pub fn stamp_of(secret: &Secret) -> Option<Stamp> {
    let annotations = secret.metadata.annotations.as_ref()?;
    let not_after = time::OffsetDateTime::parse(
        annotations.get(NOT_AFTER)?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some(Stamp {
        names: annotations.get(NAMES)?.clone(),
        not_after,
        ca: annotations.get(ISSUER)?.clone(),
    })
}

/// The digest of the certificate a Secret holds (what NATS pods roll on).
pub fn cert_digest(secret: &Secret) -> Option<String> {
    super::secret_text(secret, "tls.crt").map(|pem| digest(&pem))
}

/// `AGORA_TLS_*` for a pod: the CA always, the certificate where the pod serves it.
pub fn environment(p: &Platform, serves: bool) -> Vec<EnvVar> {
    if !enabled(p) {
        return Vec::new();
    }
    let mut vars = vec![env("AGORA_TLS_CA", format!("{MOUNT}/ca.crt"))];
    if serves {
        vars.push(env("AGORA_TLS_CERT", format!("{MOUNT}/tls.crt")));
        vars.push(env("AGORA_TLS_KEY", format!("{MOUNT}/tls.key")));
    }
    vars
}

pub fn mount(p: &Platform) -> Option<VolumeMount> {
    enabled(p).then(|| VolumeMount {
        name: "tls".into(),
        mount_path: MOUNT.into(),
        read_only: Some(true),
        ..Default::default()
    })
}

/// The certificate's Secret as a volume: whole where the pod `serves` TLS, else only the
/// CA (the private key stays out of pods that do not need it).
pub fn volume(p: &Platform, serves: bool) -> Option<Volume> {
    let only_ca = vec![KeyToPath {
        key: "ca.crt".into(),
        path: "ca.crt".into(),
        mode: None,
    }];
    enabled(p).then(|| Volume {
        name: "tls".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name(p)),
            default_mode: Some(0o440),
            items: (!serves).then_some(only_ca),
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
    fn a_secret_says_what_its_certificate_was_issued_for() {
        let sp = platform("demo", serde_json::json!({}));
        let p = Platform::new(&sp);
        let now = time::OffsetDateTime::now_utc();
        let ca = crate::certificates::new_ca("demo", now).unwrap();
        assert_eq!(ca_of(&ca_secret(&p, &ca)), Some(ca.clone()));
        let names = names(&p);
        let issued = crate::certificates::issue(&ca, &names, now).unwrap();
        let secret = secret(&p, &ca, &issued, &names);
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let stamp = stamp_of(&secret).unwrap();
        assert_eq!(
            crate::certificates::due(Some(&stamp), &names, &ca, now),
            None
        );
        assert_eq!(cert_digest(&secret), Some(digest(&issued.cert_pem)));
    }
}
