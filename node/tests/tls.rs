//! TLS between the parts of a platform: contexts serving HTTPS, the gateway checking their
//! certificates against the platform's CA, every process on a NATS that speaks only TLS, and
//! a renewed certificate served without a restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// A CA in a temporary directory that issues certificates for `localhost` and `127.0.0.1`,
/// as the operator's issues them for the platform's Services.
struct Pki {
    dir: tempfile::TempDir,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "agora test ca");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ca.crt"),
            params.self_signed(&key).unwrap().pem(),
        )
        .unwrap();
        Pki {
            dir,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn ca(&self) -> String {
        self.path("ca.crt")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// Issues a certificate into `<name>.crt` and `<name>.key` (each replaced at once, as
    /// Kubernetes swaps a Secret's files), and returns its DER.
    fn issue(&self, name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        // Client too: NATS servers connect to each other's routes as clients.
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let replace = |file: String, text: String| {
            let staged = format!("{file}.new");
            std::fs::write(&staged, text).unwrap();
            std::fs::rename(staged, file).unwrap();
        };
        replace(self.path(&format!("{name}.key")), key.serialize_pem());
        replace(self.path(&format!("{name}.crt")), cert.pem());
        cert.der().to_vec()
    }
}

/// The certificate a TLS server at `addr` (`127.0.0.1:port`) presents to a client trusting
/// `ca` (a new connection each time).
fn served_certificate(addr: &str, ca: &Path) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut socket).unwrap();
    }
    tls.peer_certificates().unwrap()[0].to_vec()
}

fn key_files(dir: &Path) -> (PathBuf, PathBuf) {
    let keys = agora_node::platform::tokens::KeyPair::generate();
    let (private, public) = (dir.join("private.pem"), dir.join("public.pem"));
    std::fs::write(&private, &keys.private_pem).unwrap();
    std::fs::write(&public, &keys.public_pem).unwrap();
    (private, public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_speak_tls_and_a_renewed_certificate_is_served_without_a_restart() {
    let pki = Pki::new();
    pki.issue("nats");
    pki.issue("auth");
    let first = pki.issue("users");
    let (nats_cert, nats_key) = (pki.path("nats.crt"), pki.path("nats.key"));
    let nats = Nats::start_with(&["--tls", "--tlscert", &nats_cert, "--tlskey", &nats_key]);
    let nats_url = format!("tls://localhost:{}", nats.port);
    let data = tempfile::tempdir().unwrap();
    let (private, public) = key_files(data.path());
    let dir = |c: &str| data.path().join(c).to_str().unwrap().to_string();
    let media_key = agora_node::platform::media_urls::MediaUrls::generate();
    let ca = pki.ca();
    let tls = |name: &str| {
        vec![
            ("AGORA_NATS_URL", nats_url.clone()),
            ("AGORA_MEDIA_URL_KEY", media_key.clone()),
            ("AGORA_PLATFORM", "demo".into()),
            ("AGORA_LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
            ("AGORA_TLS_CA", ca.clone()),
            ("AGORA_NATS_CA", ca.clone()),
            ("AGORA_TLS_CERT", pki.path(&format!("{name}.crt"))),
            ("AGORA_TLS_KEY", pki.path(&format!("{name}.key"))),
            ("AGORA_TLS_RELOAD_SECS", "1".into()),
        ]
    };
    let start = |context: &str, key: (&str, &Path)| {
        let pairs = tls(context);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Process::start(
            &[
                "serve",
                "--context",
                context,
                "--data-dir",
                &dir(context),
                key.0,
                key.1.to_str().unwrap(),
            ],
            &refs,
        )
    };
    let auth = start("auth", ("--jwt-private-key", &private));
    let users = start("users", ("--jwt-public-key", &public));
    assert!(auth.base.starts_with("https://"), "{}", auth.base);
    assert!(users.base.starts_with("https://"), "{}", users.base);

    // `trusted`: the CA the contexts' certificates are checked against, if any.
    let start_gateway = |trusted: Option<&str>| {
        let mut env = vec![
            ("AGORA_UPSTREAM_AUTH", auth.base.as_str()),
            ("AGORA_UPSTREAM_USERS", users.base.as_str()),
            ("AGORA_NATS_URL", nats_url.as_str()),
            ("AGORA_NATS_CA", ca.as_str()),
        ];
        env.extend(trusted.map(|ca| ("AGORA_TLS_CA", ca)));
        Process::start(
            &[
                "gateway",
                "--jwt-public-key",
                public.to_str().unwrap(),
                "--platform",
                "demo",
            ],
            &env,
        )
    };
    let gateway = start_gateway(Some(&ca));
    let c = Client::of(&gateway.base);

    // Through the gateway (HTTPS to the contexts) and the bus (TLS): auth's event reaches
    // users, which builds the profile.
    let (id, tokens) = signed_up_via(&c, &auth, "tess").await;
    let tess = c.with_token(access(&tokens));
    assert_eq!(profile_appears(&tess).await["id"], id.as_str());

    // Nothing in clear: a context's port does not answer plain HTTP.
    let clear = users.base.replacen("https://", "http://", 1);
    assert!(
        reqwest::get(format!("{clear}/healthz")).await.is_err(),
        "a context answered plain HTTP"
    );
    // The gateway checks the contexts' certificates: one that is not told the platform's CA
    // reaches none of them.
    let untrusting = start_gateway(None);
    let refused = Client {
        base: untrusting.base.clone(),
        http: reqwest::Client::new(),
        token: tess.token.clone(),
        seen: None,
    }
    .get("/users/me")
    .await;
    assert!(refused.status >= 502, "{}", refused.status);

    // Renewal: new files, picked up by the running process; new connections get the new
    // certificate, and the gateway goes on reaching the context.
    let addr = users.base.trim_start_matches("https://").to_string();
    let ca_path = PathBuf::from(&ca);
    assert_eq!(served_certificate(&addr, &ca_path), first);
    let renewed = pki.issue("users");
    assert_ne!(renewed, first);
    wait_until(
        Duration::from_secs(10),
        "the renewed certificate is served",
        || served_certificate(&addr, &ca_path) == renewed,
    );
    assert_eq!(tess.get("/users/me").await.expect(200)["id"], id.as_str());
}

/// The managed bus's shape (the operator's `nats.conf`): three servers whose routes are TLS
/// both ways, each checking the others' certificates against the platform's CA, and
/// clients on TLS only. A stream with three replicas needs the routes: events flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_server_bus_with_tls_routes_carries_the_platforms_events() {
    let pki = Pki::new();
    pki.issue("nats");
    let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let all: Vec<String> = routes
        .iter()
        .map(|p| format!("    nats://localhost:{p}"))
        .collect();
    let tls = format!(
        "tls {{\n  cert_file: {}\n  key_file: {}\n  ca_file: {}\n  timeout: 5\n}}\n",
        pki.path("nats.crt"),
        pki.path("nats.key"),
        pki.ca()
    );
    let servers: Vec<Nats> = routes
        .iter()
        .enumerate()
        .map(|(i, route)| {
            let conf = format!(
                "server_name: n{i}\n{tls}\ncluster {{\n  name: agora\n  listen: 127.0.0.1:{route}\n  {}  routes: [\n{}\n  ]\n}}\n",
                tls.replace('\n', "\n  "),
                all.join("\n")
            );
            let path = pki.path(&format!("n{i}.conf"));
            std::fs::write(&path, conf).unwrap();
            let mut server = Nats::start_with(&["-c", &path]);
            server.url_base = "tls://localhost".into();
            server
        })
        .collect();
    let ca = pki.ca();
    let node = Node::start_with(
        &servers[0],
        &[
            ("AGORA_NATS_CA", ca.as_str()),
            ("AGORA_STREAM_REPLICAS", "3"),
        ],
    );
    let c = node.client();
    let (id, tess) = user(&c, "tess").await;
    assert_eq!(profile_appears(&tess).await["id"], id.as_str());
}
