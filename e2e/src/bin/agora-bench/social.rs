//! The social-network workload, modelled on DeathStarBench's: a generated graph of the
//! size and shape of socfb-Reed98 (962 users, 18,812 friendships), a history of posts,
//! then an open-loop, constant-rate load (exponential inter-arrival times; latency measured
//! from the intended send time, so queueing shows) with the mix 60 % home feed, 30 % a
//! user's timeline, 10 % compose; plus the compose-to-feed propagation delay.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::Mutex;

use crate::load::{Job, LoadArgs, Workload, find_max, ms, on_connections, quiet};
use crate::{Conn, api, histogram, login, sign_up};

#[derive(clap::Args, Clone)]
pub struct SocialArgs {
    /// Users in the generated graph (Reed98: 962; 81,306 for the larger socfb graphs).
    #[arg(long, default_value_t = 962)]
    pub users: usize,
    /// Friendships in the generated graph (Reed98: 18,812).
    #[arg(long, default_value_t = 18_812)]
    pub friendships: usize,
    /// Posts each user has before the load starts.
    #[arg(long, default_value_t = 5)]
    pub history: usize,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Also measure the machine's ceiling in the same run, first: a bare axum server in this
    /// process ([`crate::ceiling`]) driven by the same open-loop engine, connections, step
    /// length and p99 bound; the mix's highest rate is then also given as a ratio to it.
    #[arg(long)]
    pub with_ceiling: bool,
    /// Seed accounts and friendships through `agora-node dev --bulk-seeding true`'s routes
    /// (one password hash per thousand accounts) instead of the API: for large graphs.
    #[arg(long)]
    pub bulk_seeding: bool,
    /// The first rate offered to the bare server (it goes far beyond the mix's).
    #[arg(long, default_value_t = 5_000.0)]
    pub ceiling_rate: f64,
    /// The mix's weights, in percent: home feed, a friend's timeline, compose (`100,0,0`
    /// measures feed reads alone, e.g. for their CPU per request with `--node-pid`).
    #[arg(long, default_value = "60,30,10", value_parser = parse_mix)]
    pub mix: Mix,
}

/// The mix's weights, as fractions of one.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    feed: f64,
    timeline: f64,
}

fn parse_mix(s: &str) -> Result<Mix, String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let [feed, timeline, compose] = parts[..] else {
        return Err("three weights: feed,timeline,compose".into());
    };
    let total = feed + timeline + compose;
    if parts.iter().any(|w| *w < 0.0) || total <= 0.0 {
        return Err("weights are not negative and not all zero".into());
    }
    Ok(Mix {
        feed: feed / total,
        timeline: timeline / total,
    })
}

pub(crate) struct User {
    id: String,
    token: String,
    friends: Vec<usize>,
}

/// A graph with `n` nodes and `m` edges, every node connected (a ring first), the rest
/// attached preferentially (heavy-tailed degrees, like Facebook graphs).
pub(crate) fn graph(n: usize, m: usize, rng: &mut StdRng) -> Vec<(usize, usize)> {
    let mut edges = HashSet::new();
    let mut ends: Vec<usize> = Vec::new();
    for i in 0..n {
        let j = (i + 1) % n;
        if i != j && edges.insert((i.min(j), i.max(j))) {
            ends.extend([i, j]);
        }
    }
    while edges.len() < m.min(n * (n - 1) / 2) {
        let a = rng.random_range(0..n);
        let b = if rng.random_bool(0.8) && !ends.is_empty() {
            ends[rng.random_range(0..ends.len())]
        } else {
            rng.random_range(0..n)
        };
        if a != b && edges.insert((a.min(b), a.max(b))) {
            ends.extend([a, b]);
        }
    }
    edges.into_iter().collect()
}

/// Registers, verifies and logs in a user per name, 8 at a time (argon2 is the bound);
/// returns their (id, access token) in the order of `names`, once every profile exists.
pub(crate) async fn register(
    addr: &str,
    names: Vec<String>,
) -> anyhow::Result<Vec<(String, String)>> {
    let started = Instant::now();
    let users: Arc<Mutex<BTreeMap<usize, (String, String)>>> = Arc::default();
    let out = users.clone();
    let accounts = api(addr);
    let register: Job<(usize, String)> = Arc::new(move |mut conn, (i, name)| {
        let (out, accounts) = (out.clone(), accounts.clone());
        Box::pin(async move {
            let id = sign_up(&accounts, &name).await?;
            let access = login(&mut conn, &name).await?;
            out.lock().await.insert(i, (id, access));
            Ok(conn)
        })
    });
    on_connections(addr, names.into_iter().enumerate().collect(), 8, register).await?;
    let accounts: Vec<(String, String)> = Arc::try_unwrap(users)
        .map_err(|_| anyhow::anyhow!("workers still running"))?
        .into_inner()
        .into_values()
        .collect();
    eprintln!(
        "seed: {} users in {:.1}s",
        accounts.len(),
        started.elapsed().as_secs_f64()
    );
    // Profiles come from auth's events: wait for the last one.
    let mut conn = Conn::open(addr).await?;
    let last = accounts.last().context("no users")?.1.clone();
    while conn
        .call("GET", "/api/v1/users/me", Some(&last), None)
        .await?
        .0
        != 200
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(accounts)
}

/// Makes each pair of `edges` (indices into `users`: id, token) friends: a request and its
/// acceptance, 32 at a time.
pub(crate) async fn befriend(
    addr: &str,
    users: &[(String, String)],
    edges: Vec<(usize, usize)>,
) -> anyhow::Result<()> {
    let ids: Arc<Vec<(String, String)>> = Arc::new(users.to_vec());
    let befriend: Job<(usize, usize)> = Arc::new(move |mut conn, (a, b)| {
        let ids = ids.clone();
        Box::pin(async move {
            let ((a_id, a_token), (b_id, b_token)) = (&ids[a], &ids[b]);
            conn.json(
                "POST",
                &format!("/api/v1/users/{b_id}/friend-request"),
                Some(a_token),
                None,
            )
            .await?;
            conn.json(
                "POST",
                &format!("/api/v1/friend-requests/{a_id}/accept"),
                Some(b_token),
                None,
            )
            .await?;
            Ok(conn)
        })
    });
    let t = Instant::now();
    let n = edges.len();
    on_connections(addr, edges, 32, befriend).await?;
    eprintln!("seed: {n} friendships in {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

/// A prefix that makes this run's names unique, so a platform can be benchmarked more
/// than once.
pub(crate) fn run_prefix() -> anyhow::Result<String> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    Ok(format!("s{}", millis % 100_000_000))
}

/// Registers, verifies and logs in every user; befriends the graph; gives each a history.
async fn seed(addr: &str, args: &SocialArgs) -> anyhow::Result<Vec<User>> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.load.seed);
    let run = run_prefix()?;
    let names: Vec<String> = (0..args.users).map(|i| format!("{run}u{i}")).collect();
    let accounts = if args.bulk_seeding {
        crate::bulk::register(addr, &format!("{run}u"), args.users).await?
    } else {
        register(addr, names).await?
    };
    let edges = graph(accounts.len(), args.friendships, &mut rng);
    let mut users: Vec<User> = accounts
        .iter()
        .map(|(id, token)| User {
            id: id.clone(),
            token: token.clone(),
            friends: Vec::new(),
        })
        .collect();
    for &(a, b) in &edges {
        users[a].friends.push(b);
        users[b].friends.push(a);
    }
    if args.bulk_seeding {
        crate::bulk::befriend(addr, &accounts, &edges).await?;
    } else {
        befriend(addr, &accounts, edges).await?;
    }

    // Everyone opens the feed once (so they count as active), then posts a history.
    let tokens: Vec<String> = users.iter().map(|u| u.token.clone()).collect();
    let open: Job<String> = Arc::new(|mut conn, token| {
        Box::pin(async move {
            conn.json("GET", "/api/v1/feed?limit=1", Some(&token), None)
                .await?;
            Ok(conn)
        })
    });
    on_connections(addr, tokens.clone(), 32, open).await?;
    let posts: Vec<(String, usize)> = tokens
        .iter()
        .flat_map(|t| (0..args.history).map(move |i| (t.clone(), i)))
        .collect();
    let compose: Job<(String, usize)> = Arc::new(|mut conn, (token, i)| {
        Box::pin(async move {
            let text = format!("history post {i} #bench");
            conn.json(
                "POST",
                "/api/v1/posts",
                Some(&token),
                Some(json!({"text": text, "visibility": "friends"})),
            )
            .await?;
            Ok(conn)
        })
    });
    let t = Instant::now();
    let n = posts.len();
    on_connections(addr, posts, 32, compose).await?;
    eprintln!(
        "seed: {n} posts in {:.1}s; seeding took {:.1}s",
        t.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(users)
}

/// The mix: by default 60 % a user's ranked home feed, 30 % a friend's timeline, 10 % a
/// compose (`--mix`).
struct SocialMix {
    users: Arc<Vec<User>>,
    weights: Mix,
}

enum Request {
    Feed { user: usize },
    Timeline { user: usize, other: usize },
    Compose { user: usize },
}

impl Workload for SocialMix {
    type Request = Request;

    fn draw(&self, rng: &mut StdRng) -> Request {
        let users = &self.users;
        let user = rng.random_range(0..users.len());
        let friends = &users[user].friends;
        let other = if friends.is_empty() {
            user
        } else {
            friends[rng.random_range(0..friends.len())]
        };
        let roll: f64 = rng.random();
        let w = self.weights;
        if roll < w.feed {
            Request::Feed { user }
        } else if roll < w.feed + w.timeline {
            Request::Timeline { user, other }
        } else {
            Request::Compose { user }
        }
    }

    fn kind(request: &Request) -> &'static str {
        match request {
            Request::Feed { .. } => "read home feed",
            Request::Timeline { .. } => "read user timeline",
            Request::Compose { .. } => "compose post",
        }
    }

    async fn send(&self, conn: &mut Conn, request: Request) -> anyhow::Result<u16> {
        let users = &self.users;
        let (status, _) = match request {
            Request::Feed { user } => {
                let path = "/api/v1/feed?order=ranked&limit=10";
                conn.call("GET", path, Some(&users[user].token), None)
                    .await?
            }
            Request::Timeline { user, other } => {
                let path = format!("/api/v1/users/{}/posts?limit=10", users[other].id);
                conn.call("GET", &path, Some(&users[user].token), None)
                    .await?
            }
            Request::Compose { user } => {
                let body = json!({"text": "a fresh post #load", "visibility": "friends"});
                conn.call(
                    "POST",
                    "/api/v1/posts",
                    Some(&users[user].token),
                    Some(body),
                )
                .await?
            }
        };
        Ok(status)
    }
}

/// Compose-to-feed delay: a user posts, a friend polls their recent feed until it is there.
async fn propagation(
    addr: &str,
    users: &[User],
    samples: usize,
    seed: u64,
    timeout: Duration,
) -> anyhow::Result<Histogram<u64>> {
    let mut conn = Conn::open(addr).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = histogram();
    for _ in 0..samples {
        let author = rng.random_range(0..users.len());
        let Some(&reader) = users[author].friends.first() else {
            continue;
        };
        let post = conn
            .json(
                "POST",
                "/api/v1/posts",
                Some(&users[author].token),
                Some(json!({"text": "propagation probe", "visibility": "friends"})),
            )
            .await?;
        let id = post["id"].as_str().context("no post id")?.to_string();
        let sent = Instant::now();
        loop {
            let feed = conn
                .json(
                    "GET",
                    "/api/v1/feed?order=recent&limit=10",
                    Some(&users[reader].token),
                    None,
                )
                .await?;
            if feed["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["id"] == id.as_str()))
            {
                break;
            }
            anyhow::ensure!(
                sent.elapsed() < timeout,
                "post {id} did not reach a friend's feed in {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Past the histogram's 60 s (the settling probe after a seed may wait longer):
        // recorded as its highest value rather than failing the run.
        h.saturating_record(sent.elapsed().as_micros().max(1) as u64);
    }
    Ok(h)
}

pub async fn run(addr: &str, args: SocialArgs) -> anyhow::Result<()> {
    let ceiling = match args.with_ceiling {
        true => {
            let bare = crate::ceiling::start()?;
            if !args.load.json {
                println!("ceiling: a bare axum server in this process, same engine");
            }
            let bare_server = Arc::new(crate::ceiling::Bare);
            let (steps, best) =
                find_max(&bare, &bare_server, &args.load, args.ceiling_rate).await?;
            Some(json!({"steps": steps, "highest_rate_within_bound": best}))
        }
        false => None,
    };
    let users = Arc::new(seed(addr, &args).await?);
    // The history's fan-out runs behind the API: wait until a fresh post reaches a friend's
    // feed, so the load measures a settled platform (and the wait measures fan-out).
    let settle = Instant::now();
    propagation(addr, &users, 1, args.load.seed, Duration::from_secs(600)).await?;
    eprintln!(
        "seed: fan-out settled {:.1}s after the last history post",
        settle.elapsed().as_secs_f64()
    );
    let backlog = quiet(addr, Duration::from_secs(900)).await?;
    eprintln!(
        "seed: every consumer and outbox empty {:.1}s after the last history post ({backlog})",
        settle.elapsed().as_secs_f64()
    );
    let mix = Arc::new(SocialMix {
        users: users.clone(),
        weights: args.mix,
    });
    let (steps, best) = find_max(addr, &mix, &args.load, args.load.rate).await?;
    let delays = propagation(addr, &users, 50, args.load.seed, Duration::from_secs(10)).await?;
    let propagation = json!({
        "samples": delays.len(), "p50_ms": ms(delays.value_at_quantile(0.5)), "p99_ms": ms(delays.value_at_quantile(0.99)), "max_ms": ms(delays.max()),
    });
    let ceiling_best = ceiling
        .as_ref()
        .and_then(|c| c["highest_rate_within_bound"].as_f64());
    let ratio = best.zip(ceiling_best).map(|(b, c)| b / c);
    if args.load.json {
        let out = json!({"users": args.users, "friendships": args.friendships, "steps": steps, "highest_rate_within_bound": best, "propagation": propagation, "ceiling": ceiling, "ratio_to_ceiling": ratio});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if let (Some(bound), Some(best)) = (args.load.find_max_p99_ms, best) {
            println!("highest offered rate with every p99 under {bound} ms: {best:.0} req/s");
        }
        if let (Some(c), Some(r)) = (ceiling_best, ratio) {
            println!("the bare server's, same bound: {c:.0} req/s; the mix reaches {r:.3} of it");
        }
        println!(
            "compose-to-feed propagation: n={} p50={} ms p99={} ms max={} ms",
            propagation["samples"],
            propagation["p50_ms"],
            propagation["p99_ms"],
            propagation["max_ms"]
        );
    }
    Ok(())
}
