//! Encryption at rest of a store's values: each value a context writes is sealed with a
//! key derived from the platform's key (`AGORA_ENCRYPTION_KEY`) before sled sees it, and
//! opened when read, so the context's volume (and a backup's copy, and the change stream a
//! follower applies) reveals no record without the Secret.
//!
//! A sealed value is `0xFF ‖ nonce (24) ‖ XChaCha20-Poly1305(value, aad = its key)`: bound
//! to its key, so a value moved under another key does not open. `0xFF` starts no UTF-8
//! text, and every value a context writes is UTF-8 (JSON, or an id), so a stored value
//! says whether it is sealed: values from before sealing are still read, and
//! [`Store::sealed_with`](super::Store::sealed_with) seals them once at open.
//!
//! Not sealed, on purpose: empty values (a set's members live in their keys), and the
//! platform's bookkeeping under keys starting with `_` (LSNs, the applied floor), which
//! name no one. Keys stay in the clear (sled orders by them): they hold ids, hashtags and
//! usernames (public handles), and an index on something private (an e-mail address) keys
//! by its keyed hash instead ([`Sealer::blind`]).

use std::borrow::Cow;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::platform::changes::{ChangeSet, TreeId};
use crate::platform::keyring::PlatformKey;

/// The first byte of a sealed value.
const SEALED: u8 = 0xFF;

/// The key in a store's `data` of its mark: present once its values are sealed, holding
/// [`Sealer::check`], which only the key that sealed the store opens.
pub(super) const MARK: &[u8] = b"_/sealed";
/// What the mark seals, bound to this (not to the mark's key, which is never sealed).
const CHECKED: &[u8] = b"agora sealed store";
const NONCE: usize = 24;

/// Seals and opens the values of one context's store.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// Keys the hashes of private index keys ([`Sealer::blind`]).
    index: Hmac<Sha256>,
}

impl Sealer {
    /// The sealer of `context`'s store: its keys are derived from the platform's, one per
    /// context and purpose.
    #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
    pub fn new(platform: &PlatformKey, context: &str) -> Sealer {
        let values = platform.derive(&format!("agora/store/{context}/values"));
        let index = platform.derive(&format!("agora/store/{context}/index"));
        Sealer {
            cipher: XChaCha20Poly1305::new(&values.into()),
            index: <Hmac<Sha256> as Mac>::new_from_slice(&index).expect("any key length"),
        }
    }

    /// What is stored for `value` under `key`.
    pub fn seal<'v>(&self, key: &[u8], value: &'v [u8]) -> Cow<'v, [u8]> {
        if value.is_empty() || key.starts_with(b"_") {
            return Cow::Borrowed(value);
        }
        let nonce: [u8; NONCE] = rand::random();
        let payload = Payload {
            msg: value,
            aad: key,
        };
        // Encryption fails only past 256 GiB.
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        Cow::Owned([&[SEALED][..], &nonce, &sealed].concat())
    }

    /// The value stored under `key`, opened.
    fn open<'v>(&self, key: &[u8], stored: &'v [u8]) -> Result<Cow<'v, [u8]>, sled::Error> {
        let Some(rest) = sealed(stored).filter(|_| !key.starts_with(b"_")) else {
            return Ok(Cow::Borrowed(stored));
        };
        let (nonce, sealed) = rest.split_at_checked(NONCE).ok_or_else(corrupt)?;
        let nonce = XNonce::try_from(nonce).map_err(|_| corrupt())?;
        let payload = Payload {
            msg: sealed,
            aad: key,
        };
        self.cipher.decrypt(&nonce, payload).map(Cow::Owned).map_err(|_| {
            sled::Error::Unsupported(
                "a record does not open with this platform's key: AGORA_ENCRYPTION_KEY is not the key that sealed the store".into(),
            )
        })
    }

    /// The value of a sealed store's [`MARK`].
    pub(super) fn check(&self) -> Vec<u8> {
        self.seal(CHECKED, CHECKED).into_owned()
    }

    /// Whether this sealer's key sealed the store whose mark holds `stored`.
    pub(super) fn verifies(&self, stored: &[u8]) -> bool {
        self.open(CHECKED, stored).is_ok_and(|v| *v == *CHECKED)
    }

    /// The keyed hash (hex, 128 bits) that stands for `private` in an index key, so the
    /// key names no one; the same input always gives the same hash, so lookups work.
    pub fn blind(&self, private: &str) -> String {
        let mut mac = self.index.clone();
        mac.update(private.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest
            .get(..16)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Seals again with another platform's key what one platform sealed: a restore of a
/// backup of another platform (`AGORA_RESTORE_SOURCE_ENCRYPTION_KEY`).
pub struct Resealing {
    pub from: Sealer,
    pub to: Sealer,
}

impl Resealing {
    /// The value stored under `key` of the data or outbox tree, sealed for `to`.
    pub fn value(&self, key: &[u8], stored: &[u8]) -> Result<Vec<u8>, sled::Error> {
        if key == MARK {
            return Ok(self.to.check());
        }
        if sealed(stored).is_none() {
            return Ok(stored.to_vec());
        }
        let plain = self.from.open(key, stored)?;
        Ok(self.to.seal(key, &plain).into_owned())
    }

    /// A logged change set (`_changes`), its values sealed for `to`.
    pub fn change_set(&self, stored: &[u8]) -> Result<Vec<u8>, sled::Error> {
        let mut set = ChangeSet::decode(stored)
            .map_err(|e| sled::Error::Unsupported(format!("corrupt change set: {e}")))?;
        for change in &mut set.changes {
            if change.tree != TreeId::Consumed
                && let Some(value) = &change.value
            {
                change.value = Some(self.value(&change.key, value)?);
            }
        }
        Ok(set.encode())
    }
}

/// The rest of a sealed value after its marker.
fn sealed(stored: &[u8]) -> Option<&[u8]> {
    stored.strip_prefix(&[SEALED])
}

fn corrupt() -> sled::Error {
    sled::Error::Unsupported("corrupt record: a sealed value too short".into())
}

/// The value stored under `key`, opened with `sealer`; a sealed value without one is an
/// error that says what is missing.
pub fn open<'v>(
    sealer: Option<&Sealer>,
    key: &[u8],
    stored: &'v [u8],
) -> Result<Cow<'v, [u8]>, sled::Error> {
    match sealer {
        Some(sealer) => sealer.open(key, stored),
        None if sealed(stored).is_some() && !key.starts_with(b"_") => {
            Err(sled::Error::Unsupported(
                "the store is encrypted: AGORA_ENCRYPTION_KEY is needed to read it".into(),
            ))
        }
        None => Ok(Cow::Borrowed(stored)),
    }
}

/// [`open`] for a value as sled hands it out: the same buffer when it was not sealed.
pub fn opened(
    sealer: Option<&Sealer>,
    key: &[u8],
    stored: sled::IVec,
) -> Result<sled::IVec, sled::Error> {
    Ok(match open(sealer, key, &stored)? {
        Cow::Borrowed(_) => stored,
        Cow::Owned(plain) => plain.into(),
    })
}

/// What is stored for `value` under `key`: sealed when there is a sealer.
pub fn seal<'v>(sealer: Option<&Sealer>, key: &[u8], value: &'v [u8]) -> Cow<'v, [u8]> {
    match sealer {
        Some(sealer) => sealer.seal(key, value),
        None => Cow::Borrowed(value),
    }
}

/// `stored` as this store keeps it: sealed when it came in the clear and there is a sealer.
pub(super) fn seal_if_clear<'v>(
    sealer: Option<&Sealer>,
    key: &[u8],
    stored: &'v [u8],
) -> Cow<'v, [u8]> {
    match sealer {
        Some(sealer) if needs_sealing(key, stored) => sealer.seal(key, stored),
        _ => Cow::Borrowed(stored),
    }
}

/// Whether `stored` is a value sealing would change (one written before sealing).
pub(super) fn needs_sealing(key: &[u8], stored: &[u8]) -> bool {
    !stored.is_empty() && !key.starts_with(b"_") && sealed(stored).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(context: &str) -> Sealer {
        let key = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
        Sealer::new(&key, context)
    }

    #[test]
    fn a_sealed_value_opens_under_its_key_only() {
        let s = sealer("posts");
        let sealed = s.seal(b"p/1", br#"{"text":"hello"}"#).into_owned();
        assert!(
            !sealed.windows(5).any(|w| w == b"hello"),
            "nothing in clear"
        );
        assert_eq!(&*s.open(b"p/1", &sealed).unwrap(), br#"{"text":"hello"}"#);
        assert!(s.open(b"p/2", &sealed).is_err(), "moved under another key");
        assert!(
            sealer("posts").open(b"p/1", &sealed).is_err(),
            "another platform's key"
        );
        assert!(
            open(None, b"p/1", &sealed).is_err(),
            "no key: an error, never the bytes"
        );
        assert_ne!(sealed, s.seal(b"p/1", br#"{"text":"hello"}"#).into_owned());
    }

    #[test]
    fn bookkeeping_empty_and_old_values_stay_as_they_are() {
        let s = sealer("posts");
        assert_eq!(&*s.seal(b"_/applied-floor", b"12"), b"12");
        assert_eq!(&*s.seal(b"f/ab", b""), b"");
        assert_eq!(&*s.open(b"p/1", b"{\"old\":1}").unwrap(), b"{\"old\":1}");
        assert!(needs_sealing(b"p/1", b"{}"));
        assert!(!needs_sealing(b"p/1", &s.seal(b"p/1", b"{}")));
        assert!(!needs_sealing(b"_/lsn", b"3") && !needs_sealing(b"f/ab", b""));
    }

    #[test]
    fn a_blind_index_key_is_stable_per_platform_and_context() {
        let s = sealer("auth");
        assert_eq!(s.blind("ann@example.com"), s.blind("ann@example.com"));
        assert_eq!(s.blind("ann@example.com").len(), 32);
        assert_ne!(s.blind("ann@example.com"), s.blind("bob@example.com"));
        assert_ne!(
            s.blind("ann@example.com"),
            sealer("auth").blind("ann@example.com")
        );
    }
}
