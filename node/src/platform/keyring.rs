//! Crypto-shredding: the personal fields of events on the stream are sealed with a key of
//! the person they are about, kept in a JetStream key-value bucket (`<prefix>-keys`);
//! erasing the person purges the key, and what the stream holds of them can never be
//! read again, while the stream itself (the audit log and the replay source) stays whole.
//!
//! An event type names its personal fields and the field holding the person's id
//! ([`super::envelope::DomainEvent::PERSONAL`]); the outbox keeps them in the clear (the
//! context's own store holds the same data), the relay seals them as it publishes, and
//! consumers open them before handlers see the event. An event whose person's key is gone
//! is skipped by consumers: it can only be about someone erased.
//!
//! **The keys are wrapped with the platform's key** ([`PlatformKey`], `AGORA_ENCRYPTION_KEY`,
//! from a Secret the operator makes): the bucket holds each person's key sealed with it,
//! bound to the person's id, so the NATS volume (stream and bucket) reveals nothing
//! without the Secret. Keys stored before wrapping (32 raw bytes) are still read. A key the
//! platform's key does not open is an error, never taken for an erasure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use tokio::sync::OnceCell;

/// One person's key.
#[derive(Clone)]
pub struct Key(Arc<XChaCha20Poly1305>);

impl Key {
    fn from_bytes(bytes: &[u8]) -> Option<Key> {
        XChaCha20Poly1305::new_from_slice(bytes)
            .ok()
            .map(|k| Key(Arc::new(k)))
    }

    /// Seals `plaintext`, bound to `context` (the event and field it belongs to): a
    /// sealed value moved elsewhere does not open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> String {
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .0
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode([nonce.as_slice(), &sealed].concat())
    }

    /// Opens what [`Key::seal`] sealed with the same `context`; `None` when it does not.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Option<Vec<u8>> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        let (nonce, ciphertext) = bytes.split_at_checked(24)?;
        let nonce = XNonce::try_from(nonce).ok()?;
        self.0
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .ok()
    }
}

/// The platform's key, which wraps every person's key in the bucket and from which the
/// keys sealing the stores are derived ([`PlatformKey::derive`]).
#[derive(Clone)]
pub struct PlatformKey {
    wrapping: Arc<XChaCha20Poly1305>,
    secret: Arc<[u8; 32]>,
}

/// The first byte of a wrapped key (then a 24-byte nonce and the sealed 32 bytes).
const WRAPPED_V1: u8 = 1;
const WRAPPED_LEN: usize = 1 + 24 + 32 + 16;

impl PlatformKey {
    /// From base64 of 32 bytes, or a path to a file holding that.
    pub fn from_setting(value: &str) -> anyhow::Result<PlatformKey> {
        let text = if std::path::Path::new(value.trim()).is_file() {
            std::fs::read_to_string(value.trim())?
        } else {
            value.to_string()
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| anyhow::anyhow!("AGORA_ENCRYPTION_KEY: not base64 (nor a file)"))?;
        let secret: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("AGORA_ENCRYPTION_KEY: must be 32 bytes, base64"))?;
        Ok(PlatformKey {
            wrapping: Arc::new(XChaCha20Poly1305::new(&secret.into())),
            secret: Arc::new(secret),
        })
    }

    /// A key for one `purpose`, derived from this one (HKDF-SHA256): what one purpose's
    /// key reveals says nothing of another's.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut out = [0; 32];
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 × 32).
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, self.secret.as_slice())
            .expand(purpose.as_bytes(), &mut out);
        out
    }

    /// 32 random bytes, base64: a new platform key.
    pub fn generate() -> String {
        let key: [u8; 32] = rand::random();
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// `encryption.key` in `dir` (mode 0600), made on first use: `dev`'s platform key.
    pub fn load_or_create(dir: &std::path::Path) -> anyhow::Result<PlatformKey> {
        Self::from_setting(&super::keyfile::load_or_create(
            dir,
            "encryption.key",
            Self::generate,
        )?)
    }

    /// `person`'s key as the bucket stores it.
    fn wrap(&self, person: &str, key: &[u8]) -> Vec<u8> {
        let nonce: [u8; 24] = rand::random();
        let payload = Payload {
            msg: key,
            aad: person.as_bytes(),
        };
        let sealed = self
            .wrapping
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        [&[WRAPPED_V1][..], &nonce, &sealed].concat()
    }

    fn unwrap(&self, person: &str, stored: &[u8]) -> Option<Vec<u8>> {
        let rest = stored.strip_prefix(&[WRAPPED_V1])?;
        let (nonce, sealed) = rest.split_at_checked(24)?;
        let payload = Payload {
            msg: sealed,
            aad: person.as_bytes(),
        };
        self.wrapping
            .decrypt(&XNonce::try_from(nonce).ok()?, payload)
            .ok()
    }
}

/// A person's key from what the bucket stores: raw (from before wrapping) or wrapped.
fn stored_key(wrapping: Option<&PlatformKey>, person: &str, stored: &[u8]) -> anyhow::Result<Key> {
    let raw = raw_key(wrapping, person, stored)?;
    Key::from_bytes(&raw).ok_or_else(|| anyhow::anyhow!("the stored key of {person} is malformed"))
}

/// The 32 bytes of a person's key from what the bucket stores.
fn raw_key(wrapping: Option<&PlatformKey>, person: &str, stored: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(
        if stored.len() == WRAPPED_LEN && stored.first() == Some(&WRAPPED_V1) {
            let wrapping = wrapping.ok_or_else(|| {
                anyhow::anyhow!("the key of {person} is wrapped: AGORA_ENCRYPTION_KEY is needed")
            })?;
            wrapping.unwrap(person, stored).ok_or_else(|| {
            anyhow::anyhow!(
                "the platform's key does not open the key of {person}: AGORA_ENCRYPTION_KEY is not the one that wrapped it"
            )
        })?
        } else {
            stored.to_vec()
        },
    )
}

/// The platform's keys, from its key-value bucket, cached in the process.
pub struct Keyring {
    js: jetstream::Context,
    /// Wraps the keys in the bucket (`None`: they are stored raw, as before wrapping).
    wrapping: Option<PlatformKey>,
    /// For a restore: the key that wrapped the backup's keys, when it is another
    /// platform's (they are wrapped again with `wrapping`).
    source: Option<PlatformKey>,
    bucket: String,
    replicas: usize,
    kv: OnceCell<kv::Store>,
    /// `None`: the person's key was purged (erased). Entries are fetched again after
    /// [`CACHE_FOR`], so a key shredded by another process is forgotten here too.
    cache: quick_cache::sync::Cache<String, (Option<Key>, Instant)>,
}

/// How long a process trusts a cached key.
const CACHE_FOR: Duration = Duration::from_secs(300);

impl Keyring {
    pub fn new(
        js: jetstream::Context,
        prefix: &str,
        replicas: usize,
        wrapping: Option<PlatformKey>,
    ) -> Self {
        Keyring {
            js,
            wrapping,
            source: None,
            bucket: format!("{prefix}-keys"),
            replicas,
            kv: OnceCell::new(),
            cache: quick_cache::sync::Cache::new(100_000),
        }
    }

    async fn kv(&self) -> anyhow::Result<&kv::Store> {
        self.kv
            .get_or_try_init(|| async {
                if let Ok(store) = self.js.get_key_value(&self.bucket).await {
                    return Ok(store);
                }
                let config = kv::Config {
                    bucket: self.bucket.clone(),
                    description: "per-person keys of sealed event fields (crypto-shredding)".into(),
                    history: 1,
                    num_replicas: self.replicas,
                    ..Default::default()
                };
                Ok(self.js.create_key_value(config).await?)
            })
            .await
    }

    /// The person's key, made on first use; `None` when the person was erased (a key is
    /// never made again for them).
    pub async fn for_sealing(&self, person: &str) -> anyhow::Result<Option<Key>> {
        if let Some(known) = self.cached(person) {
            return Ok(known);
        }
        let kv = self.kv().await?;
        let wrapping = self.wrapping.as_ref();
        let key = match kv.entry(person).await? {
            Some(entry) if entry.operation != kv::Operation::Put => None,
            Some(entry) => Some(stored_key(wrapping, person, &entry.value)?),
            None => {
                let fresh: [u8; 32] = rand::random();
                let stored = match wrapping {
                    Some(w) => w.wrap(person, &fresh),
                    None => fresh.to_vec(),
                };
                match kv.create(person, stored.into()).await {
                    Ok(_) => Key::from_bytes(&fresh),
                    // Another process made it first: use theirs.
                    Err(_) => match kv.get(person).await? {
                        Some(bytes) => Some(stored_key(wrapping, person, &bytes)?),
                        None => anyhow::bail!("no key for {person} after a conflicting create"),
                    },
                }
            }
        };
        self.cache
            .insert(person.to_string(), (key.clone(), Instant::now()));
        Ok(key)
    }

    fn cached(&self, person: &str) -> Option<Option<Key>> {
        self.cache
            .get(person)
            .filter(|(_, at)| at.elapsed() < CACHE_FOR)
            .map(|(key, _)| key)
    }

    /// The person's key for opening; `None` when it was shredded (erased). A key not
    /// found at all is an error, not an erasure: a replica of the bucket may lag behind
    /// the one that made it, and the event is retried rather than skipped.
    pub async fn for_opening(&self, person: &str) -> anyhow::Result<Option<Key>> {
        if let Some(known) = self.cached(person) {
            return Ok(known);
        }
        let key = match self.kv().await?.entry(person).await? {
            Some(entry) if entry.operation == kv::Operation::Put => {
                Some(stored_key(self.wrapping.as_ref(), person, &entry.value)?)
            }
            Some(_) => None,
            None => anyhow::bail!("no key for {person} yet"),
        };
        self.cache
            .insert(person.to_string(), (key.clone(), Instant::now()));
        Ok(key)
    }

    /// Wraps with the platform's key the keys the bucket still holds raw (stored before
    /// wrapping, or by a process without the key); returns how many. Each is replaced only
    /// at the revision it was read at, so a key shredded meanwhile stays shredded. Safe to
    /// run in several processes at once.
    pub async fn wrap_raw_keys(&self) -> anyhow::Result<usize> {
        let Some(wrapping) = &self.wrapping else {
            return Ok(0);
        };
        let kv = self.kv().await?;
        let mut people = Vec::new();
        let mut keys = kv.keys().await?;
        while let Some(person) = futures::StreamExt::next(&mut keys).await {
            people.push(person?);
        }
        let mut wrapped = 0;
        for person in people {
            let Some(entry) = kv.entry(&person).await? else {
                continue;
            };
            let raw = entry.value.len() == 32 && entry.operation == kv::Operation::Put;
            if raw {
                let stored = wrapping.wrap(&person, &entry.value);
                // A conflict: it changed since (shredded, or wrapped by another process).
                if kv
                    .update(&person, stored.into(), entry.revision)
                    .await
                    .is_ok()
                {
                    wrapped += 1;
                }
            }
        }
        Ok(wrapped)
    }

    /// Destroys the person's key: everything sealed with it is unreadable from now on, in
    /// every process (each forgets a cached copy within [`CACHE_FOR`], and none makes a new
    /// one).
    pub async fn shred(&self, person: &str) -> anyhow::Result<()> {
        self.kv().await?.purge(person).await?;
        self.forget(person);
        Ok(())
    }

    /// Forgets the cached key of an erased person.
    pub fn forget(&self, person: &str) {
        self.cache
            .insert(person.to_string(), (None, Instant::now()));
    }

    /// The JetStream stream behind the bucket, which backups copy.
    pub fn stream_name(&self) -> String {
        format!("KV_{}", self.bucket)
    }

    /// The person a message of the bucket's stream is about, and their key (`None`: it
    /// was shredded), from the message's subject (`$KV.<bucket>.<person>`) and its
    /// `KV-Operation` header (`DEL`, `PURGE`; none for a put).
    pub fn entry_of(
        &self,
        subject: &str,
        operation: Option<&str>,
        value: &[u8],
    ) -> Option<(String, Option<Vec<u8>>)> {
        let person = subject.strip_prefix(&format!("$KV.{}.", self.bucket))?;
        let key = operation.is_none().then(|| value.to_vec());
        Some((person.to_string(), key))
    }

    /// The same keyring, reading a backup's keys wrapped by `source` (another platform's).
    pub fn restoring_from(mut self, source: Option<PlatformKey>) -> Self {
        self.source = source;
        self
    }

    /// A backup's stored key as this platform stores it: opened with this platform's key
    /// or the source's, wrapped with this platform's. A key neither opens stops the
    /// restore: writing it would lose every sealed field of that person.
    fn rewrapped(&self, person: &str, stored: &[u8]) -> anyhow::Result<Vec<u8>> {
        let raw = match raw_key(self.wrapping.as_ref(), person, stored) {
            Ok(raw) => raw,
            Err(e) => match &self.source {
                Some(source) => raw_key(Some(source), person, stored)?,
                None => return Err(e.context(
                    "the backup's keys were wrapped by another platform's key: give it as AGORA_RESTORE_SOURCE_ENCRYPTION_KEY",
                )),
            },
        };
        Ok(match &self.wrapping {
            Some(wrapping) => wrapping.wrap(person, &raw),
            None => raw,
        })
    }

    /// Puts back keys a backup holds (`None`: the person was erased), without ever
    /// undoing what the bucket already says: a person it knows (with a key, or shredded
    /// since the backup) stays as the bucket has them, and a shredding in the backup
    /// shreds. Returns how many entries changed the bucket.
    pub async fn restore(
        &self,
        entries: impl IntoIterator<Item = (String, Option<Vec<u8>>)>,
    ) -> anyhow::Result<usize> {
        let kv = self.kv().await?;
        let mut changed = 0;
        for (person, key) in entries {
            match key {
                None => {
                    let shredded = kv
                        .entry(&person)
                        .await?
                        .is_some_and(|e| e.operation != kv::Operation::Put);
                    if !shredded {
                        kv.purge(&person).await?;
                        self.forget(&person);
                        changed += 1;
                    }
                }
                Some(key) => {
                    if kv.entry(&person).await?.is_none() {
                        kv.create(&person, self.rewrapped(&person, &key)?.into())
                            .await?;
                        changed += 1;
                    }
                }
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let key = Key::from_bytes(&[7; 32]).unwrap();
        let other = Key::from_bytes(&[8; 32]).unwrap();
        let sealed = key.seal(b"\"Zoe\"", b"event-1/display_name");
        // The name is nowhere in what is sealed (a check on the bytes: random base64 text
        // spells a three-letter word now and then).
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        assert!(!bytes.windows(5).any(|w| w == b"\"Zoe\""));
        assert_eq!(
            key.open(&sealed, b"event-1/display_name").unwrap(),
            b"\"Zoe\""
        );
        assert!(
            key.open(&sealed, b"event-2/display_name").is_none(),
            "moved elsewhere"
        );
        assert!(
            other.open(&sealed, b"event-1/display_name").is_none(),
            "another key"
        );
        assert!(key.open("not base64!", b"x").is_none());
    }

    #[test]
    fn a_wrapped_key_opens_with_the_platform_key_for_its_person_only() {
        let platform = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
        let other = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
        let raw = [9u8; 32];
        let stored = platform.wrap("ann", &raw);
        assert_eq!(stored.len(), WRAPPED_LEN);
        assert!(
            !stored.windows(32).any(|w| w == raw),
            "the key is not in the clear"
        );
        assert_eq!(raw_key(Some(&platform), "ann", &stored).unwrap(), raw);
        // Bound to the person: moved to another's entry, it does not open.
        assert!(raw_key(Some(&platform), "bob", &stored).is_err());
        // Another platform's key, or none, is an error (never an erasure).
        let wrong = raw_key(Some(&other), "ann", &stored).unwrap_err();
        assert!(
            wrong.to_string().contains("AGORA_ENCRYPTION_KEY"),
            "{wrong}"
        );
        assert!(raw_key(None, "ann", &stored).is_err());
        // Keys stored before wrapping are still read.
        assert_eq!(raw_key(Some(&platform), "ann", &raw).unwrap(), raw);
        assert!(PlatformKey::from_setting("c2hvcnQ=").is_err(), "too short");
    }
}
