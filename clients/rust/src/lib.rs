//! A typed client of Agora's HTTP API (`/api/v1`), generated at build time by progenitor
//! from the committed OpenAPI document (`docs/openapi.json`, through its 3.0 rendition:
//! [`rendition`]). Every operation is a method named by its operation id, in the builder
//! style:
//!
//! ```no_run
//! # async fn demo() -> Result<(), agora_client::Error<agora_client::types::Problem>> {
//! use agora_client::{Client, types};
//! let agora = Client::new("http://127.0.0.1:3000");
//! let tokens = agora
//!     .login()
//!     .body(types::LoginRequest::builder().login("ada").password("correct horse battery staple"))
//!     .send()
//!     .await?;
//! let me = agora_client::authenticated("http://127.0.0.1:3000", &tokens.access_token);
//! let post = me.create_post().body(types::NewPost::builder().text("Hello")).send().await?;
//! println!("posted {}", post.id);
//! # Ok(()) }
//! ```
//!
//! Errors the API documents come back as `Error::ErrorResponse` with the RFC 9457 problem
//! ([`types::Problem`]); a status the document does not list is `Error::UnexpectedResponse`.

pub mod rendition;

#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    unused
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/agora.rs"));
}

pub use generated::*;

/// A client that sends `Authorization: Bearer <access_token>` with every request.
pub fn authenticated(base_url: &str, access_token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {access_token}")) {
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap_or_default();
    Client::new_with_client(base_url, http)
}
