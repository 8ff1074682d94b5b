//! Posts through the gateway: the visibility matrix, comments, reactions, shares, edits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::visibility::{self, post_when_ready};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_who_should_see_a_post_sees_it() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    visibility::exactly_who_should_see_a_post_sees_it(&anon, async |name| {
        signed_up(&anon, name).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_reactions_edits_and_deletes() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "tess").await;
    let tess = anon.with_token(access(&t));
    let (_, t) = signed_up(&anon, "uma").await;
    let uma = anon.with_token(access(&t));
    profile_appears(&uma).await;
    let post = post_when_ready(
        &tess,
        json!({"text": "Hello @uma, see #Rust and #rust2026"}),
    )
    .await;
    let seen = uma.get(&format!("/posts/{post}")).await.expect(200);
    assert_eq!(seen["hashtags"], json!(["rust", "rust2026"]));
    assert_eq!(
        seen["mentions"].as_array().unwrap().len(),
        1,
        "@uma resolves to her id"
    );

    // Comments with one level of replies.
    let top = uma
        .post(
            &format!("/posts/{post}/comments"),
            json!({"text": "first!"}),
        )
        .await
        .expect(201);
    let top_id = top["id"].as_str().unwrap();
    let reply = tess
        .post(
            &format!("/posts/{post}/comments"),
            json!({"text": "welcome", "parent_id": top_id}),
        )
        .await
        .expect(201);
    let reply_id = reply["id"].as_str().unwrap();
    tess.post(
        &format!("/posts/{post}/comments"),
        json!({"text": "deeper", "parent_id": reply_id}),
    )
    .await
    .problem(422);
    assert_eq!(
        anon.get(&format!("/posts/{post}")).await.expect(200)["comment_count"],
        2
    );
    tess.patch(
        &format!("/posts/{post}/comments/{top_id}"),
        json!({"text": "not yours"}),
    )
    .await
    .problem(403);
    uma.patch(
        &format!("/posts/{post}/comments/{top_id}"),
        json!({"text": "first (edited)"}),
    )
    .await
    .expect(200);
    let comments = anon
        .get(&format!("/posts/{post}/comments"))
        .await
        .expect(200);
    assert_eq!(comments["items"][0]["text"], "first (edited)");
    assert_eq!(comments["items"][1]["parent_id"], top_id);

    // Reactions: one per user, changeable, removable, counted per kind.
    uma.send(
        "PUT",
        &format!("/posts/{post}/reactions"),
        Some(json!({"kind": "like"})),
    )
    .await
    .expect(200);
    tess.send(
        "PUT",
        &format!("/posts/{post}/reactions"),
        Some(json!({"kind": "love"})),
    )
    .await
    .expect(200);
    let r = uma
        .send(
            "PUT",
            &format!("/posts/{post}/reactions"),
            Some(json!({"kind": "haha"})),
        )
        .await
        .expect(200);
    assert_eq!(r["counts"], json!({"love": 1, "haha": 1}));
    assert_eq!(
        uma.get(&format!("/posts/{post}/reactions"))
            .await
            .expect(200)["mine"],
        "haha"
    );
    uma.delete(&format!("/posts/{post}/reactions"))
        .await
        .expect(204);
    uma.delete(&format!("/posts/{post}/reactions"))
        .await
        .problem(404);
    let c = tess
        .send(
            "PUT",
            &format!("/posts/{post}/comments/{top_id}/reactions"),
            Some(json!({"kind": "wow"})),
        )
        .await
        .expect(200);
    assert_eq!(c["counts"], json!({"wow": 1}));
    uma.send(
        "PUT",
        &format!("/posts/{post}/reactions"),
        Some(json!({"kind": "meh"})),
    )
    .await
    .problem(422);

    // Edits keep their history; only the author edits; deleting a comment takes its replies.
    uma.patch(&format!("/posts/{post}"), json!({"text": "mine now"}))
        .await
        .problem(403);
    tess.patch(&format!("/posts/{post}"), json!({"text": "Hello again"}))
        .await
        .expect(200);
    let history = anon
        .get(&format!("/posts/{post}/history"))
        .await
        .expect(200);
    assert_eq!(
        history["revisions"][0]["text"],
        "Hello @uma, see #Rust and #rust2026"
    );
    assert_eq!(
        anon.get(&format!("/posts/{post}")).await.expect(200)["hashtags"],
        json!([])
    );
    tess.delete(&format!("/posts/{post}/comments/{top_id}"))
        .await
        .expect(204);
    assert_eq!(
        anon.get(&format!("/posts/{post}")).await.expect(200)["comment_count"],
        0
    );
    uma.delete(&format!("/posts/{post}")).await.problem(403);
    tess.delete(&format!("/posts/{post}")).await.expect(204);
    anon.get(&format!("/posts/{post}")).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reactions_give_exact_counts() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_LOGIN_ATTEMPTS_PER_IP", "1000")]);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "vera").await;
    let vera = anon.with_token(access(&t));
    let post = post_when_ready(&vera, json!({"text": "react to me"})).await;
    let mut people = Vec::new();
    for i in 0..16 {
        let (_, t) = signed_up(&anon, &format!("fan{i}")).await;
        people.push(anon.with_token(access(&t)));
    }
    let path = format!("/posts/{post}/reactions");
    let all = people.iter().enumerate().map(|(i, p)| {
        let (p, path) = (p.clone(), path.clone());
        async move {
            let kind = if i % 2 == 0 { "like" } else { "love" };
            p.send("PUT", &path, Some(json!({"kind": kind})))
                .await
                .expect(200);
            p.send("PUT", &path, Some(json!({"kind": "wow"})))
                .await
                .expect(200);
            if i % 4 == 0 {
                p.delete(&path).await.expect(204);
            }
        }
    });
    futures::future::join_all(all).await;
    let counts = anon.get(&path).await.expect(200)["counts"].clone();
    assert_eq!(counts, json!({"wow": 12}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_post_input_is_refused() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, t) = signed_up(&anon, "walt").await;
    let walt = anon.with_token(access(&t));
    walt.post("/posts", json!({"text": ""})).await.problem(422);
    walt.post("/posts", json!({"text": "x".repeat(5_001)}))
        .await
        .problem(422);
    walt.post("/posts", json!({"text": "ok", "visibility": "everyone"}))
        .await
        .problem(422);
    walt.post(
        "/posts",
        json!({"text": "ok", "audience": {"type": "group", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}}),
    )
    .await
    .problem(404);
    walt.post(
        "/posts",
        json!({"text": "ok", "audience": {"type": "page", "id": "nope"}}),
    )
    .await
    .problem(404);
    walt.post(
        "/posts",
        json!({"text": "ok", "audience": {"type": "planet"}}),
    )
    .await
    .problem(422);
    anon.post("/posts", json!({"text": "ok"}))
        .await
        .problem(401);
    walt.get("/posts/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .problem(404);
    walt.get("/posts").await.problem(422);
    walt.get("/users/not-an-id/posts").await.problem(404);
    let post = post_when_ready(&walt, json!({"text": "fine"})).await;
    walt.post(&format!("/posts/{post}/comments"), json!({"text": ""}))
        .await
        .problem(422);
    walt.post(
        &format!("/posts/{post}/comments"),
        json!({"text": "x", "parent_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
    )
    .await
    .problem(422);
    walt.patch(&format!("/posts/{post}"), json!({"text": "a\u{202E}b"}))
        .await
        .problem(422);
    assert_eq!(
        walt.get(&format!("/posts/{post}")).await.expect(200)["text"],
        "fine"
    );
}
