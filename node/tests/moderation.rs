//! Moderation through the gateway: report → queue → remove, and the post gone from every
//! read path until a restore brings it back; suspensions (login and refresh refused,
//! sessions ended, content hidden) until lifted; group moderators within their group; the
//! audit log; and 403 for everyone without a moderating role.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};

/// A platform with `root` as its first admin and `judge` as a moderator.
async fn platform(nats: &Nats) -> (Node, Client, (String, Client)) {
    let node = Node::start_with(nats, &[("AGORA_ADMIN_EMAILS", "root@example.org")]);
    let anon = node.client();
    let (_, root) = user(&anon, "root").await;
    let (judge_id, _) = user(&anon, "judge").await;
    root.send(
        "PUT",
        &format!("/auth/accounts/{judge_id}/roles"),
        Some(json!({"roles": ["moderator"]})),
    )
    .await
    .expect(200);
    let tokens = anon
        .post(
            "/auth/login",
            json!({"login": "judge", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let judge = anon.with_token(access(&tokens));
    (node, root, (judge_id, judge))
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn search_posts(c: &Client, q: &str) -> Vec<String> {
    ids(&c
        .get(&format!("/search?type=posts&q={q}"))
        .await
        .expect(200))
}

async fn notifications(c: &Client) -> Vec<Value> {
    c.get("/notifications").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_post_leaves_every_read_path_until_it_is_restored() {
    let nats = Nats::start();
    let (node, root, (judge_id, judge)) = platform(&nats).await;
    let anon = node.client();
    let author = user(&anon, "author").await;
    let friend = user(&anon, "friend").await;
    let (_, reporter) = user(&anon, "reporter").await;
    befriend(&author, &friend).await;
    let post = publish(
        &author.1,
        json!({"text": "cheap watches zanzibarian #bargain", "visibility": "public"}),
    )
    .await;
    let kept = publish(&author.1, json!({"text": "an honest zanzibarian post"})).await;

    // Reports: one open report per reporter and target; an unknown target is 404.
    let report = until_status(201, async || {
        reporter
            .post(
                "/reports",
                json!({"target": {"kind": "post", "id": post}, "reason": "spam", "comment": "ads"}),
            )
            .await
    })
    .await
    .expect(201);
    let report_id = report["id"].as_str().unwrap().to_string();
    assert_eq!(report["state"], "open");
    reporter
        .post(
            "/reports",
            json!({"target": {"kind": "post", "id": post}, "reason": "spam"}),
        )
        .await
        .problem(409);
    reporter
        .post(
            "/reports",
            json!({"target": {"kind": "post", "id": "01J00000000000000000000000"}, "reason": "spam"}),
        )
        .await
        .problem(404);
    author
        .1
        .post(
            "/reports",
            json!({"target": {"kind": "post", "id": post}, "reason": "spam"}),
        )
        .await
        .problem(422);
    reporter
        .post(
            "/reports",
            json!({"target": {"kind": "post", "id": post}, "reason": "boring"}),
        )
        .await
        .problem(422);

    // Nobody without a moderating role reaches the queue.
    for path in [
        "/moderation/reports".to_string(),
        format!("/moderation/reports/{report_id}"),
        "/moderation/audit".to_string(),
    ] {
        reporter.get(&path).await.problem(403);
    }
    reporter
        .post_empty(&format!("/moderation/reports/{report_id}/claim"))
        .await
        .problem(403);
    reporter
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "remove", "reason": "ads"}),
        )
        .await
        .problem(403);
    anon.get("/moderation/reports").await.problem(401);

    // The queue, a claim, a decision that needs a reason.
    let queue = judge
        .get("/moderation/reports?state=open&kind=post")
        .await
        .expect(200);
    assert_eq!(ids(&queue), std::slice::from_ref(&report_id));
    assert_eq!(queue["items"][0]["account_id"], author.0.as_str());
    judge
        .post_empty(&format!("/moderation/reports/{report_id}/claim"))
        .await
        .expect(200);
    assert!(
        ids(&judge
            .get("/moderation/reports?state=open")
            .await
            .expect(200))
        .is_empty()
    );
    judge
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "remove", "reason": " "}),
        )
        .await
        .problem(422);
    let resolved = judge
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "remove", "reason": "advertising is not allowed"}),
        )
        .await
        .expect(200);
    let action_id = resolved["action"]["id"].as_str().unwrap().to_string();
    judge
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "dismiss", "reason": "again"}),
        )
        .await
        .problem(409);

    // Gone from every read path, for everyone, its author included.
    for reader in [&friend.1, &author.1, &anon] {
        until_status(404, async || reader.get(&format!("/posts/{post}")).await)
            .await
            .problem(404);
    }
    eventually(
        "the removed post leaves timeline, feed and search",
        async || {
            let timeline = ids(&friend
                .1
                .get(&format!("/users/{}/posts", author.0))
                .await
                .expect(200));
            let feed = ids(&friend.1.get("/feed?order=recent").await.expect(200));
            let found = search_posts(&friend.1, "zanzibarian").await;
            timeline == [kept.clone()] && !feed.contains(&post) && found == [kept.clone()]
        },
    )
    .await;
    assert!(feed_contains(&friend.1, &kept).await);
    let mine = reporter.get("/reports").await.expect(200);
    assert_eq!(mine["items"][0]["state"], "resolved");
    assert_eq!(mine["items"][0]["outcome"]["action"], "remove");
    eventually("the author is told why", async || {
        notifications(&author.1).await.iter().any(|n| {
            n["kind"] == "moderation"
                && n["moderation"]["outcome"] == "removed"
                && n["moderation"]["reason"] == "advertising is not allowed"
                && n["target"]["post_id"] == post.as_str()
                && n["actors"] == json!([])
        })
    })
    .await;

    // A restore brings it back everywhere.
    reporter
        .post(
            &format!("/moderation/actions/{action_id}/revert"),
            json!({"reason": "appeal"}),
        )
        .await
        .problem(403);
    judge
        .post(
            &format!("/moderation/actions/{action_id}/revert"),
            json!({"reason": "the appeal showed it was a joke"}),
        )
        .await
        .expect(200);
    judge
        .post(
            &format!("/moderation/actions/{action_id}/revert"),
            json!({"reason": "twice"}),
        )
        .await
        .problem(409);
    until_status(200, async || friend.1.get(&format!("/posts/{post}")).await)
        .await
        .expect(200);
    eventually("the restored post is back in feed and search", async || {
        feed_contains(&friend.1, &post).await
            && search_posts(&friend.1, "zanzibarian").await.contains(&post)
    })
    .await;

    // The audit log: admins only, every step with who and why.
    judge.get("/moderation/audit").await.problem(403);
    let audit = root.get("/moderation/audit").await.expect(200);
    let kinds: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // Admin actions are in it too: the judge was made a moderator at the start.
    assert_eq!(kinds, ["reverted", "resolved", "claimed", "roles_changed"]);
    let promoted = &audit["items"][3];
    assert_eq!(promoted["target"], json!({"kind": "user", "id": judge_id}));
    assert!(
        promoted["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("moderator")),
        "{promoted}"
    );
    assert_eq!(audit["items"][1]["reason"], "advertising is not allowed");
    assert_eq!(audit["items"][0]["action"], "remove");

    // The export, for keeping outside the platform: the same entries, oldest first, one
    // JSON object per line, as a download; a time window narrows it.
    let export = async |who: &Client, query: &str| {
        let url = format!("{}/api/v1/moderation/audit/export{query}", who.base);
        let token = who.token.clone().unwrap();
        let response = who.http.get(url).bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    };
    let lines = |body: &str| -> Vec<Value> {
        body.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (status, headers, body) = export(&root, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let mut oldest_first = audit["items"].as_array().unwrap().clone();
    oldest_first.reverse();
    assert_eq!(lines(&body), oldest_first);
    let all = "?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z";
    assert_eq!(lines(&export(&root, all).await.2), oldest_first);
    for outside in ["?from=2999-01-01T00:00:00Z", "?to=2000-01-01T00:00:00Z"] {
        let (status, _, body) = export(&root, outside).await;
        assert_eq!((status, body.as_str()), (200, ""), "{outside}");
    }
    for bad in [
        "?from=yesterday",
        "?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ] {
        let (status, _, body) = export(&root, bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    assert_eq!(export(&judge, "").await.0, 403);
}

async fn feed_contains(c: &Client, post: &str) -> bool {
    ids(&c.get("/feed?order=recent").await.expect(200)).contains(&post.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_account_is_logged_out_refused_and_hidden_until_reinstated() {
    let nats = Nats::start();
    let (node, root, (_, judge)) = platform(&nats).await;
    let anon = node.client();
    let (troll_id, tokens) = signed_up(&anon, "troll").await;
    let troll = anon.with_token(access(&tokens));
    profile_appears(&troll).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (_, reader) = user(&anon, "reader").await;
    let post = publish(&troll, json!({"text": "quarrelsome words #feud"})).await;

    let report = until_status(201, async || {
        reader
            .post(
                "/reports",
                json!({"target": {"kind": "user", "id": troll_id}, "reason": "harassment"}),
            )
            .await
    })
    .await
    .expect(201);
    let report_id = report["id"].as_str().unwrap();
    judge
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "suspend", "reason": "harassing other members"}),
        )
        .await
        .problem(422);
    judge
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "ban", "reason": "harassing other members"}),
        )
        .await
        .problem(403);
    let resolved = judge
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "suspend", "reason": "harassing other members", "duration_hours": 24}),
        )
        .await
        .expect(200);
    let action_id = resolved["action"]["id"].as_str().unwrap().to_string();
    assert!(resolved["action"]["until"].is_string());

    // Logged out everywhere, and refused at the door.
    until_status(401, async || troll.get("/users/me").await)
        .await
        .problem(401);
    let refused = anon
        .post(
            "/auth/login",
            json!({"login": "troll", "password": PASSWORD}),
        )
        .await
        .problem(403);
    assert_eq!(
        refused["type"].as_str().unwrap().rsplit('/').next(),
        Some("account-suspended")
    );
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("harassing other members")
    );
    anon.post("/auth/refresh", json!({"refresh_token": refresh}))
        .await
        .problem(401);

    // The content is hidden, from search too.
    until_status(404, async || reader.get(&format!("/posts/{post}")).await)
        .await
        .problem(404);
    eventually("a suspended account is not found", async || {
        search_posts(&reader, "quarrelsome").await.is_empty()
            && ids(&reader.get("/search?type=people&q=troll").await.expect(200)).is_empty()
    })
    .await;

    // Lifted: back in, and seen again.
    root.post(
        &format!("/moderation/actions/{action_id}/revert"),
        json!({"reason": "the suspension was a mistake"}),
    )
    .await
    .expect(200);
    let tokens = until_status(200, async || {
        anon.post(
            "/auth/login",
            json!({"login": "troll", "password": PASSWORD}),
        )
        .await
    })
    .await
    .expect(200);
    let troll = anon.with_token(access(&tokens));
    until_status(200, async || reader.get(&format!("/posts/{post}")).await)
        .await
        .expect(200);
    eventually("the account is found again", async || {
        search_posts(&reader, "quarrelsome").await == [post.clone()]
    })
    .await;
    eventually("the account owner was told both", async || {
        let outcomes: Vec<Value> = notifications(&troll)
            .await
            .iter()
            .map(|n| n["moderation"]["outcome"].clone())
            .collect();
        outcomes == [json!("reinstated"), json!("suspended")]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_moderators_act_within_their_group_only() {
    let nats = Nats::start();
    let (node, _root, _) = platform(&nats).await;
    let anon = node.client();
    let (_, owner) = user(&anon, "owner").await;
    let (_, other_owner) = user(&anon, "otherowner").await;
    let (_, member) = user(&anon, "member").await;
    let (_, reporter) = user(&anon, "reporter").await;
    let group = owner
        .post("/groups", json!({"name": "Gardeners", "privacy": "public"}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = other_owner
        .post("/groups", json!({"name": "Anglers", "privacy": "public"}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    member
        .post_empty(&format!("/groups/{group}/join"))
        .await
        .expect(200);
    let post = publish(
        &member,
        json!({"text": "off-topic rant", "audience": {"type": "group", "id": group}}),
    )
    .await;
    let report = until_status(201, async || {
        reporter
            .post(
                "/reports",
                json!({"target": {"kind": "post", "id": post}, "reason": "other", "comment": "off topic"}),
            )
            .await
    })
    .await
    .expect(201);
    let report_id = report["id"].as_str().unwrap();

    // The group's admin lists and acts on its reports; another group's admin cannot.
    owner.get("/moderation/reports").await.problem(403);
    other_owner
        .get(&format!("/moderation/reports?group={group}"))
        .await
        .problem(403);
    other_owner
        .get(&format!("/moderation/reports/{report_id}"))
        .await
        .problem(403);
    assert!(
        ids(&other_owner
            .get(&format!("/moderation/reports?group={other}"))
            .await
            .expect(200))
        .is_empty()
    );
    let queue = owner
        .get(&format!("/moderation/reports?group={group}"))
        .await
        .expect(200);
    assert_eq!(ids(&queue), [report_id.to_string()]);
    owner
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "suspend", "reason": "rants", "duration_hours": 1}),
        )
        .await
        .problem(403);
    owner
        .post(
            &format!("/moderation/reports/{report_id}/resolve"),
            json!({"action": "remove", "reason": "keep it on topic"}),
        )
        .await
        .expect(200);
    until_status(404, async || reporter.get(&format!("/posts/{post}")).await)
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_rules_block_and_flag_whatever_the_spelling() {
    let nats = Nats::start();
    let node = Node::start_with(
        &nats,
        &[
            ("AGORA_ADMIN_EMAILS", "root@example.org"),
            ("AGORA_BLOCKED_KEYWORDS", "Forbidden Fruit,scam"),
        ],
    );
    let anon = node.client();
    let (_, root) = user(&anon, "root").await;
    let (_, author) = user(&anon, "author").await;

    // The platform's rules are there, and only its configuration changes them.
    let rules = root.get("/moderation/rules").await.expect(200);
    let phrases: Vec<&str> = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phrase"].as_str().unwrap())
        .collect();
    assert_eq!(phrases.len(), 2);
    assert!(phrases.contains(&"forbidden fruit") && phrases.contains(&"scam"));
    let platform_rule = rules["items"][0]["id"].as_str().unwrap();
    assert_eq!(rules["items"][0]["source"], "platform");
    root.delete(&format!("/moderation/rules/{platform_rule}"))
        .await
        .problem(409);
    author.get("/moderation/rules").await.problem(403);
    author
        .post(
            "/moderation/rules",
            json!({"phrase": "x y", "action": "block"}),
        )
        .await
        .problem(403);

    // Blocked text is refused naming the rule, whatever its spelling; longer words pass.
    let refused = until_status(422, async || {
        author
            .post("/posts", json!({"text": "I ate the ƒORBIDDEN   frúit"}))
            .await
    })
    .await
    .problem(422);
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("forbidden fruit"),
        "{refused}"
    );
    for text in ["a \u{0455}\u{0441}\u{0430}m", "what a s-c-a-m", "SC4M!"] {
        author
            .post("/posts", json!({"text": text}))
            .await
            .problem(422);
    }
    let fine = publish(&author, json!({"text": "scampi for dinner"})).await;
    author
        .patch(
            &format!("/posts/{fine}"),
            json!({"text": "a scam after all"}),
        )
        .await
        .problem(422);
    author
        .post(
            &format!("/posts/{fine}/comments"),
            json!({"text": "total scam"}),
        )
        .await
        .problem(422);

    // An admin's flag rule: the text goes out and a report is opened.
    root.post(
        "/moderation/rules",
        json!({"phrase": "x", "action": "flag"}),
    )
    .await
    .problem(422);
    let flag = root
        .post(
            "/moderation/rules",
            json!({"phrase": "Cheap Watches", "action": "flag"}),
        )
        .await
        .expect(201);
    assert_eq!(flag["phrase"], "cheap watches");
    root.post(
        "/moderation/rules",
        json!({"phrase": "cheap watches", "action": "block"}),
    )
    .await
    .problem(409);
    // Rules reach posts in order: once the later block rule applies, the flag rule does.
    root.post(
        "/moderation/rules",
        json!({"phrase": "fake tickets", "action": "block"}),
    )
    .await
    .expect(201);
    until_status(422, async || {
        author.post("/posts", json!({"text": "fake tickets"})).await
    })
    .await
    .problem(422);
    let flagged = publish(&author, json!({"text": "get ch3ap watches here"})).await;
    let comment = author
        .post(
            &format!("/posts/{fine}/comments"),
            json!({"text": "CHEAP WATCHES too"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the flagged post and comment are reported", async || {
        let queue = root.get("/moderation/reports?state=open").await.expect(200);
        let targets: Vec<(String, String)> = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["reporter_id"] == "system")
            .map(|r| {
                (
                    r["target"]["id"].as_str().unwrap().to_string(),
                    r["comment"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        targets.len() == 2
            && targets
                .iter()
                .any(|(t, c)| *t == flagged && c.contains("cheap watches"))
            && targets.iter().any(|(t, _)| *t == comment)
    })
    .await;
    author.get(&format!("/posts/{flagged}")).await.expect(200);
    root.delete(&format!(
        "/moderation/rules/{}",
        flag["id"].as_str().unwrap()
    ))
    .await
    .expect(204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_reported_by_its_members_only_and_removed_for_everyone() {
    let nats = Nats::start();
    let (node, _root, (_, judge)) = platform(&nats).await;
    let anon = node.client();
    let ann = user(&anon, "ann").await;
    let bob = user(&anon, "bob").await;
    let (_, cat) = user(&anon, "cat").await;
    befriend(&ann, &bob).await;
    let conv = until_status(201, async || {
        ann.1
            .post(
                "/conversations",
                json!({"kind": "direct", "user_id": bob.0}),
            )
            .await
    })
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/conversations/{conv}/messages");
    let rude = bob
        .1
        .post(&path, json!({"text": "something rude"}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let target = json!({"target": {"kind": "message", "id": rude}, "reason": "harassment"});
    // A stranger learns nothing: the message does not exist for them.
    until_status(404, async || cat.post("/reports", target.clone()).await)
        .await
        .problem(404);
    let report = until_status(201, async || ann.1.post("/reports", target.clone()).await)
        .await
        .expect(201);
    judge
        .post(
            &format!(
                "/moderation/reports/{}/resolve",
                report["id"].as_str().unwrap()
            ),
            json!({"action": "remove", "reason": "harassment in messages"}),
        )
        .await
        .expect(200);
    let shown = |list: Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == rude.as_str())
            .cloned()
            .unwrap()
    };
    eventually("the message is shown removed to both members", async || {
        let a = shown(ann.1.get(&path).await.expect(200));
        let b = shown(bob.1.get(&path).await.expect(200));
        a["removed"] == true && a["text"] == "" && b["removed"] == true && b["text"] == ""
    })
    .await;
    bob.1
        .patch(&format!("{path}/{rude}"), json!({"text": "edited"}))
        .await
        .problem(409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_post_and_a_suspended_author_leave_trending() {
    let nats = Nats::start();
    let (node, _root, (_, judge)) = platform(&nats).await;
    let anon = node.client();
    let (_, reporter) = user(&anon, "reporter").await;
    let mut posts = Vec::new();
    for name in ["ana", "ben", "cyd", "dee"] {
        let (id, c) = user(&anon, name).await;
        posts.push((
            id,
            publish(&c, json!({"text": "the #Volcano woke up"})).await,
        ));
    }
    let trending = async || -> Vec<Value> {
        anon.get("/trending").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    eventually("#volcano trends with four authors", async || {
        trending().await.first().is_some_and(|t| t["authors"] == 4)
    })
    .await;
    let decide = async |target: Value, action: Value| {
        let report = until_status(201, async || {
            reporter
                .post("/reports", json!({"target": target, "reason": "spam"}))
                .await
        })
        .await
        .expect(201);
        judge
            .post(
                &format!(
                    "/moderation/reports/{}/resolve",
                    report["id"].as_str().unwrap()
                ),
                action,
            )
            .await
            .expect(200);
    };
    decide(
        json!({"kind": "post", "id": posts[0].1}),
        json!({"action": "remove", "reason": "spam"}),
    )
    .await;
    eventually("a removed post's use is taken back", async || {
        trending().await.first().is_some_and(|t| t["authors"] == 3)
    })
    .await;
    decide(
        json!({"kind": "user", "id": posts[1].0}),
        json!({"action": "suspend", "reason": "spam", "duration_hours": 1}),
    )
    .await;
    eventually(
        "a suspended author's use is left out: the tag falls",
        async || trending().await.is_empty(),
    )
    .await;
}
