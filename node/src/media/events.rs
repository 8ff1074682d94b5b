//! The published language of media: what other contexts learn of uploads. The contexts
//! that attach media (posts, messages, users) keep what they need to draw an attachment
//! from these, and validate the ids their clients send against them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::envelope::DomainEvent;

pub use super::domain::{Kind, Thumbnail};

pub const CONTEXT: &str = "media";

/// A size of a stored rendition.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
}

/// An upload was accepted and stored: everything needed to draw it, but not where its
/// bytes are (URLs are signed per viewer when drawn).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaUploaded {
    pub media_id: String,
    pub owner_id: String,
    pub kind: Kind,
    /// The stored rendition's type (`image/jpeg`, `video/mp4`, ...).
    pub content_type: String,
    pub size_bytes: u64,
    /// Of the stored picture; none for videos (stored as uploaded, not probed).
    pub dimensions: Option<Dimensions>,
    /// The thumbnails there are, with their sizes (none for videos).
    pub thumbnails: Vec<(Thumbnail, Dimensions)>,
    pub blurhash: Option<String>,
    pub alt: String,
}
impl DomainEvent for MediaUploaded {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MediaUploaded";
    const PERSONAL: &'static [&'static str] = &["alt"];
    const SUBJECT: &'static str = "owner_id";
}

/// The owner changed the alt text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaDescribed {
    pub media_id: String,
    pub owner_id: String,
    pub alt: String,
}
impl DomainEvent for MediaDescribed {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MediaDescribed";
    const PERSONAL: &'static [&'static str] = &["alt"];
    const SUBJECT: &'static str = "owner_id";
}

/// The media is gone: its bytes are released (removed after a grace period when no other
/// media shares them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaDeleted {
    pub media_id: String,
    pub owner_id: String,
}
impl DomainEvent for MediaDeleted {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "MediaDeleted";
}

/// A thumbnail of an attachment, with the URL that fetches it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct ThumbnailLink {
    pub size: Thumbnail,
    pub width: u32,
    pub height: u32,
    /// Signed for the viewer; valid one to two hours.
    pub url: String,
}

/// How every context draws a media item for a viewer who may see it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Attachment {
    pub id: String,
    pub kind: Kind,
    pub content_type: String,
    /// Absent for videos.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// A blurred placeholder to show while the picture loads (<https://blurha.sh>).
    pub blurhash: Option<String>,
    pub alt: String,
    /// The stored file, signed for the viewer; valid one to two hours.
    pub url: String,
    /// Small and medium renditions (none for videos).
    pub thumbnails: Vec<ThumbnailLink>,
}

impl MediaUploaded {
    /// The attachment as a viewer who may see it gets it, its URLs signed with `urls`.
    pub fn attachment(
        &self,
        urls: &crate::platform::media_urls::MediaUrls,
        now: i64,
    ) -> Attachment {
        let id = &self.media_id;
        Attachment {
            id: id.clone(),
            kind: self.kind,
            content_type: self.content_type.clone(),
            width: self.dimensions.map(|d| d.width),
            height: self.dimensions.map(|d| d.height),
            blurhash: self.blurhash.clone(),
            alt: self.alt.clone(),
            url: urls.url(id, "file", now),
            thumbnails: self
                .thumbnails
                .iter()
                .map(|(size, d)| ThumbnailLink {
                    size: *size,
                    width: d.width,
                    height: d.height,
                    url: urls.url(id, &format!("thumbnails/{}", size.name()), now),
                })
                .collect(),
        }
    }
}
