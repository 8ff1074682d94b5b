//! The search workload (#9): people with names and bios, a friendship graph, and posts of
//! words drawn with a Zipf-like skew (so common words are in most posts, as "the" is, and
//! prefixes and typos expand as in a language), a quarter friends-only and a quarter
//! friends-of-friends; then an open-loop load of searches by users who each see a
//! different part of it: 80 % two-word post searches, 20 % people searched by the first
//! letters of a name, as typed. Also how long a new post takes to be found.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::load::{Job, LoadArgs, Workload, find_max, ms, on_connections, quiet};
use crate::social::{befriend, graph, register, run_prefix};
use crate::{Conn, histogram};

#[derive(clap::Args, Clone)]
pub struct SearchArgs {
    /// People (each an account with a display name and a bio).
    #[arg(long, default_value_t = 10_000)]
    pub people: usize,
    /// Friendships between them.
    #[arg(long, default_value_t = 50_000)]
    pub friendships: usize,
    /// Posts, by authors drawn at random.
    #[arg(long, default_value_t = 100_000)]
    pub posts: usize,
    /// Seed accounts and friendships through `agora-node dev --bulk-seeding true`'s routes
    /// (a thousand per request, one argon2id hash per batch) instead of the API.
    #[arg(long)]
    pub bulk_seeding: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Distinct words of the generated language.
const VOCABULARY: usize = 5_000;
const WORDS_PER_POST: usize = 12;

/// Pseudo-words of 4 to 10 letters, by rank.
fn vocabulary(seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..VOCABULARY)
        .map(|_| {
            let len = rng.random_range(4..=10);
            (0..len)
                .map(|_| char::from(rng.random_range(b'a'..=b'z')))
                .collect()
        })
        .collect()
}

/// A word by a Zipf-like skew: rank ⌊5000^x⌋ for x uniform.
fn zipf<'a>(words: &'a [String], rng: &mut StdRng) -> &'a str {
    let x: f64 = rng.random();
    let rank = (words.len() as f64).powf(x) as usize;
    &words[rank.min(words.len() - 1)]
}

fn sentence(words: &[String], n: usize, rng: &mut StdRng) -> String {
    (0..n)
        .map(|_| zipf(words, rng))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Gives every person a display name of two words and a bio.
async fn profiles(
    addr: &str,
    people: &[(String, String)],
    names: Vec<String>,
) -> anyhow::Result<()> {
    let items: Vec<(u64, String, String)> = people
        .iter()
        .zip(names)
        .enumerate()
        .map(|(i, ((_, token), name))| (i as u64, token.clone(), name))
        .collect();
    let words = Arc::new(vocabulary(1));
    let job: Job<(u64, String, String)> = Arc::new(move |mut conn, (i, token, name)| {
        let words = words.clone();
        Box::pin(async move {
            let mut rng = StdRng::seed_from_u64(i);
            let bio = sentence(&words, 6, &mut rng);
            let body = json!({"display_name": name, "bio": bio});
            // A bulk account's profile comes from auth's event, moments later.
            let waiting = Instant::now();
            loop {
                let (status, bytes) = conn
                    .call(
                        "PATCH",
                        "/api/v1/users/me",
                        Some(&token),
                        Some(body.clone()),
                    )
                    .await?;
                match status {
                    200 => break,
                    404 if waiting.elapsed() < Duration::from_secs(600) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ => anyhow::bail!(
                        "PATCH /users/me: {status} {}",
                        String::from_utf8_lossy(&bytes)
                    ),
                }
            }
            Ok(conn)
        })
    });
    let t = Instant::now();
    on_connections(addr, items, 32, job).await?;
    eprintln!("seed: profiles in {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

/// Composes `n` posts by random authors: 12 words and a hashtag each, half public.
async fn posts(
    addr: &str,
    people: &[(String, String)],
    n: usize,
    seed: u64,
) -> anyhow::Result<f64> {
    let words = vocabulary(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let items: Vec<(String, serde_json::Value)> = (0..n)
        .map(|_| {
            let author = &people[rng.random_range(0..people.len())].1;
            let visibility = match rng.random_range(0..4) {
                0 => "friends",
                1 => "friends_of_friends",
                _ => "public",
            };
            let text = format!(
                "{} #t{}",
                sentence(&words, WORDS_PER_POST, &mut rng),
                rng.random_range(0..200)
            );
            (
                author.clone(),
                json!({"text": text, "visibility": visibility}),
            )
        })
        .collect();
    let job: Job<(String, serde_json::Value)> = Arc::new(|mut conn, (token, body)| {
        Box::pin(async move {
            conn.json("POST", "/api/v1/posts", Some(&token), Some(body))
                .await?;
            Ok(conn)
        })
    });
    let t = Instant::now();
    on_connections(addr, items, 32, job).await?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!("seed: {n} posts in {secs:.1}s");
    Ok(secs)
}

/// The searches.
struct SearchMix {
    tokens: Vec<String>,
    names: Vec<String>,
    words: Vec<String>,
}

enum Request {
    Posts { viewer: usize, q: String },
    People { viewer: usize, q: String },
}

impl Workload for SearchMix {
    type Request = Request;

    fn draw(&self, rng: &mut StdRng) -> Request {
        let viewer = rng.random_range(0..self.tokens.len());
        if rng.random_bool(0.8) {
            let q = format!("{} {}", zipf(&self.words, rng), zipf(&self.words, rng));
            Request::Posts { viewer, q }
        } else {
            // The first 3 to 6 letters of someone's last name, as typed.
            let name = &self.names[rng.random_range(0..self.names.len())];
            let last = name.rsplit(' ').next().unwrap_or(name);
            let typed: String = last.chars().take(rng.random_range(3..=6)).collect();
            Request::People {
                viewer,
                q: typed.to_lowercase(),
            }
        }
    }

    fn kind(request: &Request) -> &'static str {
        match request {
            Request::Posts { .. } => "search posts",
            Request::People { .. } => "search people",
        }
    }

    async fn send(&self, conn: &mut Conn, request: Request) -> anyhow::Result<u16> {
        let (kind, viewer, q) = match &request {
            Request::Posts { viewer, q } => ("posts", *viewer, q),
            Request::People { viewer, q } => ("people", *viewer, q),
        };
        let path = format!(
            "/api/v1/search?type={kind}&limit=20&q={}",
            q.replace(' ', "+")
        );
        Ok(conn
            .call("GET", &path, Some(&self.tokens[viewer]), None)
            .await?
            .0)
    }
}

/// Compose-to-found delay: a post with a word nobody used, searched for until found.
async fn freshness(
    addr: &str,
    tokens: &[String],
    samples: usize,
) -> anyhow::Result<Histogram<u64>> {
    let mut conn = Conn::open(addr).await?;
    let mut h = histogram();
    let token = tokens.first().context("no users")?;
    let run = run_prefix()?;
    for i in 0..samples {
        let word = format!("fresh{run}x{i}");
        let body = json!({"text": format!("{word} probe"), "visibility": "public"});
        conn.json("POST", "/api/v1/posts", Some(token), Some(body))
            .await?;
        let sent = Instant::now();
        let path = format!("/api/v1/search?type=posts&q={word}");
        loop {
            let page = conn.json("GET", &path, Some(token), None).await?;
            if page["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
            {
                break;
            }
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(30),
                "a post was not found by search in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h.saturating_record(sent.elapsed().as_micros().max(1) as u64);
    }
    Ok(h)
}

pub async fn run(addr: &str, args: SearchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let run = run_prefix()?;
    let words = vocabulary(1);
    let mut rng = StdRng::seed_from_u64(args.load.seed);
    let capital = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let names: Vec<String> = (0..args.people)
        .map(|_| {
            let (first, last) = (
                zipf(&words, &mut rng),
                words[rng.random_range(0..VOCABULARY)].as_str(),
            );
            format!("{} {}", capital(first), capital(last))
        })
        .collect();
    let people = if args.bulk_seeding {
        crate::bulk::register(addr, &format!("{run}p"), args.people).await?
    } else {
        let usernames: Vec<String> = (0..args.people).map(|i| format!("{run}p{i}")).collect();
        register(addr, usernames).await?
    };
    profiles(addr, &people, names.clone()).await?;
    let edges = graph(people.len(), args.friendships, &mut rng);
    if args.bulk_seeding {
        crate::bulk::befriend(addr, &people, &edges).await?;
    } else {
        befriend(addr, &people, edges).await?;
    }
    let composing = posts(addr, &people, args.posts, args.load.seed).await?;
    let settle = Instant::now();
    let backlog = quiet(addr, Duration::from_secs(1_800)).await?;
    let indexed = settle.elapsed().as_secs_f64();
    eprintln!(
        "seed: every consumer and outbox empty {indexed:.1}s after the last post ({backlog}); seeding took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let index_rate = args.posts as f64 / (composing + indexed);
    let mix = Arc::new(SearchMix {
        tokens: people.iter().map(|(_, t)| t.clone()).collect(),
        names,
        words,
    });
    let (steps, best) = find_max(addr, &mix, &args.load, args.load.rate).await?;
    let fresh = freshness(addr, &mix.tokens, 20).await?;
    let freshness = json!({
        "samples": fresh.len(), "p50_ms": ms(fresh.value_at_quantile(0.5)),
        "p99_ms": ms(fresh.value_at_quantile(0.99)), "max_ms": ms(fresh.max()),
    });
    if args.load.json {
        let out = json!({"people": args.people, "posts": args.posts, "indexed_posts_per_s": index_rate, "steps": steps, "highest_rate_within_bound": best, "freshness": freshness});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "posts composed and indexed at {index_rate:.0} per s (from the first compose until every consumer was empty)"
    );
    if let (Some(bound), Some(best)) = (args.load.find_max_p99_ms, best) {
        println!("highest offered rate with every p99 under {bound} ms: {best:.0} req/s");
    }
    println!(
        "compose-to-found: n={} p50={} ms p99={} ms max={} ms",
        freshness["samples"], freshness["p50_ms"], freshness["p99_ms"], freshness["max_ms"]
    );
    Ok(())
}
