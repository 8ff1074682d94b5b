//! The platform's certificates, as pure functions: a CA made once per platform, and one
//! certificate naming every Service of the platform, issued by it and renewed a third of
//! its life before it ends (as cert-manager does by default) or when the names change.
//! The controller stores them in Secrets (`resources::tls`); nothing here talks to the API.

use sha2::Digest as _;
use time::{Duration, OffsetDateTime};

/// How long the CA is valid. Replacing it restarts every pod of the platform (their pod
/// templates carry its digest), so it is long.
pub const CA_VALIDITY: Duration = Duration::days(3_650);
/// How long an issued certificate is valid.
pub const CERT_VALIDITY: Duration = Duration::days(90);
/// How long before its end a certificate is renewed.
pub const RENEW_BEFORE: Duration = Duration::days(30);
/// Tolerated clock skew between the operator and the pods: certificates start this early.
const SKEW: Duration = Duration::hours(1);

/// A CA: its certificate and private key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate issued by the CA.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: OffsetDateTime,
}

/// What a stored certificate was issued for, as its Secret's annotations record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// [`names_digest`] of the names it carries.
    pub names: String,
    pub not_after: OffsetDateTime,
    /// [`digest`] of the CA certificate that issued it.
    pub ca: String,
}

/// Why a certificate is issued now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// There is none yet.
    Missing,
    /// The platform's Services changed (the topology, the bus).
    NamesChanged,
    /// The CA changed (it was replaced).
    CaChanged,
    /// It ends within [`RENEW_BEFORE`].
    Expiring,
}

impl std::fmt::Display for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Due::Missing => "none existed",
            Due::NamesChanged => "the platform's services changed",
            Due::CaChanged => "the CA changed",
            Due::Expiring => "the previous one ends within 30 days",
        })
    }
}

/// Whether the certificate stamped `current` must be issued again for `names` by `ca`.
pub fn due(current: Option<&Stamp>, names: &[String], ca: &Ca, now: OffsetDateTime) -> Option<Due> {
    let Some(current) = current else {
        return Some(Due::Missing);
    };
    if current.names != names_digest(names) {
        Some(Due::NamesChanged)
    } else if current.ca != digest(&ca.cert_pem) {
        Some(Due::CaChanged)
    } else if current.not_after - RENEW_BEFORE <= now {
        Some(Due::Expiring)
    } else {
        None
    }
}

/// A new CA for the platform `name`.
pub fn new_ca(name: &str, now: OffsetDateTime) -> Result<Ca, rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("agora {name} ca"));
    params.not_before = now - SKEW;
    params.not_after = now + CA_VALIDITY;
    Ok(Ca {
        cert_pem: params.self_signed(&key)?.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A certificate for `names` (DNS names, wildcards, IP addresses), for servers and, for
/// NATS routes, which connect to each other, clients.
pub fn issue(ca: &Ca, names: &[String], now: OffsetDateTime) -> Result<Issued, rcgen::Error> {
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&ca.cert_pem, rcgen::KeyPair::from_pem(&ca.key_pem)?)?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.clone());
    }
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.not_before = now - SKEW;
    params.not_after = now + CERT_VALIDITY;
    Ok(Issued {
        cert_pem: params.signed_by(&key, &issuer)?.pem(),
        key_pem: key.serialize_pem(),
        not_after: params.not_after,
    })
}

/// A short digest of PEM text, for annotations.
pub fn digest(text: &str) -> String {
    let hash = sha2::Sha256::digest(text.as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The digest of a list of names, in any order.
pub fn names_digest(names: &[String]) -> String {
    let mut sorted = names.to_vec();
    sorted.sort();
    digest(&sorted.join(","))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    fn names() -> Vec<String> {
        vec![
            "demo-posts".into(),
            "*.demo-posts-headless.tenants.svc".into(),
            "127.0.0.1".into(),
        ]
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-27 12:00 UTC)
    }

    /// Whether a TLS client trusting `ca` accepts `cert` for `name` at `at`.
    fn accepted(ca: &Ca, cert: &str, name: &str, at: OffsetDateTime) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let leaf = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            at.unix_timestamp().try_into().unwrap(),
        ));
        verifier
            .verify_server_cert(&leaf, &[], &ServerName::try_from(name).unwrap(), &[], at)
            .is_ok()
    }

    #[test]
    fn an_issued_certificate_is_trusted_through_the_ca_for_its_names_only() {
        let ca = new_ca("demo", now()).unwrap();
        let issued = issue(&ca, &names(), now()).unwrap();
        let tomorrow = now() + Duration::days(1);
        for name in [
            "demo-posts",
            "demo-posts-1.demo-posts-headless.tenants.svc",
            "127.0.0.1",
        ] {
            assert!(accepted(&ca, &issued.cert_pem, name, tomorrow), "{name}");
        }
        assert!(!accepted(&ca, &issued.cert_pem, "demo-feed", tomorrow));
        // Not after its end, and not through another platform's CA.
        let later = now() + CERT_VALIDITY + Duration::days(1);
        assert!(!accepted(&ca, &issued.cert_pem, "demo-posts", later));
        let other = new_ca("other", now()).unwrap();
        assert!(!accepted(&other, &issued.cert_pem, "demo-posts", tomorrow));
    }

    #[test]
    fn a_certificate_is_issued_again_when_missing_renamed_reissued_or_ending() {
        let ca = new_ca("demo", now()).unwrap();
        let issued = issue(&ca, &names(), now()).unwrap();
        let stamp = Stamp {
            names: names_digest(&names()),
            not_after: issued.not_after,
            ca: digest(&ca.cert_pem),
        };
        assert_eq!(due(None, &names(), &ca, now()), Some(Due::Missing));
        assert_eq!(due(Some(&stamp), &names(), &ca, now()), None);
        let mut reordered = names();
        reordered.reverse();
        assert_eq!(due(Some(&stamp), &reordered, &ca, now()), None);
        let mut more = names();
        more.push("demo-feed".into());
        assert_eq!(
            due(Some(&stamp), &more, &ca, now()),
            Some(Due::NamesChanged)
        );
        let replaced = new_ca("demo", now()).unwrap();
        assert_eq!(
            due(Some(&stamp), &names(), &replaced, now()),
            Some(Due::CaChanged)
        );
        let (day_59, day_61) = (now() + Duration::days(59), now() + Duration::days(61));
        assert_eq!(due(Some(&stamp), &names(), &ca, day_59), None);
        assert_eq!(
            due(Some(&stamp), &names(), &ca, day_61),
            Some(Due::Expiring)
        );
    }
}
