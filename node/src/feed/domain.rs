//! Pure rules of the home feed: who sees which post in it, the ranking score, and the
//! cursors that keep pages stable while new posts arrive.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::posts::events::{Audience, Visibility};

/// Entries kept per home timeline (fan-out on write); older ones fall off.
pub const TIMELINE_CAP: usize = 800;
/// Timeline entries (plus page posts) considered per read: what bounds the cost of a read
/// (and the window the ranked order ranks).
pub const CANDIDATES: usize = 120;
/// Recent posts taken per followed page per read window (pull path), and back-filled from
/// a new friend or group.
pub const PER_SOURCE: usize = 50;
/// Users not seen for this long get no fan-out; their timeline is rebuilt when they return.
pub const ACTIVE_SECS: i64 = 30 * 86_400;

/// What the feed keeps of a post (from posts' events).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostMeta {
    pub id: String,
    pub author_id: String,
    /// Stored as a plain string: a feed read decodes 120 of these, and the tagged form
    /// costs a buffered decode each.
    #[serde(with = "crate::posts::events::stored_audience")]
    pub audience: Audience,
    pub visibility: Visibility,
    pub text: String,
    pub shared_post: Option<String>,
    pub created_at: i64,
    pub reactions: u64,
    pub comments: u64,
    pub shares: u64,
    /// The attached media as posted (alt text as it was then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<crate::media::events::MediaUploaded>,
    /// A moderator removed it: in no feed, not even its author's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

impl From<&crate::posts::events::PostCreated> for PostMeta {
    fn from(e: &crate::posts::events::PostCreated) -> Self {
        PostMeta {
            id: e.post_id.clone(),
            author_id: e.author_id.clone(),
            audience: e.audience.clone(),
            visibility: e.visibility,
            text: e.text.clone(),
            shared_post: e.shared_post.clone(),
            created_at: e.created_at,
            reactions: 0,
            comments: 0,
            shares: 0,
            media: e.media.clone(),
            removed: false,
        }
    }
}

/// How the reader stands to a post's author and audience.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relation {
    pub is_author: bool,
    /// The author is suspended: their posts are hidden from everyone meanwhile.
    pub author_suspended: bool,
    pub friends: bool,
    pub blocked: bool,
    pub group_member: bool,
    pub follows_page: bool,
}

/// Whether a post belongs in the reader's home feed: their own posts, friends' profile
/// posts they may read, posts of groups they belong to, posts of pages they follow.
pub fn in_feed(post: &PostMeta, r: &Relation) -> bool {
    if post.removed || r.author_suspended {
        return false;
    }
    if r.is_author {
        return true;
    }
    if r.blocked {
        return false;
    }
    match &post.audience {
        Audience::Profile => r.friends && post.visibility != Visibility::OnlyMe,
        Audience::Group { .. } => r.group_member,
        Audience::Page { .. } => r.follows_page,
    }
}

/// Whether the reader may see a shared original: theirs; else not across a block; a
/// profile post by its visibility (friends of friends only for friends: the feed does not
/// know the second degree, so it errs on hiding); a group post for members, or anyone when
/// the group is public; a page post for anyone.
pub fn original_visible(original: &PostMeta, r: &Relation, public_group: bool) -> bool {
    if original.removed || r.author_suspended {
        return false;
    }
    if r.is_author {
        return true;
    }
    if r.blocked {
        return false;
    }
    match &original.audience {
        Audience::Profile => match original.visibility {
            Visibility::Public => true,
            Visibility::Friends | Visibility::FriendsOfFriends => r.friends,
            Visibility::OnlyMe => false,
        },
        Audience::Group { .. } => r.group_member || public_group,
        Audience::Page { .. } => true,
    }
}

/// The ranking score (EdgeRank-like), at time `as_of` (unix seconds):
///
/// `score = affinity × weight × engagement × decay`, where
/// - `affinity = 1 + ln(1 + interactions)`: the reader's reactions, comments and shares on
///   the author's posts;
/// - `weight`: 1.0 for a friend's or group post, 0.9 for a share, 0.8 for a page post, 0.5
///   for the reader's own post;
/// - `engagement = 1 + ln(1 + reactions + 2·comments + 3·shares)`;
/// - `decay = (1 + age_hours / 6)^-1.5`, so a post loses half its score in about 3 hours
///   and nine tenths in about 20.
pub fn score(post: &PostMeta, interactions: u64, own: bool, as_of: i64) -> f64 {
    let affinity = 1.0 + (1.0 + interactions as f64).ln();
    let weight = if own {
        0.5
    } else if post.shared_post.is_some() {
        0.9
    } else if matches!(post.audience, Audience::Page { .. }) {
        0.8
    } else {
        1.0
    };
    let engagement = 1.0
        + (1.0 + post.reactions as f64 + 2.0 * post.comments as f64 + 3.0 * post.shares as f64)
            .ln();
    let age_hours = (as_of - post.created_at).max(0) as f64 / 3600.0;
    let decay = (1.0 + age_hours / 6.0).powf(-1.5);
    affinity * weight * engagement * decay
}

/// How the feed is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Recent,
    #[default]
    Ranked,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Cursor {
    /// Posts older than this id.
    Recent(String),
    /// Scores frozen at `as_of`; items after `(score, id)` in descending order.
    Ranked { as_of: i64, score: f64, id: String },
}

impl Cursor {
    pub fn encode(&self) -> String {
        let raw = match self {
            Cursor::Recent(id) => format!("t.{id}"),
            Cursor::Ranked { as_of, score, id } => format!("r.{as_of}.{}.{id}", score.to_bits()),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(s: &str, order: Order) -> Result<Cursor, Error> {
        let bad = || Error::BadCursor;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let parts: Vec<&str> = raw.split('.').collect();
        let id = |s: &str| {
            ulid::Ulid::from_string(s)
                .map(|u| u.to_string())
                .map_err(|_| bad())
        };
        match (order, parts.as_slice()) {
            (Order::Recent, ["t", post]) => Ok(Cursor::Recent(id(post)?)),
            (Order::Ranked, ["r", as_of, score, post]) => Ok(Cursor::Ranked {
                as_of: as_of.parse().map_err(|_| bad())?,
                score: f64::from_bits(score.parse().map_err(|_| bad())?),
                id: id(post)?,
            }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(created_at: i64, reactions: u64) -> PostMeta {
        PostMeta {
            id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            author_id: "a".into(),
            audience: Audience::Profile,
            visibility: Visibility::Friends,
            text: String::new(),
            shared_post: None,
            created_at,
            reactions,
            comments: 0,
            shares: 0,
            media: Vec::new(),
            removed: false,
        }
    }

    #[test]
    fn newer_engaging_posts_from_close_friends_rank_higher() {
        let now = 100_000;
        let fresh = score(&meta(now - 60, 0), 0, false, now);
        let old = score(&meta(now - 86_400, 0), 0, false, now);
        assert!(fresh > old * 5.0, "decay: {fresh} vs {old}");
        assert!(score(&meta(now, 50), 0, false, now) > score(&meta(now, 0), 0, false, now));
        assert!(score(&meta(now, 0), 20, false, now) > score(&meta(now, 0), 0, false, now));
        assert!(score(&meta(now, 0), 0, true, now) < score(&meta(now, 0), 0, false, now));
        let half_life =
            score(&meta(now - 3 * 3600, 0), 0, false, now) / score(&meta(now, 0), 0, false, now);
        assert!((0.45..0.6).contains(&half_life), "{half_life}");
    }

    #[test]
    fn who_gets_a_post_in_their_feed() {
        let friend = Relation {
            friends: true,
            ..Default::default()
        };
        let mut p = meta(0, 0);
        assert!(in_feed(&p, &friend));
        assert!(!in_feed(&p, &Relation::default()));
        assert!(!in_feed(
            &p,
            &Relation {
                blocked: true,
                ..friend
            }
        ));
        p.visibility = Visibility::OnlyMe;
        assert!(!in_feed(&p, &friend));
        assert!(in_feed(
            &p,
            &Relation {
                is_author: true,
                ..Default::default()
            }
        ));
        p.audience = Audience::Group { id: "g".into() };
        assert!(in_feed(
            &p,
            &Relation {
                group_member: true,
                ..Default::default()
            }
        ));
        assert!(
            !in_feed(&p, &friend),
            "friendship alone does not open a group"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor::Ranked {
            as_of: 17,
            score: 0.123,
            id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
        };
        assert_eq!(Cursor::decode(&c.encode(), Order::Ranked).unwrap(), c);
        let r = Cursor::Recent("01ARZ3NDEKTSV4RRFFQ69G5FAV".into());
        assert_eq!(Cursor::decode(&r.encode(), Order::Recent).unwrap(), r);
        assert!(Cursor::decode(&r.encode(), Order::Ranked).is_err());
        assert!(Cursor::decode("!!", Order::Recent).is_err());
    }
}
