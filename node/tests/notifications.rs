//! Notifications made by the real actions of other users, through the gateway: each kind,
//! grouping, preferences and mutes, read state, privacy, and the live push.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

async fn notifications(c: &Client) -> Vec<Value> {
    c.get("/notifications?limit=100").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits (bounded) until the newest notification of `kind` satisfies `check`.
async fn until_kind(c: &Client, kind: &str, check: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let all = notifications(c).await;
        if let Some(n) = all.iter().find(|n| n["kind"] == kind)
            && check(n)
        {
            return n.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no {kind} notification as expected: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_comes_from_a_real_action_and_reactions_group() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let (cat, dan) = (user(&anon, "cat").await, user(&anon, "dan").await);

    // Friend request, then its acceptance.
    bob.1
        .post_empty(&format!("/users/{}/friend-request", ann.0))
        .await
        .expect(201);
    let asked = until_kind(&ann.1, "friend_request", |_| true).await;
    assert_eq!(asked["actors"], json!([bob.0]));
    assert_eq!(asked["read"], false);
    ann.1
        .post_empty(&format!("/friend-requests/{}/accept", bob.0))
        .await
        .expect(204);
    until_kind(&bob.1, "friend_accepted", |n| n["actors"] == json!([ann.0])).await;

    // Comments on ann's post, and a reply to bob's comment.
    let p = publish(&ann.1, json!({"text": "hello @bob and @dan"})).await;
    let mention = until_kind(&bob.1, "mention", |_| true).await;
    assert_eq!(mention["target"]["post_id"], p.as_str());
    until_kind(&dan.1, "mention", |_| true).await;
    let comment = bob
        .1
        .post(&format!("/posts/{p}/comments"), json!({"text": "hi!"}))
        .await
        .expect(201);
    until_kind(&ann.1, "comment", |n| n["target"]["post_id"] == p.as_str()).await;
    cat.1
        .post(
            &format!("/posts/{p}/comments"),
            json!({"text": "welcome", "parent_id": comment["id"]}),
        )
        .await
        .expect(201);
    let reply = until_kind(&bob.1, "reply", |_| true).await;
    assert_eq!(reply["target"]["comment_id"], comment["id"]);
    assert_eq!(reply["actors"], json!([cat.0]));

    // Three reactions: one grouped notification, newest actor first.
    for r in [&bob, &cat, &dan] {
        r.1.send(
            "PUT",
            &format!("/posts/{p}/reactions"),
            Some(json!({"kind": "like"})),
        )
        .await
        .expect(200);
    }
    let grouped = until_kind(&ann.1, "reaction", |n| n["actor_count"] == 3).await;
    assert_eq!(grouped["actors"], json!([dan.0, cat.0, bob.0]));
    let reactions: Vec<_> = notifications(&ann.1)
        .await
        .into_iter()
        .filter(|n| n["kind"] == "reaction")
        .collect();
    assert_eq!(
        reactions.len(),
        1,
        "one notification for the post's reactions"
    );

    // A share of ann's post.
    bob.1
        .post(&format!("/posts/{p}/shares"), json!({"text": "look"}))
        .await
        .expect(201);
    until_kind(&ann.1, "share", |n| n["actors"] == json!([bob.0])).await;

    // Read state.
    let unread = ann.1.get("/notifications/unread").await.expect(200)["count"]
        .as_u64()
        .unwrap();
    assert!(unread >= 4, "{unread}");
    let first = notifications(&ann.1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    ann.1
        .post_empty(&format!("/notifications/{first}/read"))
        .await
        .expect(204);
    assert_eq!(
        ann.1.get("/notifications/unread").await.expect(200)["count"],
        unread - 1
    );
    ann.1
        .post_empty("/notifications/read-all")
        .await
        .expect(204);
    assert_eq!(
        ann.1.get("/notifications/unread").await.expect(200)["count"],
        0
    );
    assert!(
        notifications(&ann.1)
            .await
            .iter()
            .all(|n| n["read"] == true)
    );
    ann.1
        .delete(&format!("/notifications/{first}"))
        .await
        .expect(204);
    assert!(
        !notifications(&ann.1)
            .await
            .iter()
            .any(|n| n["id"] == first.as_str())
    );
    // Someone else's notification does not exist for you.
    bob.1
        .post_empty(&format!("/notifications/{first}/read"))
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_about_blocked_users_unreadable_posts_or_muted_things() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let (cat, eve) = (user(&anon, "cat").await, user(&anon, "eve").await);
    befriend(&ann, &bob).await;

    // A friends-only post mentioning a stranger: the stranger cannot read it, so is not told.
    let secret = publish(
        &ann.1,
        json!({"text": "only friends: @eve and @bob", "visibility": "friends"}),
    )
    .await;
    until_kind(&bob.1, "mention", |n| {
        n["target"]["post_id"] == secret.as_str()
    })
    .await;
    assert!(
        !notifications(&eve.1)
            .await
            .iter()
            .any(|n| n["kind"] == "mention"),
        "eve may not read it"
    );

    // cat is blocked by ann: cat's actions never reach ann.
    ann.1
        .post_empty(&format!("/users/{}/block", cat.0))
        .await
        .expect(204);
    let public = publish(&ann.1, json!({"text": "public"})).await;
    // (posts learns of the block by event; until then cat may still comment)
    let start = Instant::now();
    loop {
        let r = cat
            .1
            .post(&format!("/posts/{public}/comments"), json!({"text": "hey"}))
            .await;
        if r.status == 404 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Anything cat did before the block is hidden too, as soon as notifications has the
    // block too (its own consumer, which may trail posts' by a few milliseconds).
    let start = Instant::now();
    while notifications(&ann.1)
        .await
        .iter()
        .any(|n| n["actors"].as_array().unwrap().contains(&json!(cat.0)))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still something from a blocked user"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Muting a post; turning a kind off.
    // (notifications learns of the post by event: until then it is no post to mute.)
    let mute = format!("/notifications/mutes/{public}");
    until_status(204, async || ann.1.send("PUT", &mute, None).await)
        .await
        .expect(204);
    ann.1
        .send("PUT", &format!("/notifications/mutes/{public}"), None)
        .await
        .problem(409);
    ann.1
        .send(
            "PUT",
            "/notifications/preferences",
            Some(json!({"kinds": {"share": {"in_app": false, "push": false}}})),
        )
        .await
        .expect(200);
    bob.1
        .post(
            &format!("/posts/{public}/comments"),
            json!({"text": "muted"}),
        )
        .await
        .expect(201);
    bob.1
        .post(&format!("/posts/{secret}/shares"), json!({}))
        .await
        .expect(201);
    // A marker after both: once it arrives, the muted and turned-off ones would have too.
    bob.1
        .post(
            &format!("/posts/{secret}/comments"),
            json!({"text": "marker"}),
        )
        .await
        .expect(201);
    until_kind(&ann.1, "comment", |n| {
        n["target"]["post_id"] == secret.as_str()
    })
    .await;
    let all = notifications(&ann.1).await;
    assert!(
        !all.iter()
            .any(|n| n["target"]["post_id"] == public.as_str()),
        "the muted post notified: {all:?}"
    );
    assert!(!all.iter().any(|n| n["kind"] == "share"), "shares are off");

    // A deleted post takes its notifications with it.
    ann.1.delete(&format!("/posts/{secret}")).await.expect(204);
    let start = Instant::now();
    while notifications(&bob.1)
        .await
        .iter()
        .any(|n| n["target"]["post_id"] == secret.as_str())
    {
        assert!(start.elapsed() < Duration::from_secs(20), "still shown");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bob.1
        .get("/notifications?cursor=nonsense")
        .await
        .problem(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_is_pushed_to_a_connected_device() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let mut ws = stream_socket(&node.base, ann.1.token.as_deref(), "")
        .await
        .unwrap();
    bob.1
        .post_empty(&format!("/users/{}/friend-request", ann.0))
        .await
        .expect(201);
    let pushed = next_of(&mut ws, "notification").await;
    assert_eq!(pushed["data"]["notification"]["kind"], "friend_request");
    assert_eq!(pushed["data"]["notification"]["actors"], json!([bob.0]));
    assert_eq!(pushed["data"]["unread_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_invitations_and_join_requests_reach_the_right_people() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let (cat, dan) = (user(&anon, "cat").await, user(&anon, "dan").await);
    let group = ann
        .1
        .post(
            "/groups",
            json!({"name": "quiet club", "privacy": "private"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    // ann invites bob, who joins: a plain member.
    let invite = format!("/groups/{group}/invitations");
    until_status(201, async || {
        ann.1.post(&invite, json!({"user_id": bob.0})).await
    })
    .await
    .expect(201);
    let invited = until_kind(&bob.1, "group_invitation", |_| true).await;
    assert_eq!(invited["target"]["group_id"], group.as_str());
    assert_eq!(invited["actors"], json!([ann.0]));
    bob.1
        .post_empty(&format!("/groups/{group}/join"))
        .await
        .expect(200);
    // cat asks to join: the admin hears of it, the plain member does not.
    cat.1
        .post_empty(&format!("/groups/{group}/join"))
        .await
        .expect(200);
    let asked = until_kind(&ann.1, "group_request", |_| true).await;
    assert_eq!(asked["actors"], json!([cat.0]));
    // A marker for bob: once it is there, a request would have been too.
    dan.1
        .post_empty(&format!("/users/{}/friend-request", bob.0))
        .await
        .expect(201);
    until_kind(&bob.1, "friend_request", |_| true).await;
    assert!(
        !notifications(&bob.1)
            .await
            .iter()
            .any(|n| n["kind"] == "group_request"),
        "members do not moderate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_notify_only_those_no_push_reached() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (ann, bob) = (user(&anon, "ann").await, user(&anon, "bob").await);
    let cat = user(&anon, "cat").await;
    let trio = json!({"kind": "group", "title": "trio", "member_ids": [bob.0, cat.0]});
    let conv = until_status(201, async || {
        ann.1.post("/conversations", trio.clone()).await
    })
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    // cat is connected (the push reaches her); bob is not.
    let mut cat_ws = stream_socket(&node.base, cat.1.token.as_deref(), "")
        .await
        .unwrap();
    // (The gateway reports the connection alive just after it opens: wait until it has.)
    let start = Instant::now();
    loop {
        let c = ann
            .1
            .get(&format!("/conversations/{conv}"))
            .await
            .expect(200);
        let online = c["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == cat.0.as_str() && m["presence"]["online"] == true);
        if online {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "cat never online"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let say = async |text: &str| {
        ann.1
            .post(
                &format!("/conversations/{conv}/messages"),
                json!({ "text": text }),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = say("one").await;
    next_of(&mut cat_ws, "message.created").await;
    say("two").await;
    let n = until_kind(&bob.1, "message", |n| {
        n["target"]["conversation_id"] == conv.as_str()
    })
    .await;
    assert_eq!(n["actors"], json!([ann.0]));
    let bobs: Vec<_> = notifications(&bob.1)
        .await
        .into_iter()
        .filter(|n| n["kind"] == "message")
        .collect();
    assert_eq!(bobs.len(), 1, "one per conversation");
    // Reading the conversation settles it.
    bob.1
        .post(
            &format!("/conversations/{conv}/read"),
            json!({"message_id": first}),
        )
        .await
        .expect(200);
    let start = Instant::now();
    while notifications(&bob.1)
        .await
        .iter()
        .any(|n| n["kind"] == "message")
    {
        assert!(start.elapsed() < Duration::from_secs(20), "still there");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Muting the conversation: nothing more about it. (A friend request is the marker.)
    bob.1
        .send("PUT", &format!("/notifications/mutes/{conv}"), None)
        .await
        .expect(204);
    say("three").await;
    cat.1
        .post_empty(&format!("/users/{}/friend-request", bob.0))
        .await
        .expect(201);
    until_kind(&bob.1, "friend_request", |_| true).await;
    assert!(
        !notifications(&bob.1)
            .await
            .iter()
            .any(|n| n["kind"] == "message")
    );
    assert!(
        !notifications(&cat.1)
            .await
            .iter()
            .any(|n| n["kind"] == "message"),
        "cat was connected: the push reached her"
    );
    // Someone outside the conversation cannot mute it.
    let (_, eve) = user(&anon, "eve").await;
    eve.send("PUT", &format!("/notifications/mutes/{conv}"), None)
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_turned_on_for_email_come_as_a_digest_of_what_is_new_and_unread() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_DIGEST_INTERVAL_SECS", "1")]);
    let anon = node.client();
    let (dina, eve) = (user(&anon, "dina").await, user(&anon, "eve").await);
    profile_appears(&dina.1).await;
    profile_appears(&eve.1).await;
    let prefs = json!({"kinds": {"comment": {"in_app": true, "push": true, "email": true}}});
    dina.1
        .send("PUT", "/notifications/preferences", Some(prefs))
        .await
        .expect(200);
    let p = publish(&dina.1, json!({"text": "tell me by mail"})).await;
    let comment = async || {
        until_status(201, async || {
            eve.1
                .post(&format!("/posts/{p}/comments"), json!({"text": "hi!"}))
                .await
        })
        .await;
    };
    comment().await;
    // Reactions are not mailed (not turned on).
    eve.1
        .send(
            "PUT",
            &format!("/posts/{p}/reactions"),
            Some(json!({"kind": "like"})),
        )
        .await
        .expect(200);
    let digests = |count: usize| {
        let anon = anon.clone();
        async move { mails(&anon, "dina", Some("Your Agora notifications"), count).await }
    };
    let first = digests(1).await;
    assert_eq!(first.len(), 1);
    assert!(first[0].contains("1 × comment"), "{}", first[0]);
    assert!(!first[0].contains("reaction"), "{}", first[0]);
    assert!(!first[0].contains("hi!"), "counts only, never content");

    // The next digest counts only what is new since the last one.
    comment().await;
    let second = digests(2).await;
    assert_eq!(second.len(), 2);
    assert!(second[1].contains("1 × comment"), "{}", second[1]);
}
