//! GDPR erasure (`DELETE /users/me`): asked for with the password and the second factor,
//! cancelled by a login within the grace period, and carried out after it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_needs_the_credentials_and_a_login_in_the_grace_period_keeps_the_account() {
    let nats = Nats::start();
    let node = Node::start(&nats);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "dora").await;
    let dora = anon.with_token(access(&tokens));
    anon.send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .problem(401);
    dora.send(
        "DELETE",
        "/users/me",
        Some(json!({"password": "wrong password"})),
    )
    .await
    .problem(401);
    dora.send(
        "DELETE",
        "/users/me",
        Some(json!({"password": PASSWORD, "extra": 1})),
    )
    .await
    .problem(422);
    dora.get("/users/me").await.expect(200);

    let scheduled = dora
        .send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .expect(202);
    let erase_at = time::OffsetDateTime::parse(
        scheduled["erase_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (erase_at - time::OffsetDateTime::now_utc()).whole_days();
    assert_eq!(days, 29, "30 days of grace by default: {scheduled}");
    until_status(401, async || dora.get("/users/me").await).await;
    let mail = mails(&anon, "dora", Some("Your account will be deleted"), 1).await;
    assert!(mail[0].contains("Log in before then"), "{mail:?}");

    // Logging in keeps the account.
    let again = anon
        .post(
            "/auth/login",
            json!({"login": "dora", "password": PASSWORD}),
        )
        .await
        .expect(200);
    anon.with_token(access(&again))
        .get("/users/me")
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mfa_deletion_needs_a_code_and_without_grace_the_account_is_gone() {
    let nats = Nats::start();
    let node = Node::start_with(&nats, &[("AGORA_ERASURE_GRACE_HOURS", "0")]);
    let anon = node.client();
    let (_, tokens) = signed_up(&anon, "mika").await;
    let mika = anon.with_token(access(&tokens));
    let secret = mika.post_empty("/auth/mfa/enroll").await.expect(200)["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let totp = agora_node::auth::domain::totp(&secret, "mika", "dev").unwrap();
    let recovery = mika
        .post(
            "/auth/mfa/confirm",
            json!({"code": totp.generate_current().to_string()}),
        )
        .await
        .expect(200)["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_string();
    let without = mika
        .send("DELETE", "/users/me", Some(json!({"password": PASSWORD})))
        .await
        .problem(422);
    assert_eq!(without["errors"][0]["field"], "code", "{without}");
    mika.send(
        "DELETE",
        "/users/me",
        Some(json!({"password": PASSWORD, "recovery_code": recovery})),
    )
    .await
    .expect(202);

    let login = json!({"login": "mika", "password": PASSWORD});
    until_status(401, async || anon.post("/auth/login", login.clone()).await).await;
    // The username is free again.
    register(&anon, "mika").await;
}
