//! Password hashing with argon2id, off the async workers.
//!
//! Parameters: m = 19 MiB, t = 2, p = 1 (the OWASP baseline), 16-byte salt, 32-byte
//! output, stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$...`). Hashes run on a
//! pool of dedicated threads, one per core, fed by a queue: a burst of logins waits in the
//! queue instead of stalling other requests.
//!
//! Each hashing thread allocates its 19 MiB of argon2 memory once and reuses it. Letting
//! argon2 allocate per hash (its default) fragments glibc's heap: a 10 s burst of logins
//! left the process at 200-800 MB resident; reusing the memory keeps it near 19 MiB per
//! core. The PHC string is built and checked with the `argon2`/`phc` types themselves.

use std::cell::RefCell;
use std::sync::Arc;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::platform::error::ApiError;

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// This thread's argon2 working memory, grown once and reused by every hash.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

#[expect(
    clippy::expect_used,
    reason = "constant parameters, checked by every test"
)]
fn params() -> Params {
    Params::new(19 * 1024, 2, 1, Some(32)).expect("valid argon2 parameters")
}

/// Runs argon2 into `out` with this thread's reusable memory.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), ApiError> {
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    MEMORY
        .with(|memory| {
            let mut memory = memory.borrow_mut();
            // Same parameters every time: a no-op after the first hash on this thread.
            memory.resize(blocks, Block::default());
            argon.hash_password_into_with_memory(password, salt, out, memory.as_mut_slice())
        })
        .map_err(ApiError::internal)
}

fn hash_now(password: &[u8]) -> Result<String, ApiError> {
    let params = params();
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut out = [0u8; 32];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        &salt,
        &mut out,
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(ApiError::internal)?,
        salt: Some(Salt::new(&salt).map_err(ApiError::internal)?),
        hash: Some(Output::new(&out).map_err(ApiError::internal)?),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string, with the parameters the string names.
fn verify_now(password: &[u8], phc: &str) -> Result<bool, ApiError> {
    let parsed = PasswordHash::new(phc).map_err(ApiError::internal)?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(ApiError::internal)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(ApiError::internal)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(ApiError::internal)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(ApiError::internal(
            "stored password hash has no salt or output",
        ));
    };
    let mut out = vec![0u8; expected.as_bytes().len()];
    compute(algorithm, version, params, password, &salt, &mut out)?;
    Ok(Output::new(&out).map_err(ApiError::internal)? == expected)
}

#[derive(Clone)]
pub struct Hasher {
    jobs: crossbeam_channel::Sender<Job>,
    /// A hash of a random password, verified when the account does not exist so that
    /// a login takes as long either way.
    dummy: Arc<String>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// Starts one hashing thread per core; they end when the last `Hasher` clone is dropped.
    /// Startup: a node that cannot start its hashing threads should not start.
    #[expect(clippy::expect_used, reason = "startup")]
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || queue.iter().for_each(|job| job()))
                .expect("spawning a hashing thread");
        }
        // On the pool, so that no runtime thread keeps 19 MiB of argon2 memory.
        let (tx, rx) = std::sync::mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(hash_now(b"not a password anyone has"));
        });
        jobs.send(job).expect("the hashing pool runs");
        let dummy = rx
            .recv()
            .expect("the hashing pool answers")
            .expect("hashing");
        Hasher {
            jobs,
            dummy: Arc::new(dummy),
        }
    }

    /// Runs `f` on the hashing pool and waits for it without blocking the runtime.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| ApiError::internal("the hashing pool is gone"))?;
        rx.await
            .map_err(|_| ApiError::internal("a hashing thread panicked"))
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || hash_now(password.as_bytes())).await?
    }

    /// True when `password` matches `hash`; with no hash, spends the same time and fails.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.as_ref().clone());
        let ok = self
            .run(move || verify_now(password.as_bytes(), &hash))
            .await??;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_fail() {
        let h = Hasher::new();
        let hash = h.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            h.verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify("wrong".into(), Some(hash.clone())).await.unwrap());
        // The strings are standard PHC: the argon2 crate's own verifier accepts them, and
        // hashes it made verify here.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let argon = Argon2::default();
        assert!(
            argon
                .verify_password(b"correct horse battery", &PasswordHash::new(&hash).unwrap())
                .is_ok()
        );
        let theirs = argon.hash_password(b"made elsewhere").unwrap().to_string();
        assert!(
            h.verify("made elsewhere".into(), Some(theirs))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("not a password anyone has".into(), None)
                .await
                .unwrap()
        );
    }
}
