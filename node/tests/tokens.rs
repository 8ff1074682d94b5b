//! Refresh rotation and reuse, bad access tokens, roles, logout and password change.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_a_refresh_token_revokes_the_whole_session() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, first) = signed_up(&anon, "frank").await;
    let r1 = first["refresh_token"].as_str().unwrap();

    let second = anon
        .post("/auth/refresh", json!({"refresh_token": r1}))
        .await
        .expect(200);
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "refresh tokens rotate");
    anon.with_token(access(&second))
        .get("/auth/me")
        .await
        .expect(200);

    // A thief replays the first token: refused, and the family is revoked...
    let replay = anon
        .post("/auth/refresh", json!({"refresh_token": r1}))
        .await
        .problem(401);
    assert!(
        replay["detail"].as_str().unwrap().contains("revoked"),
        "{replay}"
    );
    // ...so the legitimate newer token no longer works either.
    anon.post("/auth/refresh", json!({"refresh_token": r2}))
        .await
        .problem(401);
    anon.post("/auth/refresh", json!({"refresh_token": "never-issued"}))
        .await
        .problem(401);

    // Another login starts a new, independent session.
    let fresh = anon
        .post(
            "/auth/login",
            json!({"login": "frank", "password": PASSWORD}),
        )
        .await
        .expect(200);
    anon.post(
        "/auth/refresh",
        json!({"refresh_token": fresh["refresh_token"]}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tampered_and_foreign_tokens_get_401_and_missing_roles_403() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_ADMIN_EMAILS", "root@example.org")]);
    let anon = node.client();
    let (grace_id, tokens) = signed_up(&anon, "grace").await;
    let token = access(&tokens).to_string();
    anon.with_token(&token).get("/auth/me").await.expect(200);

    // Tampered: the payload changed, the signature did not.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[1] = parts[1]
        .replacen(|c: char| c.is_ascii_alphanumeric(), "A", 1)
        .chars()
        .rev()
        .collect();
    let tampered = parts.join(".");
    let reply = anon
        .with_token(&tampered)
        .get("/users/me")
        .await
        .problem(401);
    assert_eq!(reply["type"], "https://agora.dev/problems/unauthorized");
    anon.with_token("not.a.jwt")
        .get("/users/me")
        .await
        .problem(401);
    anon.get("/users/me").await.problem(401);

    // Expired: signed with the platform's own key, but two minutes past `exp`.
    let pem = std::fs::read_to_string(node.data.join("jwt-ed25519.pem")).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let sign_claims = |claims: Value| {
        let key = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
            &claims,
            &key,
        )
        .unwrap()
    };
    let claims = |iss: &str, iat: u64, nbf: u64, exp: u64| json!({"sub": grace_id, "iss": iss, "aud": "agora", "roles": ["user", "admin"], "sid": "s", "iat": iat, "nbf": nbf, "exp": exp, "jti": "j"});
    let sign = |iss: &str, exp: u64| sign_claims(claims(iss, now - 1000, now - 1000, exp));
    let expired = anon
        .with_token(&sign("dev", now - 120))
        .get("/users/me")
        .await
        .problem(401);
    assert!(
        expired["detail"].as_str().unwrap().contains("expired"),
        "{expired}"
    );
    // Another platform's token (same key, other issuer) is refused too.
    anon.with_token(&sign("other", now + 600))
        .get("/users/me")
        .await
        .problem(401);
    // Signed with the platform's key, but: not valid yet; without `nbf`; living longer
    // than any token the platform issues (an hour at most).
    let refused = |claims: Value, why: &'static str| {
        let token = sign_claims(claims);
        let anon = anon.clone();
        async move {
            let reply = anon.with_token(&token).get("/users/me").await.problem(401);
            assert!(reply["detail"].as_str().unwrap().contains(why), "{reply}");
        }
    };
    refused(claims("dev", now, now + 300, now + 600), "not valid yet").await;
    let mut no_nbf = claims("dev", now, now, now + 600);
    no_nbf.as_object_mut().unwrap().remove("nbf");
    refused(no_nbf, "lacks").await;
    refused(claims("dev", now, now, now + 7_200), "lifetime").await;
    // Accepted (the profile itself comes from an event, so it may take a moment).
    let accepted = anon.with_token(&sign_claims(claims("dev", now, now, now + 600)));
    until_status(200, async || accepted.get("/users/me").await)
        .await
        .expect(200);

    // Roles: a user may not change roles; the first admin (AGORA_ADMIN_EMAILS) may.
    let grace = anon.with_token(&token);
    grace
        .send(
            "PUT",
            &format!("/auth/accounts/{grace_id}/roles"),
            Some(json!({"roles": ["admin"]})),
        )
        .await
        .problem(403);
    let (_, root_tokens) = signed_up(&anon, "root").await;
    let root = anon.with_token(access(&root_tokens));
    assert_eq!(
        root.get("/auth/me").await.expect(200)["roles"],
        json!(["user", "admin"])
    );
    let changed = root
        .send(
            "PUT",
            &format!("/auth/accounts/{grace_id}/roles"),
            Some(json!({"roles": ["moderator"]})),
        )
        .await
        .expect(200);
    assert_eq!(changed["roles"], json!(["user", "moderator"]));
    root.send(
        "PUT",
        "/auth/accounts/01ARZ3NDEKTSV4RRFFQ69G5FAV/roles",
        Some(json!({"roles": []})),
    )
    .await
    .problem(404);

    // The last admin cannot give up the role; once there is another, they can.
    let root_id = root_tokens["account_id"].as_str().unwrap();
    let root_path = format!("/auth/accounts/{root_id}/roles");
    let demote_root = || root.send("PUT", &root_path, Some(json!({"roles": []})));
    let last = demote_root().await.problem(409);
    assert!(last["detail"].as_str().unwrap().contains("last admin"));
    root.send(
        "PUT",
        &format!("/auth/accounts/{grace_id}/roles"),
        Some(json!({"roles": ["admin"]})),
    )
    .await
    .expect(200);
    assert_eq!(demote_root().await.expect(200)["roles"], json!(["user"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_password_change_end_sessions() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, laptop) = signed_up(&anon, "heidi").await;
    let phone = anon
        .post(
            "/auth/login",
            json!({"login": "heidi", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let tablet = anon
        .post(
            "/auth/login",
            json!({"login": "heidi", "password": PASSWORD}),
        )
        .await
        .expect(200);

    anon.post(
        "/auth/logout",
        json!({"refresh_token": tablet["refresh_token"]}),
    )
    .await
    .expect(204);
    anon.post(
        "/auth/refresh",
        json!({"refresh_token": tablet["refresh_token"]}),
    )
    .await
    .problem(401);
    // Its access token stops at once too, in every context, not when it expires.
    let tablet_token = anon.with_token(access(&tablet));
    for path in ["/auth/me", "/users/me", "/feed", "/notifications"] {
        let refused = tablet_token.get(path).await.problem(401);
        assert!(
            refused["detail"].as_str().unwrap().contains("ended"),
            "{path}: {refused}"
        );
    }
    // The other session's token still works (the profile comes from an event: waited for).
    let phone_token = anon.with_token(access(&phone));
    until_status(200, async || phone_token.get("/users/me").await)
        .await
        .expect(200);

    let heidi = anon.with_token(access(&laptop));
    let new_password = "a much longer passphrase, 2026";
    heidi
        .post(
            "/auth/password",
            json!({"current_password": "wrong password 123", "new_password": new_password}),
        )
        .await
        .problem(401);
    heidi
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": "password123"}),
        )
        .await
        .problem(422);
    heidi
        .post(
            "/auth/password",
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await
        .expect(204);
    // The phone's session ended; the laptop's, which changed the password, goes on.
    phone_token.get("/users/me").await.problem(401);
    heidi.get("/users/me").await.expect(200);
    anon.post(
        "/auth/refresh",
        json!({"refresh_token": phone["refresh_token"]}),
    )
    .await
    .problem(401);
    anon.post(
        "/auth/refresh",
        json!({"refresh_token": laptop["refresh_token"]}),
    )
    .await
    .expect(200);
    anon.post(
        "/auth/login",
        json!({"login": "heidi", "password": PASSWORD}),
    )
    .await
    .problem(401);
    anon.post(
        "/auth/login",
        json!({"login": "heidi", "password": new_password}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_limited_per_account_and_unverified_accounts_wait() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_LOGIN_ATTEMPTS_PER_ACCOUNT", "3")]);
    let anon = node.client();
    register(&anon, "ivan").await;
    anon.post(
        "/auth/login",
        json!({"login": "ivan", "password": PASSWORD}),
    )
    .await
    .problem(403);
    for _ in 0..2 {
        anon.post(
            "/auth/login",
            json!({"login": "ivan", "password": "wrong password 1"}),
        )
        .await
        .problem(401);
    }
    let limited = anon
        .post(
            "/auth/login",
            json!({"login": "ivan", "password": PASSWORD}),
        )
        .await;
    assert!(limited.headers.get("retry-after").is_some());
    limited.problem(429);
    // Another account is not affected.
    signed_up(&anon, "judy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_requires_mfa_lets_accounts_without_it_only_enrol() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_MFA_REQUIRED", "true")]);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "kai").await;
    let limited = anon.with_token(access(&tokens));
    let refused = limited.get("/users/me").await.problem(403);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("second factor"),
        "{refused}"
    );
    limited.get("/auth/me").await.problem(403);
    limited
        .post("/posts", json!({"text": "not yet"}))
        .await
        .problem(403);
    // Refreshing does not lift the limit while there is no second factor.
    let refreshed = anon
        .post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await
        .expect(200);
    anon.with_token(access(&refreshed))
        .get("/users/me")
        .await
        .problem(403);

    let enrolment = limited.post_empty("/auth/mfa/enroll").await.expect(200);
    let secret = enrolment["secret"].as_str().unwrap();
    let code = agora_node::auth::domain::totp(secret, "kai", "dev")
        .unwrap()
        .generate_current()
        .to_string();
    limited
        .post("/auth/mfa/confirm", json!({"code": code}))
        .await
        .expect(200);
    limited
        .post("/auth/mfa/confirm", json!({"code": "000000"}))
        .await
        .problem(400);

    // A full login now goes through the second factor and gives a full token.
    let challenge = anon
        .post("/auth/login", json!({"login": "kai", "password": PASSWORD}))
        .await
        .expect(200);
    let step = agora_node::auth::domain::totp(secret, "kai", "dev").unwrap();
    let next = step
        .generate(time::OffsetDateTime::now_utc().unix_timestamp() as u64 + 30)
        .to_string();
    let full = anon
        .post(
            "/auth/mfa/challenge",
            json!({"mfa_token": challenge["mfa_token"], "code": next}),
        )
        .await;
    let full = if full.status == 200 {
        full.body
    } else {
        // The next step may not be accepted yet (one step of skew); wait for it.
        tokio::time::sleep(std::time::Duration::from_secs(31)).await;
        let again = anon
            .post("/auth/login", json!({"login": "kai", "password": PASSWORD}))
            .await
            .expect(200);
        let now = step.generate_current().to_string();
        anon.post(
            "/auth/mfa/challenge",
            json!({"mfa_token": again["mfa_token"], "code": now}),
        )
        .await
        .expect(200)
    };
    let kai = anon.with_token(access(&full));
    kai.get("/auth/me").await.expect(200);
    profile_appears(&kai).await;
    kai.post(
        "/auth/mfa/disable",
        json!({"password": PASSWORD, "code": "123456"}),
    )
    .await
    .problem(403);
}

/// Where one is logged in: each session with its device and approximate network, the
/// current one marked; ending one (or all others) stops their refresh tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_devices_and_end_one_or_all_others() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, first) = signed_up(&anon, "ivan").await;
    let login = async |agent: &str| {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", node.base))
            .header("user-agent", agent)
            .json(&json!({"login": "ivan", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let phone = login("AgoraPhone/1.0 (Android 15)").await;
    let tablet = login("AgoraTablet/2.1").await;
    let me = anon.with_token(access(&phone));

    let sessions = me.get("/auth/sessions").await.expect(200);
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "AgoraPhone/1.0 (Android 15)");
    assert_eq!(
        current[0]["ip"], "127.0.0.0/24",
        "approximate, as the gateway saw it"
    );
    let tablet_session = sessions
        .iter()
        .find(|s| s["user_agent"] == "AgoraTablet/2.1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // End the tablet's session: its refresh token no longer works.
    me.delete(&format!("/auth/sessions/{tablet_session}"))
        .await
        .expect(204);
    anon.post(
        "/auth/refresh",
        json!({"refresh_token": tablet["refresh_token"]}),
    )
    .await
    .problem(401);
    me.delete(&format!("/auth/sessions/{tablet_session}"))
        .await
        .problem(404);
    anon.with_token(access(&tablet))
        .get("/users/me")
        .await
        .problem(401);
    // Someone else's session is not theirs to end.
    let (_, other) = signed_up(&anon, "judy").await;
    let current_id = current[0]["id"].as_str().unwrap();
    anon.with_token(access(&other))
        .delete(&format!("/auth/sessions/{current_id}"))
        .await
        .problem(404);

    // Log out everywhere else: only the current session is left.
    me.post_empty("/auth/sessions/revoke-others")
        .await
        .expect(204);
    let left = me.get("/auth/sessions").await.expect(200);
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["current"], true);
    anon.with_token(access(&first))
        .get("/posts?group=x")
        .await
        .problem(401);
    until_status(200, async || me.get("/users/me").await)
        .await
        .expect(200);
    anon.post(
        "/auth/refresh",
        json!({"refresh_token": first["refresh_token"]}),
    )
    .await
    .problem(401);
    anon.post(
        "/auth/refresh",
        json!({"refresh_token": phone["refresh_token"]}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_answers_are_never_cached_and_every_answer_carries_security_headers() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    signed_up(&anon, "yuri").await;
    let login = anon
        .post(
            "/auth/login",
            json!({"login": "yuri", "password": PASSWORD}),
        )
        .await;
    let header = |r: &Reply, name: &str| {
        r.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(header(&login, "cache-control"), "no-store");
    let tokens = login.expect(200);
    for reply in [
        anon.with_token(access(&tokens)).get("/users/me").await,
        anon.get("/nowhere").await,
        anon.post("/auth/refresh", json!({"refresh_token": "x"}))
            .await,
    ] {
        assert_eq!(header(&reply, "x-content-type-options"), "nosniff");
        assert_eq!(header(&reply, "referrer-policy"), "no-referrer");
        assert!(header(&reply, "content-security-policy").contains("default-src 'none'"));
        assert_eq!(header(&reply, "cache-control"), "no-store");
    }
}
