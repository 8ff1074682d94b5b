//! Accounts a person runs themselves: password reset by mail, answers that do not tell
//! which accounts exist, and attempt limits nobody else can use to lock the owner out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::net::IpAddr;

use common::*;
use serde_json::{Value, json};

const RESET: &str = "Reset your Agora password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_by_mail_and_every_session_ends() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, laptop) = signed_up(&anon, "kim").await;
    let phone = anon
        .post("/auth/login", json!({"login": "kim", "password": PASSWORD}))
        .await
        .expect(200);

    anon.post("/auth/password/reset", json!({"login": "kim"}))
        .await
        .expect(202);
    let mail = mails(&anon, "kim", Some(RESET), 1).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("\"kim\""), "the mail names the account");
    let token = token_in(&mail[0]);

    // The new password follows the registration rules; a refusal spends nothing.
    let weak = anon
        .post(
            "/auth/password/reset/confirm",
            json!({"token": token, "new_password": "kim123"}),
        )
        .await
        .problem(422);
    assert_eq!(weak["errors"][0]["field"], "new_password", "{weak}");
    let new_password = "a brand new passphrase for kim";
    anon.post(
        "/auth/password/reset/confirm",
        json!({"token": token, "new_password": new_password}),
    )
    .await
    .expect(204);
    // Single use.
    anon.post(
        "/auth/password/reset/confirm",
        json!({"token": token, "new_password": "yet another passphrase 99"}),
    )
    .await
    .problem(400);

    // Whoever knew the old password is out: every session ended, tokens and all.
    for tokens in [&laptop, &phone] {
        anon.post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await
        .problem(401);
        anon.with_token(access(tokens))
            .get("/users/me")
            .await
            .problem(401);
    }
    anon.post("/auth/login", json!({"login": "kim", "password": PASSWORD}))
        .await
        .problem(401);
    anon.post(
        "/auth/login",
        json!({"login": "kim@example.org", "password": new_password}),
    )
    .await
    .expect(200);

    // Requested by e-mail address works the same.
    anon.post("/auth/password/reset", json!({"login": "KIM@example.org"}))
        .await
        .expect(202);
    assert_eq!(mails(&anon, "kim", Some(RESET), 2).await.len(), 2);
    anon.post(
        "/auth/password/reset/confirm",
        json!({"token": "never-issued", "new_password": new_password}),
    )
    .await
    .problem(400);
    anon.post("/auth/password/reset", json!({"login": ""}))
        .await
        .problem(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_resend_answer_alike_whether_the_account_exists_or_not() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    signed_up(&anon, "lena").await;
    register(&anon, "milo").await; // never verified

    let answer = |path: &'static str, body: Value| {
        let anon = anon.clone();
        async move {
            let r = anon.post(path, body).await;
            (r.status, r.body)
        }
    };
    let known = answer("/auth/password/reset", json!({"login": "lena"})).await;
    let unknown = answer("/auth/password/reset", json!({"login": "nobody"})).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, 202);
    let unverified = answer("/auth/verify/resend", json!({"email": "milo@example.org"})).await;
    let verified = answer("/auth/verify/resend", json!({"email": "lena@example.org"})).await;
    let unknown = answer(
        "/auth/verify/resend",
        json!({"email": "nobody@example.org"}),
    )
    .await;
    assert_eq!(unverified, unknown);
    assert_eq!(verified, unknown);
    assert_eq!(unknown.0, 202);
    // Only the real, eligible accounts got mail: a reset for the verified one, a fresh
    // verification for the unverified one (and none for what does not exist).
    assert_eq!(mails(&anon, "lena", Some(RESET), 1).await.len(), 1);
    let confirm = "Confirm your Agora account";
    assert_eq!(mails(&anon, "milo", Some(confirm), 2).await.len(), 2);
    assert_eq!(
        mails(&anon, "lena", Some(confirm), 1).await.len(),
        1,
        "only at signup"
    );
    // An unverified account gets no reset (nobody proved they own the address). The
    // reset asked for lena afterwards arriving means milo's request was handled.
    anon.post("/auth/password/reset", json!({"login": "milo"}))
        .await
        .expect(202);
    anon.post("/auth/password/reset", json!({"login": "lena"}))
        .await
        .expect(202);
    assert_eq!(mails(&anon, "lena", Some(RESET), 2).await.len(), 2);
    assert!(
        mails(&anon, "milo", Some(RESET), 0).await.is_empty(),
        "no reset for an unverified account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_cannot_be_flooded() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    signed_up(&anon, "nora").await;
    signed_up(&anon, "oskar").await;
    for _ in 0..8 {
        anon.post("/auth/password/reset", json!({"login": "nora"}))
            .await
            .expect(202);
    }
    // Five an hour reach the address (the verification at signup was the first); the rest
    // are answered alike and not sent. (Oskar's reset, asked after them, arriving means
    // nora's requests were all handled.)
    anon.post("/auth/password/reset", json!({"login": "oskar"}))
        .await
        .expect(202);
    assert_eq!(mails(&anon, "oskar", Some(RESET), 1).await.len(), 1);
    let sent = mails(&anon, "nora", Some(RESET), 4).await;
    assert_eq!(sent.len(), 4, "{sent:?}");
}

/// A client whose requests come from `ip` (any 127.x address reaches the loopback node).
fn from(node: &Node, ip: &str) -> Client {
    Client {
        base: node.base.clone(),
        http: reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().unwrap())
            .build()
            .unwrap(),
        token: None,
        seen: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessers_on_other_networks_cannot_lock_the_owner_out() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_LOGIN_ATTEMPTS_PER_ACCOUNT", "3")]);
    let home = from(&node, "127.0.0.1");
    signed_up(&home, "olga").await; // logs in once from 127.0.0.0/24
    let wrong = json!({"login": "olga", "password": "not her password 1"});
    let right = json!({"login": "olga", "password": PASSWORD});

    // One guesser on another network: three wrong tries, then a wall for that source.
    let guesser = from(&node, "127.0.5.1");
    for _ in 0..3 {
        guesser
            .post("/auth/login", wrong.clone())
            .await
            .problem(401);
    }
    let walled = guesser.post("/auth/login", wrong.clone()).await;
    assert!(walled.headers.get("retry-after").is_some());
    walled.problem(429);

    // More guessers elsewhere meet the account's limit for new networks (three times the
    // per-source one: nine a minute here, one of them spent by her first login): the
    // ninth try overall waits (at most five seconds), then is refused.
    for (ip, tries) in [("127.0.6.1", 3), ("127.0.7.1", 2)] {
        for _ in 0..tries {
            from(&node, ip)
                .post("/auth/login", wrong.clone())
                .await
                .problem(401);
        }
    }
    from(&node, "127.0.8.1")
        .post("/auth/login", wrong.clone())
        .await
        .problem(429);

    // The owner, from the network she used before, is not locked out.
    home.post("/auth/login", right.clone()).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_access_token_does_not_buy_unlimited_password_guesses() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_LOGIN_ATTEMPTS_PER_ACCOUNT", "3")]);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "pia").await;
    let thief = anon.with_token(access(&tokens));
    let guess = json!({"current_password": "a wrong guess 42", "new_password": "the thief's new password 1"});
    // Three a minute here, the owner's verification and login among them: the thief's
    // guesses meet the wall within three tries.
    let mut wrong = 0;
    while thief.post("/auth/password", guess.clone()).await.status == 401 {
        wrong += 1;
        assert!(wrong < 3, "more than three tries a minute");
    }
    thief
        .post("/auth/password", guess.clone())
        .await
        .problem(429);
    // The same limit guards the second factor's checks inside a session.
    thief
        .post("/auth/mfa/recovery-codes", json!({"code": "123456"}))
        .await
        .problem(429);
}

const CONFIRM: &str = "Confirm your Agora account";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_registration_holds_no_address_and_only_its_registrant_confirms_it() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let register_as = |username: &'static str, password: &'static str| {
        let anon = anon.clone();
        async move {
            anon.post(
                "/auth/register",
                json!({"username": username, "email": "quinn@example.org", "password": password}),
            )
            .await
            .expect(201)
        }
    };
    // A squatter registers Quinn's address first; Quinn can still register with it.
    let squatter_password = "the squatter's own password 7";
    register_as("squatter", squatter_password).await;
    register_as("quinn", PASSWORD).await;
    let confirm = mails(&anon, "quinn", Some(CONFIRM), 2).await;
    assert_eq!(confirm.len(), 2);
    let naming = |who: &str| {
        let mail = confirm
            .iter()
            .find(|m| m.contains(&format!("\"{who}\"")))
            .expect("each mail names the account it confirms");
        token_in(mail)
    };
    let (squatter_token, own_token) = (naming("squatter"), naming("quinn"));

    // Following the squatter's mail by mistake confirms nothing: it needs that account's
    // password, which Quinn does not have.
    anon.post(
        "/auth/verify",
        json!({"token": squatter_token, "password": PASSWORD}),
    )
    .await
    .problem(401);
    anon.post(
        "/auth/verify",
        json!({"token": own_token, "password": PASSWORD}),
    )
    .await
    .expect(200);
    anon.post(
        "/auth/login",
        json!({"login": "quinn@example.org", "password": PASSWORD}),
    )
    .await
    .expect(200);
    // The address is Quinn's now: the squatter, even with the token and the password,
    // cannot confirm it.
    anon.post(
        "/auth/verify",
        json!({"token": squatter_token, "password": squatter_password}),
    )
    .await
    .problem(409);

    // A later registration with the address is answered like any other (no enumeration),
    // gets no token, and Quinn is told.
    register_as("latecomer", "another long password 555").await;
    let told = mails(
        &anon,
        "quinn",
        Some("Someone used your address on Agora"),
        1,
    )
    .await;
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("\"latecomer\"") && told[0].contains("\"quinn\""));
    assert!(
        !mails(&anon, "quinn", Some(CONFIRM), 2)
            .await
            .iter()
            .any(|m| m.contains("latecomer")),
        "no token for an address that is taken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_changes_when_the_new_one_confirms_and_the_old_one_can_undo_it() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "rosa").await;
    let rosa = anon.with_token(access(&tokens));
    let login = |login: &'static str| {
        let anon = anon.clone();
        async move {
            anon.post("/auth/login", json!({"login": login, "password": PASSWORD}))
                .await
                .status
        }
    };
    let change =
        |password: &str| json!({"new_email": "rosa.new@example.org", "password": password});
    rosa.post("/auth/email", change("not her password 12"))
        .await
        .problem(401);
    let same = rosa
        .post(
            "/auth/email",
            json!({"new_email": "ROSA@example.org", "password": PASSWORD}),
        )
        .await
        .problem(422);
    assert_eq!(same["errors"][0]["field"], "new_email");
    rosa.post("/auth/email", change(PASSWORD)).await.expect(202);

    // The old address is told (the new one masked) and keeps working until confirmed.
    let notice = mails(
        &anon,
        "rosa",
        Some("Your Agora address is being changed"),
        1,
    )
    .await;
    assert_eq!(notice.len(), 1);
    assert!(notice[0].contains("r***@example.org"), "{}", notice[0]);
    assert_eq!(login("rosa@example.org").await, 200);
    assert_eq!(login("rosa.new@example.org").await, 401);

    let confirm = mails(&anon, "rosa.new", Some("Confirm your new Agora address"), 1).await;
    let token = token_in(&confirm[0]);
    let account = anon
        .post("/auth/email/confirm", json!({"token": token}))
        .await
        .expect(200);
    assert_eq!(account["email"], "rosa.new@example.org");
    anon.post("/auth/email/confirm", json!({"token": token}))
        .await
        .problem(400);
    assert_eq!(login("rosa.new@example.org").await, 200);
    assert_eq!(login("rosa@example.org").await, 401);

    // It was not her: the old address reports it; the change is undone and every
    // session ends.
    let report = token_in(&notice[0]);
    anon.post("/auth/email/report", json!({"token": report}))
        .await
        .expect(204);
    rosa.get("/users/me").await.problem(401);
    assert_eq!(login("rosa@example.org").await, 200);
    assert_eq!(login("rosa.new@example.org").await, 401);
    anon.post("/auth/email/report", json!({"token": report}))
        .await
        .problem(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_address_needs_the_second_factor_where_enrolled() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "sara").await;
    let sara = anon.with_token(access(&tokens));
    let (totp, recovery) = enrolled_mfa(&sara, "sara").await;
    let without = sara
        .post(
            "/auth/email",
            json!({"new_email": "sara2@example.org", "password": PASSWORD}),
        )
        .await
        .problem(422);
    assert_eq!(without["errors"][0]["field"], "code", "{without}");
    // The code just used for enrolment is refused (each code works once), and nothing
    // is mailed to the new address.
    sara.post(
        "/auth/email",
        json!({"new_email": "sara2@example.org", "password": PASSWORD, "code": totp.generate_current().to_string()}),
    )
    .await
    .problem(401);
    assert!(
        mails(&anon, "sara2", Some("Confirm your new Agora address"), 0)
            .await
            .is_empty()
    );
    // A recovery code stands in for the code, as at login.
    sara.post(
        "/auth/email",
        json!({"new_email": "sara2@example.org", "password": PASSWORD, "recovery_code": recovery}),
    )
    .await
    .expect(202);
    assert_eq!(
        mails(&anon, "sara2", Some("Confirm your new Agora address"), 1)
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_admit_as_many_as_they_count_until_revoked() {
    let nats = Nats::start();
    let node = Node::start_with(
        &nats,
        &[
            ("AGORA_REGISTRATION", "invite"),
            ("AGORA_ADMIN_EMAILS", "root@example.org"),
        ],
    );
    let anon = node.client();
    // The first admin registers without one; anyone else needs an invitation.
    let (root_id, tokens) = signed_up(&anon, "root").await;
    let root = anon.with_token(access(&tokens));
    let closed = anon
        .post(
            "/auth/register",
            json!({"username": "tom", "email": "tom@example.org", "password": PASSWORD}),
        )
        .await
        .problem(403);
    assert!(closed["detail"].as_str().unwrap().contains("invitation"));

    let invitation = root
        .post(
            "/auth/invitations",
            json!({"max_uses": 2, "expires_in_days": 3}),
        )
        .await
        .expect(201);
    let code = invitation["code"].as_str().unwrap().to_string();
    let with_code = |name: &str, code: &str| json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD, "invitation": code});
    for name in ["tom", "uma"] {
        let account = anon
            .post("/auth/register", with_code(name, &code))
            .await
            .expect(201);
        assert_eq!(account["invited_by"], root_id.as_str(), "who invited whom");
    }
    let used_up = anon
        .post("/auth/register", with_code("vic", &code))
        .await
        .problem(422);
    assert_eq!(used_up["errors"][0]["field"], "invitation");
    assert!(
        used_up["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("used up")
    );
    anon.post("/auth/register", with_code("vic", "made-up"))
        .await
        .problem(422);

    // Listed with its uses (the code is not shown again).
    let listed = root.get("/auth/invitations").await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["used_by"].as_array().unwrap().len(), 2);
    assert!(listed["items"][0].get("code").is_none());

    // An invited user may invite too (AGORA_INVITATIONS_BY=users), sees only their own,
    // and cannot revoke someone else's; an admin revokes any.
    let tom_token = mailed_token(&anon, "tom").await;
    anon.post(
        "/auth/verify",
        json!({"token": tom_token, "password": PASSWORD}),
    )
    .await
    .expect(200);
    let tom_tokens = anon
        .post("/auth/login", json!({"login": "tom", "password": PASSWORD}))
        .await
        .expect(200);
    let tom = anon.with_token(access(&tom_tokens));
    let toms = tom.post("/auth/invitations", json!({})).await.expect(201);
    assert_eq!(toms["max_uses"], 1);
    assert_eq!(
        tom.get("/auth/invitations").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    tom.get("/auth/invitations?all=true").await.problem(403);
    let roots_id = invitation["id"].as_str().unwrap();
    tom.delete(&format!("/auth/invitations/{roots_id}"))
        .await
        .problem(404);
    assert_eq!(
        root.get("/auth/invitations?all=true").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let toms_id = toms["id"].as_str().unwrap();
    root.delete(&format!("/auth/invitations/{toms_id}"))
        .await
        .expect(204);
    let revoked = anon
        .post(
            "/auth/register",
            with_code("wes", toms["code"].as_str().unwrap()),
        )
        .await
        .problem(422);
    assert!(
        revoked["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    root.post("/auth/invitations", json!({"max_uses": 0}))
        .await
        .problem(422);
    root.post("/auth/invitations", json!({"expires_in_days": 31}))
        .await
        .problem(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_only_admins_invite_users_cannot() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_INVITATIONS_BY", "admins")]);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "xena").await;
    anon.with_token(access(&tokens))
        .post("/auth/invitations", json!({}))
        .await
        .problem(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_username_keeps_the_old_one_reserved_and_lookups_working() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (zack_id, tokens) = signed_up(&anon, "zack").await;
    let zack = anon.with_token(access(&tokens));
    profile_appears(&zack).await;
    let (_, walt) = user(&anon, "walt").await;
    let rename = |name: &str, password: &str| json!({"username": name, "password": password});
    zack.post("/auth/username", rename("zachary", "not his password 1"))
        .await
        .problem(401);
    zack.post("/auth/username", rename("no spaces!", PASSWORD))
        .await
        .problem(422);
    zack.post("/auth/username", rename("walt", PASSWORD))
        .await
        .problem(409);
    let renamed = zack
        .post("/auth/username", rename("Zachary", PASSWORD))
        .await
        .expect(200);
    assert_eq!(renamed["username"], "zachary");
    assert_eq!(renamed["id"], zack_id.as_str());

    let login = |name: &'static str| {
        let anon = anon.clone();
        async move {
            anon.post("/auth/login", json!({"login": name, "password": PASSWORD}))
                .await
                .status
        }
    };
    assert_eq!(login("zachary").await, 200);
    assert_eq!(login("zack").await, 401);
    // The profile follows; the old name still finds the account; mentions of the new
    // name resolve once posts has heard of it.
    eventually("the profile is renamed", || {
        let zack = zack.clone();
        async move { zack.get("/users/me").await.body["username"] == "zachary" }
    })
    .await;
    assert_eq!(
        walt.get("/users?username=zack").await.expect(200)["id"],
        zack_id.as_str()
    );
    eventually("posts resolves the new name", || {
        let walt = walt.clone();
        let zack_id = zack_id.clone();
        async move {
            walt.post("/posts", json!({"text": "hi @zachary"}))
                .await
                .body["mentions"]
                == json!([zack_id])
        }
    })
    .await;

    // Nobody else may take the old name for now; Zack may not rename again for 30 days.
    anon.post(
        "/auth/register",
        json!({"username": "zack", "email": "imposter@example.org", "password": PASSWORD}),
    )
    .await
    .problem(409);
    let again = zack.post("/auth/username", rename("zack", PASSWORD)).await;
    let wait: u64 = again.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 29 * 86_400, "{wait}");
    again.problem(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_from_a_new_device_is_mailed_unless_turned_off() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "ada").await; // the first login: no alert
    let ada = anon.with_token(access(&tokens));
    let login_as = |agent: &'static str| {
        let base = node.base.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/v1/auth/login"))
                .header("user-agent", agent)
                .json(&json!({"login": "ada", "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    const ALERT: &str = "New sign-in to your Agora account";
    // The same device again: nothing. A new one: a mail naming it.
    anon.post("/auth/login", json!({"login": "ada", "password": PASSWORD}))
        .await
        .expect(200);
    assert!(mails(&anon, "ada", Some(ALERT), 0).await.is_empty());
    login_as("AgoraPhone/2.0 (iOS 19)").await;
    let alerts = mails(&anon, "ada", Some(ALERT), 1).await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].contains("AgoraPhone/2.0 (iOS 19)"),
        "{}",
        alerts[0]
    );
    login_as("AgoraPhone/2.0 (iOS 19)").await;
    assert_eq!(
        mails(&anon, "ada", Some(ALERT), 1).await.len(),
        1,
        "known now"
    );

    // Turned off: no more alerts.
    let settings = ada
        .send(
            "PUT",
            "/auth/settings",
            Some(json!({"sign_in_alerts": false})),
        )
        .await
        .expect(200);
    assert_eq!(settings["sign_in_alerts"], false);
    login_as("SomeBrowser/1.0").await;
    assert_eq!(mails(&anon, "ada", Some(ALERT), 1).await.len(), 1);
}
