//! Signed media URLs: how a context that decided a viewer may read something (a post, a
//! message, a profile) lets that viewer's browser fetch its pictures from the media
//! context, which knows nothing of friendships or groups.
//!
//! A URL is `/api/v1/media/{id}/{variant}?exp=<unix seconds>&sig=<HMAC-SHA256>` over the
//! id and the expiry, with the platform's media URL key (`AGORA_MEDIA_URL_KEY`), shared by
//! the contexts that render media and by media, which checks it. `<img src>` sends no
//! bearer token, so a capability in the URL is what browsers can use (the approach of
//! every large network's CDN). The expiry is rounded up to the next full hour plus one, so
//! a URL stays the same for an hour (browsers and proxies cache it) and lives one to two
//! hours: that is how long a URL someone was given outlives a privacy change.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a signed URL stays the same (and, at least, valid), in seconds.
pub const URL_PERIOD_SECS: i64 = 3_600;

/// Bytes of a key: the size of SHA-256's block half, as HMAC-SHA256 wants.
const KEY_BYTES: usize = 32;

/// The key that signs and checks media URLs.
#[derive(Clone)]
pub struct MediaUrls {
    key: Vec<u8>,
}

impl std::fmt::Debug for MediaUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaUrls(..)")
    }
}

impl MediaUrls {
    /// A key from its base64 text (at least 32 bytes once decoded).
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let key = STANDARD
            .decode(text.trim())
            .map_err(|e| anyhow::anyhow!("the media URL key is not base64: {e}"))?;
        if key.len() < KEY_BYTES {
            anyhow::bail!("the media URL key must hold at least {KEY_BYTES} bytes");
        }
        Ok(MediaUrls { key })
    }

    /// A key from `AGORA_MEDIA_URL_KEY`'s value: base64 text, or a path to a file holding it.
    pub fn from_setting(value: &str) -> anyhow::Result<Self> {
        if Path::new(value).is_file() {
            let text = std::fs::read_to_string(value)
                .map_err(|e| anyhow::anyhow!("AGORA_MEDIA_URL_KEY: cannot read {value}: {e}"))?;
            return Self::from_base64(&text);
        }
        Self::from_base64(value)
    }

    /// A new random key, as base64 text.
    pub fn generate() -> String {
        let key: [u8; KEY_BYTES] = rand::random();
        STANDARD.encode(key)
    }

    /// Reads `dir/media-url.key`, creating it on first use (dev only), owner-only (0600).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        Self::from_base64(&super::keyfile::load_or_create(
            dir,
            "media-url.key",
            Self::generate,
        )?)
    }

    fn mac(&self, media_id: &str, exp: i64) -> Hmac<Sha256> {
        #[expect(clippy::expect_used, reason = "HMAC takes keys of any length")]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(media_id.as_bytes());
        mac.update(b"\n");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    /// The query (`exp=...&sig=...`) that lets its holder fetch every variant of
    /// `media_id` until the end of the next full hour.
    pub fn grant(&self, media_id: &str, now: i64) -> String {
        let exp = (now.div_euclid(URL_PERIOD_SECS) + 2) * URL_PERIOD_SECS;
        let sig = URL_SAFE_NO_PAD.encode(self.mac(media_id, exp).finalize().into_bytes());
        format!("exp={exp}&sig={sig}")
    }

    /// The URL of one variant (`file`, `thumbnails/small`, ...) of `media_id`.
    pub fn url(&self, media_id: &str, variant: &str, now: i64) -> String {
        format!(
            "/api/v1/media/{media_id}/{variant}?{}",
            self.grant(media_id, now)
        )
    }

    /// Whether `sig` is this key's signature of `media_id` until `exp`, and `exp` is not past.
    pub fn verify(&self, media_id: &str, exp: i64, sig: &str, now: i64) -> bool {
        if exp < now {
            return false;
        }
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        self.mac(media_id, exp).verify_slice(&sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(grant: &str) -> (i64, String) {
        let mut exp = 0;
        let mut sig = String::new();
        for (k, v) in form_urlencoded::parse(grant.as_bytes()) {
            match k.as_ref() {
                "exp" => exp = v.parse().unwrap(),
                "sig" => sig = v.into_owned(),
                _ => {}
            }
        }
        (exp, sig)
    }

    #[test]
    fn a_grant_opens_its_media_only_and_only_until_it_expires() {
        let urls = MediaUrls::from_base64(&MediaUrls::generate()).unwrap();
        let now = 1_800_000_000;
        let (exp, sig) = query(&urls.grant("A", now));
        assert!(exp - now > URL_PERIOD_SECS && exp - now <= 2 * URL_PERIOD_SECS);
        assert!(urls.verify("A", exp, &sig, now));
        assert!(!urls.verify("B", exp, &sig, now), "another media id");
        assert!(!urls.verify("A", exp + 1, &sig, now), "a changed expiry");
        assert!(!urls.verify("A", exp, &sig, exp + 1), "after it expired");
        assert!(!urls.verify("A", exp, "not base64!", now));
        let other = MediaUrls::from_base64(&MediaUrls::generate()).unwrap();
        assert!(!other.verify("A", exp, &sig, now), "another platform's key");
    }

    #[test]
    fn a_url_stays_the_same_for_an_hour() {
        let urls = MediaUrls::from_base64(&MediaUrls::generate()).unwrap();
        let start = 1_800_000_000 - 1_800_000_000 % URL_PERIOD_SECS;
        assert_eq!(urls.grant("A", start), urls.grant("A", start + 3_599));
        assert_ne!(urls.grant("A", start), urls.grant("A", start + 3_600));
    }

    #[test]
    fn short_or_garbled_keys_are_refused() {
        assert!(MediaUrls::from_base64("c2hvcnQ=").is_err());
        assert!(MediaUrls::from_base64("***").is_err());
    }
}
