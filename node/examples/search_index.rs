//! Figures of the search index alone (no HTTP, no bus): indexing rate, the size on disk per
//! 1,000 posts, and the latency of two-word queries with a viewer's privacy filter, over
//! synthetic posts. Prints figures, asserts nothing; docs/benchmarks.md records its runs.
//!
//! `cargo run --release -p agora-node --example search_index -- [posts] [queries] [sealed|plain] [commit every N queries]`
//! (`sealed`, the default, is how a node with a platform key stores its index; with the
//! fourth, a post is indexed and committed every N queries, as on a node where posts keep
//! coming: each commit reloads the reader).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark: a panic is a failed run"
)]

use std::time::Instant;

use agora_node::platform::keyring::PlatformKey;
use agora_node::posts::events::{Audience, Visibility};
use agora_node::search::domain::{self, Doc, Kind};
use agora_node::search::storage::index::{Request, SearchIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const VOCABULARY: usize = 5_000;
const WORDS_PER_POST: usize = 12;
const AUTHORS: usize = 10_000;
const BATCH: usize = 1_000;

/// The words of rank 0.. (pseudo-words of 4 to 10 letters, so that prefixes and typos
/// expand as they would in a language, not as numbered tokens would).
fn vocabulary() -> Vec<String> {
    (0..VOCABULARY as u64)
        .map(|rank| {
            let mut r = StdRng::seed_from_u64(rank);
            let len = r.random_range(4..=10);
            (0..len)
                .map(|_| r.random_range(b'a'..=b'z') as char)
                .collect()
        })
        .collect()
}

/// A word drawn with a Zipf-like skew: common words are common.
fn word(words: &[String], rng: &mut StdRng) -> String {
    let x: f64 = rng.random();
    let rank = ((VOCABULARY as f64).powf(x) as usize).min(VOCABULARY - 1);
    words[rank].clone()
}

fn post(i: usize, words: &[String], rng: &mut StdRng, now: i64) -> Doc {
    let author = format!("u{}", rng.random_range(0..AUTHORS));
    let body: Vec<String> = (0..WORDS_PER_POST).map(|_| word(words, rng)).collect();
    let visibility = match rng.random_range(0..4) {
        0 => Visibility::Friends,
        1 => Visibility::FriendsOfFriends,
        _ => Visibility::Public,
    };
    Doc {
        kind: Kind::Posts,
        id: format!("p{i:08}"),
        title: String::new(),
        body: body.join(" "),
        tags: vec![format!("t{}", rng.random_range(0..200))],
        owner: Some(author.clone()),
        access: domain::post_access(&author, &Audience::Profile, visibility, None),
        created_at: now - rng.random_range(0..30 * 86_400),
        username: String::new(),
        display_name: String::new(),
    }
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let posts: usize = args.next().map_or(100_000, |a| a.parse().unwrap());
    let queries: usize = args.next().map_or(5_000, |a| a.parse().unwrap());
    let sealed = args.next().is_none_or(|a| a != "plain");
    let commit_every: usize = args.next().map_or(0, |a| a.parse().unwrap());
    let key = PlatformKey::from_setting(&PlatformKey::generate()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The share of the default memory budget (1 GiB) the node gives it.
    let index = SearchIndex::open(dir.path(), sealed.then_some((&key, 64 << 20))).unwrap();
    println!("index files {}", if sealed { "sealed" } else { "plain" });
    let mut rng = StdRng::seed_from_u64(7);
    let words = vocabulary();
    let now = 1_800_000_000;

    let start = Instant::now();
    let mut i = 0;
    while i < posts {
        let batch: Vec<_> = (i..(i + BATCH).min(posts))
            .map(|n| {
                let d = post(n, &words, &mut rng, now);
                (format!("posts/{}", d.id), Some(d))
            })
            .collect();
        index.apply(&batch).unwrap();
        i += BATCH;
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = dir_bytes(dir.path());
    println!(
        "indexed {posts} posts in {secs:.1} s: {:.0} posts/s (a commit per {BATCH}); index {:.1} MB, {:.0} KB per 1,000 posts",
        posts as f64 / secs,
        bytes as f64 / 1e6,
        bytes as f64 / 1e3 / (posts as f64 / 1_000.0)
    );

    // A viewer with 100 friends and 2,000 friends of friends, who blocked 5 people.
    let mut holds = vec![domain::PUBLIC.to_string(), domain::author_token("u0")];
    for f in 1..=100 {
        holds.push(domain::friends_token(&format!("u{f}")));
        holds.push(domain::fof_token(&format!("u{f}")));
    }
    for x in 101..2_101 {
        holds.push(domain::fof_token(&format!("u{x}")));
    }
    let blocked: Vec<String> = (5_000..5_005)
        .map(|b| domain::author_token(&format!("u{b}")))
        .collect();
    let public_only = vec![domain::PUBLIC.to_string()];
    for (label, holds, blocked) in [
        (
            "with the viewer's privacy filter (2,202 tokens, 5 blocked)",
            &holds,
            &blocked,
        ),
        ("public posts only (1 token)", &public_only, &Vec::new()),
    ] {
        let mut rng = StdRng::seed_from_u64(11);
        let mut latencies = Vec::with_capacity(queries);
        let mut found = 0;
        for q in 0..queries {
            if commit_every > 0 && q % commit_every == 0 {
                let n = posts + q;
                let d = post(n, &words, &mut rng, now);
                index
                    .apply(&[(format!("posts/{}", d.id), Some(d))])
                    .unwrap();
            }
            let text = format!("{} {}", word(&words, &mut rng), word(&words, &mut rng));
            let q = domain::parse_query(&text).unwrap();
            let t = Instant::now();
            let (hits, _) = index
                .search(&Request {
                    kind: Kind::Posts,
                    words: &q,
                    holds,
                    blocked,
                    offset: 0,
                    after: None,
                    limit: 20,
                    now,
                })
                .unwrap();
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            found += hits.len();
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "{queries} two-word queries, one at a time, {label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({:.1} results a query)",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            latencies.last().unwrap(),
            found as f64 / queries as f64
        );
    }
}
