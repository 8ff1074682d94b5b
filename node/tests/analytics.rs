//! Analytics through the gateway: the figures equal what the test did (posts, authors,
//! comments, reactions, shares, messages, active users, a cohort), a post's reach and
//! impressions from reads, who may read which figures, top posts, and the Prometheus
//! gauges.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};

fn today(figures: &Value) -> &Value {
    figures["days"].as_array().unwrap().last().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_are_what_happened() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_ADMIN_EMAILS", "root@example.org")]);
    let anon = node.client();
    let (_, root) = user(&anon, "root").await;
    let a = user(&anon, "ann").await;
    let b = user(&anon, "ben").await;
    let c = user(&anon, "cyd").await;
    let (_, reader) = user(&anon, "rea").await;

    // 7 posts by 3 authors (one of ann's as her page), a share, 2 comments, 3 reactions
    // (one changed: still one reaction), a message.
    let page =
        a.1.post("/pages", json!({"name": "Ann's Page"}))
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    let star = publish(
        &a.1,
        json!({"text": "the star post", "audience": {"type": "page", "id": page}}),
    )
    .await;
    publish(&a.1, json!({"text": "two", "visibility": "public"})).await;
    publish(&a.1, json!({"text": "three", "visibility": "public"})).await;
    for p in ["four", "five"] {
        publish(&b.1, json!({"text": p, "visibility": "public"})).await;
    }
    for p in ["six", "seven"] {
        publish(&c.1, json!({"text": p, "visibility": "public"})).await;
    }
    c.1.post(&format!("/posts/{star}/shares"), json!({"text": "look"}))
        .await
        .expect(201);
    for (who, text) in [(&b.1, "nice"), (&c.1, "great")] {
        who.post(&format!("/posts/{star}/comments"), json!({"text": text}))
            .await
            .expect(201);
    }
    let react = async |who: &Client, kind: &str| {
        who.send(
            "PUT",
            &format!("/posts/{star}/reactions"),
            Some(json!({"kind": kind})),
        )
        .await
        .expect(200);
    };
    react(&b.1, "like").await;
    react(&b.1, "love").await;
    react(&c.1, "wow").await;
    react(&reader, "like").await;
    let conv = until_status(201, async || {
        a.1.post("/conversations", json!({"kind": "direct", "user_id": b.0}))
            .await
    })
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    a.1.post(
        &format!("/conversations/{conv}/messages"),
        json!({"text": "hi"}),
    )
    .await
    .expect(201);
    // The reader opens the star post twice: two impressions, one reader.
    for _ in 0..2 {
        reader.get(&format!("/posts/{star}")).await.expect(200);
    }

    let expected = json!({
        "active_users": 5, "registrations": 5, "posts": 7, "comments": 2,
        "reactions": 3, "shares": 1, "messages": 1
    });
    eventually("today's figures are what happened", async || {
        let figures = root.get("/analytics/platform?days=7").await.expect(200);
        let t = today(&figures);
        expected
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| &t[k] == v)
    })
    .await;
    let figures = root.get("/analytics/platform?days=7").await.expect(200);
    assert_eq!(figures["days"].as_array().unwrap().len(), 7);
    assert_eq!(
        figures["weeks"].as_array().unwrap().last().unwrap()["active_users"],
        5
    );
    assert_eq!(
        figures["months"].as_array().unwrap().last().unwrap()["active_users"],
        5
    );
    root.get("/analytics/platform?days=0").await.problem(422);
    root.get("/analytics/platform?days=367").await.problem(422);
    a.1.get("/analytics/platform").await.problem(403);
    anon.get("/analytics/platform").await.problem(401);

    // The post's figures: its author and page admin, and platform admins; 404 to others.
    eventually("the star post's reach and impressions arrive", async || {
        let f =
            a.1.get(&format!("/analytics/posts/{star}"))
                .await
                .expect(200);
        f["impressions"] == 2 && f["reach"] == 1
    })
    .await;
    let f = root
        .get(&format!("/analytics/posts/{star}"))
        .await
        .expect(200);
    assert_eq!(f["reactions"], json!({"love": 1, "wow": 1, "like": 1}));
    assert_eq!(f["comments"], 2);
    assert_eq!(f["shares"], 1);
    b.1.get(&format!("/analytics/posts/{star}"))
        .await
        .problem(404);
    let page_figures =
        a.1.get(&format!("/analytics/pages/{page}?days=1"))
            .await
            .expect(200);
    // 3 reactions, 2 comments and a share of the page's post.
    assert_eq!(page_figures["engagement"], 6);
    b.1.get(&format!("/analytics/pages/{page}"))
        .await
        .problem(404);

    // Top posts; retention of this week's cohort; the gauges.
    let top = root.get("/analytics/top?window=day").await.expect(200);
    assert_eq!(top["items"][0], json!({"id": star, "engagement": 6}));
    let pages = root
        .get("/analytics/top?window=week&kind=pages")
        .await
        .expect(200);
    assert_eq!(pages["items"][0]["id"], page.as_str());
    root.get("/analytics/top?window=year").await.problem(422);
    let retention = root.get("/analytics/retention?weeks=1").await.expect(200);
    assert_eq!(
        retention["cohorts"],
        json!([{"week": retention["cohorts"][0]["week"], "size": 5, "retained_percent": [100.0]}])
    );
    eventually("the gauges show today's figures", async || {
        metric(&node, "agora_platform{figure=\"posts_today\"}").await == 7
            && metric(&node, "agora_platform{figure=\"active_users_day\"}").await == 5
    })
    .await;
}
