//! A client of the API, for `tollgate approve --server URL` (people who approve from their own
//! machine, without the database) and for tests that drive a running server.
//!
//! Tokens travel only over TLS, except to a loopback address; the token is never printed.

use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tollgate_github::encode_component;

/// Why a call could not be made or its answer not read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL is not usable.
    #[error("invalid server URL `{url}`: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The CA certificate file could not be read.
    #[error("failed to read the CA certificate `{path}`: {reason}")]
    Ca {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The request failed (connection refused, TLS, timeout...).
    #[error("the request to {url} failed")]
    Request {
        /// What was called.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The answer was not JSON.
    #[error("the server answered {status} with a body that is not JSON")]
    Body {
        /// The HTTP status.
        status: u16,
    },
}

/// An answer: the HTTP status and the JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// The error message and hint of an error answer.
    pub fn error(&self) -> Option<(String, Option<String>)> {
        let e = self.body.get("error")?;
        Some((e.get("message")?.as_str()?.to_owned(), e.get("hint").and_then(Value::as_str).map(str::to_owned)))
    }
}

/// An API client bound to one server and one token.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    http: HttpClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("token", &"<redacted>").finish()
    }
}

impl Client {
    /// A client for the server at `base` (`https://host:port`), trusting `ca` (a PEM file) when
    /// given, else the Web PKI roots.
    ///
    /// # Errors
    ///
    /// [`ClientError::Url`] for a malformed URL or plain `http://` to anything but loopback;
    /// [`ClientError::Ca`].
    pub fn new(base: &str, token: &str, ca: Option<&Path>) -> Result<Client, ClientError> {
        let bad = |reason: &str| ClientError::Url { url: base.to_owned(), reason: reason.to_owned() };
        let uri: Uri = base.parse().map_err(|_| bad("not a URL"))?;
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(host) => {}
            Some("http") => return Err(bad("refusing to send an API token over plain HTTP; use https://")),
            _ => return Err(bad("the scheme must be https:// (or http:// to a loopback address)")),
        }
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| ClientError::Ca { path: path.display().to_string(), reason: e.to_string() })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(ClientError::Ca { path: path.display().to_string(), reason: "no usable certificate in it".into() });
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(&e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        Ok(Client { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http })
    }

    /// `GET path` (relative to `/api/v1`, or absolute like `/readyz`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Request`], [`ClientError::Body`].
    pub async fn get(&self, path: &str) -> Result<Answer, ClientError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` without a body (`reconcile`).
    ///
    /// # Errors
    ///
    /// As [`Self::get`].
    pub async fn post(&self, path: &str) -> Result<Answer, ClientError> {
        self.call(Method::POST, path, None).await
    }

    /// Approves `release` into `env` (`digest`: the content reviewed).
    ///
    /// # Errors
    ///
    /// As [`Self::get`].
    pub async fn approve(&self, release: &str, env: &str, digest: Option<&str>) -> Result<Answer, ClientError> {
        let body = serde_json::json!({"contentDigest": digest});
        self.call(Method::POST, &approvals_path(release, env, None), Some(body)).await
    }

    /// Withdraws approvals of `release` into `env`: the caller's, or `user`'s (admins).
    ///
    /// # Errors
    ///
    /// As [`Self::get`].
    pub async fn revoke(&self, release: &str, env: &str, user: Option<&str>) -> Result<Answer, ClientError> {
        self.call(Method::DELETE, &approvals_path(release, env, user), None).await
    }

    /// `POST path` with a JSON body (`/admission`, for tests and tools that speak for the API
    /// server).
    ///
    /// # Errors
    ///
    /// As [`Self::get`].
    pub async fn post_json(&self, path: &str, body: Value) -> Result<Answer, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Reviews the break-glass admission at audit sequence `seq` after the fact, with a note.
    ///
    /// # Errors
    ///
    /// As [`Self::get`].
    pub async fn review_break_glass(&self, seq: u64, note: &str) -> Result<Answer, ClientError> {
        self.call(Method::POST, &format!("break-glass/{seq}/review"), Some(serde_json::json!({"note": note}))).await
    }

    /// `GET path` of a text resource (`/metrics`, `/healthz`): the status and the body.
    ///
    /// # Errors
    ///
    /// [`ClientError::Request`], [`ClientError::Body`] when it is not UTF-8.
    pub async fn get_text(&self, path: &str) -> Result<(u16, String), ClientError> {
        let (status, body) = self.send(Method::GET, path, None).await?;
        Ok((status, String::from_utf8(body.to_vec()).map_err(|_| ClientError::Body { status })?))
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Answer, ClientError> {
        let (status, body) = self.send(method, path, body).await?;
        let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).map_err(|_| ClientError::Body { status })? };
        Ok(Answer { status, body })
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Bytes), ClientError> {
        let url = if path.starts_with('/') { format!("{}{path}", self.base) } else { format!("{}/api/v1/{path}", self.base) };
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| ClientError::Request { url: url.clone(), source };
        let mut req = Request::builder().method(method).uri(&url).header("authorization", format!("Bearer {}", self.token));
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&b).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(bytes)).map_err(|e| failed(e.into()))?;
        let response = self.http.request(req).await.map_err(|e| failed(e.into()))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| failed(e.into()))?.to_bytes();
        Ok((status, body))
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `releases/{release}/environments/{env}/approvals[?user=…]`, percent-encoded.
pub fn approvals_path(release: &str, env: &str, user: Option<&str>) -> String {
    let mut p = format!("releases/{}/environments/{}/approvals", encode_component(release), encode_component(env));
    if let Some(u) = user {
        p.push_str(&format!("?user={}", encode_component(u)));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded() {
        assert_eq!(encode_component("income-v2.1_a~b"), "income-v2.1_a~b");
        assert_eq!(encode_component("a/b c?d#é"), "a%2Fb%20c%3Fd%23%C3%A9");
        assert_eq!(approvals_path("r/1", "prod", Some("bob smith")), "releases/r%2F1/environments/prod/approvals?user=bob%20smith");
    }

    #[test]
    fn tokens_go_over_tls_or_to_loopback_only() {
        for ok in ["https://tollgate.example", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:8080/"] {
            assert!(Client::new(ok, "t", None).is_ok(), "{ok}");
        }
        for bad in ["http://tollgate.example", "http://10.0.0.1", "ftp://x", "tollgate.example", "http://"] {
            let err = Client::new(bad, "tg_secret", None).expect_err(bad);
            assert!(!err.to_string().contains("tg_secret"), "{err}");
        }
        let c = Client::new("https://tollgate.example/", "tg_secret", None).expect("client");
        assert!(!format!("{c:?}").contains("tg_secret"));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").expect("write");
        assert!(matches!(Client::new("https://x", "t", Some(&ca)), Err(ClientError::Ca { .. })));
        assert!(matches!(Client::new("https://x", "t", Some(&dir.path().join("missing.pem"))), Err(ClientError::Ca { .. })));
    }
}
