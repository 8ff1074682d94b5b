//! The rules of media, without I/O: which types are accepted (decided by the content's
//! first bytes, never by what the client claims), the limits a decoded picture must keep,
//! the thumbnail sizes, the quota, and alt text.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::Error;

/// What a stored media item is, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = MediaKind)]
pub enum Kind {
    /// A still picture (JPEG, PNG, WebP), re-encoded without metadata.
    Image,
    /// A GIF, animation kept, re-encoded without metadata.
    Gif,
    /// An MP4 or WebM video, stored as uploaded.
    Video,
}

/// An accepted upload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
    Mp4,
    Webm,
}

/// How many first bytes [`Format::sniff`] is given to decide (WebM's doctype may sit
/// anywhere in the first 256).
pub const SNIFF_BYTES: usize = 512;

impl Format {
    /// The format the content is, from its first bytes; `None` for anything not accepted.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        let found = infer::get(head)?;
        Some(match found.mime_type() {
            "image/jpeg" => Format::Jpeg,
            "image/png" => Format::Png,
            "image/webp" => Format::Webp,
            "image/gif" => Format::Gif,
            "video/mp4" => Format::Mp4,
            "video/webm" => Format::Webm,
            _ => return None,
        })
    }

    pub fn kind(self) -> Kind {
        match self {
            Format::Jpeg | Format::Png | Format::Webp => Kind::Image,
            Format::Gif => Kind::Gif,
            Format::Mp4 | Format::Webm => Kind::Video,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
            Format::Mp4 => "video/mp4",
            Format::Webm => "video/webm",
        }
    }
}

/// Widest and tallest picture decoded, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Most pixels a picture (all frames of a GIF together) may decode to: 36 megapixels,
/// 144 MB as RGBA. A 50,000 × 50,000 PNG is refused from its header, before any decoding.
pub const MAX_PIXELS: u64 = 36_000_000;
/// Most bytes a decoder may allocate.
pub const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;

/// Whether a picture of `width` × `height` may be decoded.
pub fn check_dimensions(width: u32, height: u32) -> Result<(), Error> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(Error::Undecodable("the picture has no pixels".into()));
    }
    if width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS {
        return Err(too_many_pixels(width, height));
    }
    Ok(())
}

/// The refusal of a picture of `width` × `height`, naming the limits.
pub fn too_many_pixels(width: u32, height: u32) -> Error {
    Error::TooManyPixels {
        width,
        height,
        max_side: MAX_SIDE,
        max_pixels: MAX_PIXELS,
    }
}

/// A thumbnail size: the longest side of the picture scaled down to fit (never up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ThumbnailSize)]
pub enum Thumbnail {
    /// Fits 320 × 320: lists and previews.
    Small,
    /// Fits 1280 × 1280: the picture in a post on a phone or a feed column.
    Medium,
}

impl Thumbnail {
    pub const ALL: [Thumbnail; 2] = [Thumbnail::Small, Thumbnail::Medium];

    pub fn max_side(self) -> u32 {
        match self {
            Thumbnail::Small => 320,
            Thumbnail::Medium => 1280,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Thumbnail::Small => "small",
            Thumbnail::Medium => "medium",
        }
    }

    pub fn parse(name: &str) -> Option<Thumbnail> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The size of a picture scaled to fit `max` × `max`, keeping its ratio; never larger.
pub fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width <= max && height <= max {
        return (width, height);
    }
    let scale = f64::from(max) / f64::from(width.max(height));
    let side = |n: u32| ((f64::from(n) * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// The quota check before an upload of `size` bytes is kept.
pub fn check_quota(used: u64, quota: u64, size: u64) -> Result<(), Error> {
    if used.saturating_add(size) > quota {
        return Err(Error::QuotaExceeded { used, quota });
    }
    Ok(())
}

/// Longest alt text, in characters (Mastodon's limit).
pub const ALT_MAX: usize = 1_500;

/// Alt text, trimmed and checked: at most [`ALT_MAX`] characters of ordinary text.
pub fn alt_text(text: &str) -> Result<String, Error> {
    crate::platform::text::clean_text("alt", text, ALT_MAX, true).map_err(Error::Field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_decides_the_type_not_the_name() {
        assert_eq!(
            Format::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(Format::Jpeg)
        );
        assert_eq!(
            Format::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(Format::Png)
        );
        assert_eq!(Format::sniff(b"GIF89a\x01\0\x01\0"), Some(Format::Gif));
        assert_eq!(
            Format::sniff(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"),
            Some(Format::Mp4)
        );
        assert_eq!(Format::sniff(b"just some text, called photo.jpg"), None);
        assert_eq!(Format::sniff(b"%PDF-1.7\n"), None);
        assert_eq!(Format::sniff(b""), None);
    }

    #[test]
    fn bombs_are_refused_by_their_dimensions() {
        assert!(check_dimensions(6_000, 6_000).is_ok());
        assert!(matches!(
            check_dimensions(50_000, 50_000),
            Err(Error::TooManyPixels { .. })
        ));
        assert!(check_dimensions(16_385, 10).is_err());
        assert!(check_dimensions(7_000, 7_000).is_err(), "49 megapixels");
        assert!(check_dimensions(0, 10).is_err());
    }

    #[test]
    fn thumbnails_fit_and_never_grow() {
        assert_eq!(fit(4000, 3000, 320), (320, 240));
        assert_eq!(fit(3000, 4000, 1280), (960, 1280));
        assert_eq!(fit(100, 50, 320), (100, 50));
        assert_eq!(fit(10_000, 1, 320), (320, 1));
    }

    #[test]
    fn the_quota_counts_what_is_stored_and_the_upload() {
        assert!(check_quota(900, 1000, 100).is_ok());
        assert!(matches!(
            check_quota(901, 1000, 100),
            Err(Error::QuotaExceeded {
                used: 901,
                quota: 1000
            })
        ));
    }
}
