//! Seeding through `agora-node dev --bulk-seeding`'s routes: generated accounts a thousand
//! at a time (one argon2id hash per batch) and friendships a thousand at a time, for
//! graphs too large to register through the API (~20 accounts/s there).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{Conn, PASSWORD};

/// Makes `count` accounts named `<prefix><n>`; returns each one's id and access token.
pub async fn register(
    addr: &str,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let started = Instant::now();
    let mut conn = Conn::open(addr).await?;
    let mut accounts = Vec::with_capacity(count);
    while accounts.len() < count {
        let batch = (count - accounts.len()).min(1_000);
        let body = json!({"prefix": prefix, "first": accounts.len(), "count": batch, "password": PASSWORD});
        let (status, bytes) = conn
            .call("POST", "/api/v1/dev/accounts", None, Some(body))
            .await?;
        if status != 201 {
            bail!(
                "POST /dev/accounts: {status} {} (is the node running `dev --bulk-seeding true`?)",
                String::from_utf8_lossy(&bytes)
            );
        }
        let sessions: Vec<Value> = serde_json::from_slice(&bytes)?;
        for s in sessions {
            let id = s["account_id"].as_str().context("no account id")?;
            let token = s["access_token"].as_str().context("no access token")?;
            accounts.push((id.to_string(), token.to_string()));
        }
    }
    eprintln!(
        "seed: {} users in {:.1}s (bulk)",
        accounts.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(accounts)
}

/// Makes each pair of `edges` (indices into `users`) friends; a batch whose users the
/// users context has not heard of yet is sent again.
pub async fn befriend(
    addr: &str,
    users: &[(String, String)],
    edges: &[(usize, usize)],
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut conn = Conn::open(addr).await?;
    for batch in edges.chunks(1_000) {
        let pairs: Vec<(&str, &str)> = batch
            .iter()
            .map(|&(a, b)| (users[a].0.as_str(), users[b].0.as_str()))
            .collect();
        let body = json!({ "pairs": pairs });
        let waiting = Instant::now();
        loop {
            let (status, bytes) = conn
                .call("POST", "/api/v1/dev/friendships", None, Some(body.clone()))
                .await?;
            match status {
                201 => break,
                404 if waiting.elapsed() < Duration::from_secs(600) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ => bail!(
                    "POST /dev/friendships: {status} {}",
                    String::from_utf8_lossy(&bytes)
                ),
            }
        }
    }
    eprintln!(
        "seed: {} friendships in {:.1}s (bulk)",
        edges.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
