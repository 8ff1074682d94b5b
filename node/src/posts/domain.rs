//! Pure rules of posts: text, hashtags and mentions, visibility, who reads what.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::groups::events::{GroupPrivacy, GroupRole};
use crate::platform::text::clean_text;

use super::error::{Error, Result};
pub use super::events::{Audience, ReactionKind, Visibility, stored_audience};

/// Longest post, in characters (Mastodon allows 500, Facebook 63,206).
pub const POST_MAX_CHARS: usize = 5_000;
/// Longest comment, in characters.
pub const COMMENT_MAX_CHARS: usize = 2_000;

/// An earlier text of an edited post.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Revision {
    pub text: String,
    /// Unix seconds when this text was replaced.
    pub replaced_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Post {
    pub id: String,
    pub author_id: String,
    /// Stored as a plain string (see [`stored_audience`]).
    #[serde(with = "stored_audience")]
    pub audience: Audience,
    pub text: String,
    pub visibility: Visibility,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub shared_post: Option<String>,
    /// Ids of the attached media, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub history: Vec<Revision>,
    pub reactions: BTreeMap<ReactionKind, u64>,
    pub comment_count: u64,
    pub share_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub post_id: String,
    pub author_id: String,
    pub parent_id: Option<String>,
    pub text: String,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub reactions: BTreeMap<ReactionKind, u64>,
    /// Ids of the attached media (at most [`COMMENT_MEDIA_MAX`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
}

/// What the reader knows about how they stand to a post's author and audience.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standing {
    pub is_author: bool,
    pub blocked: bool,
    pub friends: bool,
    pub friend_of_friend: bool,
    /// The group's privacy (group posts), `None` when the group is unknown or deleted.
    pub group_privacy: Option<GroupPrivacy>,
    pub group_member: bool,
    /// A moderator suspended the author: their posts are hidden from everyone meanwhile.
    pub author_suspended: bool,
}

/// Whether a reader in `standing` may read a post. Applied on every read.
pub fn readable(post: &Post, standing: &Standing) -> bool {
    if standing.author_suspended {
        return false;
    }
    if standing.is_author {
        return true;
    }
    if standing.blocked {
        return false;
    }
    match &post.audience {
        Audience::Page { .. } => true,
        Audience::Group { .. } => match standing.group_privacy {
            Some(GroupPrivacy::Public) => true,
            Some(_) => standing.group_member,
            None => false,
        },
        Audience::Profile => match post.visibility {
            Visibility::Public => true,
            Visibility::FriendsOfFriends => standing.friends || standing.friend_of_friend,
            Visibility::Friends => standing.friends,
            Visibility::OnlyMe => false,
        },
    }
}

/// How an actor stands to the audience of a post they publish or moderate.
#[derive(Debug, Clone, Copy)]
pub enum Authority {
    Profile,
    /// `privacy` is `None` when the group is unknown or deleted.
    Group {
        privacy: Option<GroupPrivacy>,
        role: Option<GroupRole>,
    },
    Page {
        exists: bool,
        admin: bool,
    },
}

/// Who publishes where: anyone on their profile, members in their group (a secret group
/// is 404 to others), admins as their page.
pub fn may_publish(authority: Authority) -> Result<()> {
    match authority {
        Authority::Profile => Ok(()),
        Authority::Group { privacy: None, .. } => Err(Error::GroupNotFound),
        Authority::Group { role: Some(_), .. } => Ok(()),
        Authority::Group {
            privacy: Some(GroupPrivacy::Secret),
            role: None,
        } => Err(Error::GroupNotFound),
        Authority::Group { role: None, .. } => Err(Error::MembersOnly),
        Authority::Page { exists: false, .. } => Err(Error::PageNotFound),
        Authority::Page { admin: false, .. } => Err(Error::PageAdminsOnly),
        Authority::Page { .. } => Ok(()),
    }
}

/// The visibility a post gets: profile posts choose (default `public`); group and page
/// posts follow their group or page, so asking for one is refused, on create as on edit.
pub fn visibility_for(audience: &Audience, asked: Option<Visibility>) -> Result<Visibility> {
    match (audience, asked) {
        (Audience::Profile, asked) => Ok(asked.unwrap_or_default()),
        (_, None) => Ok(Visibility::Public),
        (_, Some(_)) => Err(Error::invalid(
            "visibility",
            "group and page posts follow their group or page",
        )),
    }
}

/// Only the author edits a post.
pub fn may_edit_post(post: &Post, actor: &str) -> Result<()> {
    if post.author_id != actor {
        return Err(Error::NotPostAuthor);
    }
    Ok(())
}

/// A post is deleted by its author, an admin of its page, or a moderator of its group.
pub fn may_delete_post(post: &Post, actor: &str, authority: Authority) -> Result<()> {
    let allowed = post.author_id == actor
        || match authority {
            Authority::Profile => false,
            Authority::Page { admin, .. } => admin,
            Authority::Group { role, .. } => role.is_some_and(|r| r >= GroupRole::Moderator),
        };
    if !allowed {
        return Err(Error::MayNotDeletePost);
    }
    Ok(())
}

/// Only the author edits a comment.
pub fn may_edit_comment(comment: &Comment, actor: &str) -> Result<()> {
    if comment.author_id != actor {
        return Err(Error::NotCommentAuthor);
    }
    Ok(())
}

/// A comment is deleted by its author or by the post's author.
pub fn may_delete_comment(post: &Post, comment: &Comment, actor: &str) -> Result<()> {
    if comment.author_id != actor && post.author_id != actor {
        return Err(Error::MayNotDeleteComment);
    }
    Ok(())
}

/// How visible a post is when shared: profile posts keep theirs, page posts and posts of
/// public groups are public; posts of private and secret groups are not shared at all.
pub fn shareable_visibility(
    post: &Post,
    group_privacy: Option<GroupPrivacy>,
) -> Result<Visibility> {
    match &post.audience {
        Audience::Profile => Ok(post.visibility),
        Audience::Page { .. } => Ok(Visibility::Public),
        Audience::Group { .. } => match group_privacy {
            Some(GroupPrivacy::Public) => Ok(Visibility::Public),
            _ => Err(Error::Unshareable),
        },
    }
}

/// A post's text, trimmed and checked; empty only where `allow_empty` (a share).
pub fn post_text(text: &str, allow_empty: bool) -> Result<String> {
    let text = clean_text("text", text, POST_MAX_CHARS, true)?;
    if text.is_empty() && !allow_empty {
        return Err(Error::invalid("text", "must not be empty"));
    }
    Ok(text)
}

/// Most media one post carries (Mastodon's limit).
pub const MEDIA_MAX: usize = 4;

/// Whether a post may name this many media: at most [`MEDIA_MAX`].
pub fn media_count(n: usize) -> Result<()> {
    if n > MEDIA_MAX {
        return Err(Error::invalid("media_ids", format!("at most {MEDIA_MAX}")));
    }
    Ok(())
}

/// Most media one comment carries: one picture, GIF or video (as on Facebook).
pub const COMMENT_MEDIA_MAX: usize = 1;

/// Whether a comment may name this many media: at most [`COMMENT_MEDIA_MAX`].
pub fn comment_media_count(n: usize) -> Result<()> {
    if n > COMMENT_MEDIA_MAX {
        return Err(Error::invalid(
            "media_ids",
            format!("at most {COMMENT_MEDIA_MAX} on a comment"),
        ));
    }
    Ok(())
}

/// Whether these media may go together on one post: at most [`MEDIA_MAX`], and a video
/// only alone (as Mastodon).
pub fn media_together(kinds: &[crate::media::events::Kind]) -> Result<()> {
    use crate::media::events::Kind;
    media_count(kinds.len())?;
    if kinds.len() > 1 && kinds.contains(&Kind::Video) {
        return Err(Error::invalid(
            "media_ids",
            "a video goes alone: no other media on the same post",
        ));
    }
    Ok(())
}

/// A keyword rule as posts keeps it (a projection of moderation's rules).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeywordRule {
    pub id: String,
    pub phrase: String,
    pub action: crate::moderation::events::KeywordAction,
}

/// Screens text against the keyword rules: the first `block` rule it matches refuses it;
/// the ids of the `flag` rules it matches are returned (it goes out, and moderation opens a
/// report).
pub fn screen(text: &str, rules: &[KeywordRule]) -> Result<Vec<String>> {
    use crate::moderation::events::KeywordAction;
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let screened = crate::platform::keywords::screen(text);
    let mut flagged = Vec::new();
    for rule in rules.iter().filter(|r| screened.contains(&r.phrase)) {
        match rule.action {
            KeywordAction::Block => {
                return Err(Error::Blocked {
                    phrase: rule.phrase.clone(),
                    rule_id: rule.id.clone(),
                });
            }
            KeywordAction::Flag => flagged.push(rule.id.clone()),
        }
    }
    Ok(flagged)
}

/// A comment's text, trimmed and checked; never empty.
pub fn comment_text(text: &str, has_media: bool) -> Result<String> {
    let text = clean_text("text", text, COMMENT_MAX_CHARS, true)?;
    if text.is_empty() && !has_media {
        return Err(Error::invalid("text", "must not be empty"));
    }
    Ok(text)
}

/// The visibility of a share: never wider than what it shares.
pub fn share_visibility(requested: Visibility, original: Visibility) -> Visibility {
    requested.min(original)
}

/// `#tags` (lower-cased, deduplicated, at most 30) and `@usernames` (lower-cased,
/// deduplicated) of a text.
pub fn tags_and_mentions(text: &str) -> (Vec<String>, Vec<String>) {
    let mut hashtags = Vec::new();
    let mut mentions = Vec::new();
    let in_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut chars = text.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        let starts_word = !previous.is_some_and(in_word);
        previous = Some(c);
        if (c == '#' || c == '@') && starts_word {
            let mut word = String::new();
            while let Some(&next) = chars.peek().filter(|n| in_word(**n)) {
                word.push(next);
                previous = Some(next);
                chars.next();
            }
            let word = word.to_lowercase();
            let list = if c == '#' {
                &mut hashtags
            } else {
                &mut mentions
            };
            if !word.is_empty() && word.chars().count() <= 100 && !list.contains(&word) {
                list.push(word);
            }
        }
    }
    hashtags.truncate(30);
    (hashtags, mentions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(visibility: Visibility, audience: Audience) -> Post {
        Post {
            id: "p".into(),
            author_id: "a".into(),
            audience,
            text: String::new(),
            visibility,
            hashtags: vec![],
            mentions: vec![],
            shared_post: None,
            media: Vec::new(),
            created_at: 0,
            edited_at: None,
            history: vec![],
            reactions: BTreeMap::new(),
            comment_count: 0,
            share_count: 0,
        }
    }

    #[test]
    fn profile_visibility_matrix() {
        let stranger = Standing::default();
        let friend = Standing {
            friends: true,
            ..Default::default()
        };
        let fof = Standing {
            friend_of_friend: true,
            ..Default::default()
        };
        let blocked_friend = Standing {
            friends: true,
            blocked: true,
            ..Default::default()
        };
        let author = Standing {
            is_author: true,
            ..Default::default()
        };
        let cases = [
            (Visibility::Public, [true, true, true, false, true]),
            (
                Visibility::FriendsOfFriends,
                [false, true, true, false, true],
            ),
            (Visibility::Friends, [false, true, false, false, true]),
            (Visibility::OnlyMe, [false, false, false, false, true]),
        ];
        for (visibility, expected) in cases {
            let p = post(visibility, Audience::Profile);
            let got = [&stranger, &friend, &fof, &blocked_friend, &author].map(|s| readable(&p, s));
            assert_eq!(got, expected, "{visibility:?}");
        }
    }

    #[test]
    fn group_posts_follow_the_group() {
        let p = post(Visibility::Public, Audience::Group { id: "g".into() });
        let outsider = |privacy| Standing {
            group_privacy: Some(privacy),
            ..Default::default()
        };
        assert!(readable(&p, &outsider(GroupPrivacy::Public)));
        assert!(!readable(&p, &outsider(GroupPrivacy::Private)));
        assert!(!readable(&p, &outsider(GroupPrivacy::Secret)));
        let member = Standing {
            group_privacy: Some(GroupPrivacy::Secret),
            group_member: true,
            ..Default::default()
        };
        assert!(readable(&p, &member));
        assert!(
            !readable(&p, &Standing::default()),
            "an unknown or deleted group hides its posts"
        );
    }

    #[test]
    fn stored_audiences_round_trip() {
        for audience in [
            Audience::Profile,
            Audience::Group { id: "g1".into() },
            Audience::Page { id: "p1".into() },
        ] {
            let p = post(Visibility::Public, audience.clone());
            let back: Post = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
            assert_eq!(back.audience, audience);
        }
    }

    #[test]
    fn who_publishes_and_deletes_where() {
        let group = |privacy, role| Authority::Group {
            privacy: Some(privacy),
            role,
        };
        assert!(may_publish(group(GroupPrivacy::Public, Some(GroupRole::Member))).is_ok());
        assert!(matches!(
            may_publish(group(GroupPrivacy::Public, None)),
            Err(Error::MembersOnly)
        ));
        assert!(matches!(
            may_publish(group(GroupPrivacy::Secret, None)),
            Err(Error::GroupNotFound),
        ));
        assert!(matches!(
            may_publish(Authority::Page {
                exists: true,
                admin: false
            }),
            Err(Error::PageAdminsOnly)
        ));
        let p = post(Visibility::Public, Audience::Group { id: "g".into() });
        assert!(
            may_delete_post(&p, "a", Authority::Profile).is_ok(),
            "the author"
        );
        let member = group(GroupPrivacy::Public, Some(GroupRole::Member));
        assert!(may_delete_post(&p, "m", member).is_err());
        let moderator = group(GroupPrivacy::Public, Some(GroupRole::Moderator));
        assert!(may_delete_post(&p, "m", moderator).is_ok());
    }

    #[test]
    fn shares_never_widen() {
        assert_eq!(
            share_visibility(Visibility::Public, Visibility::Friends),
            Visibility::Friends
        );
        assert_eq!(
            share_visibility(Visibility::OnlyMe, Visibility::Public),
            Visibility::OnlyMe
        );
    }

    #[test]
    fn hashtags_and_mentions_are_extracted() {
        let (tags, mentions) =
            tags_and_mentions("Hello @Bob and @bob! #Rust #rust #2026 e-mail a@b.c #");
        assert_eq!(tags, ["rust", "2026"]);
        assert_eq!(mentions, ["bob"]);
    }
}
