//! The rules of search, without I/O: what a query may be, how it is split into words and
//! `#tags`, and who may find a document, as *access tokens*.
//!
//! Every document carries the tokens that open it (`public`, `author:<id>`,
//! `friends:<id>`, `fof:<id>`, `member:<group>`); a query carries the tokens its viewer
//! holds (from the friendships and memberships this context keeps) and excludes the
//! authors a block stands between. So privacy is part of the query itself: hidden
//! documents are never ranked, counted or paginated over.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::Error;
use crate::groups::events::GroupPrivacy;
use crate::posts::events::{Audience, Visibility};

/// What is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = SearchType)]
pub enum Kind {
    People,
    Posts,
    Groups,
    Pages,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::People => "people",
            Kind::Posts => "posts",
            Kind::Groups => "groups",
            Kind::Pages => "pages",
        }
    }
}

/// A document as indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    pub kind: Kind,
    pub id: String,
    /// Names: a person's username and display name, a group's or page's name.
    pub title: String,
    /// A person's bio, a post's text.
    pub body: String,
    /// A post's hashtags, lower-case, without `#`.
    pub tags: Vec<String>,
    /// The person, or the post's author: whom a block hides.
    pub owner: Option<String>,
    pub access: Vec<String>,
    pub created_at: i64,
    /// A person's username (shown in results).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// A person's display name (shown in results).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
}

pub const PUBLIC: &str = "public";

pub fn author_token(user: &str) -> String {
    format!("author:{user}")
}

pub fn friends_token(user: &str) -> String {
    format!("friends:{user}")
}

pub fn fof_token(user: &str) -> String {
    format!("fof:{user}")
}

pub fn member_token(group: &str) -> String {
    format!("member:{group}")
}

/// Who finds a person: anyone when they are searchable, else their friends (and they).
pub fn person_access(user: &str, searchable: bool) -> Vec<String> {
    let mut access = vec![author_token(user)];
    access.push(if searchable {
        PUBLIC.to_string()
    } else {
        friends_token(user)
    });
    access
}

/// Who finds a group: anyone, unless it is secret (members only).
pub fn group_access(group: &str, privacy: GroupPrivacy) -> Vec<String> {
    match privacy {
        GroupPrivacy::Secret => vec![member_token(group)],
        _ => vec![PUBLIC.to_string()],
    }
}

/// Who finds a post: exactly who may read it (the rules of posts). `group_privacy` is the
/// group's, for a group post (`None`: unknown or deleted, so members only).
pub fn post_access(
    author: &str,
    audience: &Audience,
    visibility: Visibility,
    group_privacy: Option<GroupPrivacy>,
) -> Vec<String> {
    let mut access = vec![author_token(author)];
    match audience {
        Audience::Page { .. } => access.push(PUBLIC.into()),
        Audience::Group { id } => access.push(match group_privacy {
            Some(GroupPrivacy::Public) => PUBLIC.into(),
            _ => member_token(id),
        }),
        Audience::Profile => match visibility {
            Visibility::Public => access.push(PUBLIC.into()),
            Visibility::Friends => access.push(friends_token(author)),
            Visibility::FriendsOfFriends => {
                access.push(friends_token(author));
                access.push(fof_token(author));
            }
            Visibility::OnlyMe => {}
        },
    }
    access
}

/// Longest query, in characters.
pub const QUERY_MAX: usize = 256;
/// Most words a query is split into.
pub const WORDS_MAX: usize = 16;
/// How far results can be paged (as Elasticsearch's `max_result_window`, smaller).
pub const WINDOW_MAX: usize = 1_000;

/// A query: words (matched with typos and, for names, as prefixes) and `#tags` (exact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub words: Vec<String>,
    pub tags: Vec<String>,
}

/// Splits `q` into words and tags. Operators of any query language are just characters
/// here: `title:x`, quotes, `*` and parentheses are split away like any punctuation.
pub fn parse_query(q: &str) -> Result<Query, Error> {
    let q = q.trim();
    if q.is_empty() {
        return Err(Error::field("q", "must not be empty"));
    }
    if q.chars().count() > QUERY_MAX {
        return Err(Error::field(
            "q",
            format!("must be at most {QUERY_MAX} characters"),
        ));
    }
    let mut query = Query {
        words: Vec::new(),
        tags: Vec::new(),
    };
    for part in q.split_whitespace() {
        if let Some(tag) = part.strip_prefix('#') {
            let tag: String = tag
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .flat_map(char::to_lowercase)
                .collect();
            if !tag.is_empty() {
                query.tags.push(tag);
            }
            continue;
        }
        query.words.extend(words(part));
    }
    if query.words.is_empty() && query.tags.is_empty() {
        return Err(Error::field("q", "has no words to search for"));
    }
    if query.words.len() + query.tags.len() > WORDS_MAX {
        return Err(Error::field("q", format!("at most {WORDS_MAX} words")));
    }
    Ok(query)
}

/// The lower-case words of `text`, as the index splits it (letters and digits).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Typos forgiven in a word: none in short words, one from 4 letters, two from 8.
pub fn typos(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Whether a word found in `found_in` of `documents` documents is taken as spelled as
/// meant, so its typos are not searched: in at least 1 % of them and at least 100. The
/// rule of Elasticsearch's term suggester in `popular` mode (it corrects a word only
/// towards words more frequent than it), and what keeps common words cheap to search.
pub fn spelled(found_in: u64, documents: u64) -> bool {
    found_in >= 100 && found_in * 100 >= documents
}

/// How much newer posts weigh: relevance × (½ + ½ · 2^(−age / 14 days)), so a post two
/// weeks old counts three quarters as much as a new one with the same words.
pub fn recency(score: f32, age_secs: i64) -> f32 {
    let age_days = age_secs.max(0) as f32 / 86_400.0;
    score * (0.5 + 0.5 * (-age_days / 14.0).exp2())
}

/// Trending counts in buckets of ten minutes.
pub const BUCKET_SECS: i64 = 600;
/// A tag's usual level is measured over the week before the window.
pub const BASELINE_SECS: i64 = 7 * 86_400;
/// Fewest distinct authors a tag needs in the window to trend: one account alone, however
/// often it posts, never makes a trend.
pub const TREND_MIN_AUTHORS: usize = 3;

pub fn bucket_of(unix: i64) -> i64 {
    unix.div_euclid(BUCKET_SECS)
}

/// A trending tag.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Trend {
    pub tag: String,
    /// Distinct authors who used it in public in the window.
    pub authors: u64,
    /// Distinct authors per window of the same length, on average over the week before.
    pub baseline: f64,
    /// How far above its usual level it is: (authors − baseline) / √(baseline + 1).
    pub score: f64,
}

/// The trend of `tag` from its uses (bucket, author): those from bucket `first` on are in
/// the window (`window` seconds long), earlier ones are the baseline. `None` when it does
/// not trend: too few authors, or not above its usual level.
pub fn trend(tag: &str, uses: &[(i64, String)], first: i64, window: i64) -> Option<Trend> {
    use std::collections::BTreeSet;
    let now: BTreeSet<&str> = uses
        .iter()
        .filter(|(b, _)| *b >= first)
        .map(|(_, a)| a.as_str())
        .collect();
    if now.len() < TREND_MIN_AUTHORS {
        return None;
    }
    // Distinct (earlier window, author) pairs, over the windows of the week before.
    let per_window = (window / BUCKET_SECS).max(1);
    let before: BTreeSet<(i64, &str)> = uses
        .iter()
        .filter(|(b, _)| *b < first)
        .map(|(b, a)| ((first - 1 - b) / per_window, a.as_str()))
        .collect();
    let windows = (BASELINE_SECS / window).max(1) as f64;
    let baseline = before.len() as f64 / windows;
    let authors = now.len() as f64;
    let score = (authors - baseline) / (baseline + 1.0).sqrt();
    (score > 0.0).then(|| Trend {
        tag: tag.to_string(),
        authors: now.len() as u64,
        baseline,
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_syntax_is_only_punctuation() {
        let q = parse_query("title:admin \"unbalanced (x OR y) * #Rust").unwrap();
        assert_eq!(q.words, ["title", "admin", "unbalanced", "x", "or", "y"]);
        assert_eq!(q.tags, ["rust"]);
        assert!(parse_query("   ").is_err());
        assert!(parse_query("* \" ( )").is_err());
        assert!(parse_query(&"a".repeat(QUERY_MAX + 1)).is_err());
        assert!(parse_query(&"ab ".repeat(WORDS_MAX + 1)).is_err());
    }

    #[test]
    fn only_words_common_in_a_large_index_are_taken_as_spelled() {
        assert!(spelled(1_000, 100_000));
        assert!(!spelled(999, 100_000), "under 1 %: typos searched");
        assert!(!spelled(99, 1_000), "under 100 documents: typos searched");
        assert!(spelled(100, 1_000));
        assert!(!spelled(0, 0));
    }

    #[test]
    fn a_post_is_found_by_exactly_who_may_read_it() {
        let profile = |v| post_access("a", &Audience::Profile, v, None);
        assert_eq!(profile(Visibility::Public), ["author:a", "public"]);
        assert_eq!(profile(Visibility::Friends), ["author:a", "friends:a"]);
        assert_eq!(
            profile(Visibility::FriendsOfFriends),
            ["author:a", "friends:a", "fof:a"]
        );
        assert_eq!(profile(Visibility::OnlyMe), ["author:a"]);
        let group = Audience::Group { id: "g".into() };
        let in_group = |p| post_access("a", &group, Visibility::Public, p);
        assert_eq!(in_group(Some(GroupPrivacy::Public)), ["author:a", "public"]);
        assert_eq!(
            in_group(Some(GroupPrivacy::Secret)),
            ["author:a", "member:g"]
        );
        assert_eq!(in_group(None), ["author:a", "member:g"]);
        assert_eq!(person_access("u", false), ["author:u", "friends:u"]);
        assert_eq!(group_access("g", GroupPrivacy::Private), ["public"]);
    }

    fn uses(authors: usize, bucket: i64) -> Vec<(i64, String)> {
        (0..authors).map(|a| (bucket, format!("A{a}"))).collect()
    }

    #[test]
    fn a_tag_trends_by_authors_above_its_usual_level() {
        let day = 86_400;
        let first = bucket_of(100 * day - day + 1);
        // Many authors today, none before: it trends.
        let rising = trend("new", &uses(10, first + 3), first, day).unwrap();
        assert_eq!(rising.authors, 10);
        // One author a thousand times: never.
        let spam: Vec<_> = (0..1000).map(|_| (first + 1, "A0".to_string())).collect();
        assert_eq!(trend("spam", &spam, first, day), None);
        // Ten authors every day of the week before and today: steady, no trend.
        let mut steady = uses(10, first + 1);
        for d in 1..=7 {
            steady.extend(uses(10, first - d * (day / BUCKET_SECS)));
        }
        assert_eq!(trend("steady", &steady, first, day), None);
        // A steady tag that doubles today trends, below a new one as large.
        steady.extend((10..20).map(|a| (first + 2, format!("A{a}"))));
        let doubled = trend("steady", &steady, first, day).unwrap();
        let new = trend("new", &uses(20, first), first, day).unwrap();
        assert!(doubled.score < new.score, "{doubled:?} {new:?}");
    }

    #[test]
    fn newer_posts_weigh_more_but_relevance_leads() {
        assert_eq!(recency(2.0, 0), 2.0);
        assert!((recency(2.0, 14 * 86_400) - 1.5).abs() < 1e-4);
        assert!(recency(2.0, 365 * 86_400) >= 1.0, "never below half");
    }
}
