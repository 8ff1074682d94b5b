//! The control channel of a node: operations an operator (or a person in the pod) asks a
//! running process for, such as rebuilding a context's projections. Its routes live under
//! `/ops/`, which the gateway never forwards; a caller is allowed from loopback (inside
//! the pod), or from anywhere with `Authorization: Bearer <AGORA_CONTROL_TOKEN>` (the
//! operator, which reads the token from the platform's `<p>-control` Secret).
//!
//! Long operations run as jobs: started by a request that names them with an id (the same
//! id again is the same job, so a retried start does nothing twice), then looked at until
//! done. Jobs live in memory: a restarted process knows none, and the caller starts again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::http::HeaderMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Who may call `/ops/`, and the jobs running or done in this process.
#[derive(Debug, Default)]
pub struct Control {
    /// SHA-256 of `AGORA_CONTROL_TOKEN`, when one is configured.
    token_digest: Option<[u8; 32]>,
    jobs: Mutex<BTreeMap<String, Job>>,
}

/// One long operation of one target (a context), the last one asked for.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Job {
    /// The caller's name for it.
    pub id: String,
    pub state: JobState,
    /// What the operation reported when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// What [`Control::start`] found.
#[derive(Debug, PartialEq)]
pub enum Started {
    /// A new job: the caller runs it and reports with [`Control::finish`].
    New,
    /// The job of this id already exists (running or finished).
    Existing(Job),
}

impl Control {
    pub fn new(token: Option<&str>) -> Self {
        Control {
            token_digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
            jobs: Mutex::default(),
        }
    }

    /// Whether a request from `peer` with `headers` may use the control routes. Digests are
    /// compared, so the time taken says nothing about the token.
    pub fn authorize(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<(), ApiError> {
        if peer.ip().is_loopback() {
            return Ok(());
        }
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&self.token_digest, presented) {
            (Some(expected), Some(token))
                if <[u8; 32]>::from(Sha256::digest(token.as_bytes())) == *expected =>
            {
                Ok(())
            }
            _ => Err(ApiError::Forbidden(
                "operations are allowed from loopback, or with the platform's control token".into(),
            )),
        }
    }

    /// Middleware for the control routes: refuses callers [`Control::authorize`] refuses.
    pub async fn guard(
        axum::extract::State(control): axum::extract::State<std::sync::Arc<Control>>,
        axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> Result<axum::response::Response, ApiError> {
        control.authorize(peer, request.headers())?;
        Ok(next.run(request).await)
    }

    /// Registers job `id` on `target` unless it exists. A different job still running on
    /// the target is a conflict; a finished one is replaced.
    pub fn start(&self, target: &str, id: &str) -> Result<Started, ApiError> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match jobs.get(target) {
            Some(job) if job.id == id => return Ok(Started::Existing(job.clone())),
            Some(job) if job.state == JobState::Running => {
                return Err(ApiError::Conflict(format!(
                    "job {} is still running on {target}",
                    job.id
                )));
            }
            _ => {}
        }
        let job = Job {
            id: id.to_string(),
            state: JobState::Running,
            report: None,
            error: None,
        };
        jobs.insert(target.to_string(), job);
        Ok(Started::New)
    }

    /// Records how job `id` on `target` ended.
    pub fn finish(&self, target: &str, id: &str, outcome: Result<serde_json::Value, String>) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(job) = jobs.get_mut(target).filter(|j| j.id == id) {
            match outcome {
                Ok(report) => (job.state, job.report) = (JobState::Done, Some(report)),
                Err(e) => (job.state, job.error) = (JobState::Failed, Some(e)),
            }
        }
    }

    /// The last job asked for on `target`.
    pub fn job(&self, target: &str) -> Option<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(target)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        format!("{ip}:40000")
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = format!("Bearer {token}").parse() {
            h.insert(axum::http::header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn loopback_or_the_token_and_nobody_else() {
        let control = Control::new(Some("s3cret"));
        assert!(
            control
                .authorize(peer("127.0.0.1"), &HeaderMap::new())
                .is_ok()
        );
        assert!(
            control
                .authorize(peer("10.0.0.7"), &bearer("s3cret"))
                .is_ok()
        );
        assert!(
            control
                .authorize(peer("10.0.0.7"), &bearer("guess"))
                .is_err()
        );
        assert!(
            control
                .authorize(peer("10.0.0.7"), &HeaderMap::new())
                .is_err()
        );
        let without = Control::new(None);
        assert!(
            without.authorize(peer("10.0.0.7"), &bearer("")).is_err(),
            "no token configured: loopback only"
        );
    }

    #[test]
    fn a_job_id_names_one_job_and_a_running_one_blocks_another() {
        let control = Control::new(None);
        assert_eq!(control.start("feed", "r1").ok(), Some(Started::New));
        assert!(
            matches!(control.start("feed", "r1"), Ok(Started::Existing(j)) if j.state == JobState::Running)
        );
        assert!(control.start("feed", "r2").is_err(), "r1 still runs");
        assert_eq!(
            control.start("search", "r2").ok(),
            Some(Started::New),
            "per target"
        );
        control.finish("feed", "r1", Ok(serde_json::json!({"events": 3})));
        let done = control.job("feed").unwrap_or_else(|| Job {
            id: String::new(),
            state: JobState::Failed,
            report: None,
            error: None,
        });
        assert_eq!(
            (done.state, done.report),
            (JobState::Done, Some(serde_json::json!({"events": 3})))
        );
        assert_eq!(
            control.start("feed", "r2").ok(),
            Some(Started::New),
            "a finished job is replaced"
        );
        control.finish("feed", "r1", Err("late".into()));
        assert_eq!(
            control.job("feed").map(|j| j.state),
            Some(JobState::Running),
            "a stale finish is ignored"
        );
    }
}
