//! Mail over SMTP: with `AGORA_SMTP_URL`, verification mail goes to a real SMTP server
//! (Python's `smtpd` debugging server, which prints what it receives).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_mail_goes_out_over_smtp() {
    let has_smtpd = Command::new("python3")
        .args(["-c", "import smtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_smtpd {
        eprintln!(
            "skipped: needs python3 with the smtpd module (Python 3.11 or older) to act as the SMTP server"
        );
        return;
    }
    let port = free_port();
    let mut smtpd = KillOnDrop(
        Command::new("python3")
            .args([
                "-u",
                "-W",
                "ignore",
                "-m",
                "smtpd",
                "-n",
                "-c",
                "DebuggingServer",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = mpsc::channel();
    let stdout = smtpd.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(lines_tx.send(l)))
    });
    wait_until(Duration::from_secs(10), "the SMTP server listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let nats = Nats::start();
    let url = format!("smtp://127.0.0.1:{port}");
    let node = Node::start_with(
        &nats,
        &[
            ("AGORA_SMTP_URL", url.as_str()),
            ("AGORA_MAIL_FROM", "Agora <no-reply@example.org>"),
        ],
    );
    let c = node.client();
    register(&c, "mallory").await;
    // Not in the dev mailbox: it went out.
    assert!(
        c.get("/dev/mailbox").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let mut received = Vec::new();
    let token = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the mail arrives at the SMTP server");
        // The debugging server prints each line as a Python bytes literal: b'...'.
        let line = line
            .strip_prefix("b'")
            .and_then(|l| l.strip_suffix('\''))
            .unwrap_or(&line)
            .to_string();
        received.push(line);
        let after_marker = received
            .iter()
            .position(|l| l.trim_end().ends_with("token:"))
            .and_then(|i| received[i + 1..].iter().find(|l| !l.trim().is_empty()));
        if let Some(token) = after_marker {
            break token.trim().to_string();
        }
    };
    assert!(
        received
            .iter()
            .any(|l| l.contains("To: mallory@example.org")),
        "{received:?}"
    );
    assert!(
        received
            .iter()
            .any(|l| l.contains("From: Agora <no-reply@example.org>")),
        "{received:?}"
    );
    c.post(
        "/auth/verify",
        json!({"token": token, "password": PASSWORD}),
    )
    .await
    .expect(200);
}

/// Stops the SMTP server however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
