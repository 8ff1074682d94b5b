//! The outbox and the consumers across a NATS outage and a SIGKILL of the node.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::json;

const REGISTERED: &str = "dev.events.auth.AccountRegistered";
const PROFILES: &str = "dev.events.users.ProfileUpdated";
const APPLIED: &str = "agora_events_applied_total{context=\"users\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_works_while_nats_is_down_and_events_flow_once_it_is_back() {
    let mut nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "before").await;
    profile_appears(&anon.with_token(access(&t))).await;

    nats.stop();
    let mut people = Vec::new();
    for name in ["offline1", "offline2", "offline3"] {
        // Registration, verification and login need no bus.
        let (_, t) = signed_up(&anon, name).await;
        people.push(anon.with_token(access(&t)));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    people[0].get("/users/me").await.problem(404);
    assert_eq!(
        anon.get("/readyz").await.status,
        404,
        "readyz lives outside /api/v1"
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", node.base))
            .await
            .unwrap()
            .status(),
        200,
        "a NATS outage does not make the node unready"
    );

    nats.restart();
    for person in &people {
        profile_appears(person).await;
    }
    // Nothing lost, nothing doubled: one event per account, one profile per event.
    let counts = stream_counts(&nats, "dev").await;
    assert_eq!(counts.get(REGISTERED), Some(&4), "{counts:?}");
    eventually("every profile event is published", || async {
        stream_counts(&nats, "dev").await.get(PROFILES) == Some(&4)
    })
    .await;
    assert_eq!(metric(&node, APPLIED).await, 4);
    eventually("a consumer that caught up reports no lag", || async {
        scrape(&node)
            .await
            .contains("agora_consumer_pending_events{context=\"users\"} 0")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_projections_catch_up() {
    let nats = Nats::start();
    let mut node = Node::start(&nats);
    let anon = node.client();

    // Many registrations in flight; the node is killed as soon as 20 are acknowledged.
    let mut in_flight: FuturesUnordered<_> = (0..40)
        .map(|i| {
            let anon = anon.clone();
            async move {
                let name = format!("crash{i}");
                let body = json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD});
                let r = anon.http.post(format!("{}/api/v1/auth/register", anon.base)).json(&body).send().await;
                match r {
                    Ok(r) if r.status() == 201 => Some((name, r.json::<serde_json::Value>().await.ok()?["id"].as_str()?.to_string())),
                    _ => None,
                }
            }
        })
        .collect();
    let mut acknowledged = Vec::new();
    while let Some(result) = in_flight.next().await {
        acknowledged.extend(result);
        if acknowledged.len() == 20 {
            node.kill();
            break;
        }
    }
    drop(in_flight);
    assert_eq!(acknowledged.len(), 20);

    node.restart();
    let anon = node.client();
    for (name, id) in &acknowledged {
        let again = json!({"username": name, "email": format!("other-{name}@example.org"), "password": PASSWORD});
        anon.post("/auth/register", again).await.problem(409);
        // The account survived, unverified: a fresh token verifies it (the dev mailbox
        // died with the process), and only then do the other contexts learn of it.
        anon.post(
            "/auth/verify/resend",
            json!({"email": format!("{name}@example.org")}),
        )
        .await
        .expect(202);
        let token = mailed_token(&anon, name).await;
        anon.post(
            "/auth/verify",
            json!({"token": token, "password": PASSWORD}),
        )
        .await
        .expect(200);
        eventually("the profile of an acknowledged account appears", || {
            let anon = anon.clone();
            let path = format!("/users/{id}");
            async move { anon.get(&path).await.status == 200 }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly_and_data_survives_a_restart() {
    let nats = Nats::start();
    let mut node = Node::start(&nats);
    let anon = node.client();
    let (id, _) = signed_up(&anon, "kim").await;
    let status = node.terminate();
    assert!(status.success(), "exit status {status:?}");
    node.restart();
    let anon = node.client();
    let tokens = anon
        .post("/auth/login", json!({"login": "kim", "password": PASSWORD}))
        .await
        .expect(200);
    assert_eq!(tokens["account_id"], id.as_str());
    profile_appears(&anon.with_token(access(&tokens))).await;
}
