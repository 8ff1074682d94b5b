//! The black-box journey through the gateway, against a real nats-server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::json;

/// A TOTP code for a base32 secret, now.
fn totp_now(secret: &str) -> String {
    agora_node::auth::domain::totp(secret, "alice", "dev")
        .unwrap()
        .generate_current()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_meet_befriend_and_block() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();

    // Alice signs up and turns on TOTP.
    let (alice_id, tokens) = signed_up(&anon, "alice").await;
    let alice = anon.with_token(access(&tokens));
    let enrolment = alice.post_empty("/auth/mfa/enroll").await.expect(200);
    assert!(
        enrolment["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let secret = enrolment["secret"].as_str().unwrap();
    let codes = alice
        .post("/auth/mfa/confirm", json!({"code": totp_now(secret)}))
        .await
        .expect(200);
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);

    // Her next login needs the second factor; a recovery code works once.
    let challenge = anon
        .post(
            "/auth/login",
            json!({"login": "alice@example.org", "password": PASSWORD}),
        )
        .await
        .expect(200);
    assert_eq!(challenge["mfa_required"], true);
    assert!(challenge.get("access_token").is_none());
    let mfa_token = challenge["mfa_token"].as_str().unwrap();
    anon.post(
        "/auth/mfa/challenge",
        json!({"mfa_token": mfa_token, "code": "000000"}),
    )
    .await
    .problem(401);
    let recovery = codes["recovery_codes"][0].as_str().unwrap();
    let tokens = anon
        .post(
            "/auth/mfa/challenge",
            json!({"mfa_token": mfa_token, "recovery_code": recovery}),
        )
        .await
        .expect(200);
    let alice = anon.with_token(access(&tokens));
    let again = anon
        .post(
            "/auth/login",
            json!({"login": "alice", "password": PASSWORD}),
        )
        .await
        .expect(200);
    anon.post(
        "/auth/mfa/challenge",
        json!({"mfa_token": again["mfa_token"], "recovery_code": recovery}),
    )
    .await
    .problem(401);

    // Bob signs up without MFA.
    let (bob_id, tokens) = signed_up(&anon, "bob").await;
    let bob = anon.with_token(access(&tokens));

    // Both profiles were created from auth's event, not by a call.
    assert_eq!(profile_appears(&alice).await["username"], "alice");
    assert_eq!(profile_appears(&bob).await["id"], bob_id.as_str());
    alice
        .patch(
            "/users/me",
            json!({"display_name": "Alice Liddell", "bio": "down the rabbit hole"}),
        )
        .await
        .expect(200);

    // They find each other.
    let found = alice.get("/users?username=bob").await.expect(200);
    assert_eq!(found["id"], bob_id.as_str());
    assert_eq!(found["relationship"], "none");
    let seen = bob.get(&format!("/users/{alice_id}")).await.expect(200);
    assert_eq!(seen["display_name"], "Alice Liddell");
    assert_eq!(seen["bio"], "down the rabbit hole");
    assert!(
        seen.get("privacy").is_none(),
        "privacy settings are the owner's business"
    );

    // Alice asks, Bob sees it and accepts.
    let sent = alice
        .post_empty(&format!("/users/{bob_id}/friend-request"))
        .await
        .expect(201);
    assert_eq!(sent["relationship"], "request_sent");
    alice
        .post_empty(&format!("/users/{bob_id}/friend-request"))
        .await
        .problem(409);
    let outgoing = alice.get("/friend-requests/outgoing").await.expect(200);
    assert_eq!(outgoing["items"][0]["user"]["id"], bob_id.as_str());
    let incoming = bob.get("/friend-requests/incoming").await.expect(200);
    assert_eq!(incoming["items"][0]["user"]["username"], "alice");
    bob.post_empty(&format!("/friend-requests/{alice_id}/accept"))
        .await
        .expect(204);

    // Each sees the other as a friend.
    assert_eq!(
        alice.get("/users/me/friends").await.expect(200)["items"][0]["user"]["id"],
        bob_id.as_str()
    );
    assert_eq!(
        bob.get("/users/me/friends").await.expect(200)["items"][0]["user"]["id"],
        alice_id.as_str()
    );
    assert_eq!(
        bob.get(&format!("/users/{alice_id}")).await.expect(200)["relationship"],
        "friends"
    );
    assert_eq!(
        bob.get("/friend-requests/incoming").await.expect(200)["items"],
        json!([])
    );

    // Bob blocks Alice: the friendship is gone and each is hidden from the other.
    bob.post_empty(&format!("/users/{alice_id}/block"))
        .await
        .expect(204);
    assert_eq!(
        alice.get("/users/me/friends").await.expect(200)["items"],
        json!([])
    );
    assert_eq!(
        bob.get("/users/me/friends").await.expect(200)["items"],
        json!([])
    );
    alice.get(&format!("/users/{bob_id}")).await.problem(404);
    bob.get(&format!("/users/{alice_id}")).await.problem(404);
    alice
        .post_empty(&format!("/users/{bob_id}/friend-request"))
        .await
        .problem(404);
    assert_eq!(
        bob.get("/users/me/blocks").await.expect(200)["items"][0]["user"]["id"],
        alice_id.as_str()
    );

    // Unblocking makes them visible again, but not friends.
    bob.delete(&format!("/users/{alice_id}/block"))
        .await
        .expect(204);
    assert_eq!(
        alice.get(&format!("/users/{bob_id}")).await.expect(200)["relationship"],
        "none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_settings_shape_what_others_see_and_may_do() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (carol_id, t) = signed_up(&anon, "carol").await;
    let carol = anon.with_token(access(&t));
    let (dave_id, t) = signed_up(&anon, "dave").await;
    let dave = anon.with_token(access(&t));
    let (erin_id, t) = signed_up(&anon, "erin").await;
    let erin = anon.with_token(access(&t));
    for c in [&carol, &dave, &erin] {
        profile_appears(c).await;
    }
    carol
        .patch("/users/me", json!({"bio": "secret garden"}))
        .await
        .expect(200);

    // Friends only: strangers and anonymous viewers see the name, not the rest.
    let privacy = carol
        .patch(
            "/users/me/privacy",
            json!({"profile": "friends", "friend_requests": "friends_of_friends"}),
        )
        .await
        .expect(200);
    assert_eq!(privacy["profile"], "friends");
    assert_eq!(
        carol.get("/users/me/privacy").await.expect(200)["friend_requests"],
        "friends_of_friends"
    );
    let stranger_view = dave.get(&format!("/users/{carol_id}")).await.expect(200);
    assert_eq!(stranger_view["restricted"], true);
    assert!(stranger_view.get("bio").is_none());
    assert!(
        anon.get(&format!("/users/{carol_id}"))
            .await
            .expect(200)
            .get("bio")
            .is_none()
    );

    // Friends of friends only: Dave may not ask until he and Carol share a friend.
    dave.post_empty(&format!("/users/{carol_id}/friend-request"))
        .await
        .problem(403);
    erin.post_empty(&format!("/users/{carol_id}/friend-request"))
        .await
        .problem(403);
    carol
        .post_empty(&format!("/users/{erin_id}/friend-request"))
        .await
        .expect(201);
    erin.post_empty(&format!("/friend-requests/{carol_id}/accept"))
        .await
        .expect(204);
    dave.post_empty(&format!("/users/{erin_id}/friend-request"))
        .await
        .expect(201);
    // Erin asking Dave back accepts his request.
    assert_eq!(
        erin.post_empty(&format!("/users/{dave_id}/friend-request"))
            .await
            .expect(201)["relationship"],
        "friends"
    );
    let mutual = dave
        .get(&format!("/users/{carol_id}/mutual-friends"))
        .await
        .expect(200);
    assert_eq!(mutual["items"][0]["id"], erin_id.as_str());
    dave.post_empty(&format!("/users/{carol_id}/friend-request"))
        .await
        .expect(201);

    // Declined and cancelled requests leave nothing behind.
    carol
        .post_empty(&format!("/friend-requests/{dave_id}/decline"))
        .await
        .expect(204);
    assert_eq!(
        dave.get("/friend-requests/outgoing").await.expect(200)["items"],
        json!([])
    );
    dave.post_empty(&format!("/users/{carol_id}/friend-request"))
        .await
        .expect(201);
    dave.delete(&format!("/users/{carol_id}/friend-request"))
        .await
        .expect(204);
    assert_eq!(
        carol.get("/friend-requests/incoming").await.expect(200)["items"],
        json!([])
    );
    dave.delete(&format!("/users/{carol_id}/friend-request"))
        .await
        .problem(404);

    // Friends see the whole profile; unfriending hides it again.
    assert_eq!(
        erin.get(&format!("/users/{carol_id}")).await.expect(200)["bio"],
        "secret garden"
    );
    erin.delete(&format!("/users/me/friends/{carol_id}"))
        .await
        .expect(204);
    assert!(
        erin.get(&format!("/users/{carol_id}"))
            .await
            .expect(200)
            .get("bio")
            .is_none()
    );
    erin.delete(&format!("/users/me/friends/{carol_id}"))
        .await
        .problem(404);

    // Not searchable: strangers cannot look the username up.
    carol
        .patch("/users/me/privacy", json!({"searchable": false}))
        .await
        .expect(200);
    dave.get("/users?username=carol").await.problem(404);
    assert_eq!(
        carol.get("/users?username=carol").await.expect(200)["id"],
        carol_id.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_lists_are_paginated() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (hub_id, t) = signed_up(&anon, "hub").await;
    let hub = anon.with_token(access(&t));
    profile_appears(&hub).await;
    let mut friends = Vec::new();
    for i in 0..5 {
        let (id, t) = signed_up(&anon, &format!("spoke{i}")).await;
        let spoke = anon.with_token(access(&t));
        profile_appears(&spoke).await;
        spoke
            .post_empty(&format!("/users/{hub_id}/friend-request"))
            .await
            .expect(201);
        hub.post_empty(&format!("/friend-requests/{id}/accept"))
            .await
            .expect(204);
        friends.push(id);
    }
    let mut seen = Vec::new();
    let mut path = "/users/me/friends?limit=2".to_string();
    loop {
        let page = hub.get(&path).await.expect(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["user"]["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users/me/friends?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    friends.sort();
    assert_eq!(seen, friends);
    hub.get("/users/me/friends?limit=0").await.problem(422);
    hub.get("/users/me/friends?cursor=nonsense")
        .await
        .problem(422);
}
