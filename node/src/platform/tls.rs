//! TLS between the parts of a platform: the HTTPS a process serves, and the CA its calls to
//! the other parts (contexts behind the gateway, writers, the control routes) check
//! certificates against. (The bus's CA is a bus setting, `AGORA_NATS_CA`: an external NATS
//! has its own.)
//!
//! In a cluster the operator issues one certificate for the platform's services (its own
//! CA, in the `<platform>-tls` Secret) and mounts it into every pod; `dev` and a single
//! process need none. A renewed certificate is picked up without a restart: Kubernetes
//! rewrites a mounted Secret in place, and the files are read again every
//! `AGORA_TLS_RELOAD_SECS` (connections already open keep the old one).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use axum_server::tls_rustls::RustlsConfig;
use clap::Args;
use tokio::sync::watch;

/// The TLS settings of a process.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Certificate chain (PEM file) this process serves HTTPS with on `AGORA_HTTP_ADDR`.
    /// Requires `AGORA_TLS_KEY`.
    #[arg(long, env = "AGORA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM file) of `AGORA_TLS_CERT`.
    #[arg(long, env = "AGORA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificate (PEM file) that the certificates of the platform's other parts are
    /// checked against: the contexts the gateway forwards to, the node a `backup` or
    /// `rebuild` command calls. Without it, `https://` peers cannot be verified and are
    /// refused. (The bus has its own: `AGORA_NATS_CA`.)
    #[arg(long, env = "AGORA_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Seconds between two reads of the certificate files, which picks up a renewed
    /// certificate without a restart.
    #[arg(long, env = "AGORA_TLS_RELOAD_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub tls_reload_secs: u64,
}

/// [`TlsArgs`], validated: the files were read and parse.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    identity: Option<Identity>,
    ca: Option<Ca>,
    reload_every: Duration,
}

/// The certificate a process serves.
#[derive(Debug, Clone)]
struct Identity {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Clone)]
struct Ca {
    certificates: Vec<reqwest::Certificate>,
}

impl TlsArgs {
    /// Reads the files once: a missing or unparsable one stops the process at start.
    pub fn load(&self) -> anyhow::Result<Tls> {
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let (chain, key_pem) = read_pair(cert, key)?;
                server_config(&chain, &key_pem).with_context(|| {
                    format!(
                        "AGORA_TLS_CERT {} and AGORA_TLS_KEY {} do not make a certificate",
                        cert.display(),
                        key.display()
                    )
                })?;
                Some(Identity {
                    cert: cert.clone(),
                    key: key.clone(),
                })
            }
            (None, None) => None,
            _ => anyhow::bail!("AGORA_TLS_CERT and AGORA_TLS_KEY go together"),
        };
        let ca = match &self.tls_ca {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("AGORA_TLS_CA: cannot read {}", path.display()))?;
                let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("AGORA_TLS_CA: {} is not PEM", path.display()))?;
                anyhow::ensure!(
                    !certificates.is_empty(),
                    "AGORA_TLS_CA: {} holds no certificate",
                    path.display()
                );
                Some(Ca { certificates })
            }
            None => None,
        };
        Ok(Tls {
            identity,
            ca,
            reload_every: Duration::from_secs(self.tls_reload_secs),
        })
    }
}

fn read_pair(cert: &PathBuf, key: &PathBuf) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let read = |path: &PathBuf, name: &str| {
        std::fs::read(path).with_context(|| format!("{name}: cannot read {}", path.display()))
    };
    Ok((read(cert, "AGORA_TLS_CERT")?, read(key, "AGORA_TLS_KEY")?))
}

/// A rustls server configuration for HTTP/1.1 and HTTP/2 from PEM chain and key.
fn server_config(chain: &[u8], key: &[u8]) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(chain).collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in the chain");
    let key = PrivateKeyDer::from_pem_slice(key)?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl Tls {
    /// `https` when this process serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.identity.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// An HTTP client builder that trusts the platform's CA (and nothing else: the calls
    /// it makes stay within the platform).
    pub fn http_client(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder();
        for certificate in self.ca.iter().flat_map(|ca| &ca.certificates) {
            builder = builder.add_root_certificate(certificate.clone());
        }
        builder
    }

    /// The server side, when this process serves TLS: a configuration that follows the
    /// files (read again every `reload_every` until `shutdown`).
    pub fn server(&self, shutdown: watch::Receiver<bool>) -> anyhow::Result<Option<RustlsConfig>> {
        let Some(identity) = &self.identity else {
            return Ok(None);
        };
        let (chain, key) = read_pair(&identity.cert, &identity.key)?;
        let config = RustlsConfig::from_config(std::sync::Arc::new(server_config(&chain, &key)?));
        tokio::spawn(follow_files(
            config.clone(),
            identity.clone(),
            (chain, key),
            self.reload_every,
            shutdown,
        ));
        Ok(Some(config))
    }
}

/// Reads the certificate files every `every`; a changed pair that makes a certificate
/// replaces the served one, a broken one is logged and the previous kept.
async fn follow_files(
    config: RustlsConfig,
    identity: Identity,
    mut served: (Vec<u8>, Vec<u8>),
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let pair = match read_pair(&identity.cert, &identity.key) {
            Ok(pair) if pair != served => pair,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "certificate files unreadable; the previous certificate stays");
                continue;
            }
        };
        match server_config(&pair.0, &pair.1) {
            Ok(next) => {
                config.reload_from_config(std::sync::Arc::new(next));
                tracing::info!(cert = %identity.cert.display(), "renewed certificate loaded");
                served = pair;
            }
            // Kubernetes swaps a Secret's files at once, but a half-written pair (a key
            // that does not match yet) is possible elsewhere: the next read settles it.
            Err(e) => tracing::warn!(error = %e, "certificate files do not make a certificate yet"),
        }
    }
}
