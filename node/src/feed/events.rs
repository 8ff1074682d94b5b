//! The published language of feed: which posts readers were shown (for analytics' reach
//! and impressions), in batches.

use serde::{Deserialize, Serialize};

use crate::platform::envelope::DomainEvent;
pub use crate::platform::views::{View, ViewBatch};

pub const CONTEXT: &str = "feed";

/// Posts shown in readers' feeds over about a second.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostsSeen {
    pub views: Vec<View>,
}
impl DomainEvent for PostsSeen {
    const CONTEXT: &'static str = CONTEXT;
    const TYPE: &'static str = "PostsSeen";
}

impl From<ViewBatch> for PostsSeen {
    fn from(b: ViewBatch) -> Self {
        PostsSeen { views: b.views }
    }
}
