//! The test harness: a real `nats-server` on a free loopback port, the real `agora-node`
//! binary in `dev` mode against it, and a small JSON client.
#![allow(dead_code)]

pub mod visibility;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The nats-server binary: `AGORA_NATS_SERVER`, else the one `scripts/install-nats` put in
/// `.tools/bin`, else `nats-server` on PATH.
pub fn nats_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("AGORA_NATS_SERVER") {
        return p.into();
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/nats-server");
    if local.is_file() {
        return local;
    }
    PathBuf::from("nats-server")
}

/// A free loopback port for a test server, chosen at random below the kernel's ephemeral
/// range (32768-60999 on Linux). Port 0 would hand out a port from that range, which
/// every outgoing connection of the parallel tests also draws its local port from, so one
/// could take the port between the pick and the server's bind (a NATS cluster's server
/// then never listened, and its test failed after 10 s).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        // A `RandomState` is seeded at random per process and differs at each call.
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        random.write_u32(std::process::id());
        let port = 20_000 + (random.finish() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A JetStream server with its store in a temporary directory. Can be stopped and started
/// again on the same port and store.
pub struct Nats {
    pub port: u16,
    /// How clients reach it, before the port (`tls://localhost` for a TLS server).
    pub url_base: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// More arguments (a cluster member's name and routes).
    extra: Vec<String>,
}

impl Nats {
    #[track_caller]
    pub fn start() -> Nats {
        Nats::start_with(&[])
    }

    /// A server started with more arguments (e.g. TLS).
    #[track_caller]
    pub fn start_with(extra: &[&str]) -> Nats {
        let mut nats = Nats {
            port: free_port(),
            url_base: "nats://127.0.0.1".into(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        nats.restart();
        nats
    }

    /// Three (or `n`) servers with routes to each other: one JetStream cluster, as the
    /// operator's managed bus with 3 replicas. Each can be stopped and restarted.
    #[track_caller]
    pub fn cluster(n: usize) -> Vec<Nats> {
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let all = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers: Vec<Nats> = routes
            .iter()
            .enumerate()
            .map(|(i, route)| Nats {
                port: free_port(),
                url_base: "nats://127.0.0.1".into(),
                dir: tempfile::tempdir().unwrap(),
                child: None,
                extra: [
                    "--server_name",
                    &format!("n{i}"),
                    "--cluster_name",
                    "agora",
                    "--cluster",
                    &format!("nats://127.0.0.1:{route}"),
                    "--routes",
                    &all,
                ]
                .map(String::from)
                .to_vec(),
            })
            .collect();
        for server in &mut servers {
            server.restart();
        }
        servers
    }

    pub fn url(&self) -> String {
        format!("{}:{}", self.url_base, self.port)
    }

    /// Where the server keeps its JetStream files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    #[track_caller]
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let child = Command::new(nats_binary())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nats-server ({e}); run scripts/install-nats"));
        self.child = Some(child);
        let port = self.port;
        let child = self.child.as_mut().unwrap();
        wait_until(
            Duration::from_secs(10),
            "nats-server accepts connections",
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("nats-server on port {port} exited at start ({status}): port taken?");
                }
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            },
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `check` until it holds, or panics after `deadline` naming `what`.
#[track_caller]
pub fn wait_until(deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The async twin of [`wait_until`].
pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `agora-node dev` on a data directory, against a given NATS.
pub struct Node {
    pub base: String,
    pub data: PathBuf,
    nats_url: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Node {
    #[track_caller]
    pub fn start(nats: &Nats) -> Node {
        Self::start_with(nats, &[])
    }

    #[track_caller]
    pub fn start_with(nats: &Nats, env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node {
            base: String::new(),
            data: dir.path().to_path_buf(),
            nats_url: nats.url(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            _dir: Some(dir),
        };
        node.restart();
        node
    }

    /// The next start talks to another NATS (a bus made anew).
    pub fn move_to(&mut self, nats: &Nats) {
        self.nats_url = nats.url();
    }

    /// The NATS it talks to.
    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// Starts the process again on the same data directory (new port).
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "node is already running");
        let mut child = Command::new(env!("CARGO_BIN_EXE_agora-node"))
            .args([
                "dev",
                "--http-addr",
                "127.0.0.1:0",
                "--nats-url",
                &self.nats_url,
                "--data-dir",
            ])
            .arg(&self.data)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("agora-node starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("agora is ready at ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        self.base = url.to_string();
        self.child = Some(child);
    }

    /// The process id of the running node.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is running").id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("node is running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    pub fn client(&self) -> Client {
        Client::of(&self.base)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A response: status, content type and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts a problem+json with this status and returns it.
    #[track_caller]
    pub fn problem(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert!(
            self.body["type"]
                .as_str()
                .unwrap()
                .starts_with("https://agora.dev/problems/"),
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(!self.body["detail"].as_str().unwrap().is_empty());
        self.body
    }
}

/// A JSON client of the gateway, optionally with a bearer token.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
    /// The consistency tokens to send back, when the client observes them ([`Seen`]).
    pub seen: Option<Seen>,
}

/// The newest consistency token each context answered to any client sharing this (what
/// an app sends back to read its own writes on any replica, `Agora-Consistency`): every
/// request then reads at least as new as every write those clients saw acknowledged.
#[derive(Clone, Default)]
pub struct Seen(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>);

impl Seen {
    fn header(&self) -> Option<String> {
        let seen = self.0.lock().unwrap();
        let tokens: Vec<String> = seen.iter().map(|(c, lsn)| format!("{c}={lsn}")).collect();
        (!tokens.is_empty()).then(|| tokens.join(","))
    }

    fn record(&self, headers: &reqwest::header::HeaderMap) {
        let Some(token) = headers
            .get("agora-consistency")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let mut seen = self.0.lock().unwrap();
        for (context, lsn) in token.split(',').filter_map(|t| t.trim().split_once('=')) {
            if let Ok(lsn) = lsn.parse::<u64>() {
                let newest = seen.entry(context.to_string()).or_default();
                *newest = (*newest).max(lsn);
            }
        }
    }
}

impl Client {
    /// A client of `base`, without a token.
    pub fn of(base: &str) -> Client {
        Client {
            base: base.to_string(),
            http: reqwest::Client::new(),
            token: None,
            seen: None,
        }
    }

    /// The same client, sending back the consistency tokens `seen` holds and adding the
    /// ones it is answered.
    pub fn observing(&self, seen: &Seen) -> Client {
        Client {
            seen: Some(seen.clone()),
            ..self.clone()
        }
    }

    fn consistent(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.seen.as_ref().and_then(Seen::header) {
            Some(tokens) => req.header("agora-consistency", tokens),
            None => req,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// The same client, talking to a node at another address (a restarted one).
    pub fn rebased(&self, base: &str) -> Client {
        Client {
            base: base.to_string(),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(
            method.parse().unwrap(),
            format!("{}/api/v1{path}", self.base),
        );
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.reply(self.consistent(req).send().await.expect("request sent"))
            .await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.base),
            )
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        self.reply(self.consistent(req).send().await.expect("request sent"))
            .await
    }

    async fn reply(&self, resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if let Some(seen) = &self.seen {
            seen.record(&headers);
        }
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send("POST", path, None).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-up person whose profile exists already: their id and a client with their
/// access token.
pub async fn user(anon: &Client, name: &str) -> (String, Client) {
    let (id, t) = signed_up(anon, name).await;
    let c = anon.with_token(access(&t));
    profile_appears(&c).await;
    (id, c)
}

/// Publishes a post (retrying while the posts context is still learning of what it needs,
/// a group or an upload, by event) and returns its id.
pub async fn publish(c: &Client, body: Value) -> String {
    until_status(201, async || c.post("/posts", body.clone()).await)
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Makes two signed-up people (id, client) friends: a asks, b accepts.
pub async fn befriend(a: &(String, Client), b: &(String, Client)) {
    profile_appears(&a.1).await;
    profile_appears(&b.1).await;
    a.1.post_empty(&format!("/users/{}/friend-request", b.0))
        .await
        .expect(201);
    b.1.post_empty(&format!("/friend-requests/{}/accept", a.0))
        .await
        .expect(204);
}

/// Repeats `attempt` until it answers `status` (a context learning of something by event,
/// milliseconds later), at most 20 s; returns the last reply.
pub async fn until_status(status: u16, mut attempt: impl AsyncFnMut() -> Reply) -> Reply {
    let start = Instant::now();
    loop {
        let r = attempt().await;
        if r.status == status || start.elapsed() > Duration::from_secs(20) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Every post id of `c`'s recent feed, paged to the end (each page asked until it is
/// served: a replica may answer 503 while it catches up).
pub async fn whole_recent_feed(c: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    let mut query = "order=recent&limit=100".to_string();
    loop {
        let path = format!("/feed?{query}");
        let page = until_status(200, async || c.get(&path).await)
            .await
            .expect(200);
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("order=recent&limit=100&cursor={cursor}"),
            None => return ids,
        }
    }
}

/// Registers `name` (`name@example.org`) and returns the account id.
pub async fn register(c: &Client, name: &str) -> String {
    let body = c
        .post(
            "/auth/register",
            json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD}),
        )
        .await
        .expect(201);
    body["id"].as_str().unwrap().to_string()
}

/// The latest verification token mailed to `name@example.org`.
pub async fn mailed_token(c: &Client, name: &str) -> String {
    let body = mails(c, name, None, 1)
        .await
        .pop()
        .unwrap_or_else(|| panic!("no mail reached {name}"));
    token_in(&body)
}

/// The bodies of the mails `name@example.org` received (with `subject`, when given),
/// oldest first, waiting (at most 20 s) until there are `count`: mail may go out after
/// the request that causes it is answered.
pub async fn mails(c: &Client, name: &str, subject: Option<&str>, count: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let mailbox = c
            .get(&format!("/dev/mailbox?to={name}@example.org"))
            .await
            .expect(200);
        let bodies: Vec<String> = mailbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| subject.is_none_or(|s| m["subject"] == s))
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect();
        if bodies.len() >= count || start.elapsed() > Duration::from_secs(20) {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The token a mail carries (after `token:`).
pub fn token_in(body: &str) -> String {
    let after = body.split("token:").nth(1).expect("the mail has a token");
    after.split_whitespace().next().unwrap().to_string()
}

/// Registers, verifies through the mailbox and logs in; returns (id, tokens).
pub async fn signed_up(c: &Client, name: &str) -> (String, Value) {
    let id = register(c, name).await;
    let token = mailed_token(c, name).await;
    c.post(
        "/auth/verify",
        json!({"token": token, "password": PASSWORD}),
    )
    .await
    .expect(200);
    let tokens = c
        .post("/auth/login", json!({"login": name, "password": PASSWORD}))
        .await
        .expect(200);
    (id, tokens)
}

/// Turns MFA on for `c` (the account `name`): its TOTP and its first recovery code.
pub async fn enrolled_mfa(c: &Client, name: &str) -> (totp_rs::Totp, String) {
    let secret = c.post_empty("/auth/mfa/enroll").await.expect(200)["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let totp = agora_node::auth::domain::totp(&secret, name, "dev").unwrap();
    let recovery = c
        .post(
            "/auth/mfa/confirm",
            json!({"code": totp.generate_current().to_string()}),
        )
        .await
        .expect(200)["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_string();
    (totp, recovery)
}

pub fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

/// Waits until the profile of the caller exists (it is built from auth's event).
pub async fn profile_appears(c: &Client) -> Value {
    let start = Instant::now();
    loop {
        let r = c.get("/users/me").await;
        if r.status == 200 {
            return r.body;
        }
        assert_eq!(r.status, 404, "unexpected reply {}", r.body);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for the profile"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// How many messages the platform's stream holds per subject (`<prefix>.events.…`).
pub async fn stream_counts(nats: &Nats, prefix: &str) -> std::collections::HashMap<String, usize> {
    use futures::TryStreamExt;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(format!("AGORA_{}", prefix.to_uppercase()))
        .await
        .unwrap();
    let info = stream
        .info_with_subjects(format!("{prefix}.events.>"))
        .await
        .unwrap();
    info.try_collect().await.unwrap()
}

/// The node's `/metrics` text.
pub async fn scrape(node: &Node) -> String {
    reqwest::get(format!("{}/metrics", node.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of a counter in `/metrics` (0 when absent).
pub async fn metric(node: &Node, name_and_labels: &str) -> u64 {
    scrape(node)
        .await
        .lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .and_then(|rest| rest.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0) as u64
}

/// With the node stopped: wipes every projection record of `context` (and the search
/// index) under `data`, and rebuilds them from the stream with `agora-node rebuild`.
/// Returns the command's report.
#[track_caller]
pub fn rebuild_stopped(
    data: &Path,
    nats: &Nats,
    context: agora_node::platform::context::Context,
) -> Value {
    use agora_node::platform::context::Context;
    let projections = agora_node::bounded_context(context).projections();
    let db = sled::open(data.join(context.name())).unwrap();
    let tree = db.open_tree("data").unwrap();
    for prefix in projections {
        for k in tree.scan_prefix(prefix).keys() {
            tree.remove(k.unwrap()).unwrap();
        }
    }
    db.flush().unwrap();
    drop((tree, db));
    if context == Context::Search {
        // The index goes too: it is refilled from the rebuilt documents at start.
        match std::fs::remove_dir_all(data.join("search-index")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
            _ => {}
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_agora-node"))
        .args(["rebuild", "--context", context.name(), "--nats-url"])
        .arg(nats.url())
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Any `agora-node` process, started with `args` and `env`; its stderr lines are collected.
pub struct Process {
    pub base: String,
    pub stderr: std::sync::mpsc::Receiver<String>,
    child: Child,
}

impl Process {
    #[track_caller]
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Process {
        Process::start_at(args, env, "127.0.0.1:0")
    }

    /// As [`Process::start`], listening on `addr`.
    #[track_caller]
    pub fn start_at(args: &[&str], env: &[(&str, &str)], addr: &str) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agora-node"))
            .args(args)
            .args(["--http-addr", addr])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agora-node starts");
        let (tx, stderr) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            BufReader::new(err)
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.trim().strip_prefix("agora is ready at ") else {
            let logs: Vec<String> = stderr.try_iter().collect();
            panic!("{args:?} did not start: {line:?}\n{}", logs.join("\n"));
        };
        Process {
            base: url.to_string(),
            stderr,
            child,
        }
    }
}

/// A person signed up through the gateway `c` where auth runs as its own process `auth`
/// (its logged mail carries the verification token): their id and login tokens.
pub async fn signed_up_via(c: &Client, auth: &Process, name: &str) -> (String, Value) {
    let id = register(c, name).await;
    let token = logged_token(auth);
    c.post(
        "/auth/verify",
        json!({"token": token, "password": PASSWORD}),
    )
    .await
    .expect(200);
    let login = json!({"login": name, "password": PASSWORD});
    (id, c.post("/auth/login", login).await.expect(200))
}

/// The verification token of the next mail `process` logs (`Mailer::Log`, JSON logs).
pub fn logged_token(auth: &Process) -> String {
    loop {
        let line = auth
            .stderr
            .recv_timeout(Duration::from_secs(10))
            .expect("auth logs the verification mail");
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if entry["message"] == "mail" {
            let body = entry["body"].as_str().unwrap().to_string();
            return body
                .split("token:")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
        }
    }
}

impl Process {
    /// SIGTERM (a graceful stop), and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- the push stream -----

use futures::StreamExt as _;
use tokio_tungstenite::tungstenite::{self, Message};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the push stream of the gateway at `base`, authenticated with the header
/// (or `query` as given).
pub async fn stream_socket(
    base: &str,
    token: Option<&str>,
    query: &str,
) -> Result<Socket, tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{base}/api/v1/stream{query}").replacen("http", "ws", 1);
    let mut req = url.into_client_request().unwrap();
    if let Some(token) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

/// The next event (pings skipped), or a panic after 10 s.
pub async fn next_event(ws: &mut Socket) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The next event of a type, skipping others (typing, updates).
pub async fn next_of(ws: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_event(ws).await;
        if event["type"] == kind {
            return event;
        }
    }
}

/// Uploads a small opaque PNG as `c`'s media (for an avatar or an attachment); its id.
pub async fn uploaded_picture(c: &Client) -> String {
    let img = image::RgbImage::from_fn(24, 24, |x, y| image::Rgb([x as u8 * 9, y as u8 * 9, 60]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    c.raw("POST", "/media", "image/png", png.into_inner())
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}
