//! GitHub App authentication: the App signs a short JWT (RS256) with its private key, trades
//! it for an installation token at `POST /app/installations/{id}/access_tokens`, and uses that
//! token on the repository's endpoints until it expires.

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};

use crate::contract::Contract;
use crate::server::{Call, Reply, set};
use crate::{GitHubDouble, State, now_s, random_hex, timestamp};

/// A throwaway RSA 2048 private key (PKCS#1 PEM, as GitHub hands out App keys) for tests only:
/// it protects nothing.
pub const TEST_APP_PRIVATE_KEY: &str = include_str!("../fixtures/test-app-key/private-key.pem");

/// The public half of [`TEST_APP_PRIVATE_KEY`] (SubjectPublicKeyInfo PEM), to give
/// [`GitHubDouble::configure_app`].
pub const TEST_APP_PUBLIC_KEY: &str = include_str!("../fixtures/test-app-key/public-key.pem");

/// GitHub's answer to a JWT it cannot read or whose signature does not verify.
const UNDECODABLE: &str = "A JSON web token could not be decoded";

/// The longest a JWT may live, `exp - iat`, as GitHub allows.
const MAX_JWT_LIFETIME_S: u64 = 600;

/// The clock drift GitHub tolerates on `iat`.
const CLOCK_DRIFT_S: u64 = 60;

/// The DER of the rsaEncryption algorithm identifier (OID 1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The App the double knows, and the installation tokens it issued.
#[derive(Debug)]
pub(crate) struct App {
    config: Option<AppConfig>,
    /// `(token, expires at in Unix seconds)`.
    tokens: Vec<(String, u64)>,
    lifetime: Duration,
}

impl Default for App {
    fn default() -> App {
        App { config: None, tokens: Vec::new(), lifetime: Duration::from_secs(3600) }
    }
}

#[derive(Debug)]
struct AppConfig {
    app_id: u64,
    installation_id: u64,
    /// The public key as PKCS#1 `RSAPublicKey` DER, the form ring verifies with.
    public_key: Vec<u8>,
}

impl GitHubDouble {
    /// Installs GitHub App `app_id` on the repository as installation `installation_id`; JWTs
    /// the App signs with the private half of `public_key_pem` (`BEGIN PUBLIC KEY` or `BEGIN
    /// RSA PUBLIC KEY`) buy installation tokens.
    ///
    /// # Errors
    ///
    /// When `public_key_pem` is not the PEM of an RSA public key.
    pub fn configure_app(&self, app_id: u64, installation_id: u64, public_key_pem: &str) -> anyhow::Result<()> {
        let pem = pem::parse(public_key_pem).context("read the App's public key PEM")?;
        let public_key = match pem.tag() {
            "RSA PUBLIC KEY" => pem.contents().to_vec(),
            "PUBLIC KEY" => spki_rsa_key(pem.contents()).context("the App's public key is not an RSA SubjectPublicKeyInfo")?.to_vec(),
            other => anyhow::bail!("the App's public key PEM holds `{other}`, not a public key"),
        };
        self.lock().app.config = Some(AppConfig { app_id, installation_id, public_key });
        Ok(())
    }

    /// Sets how long the installation tokens issued from now on last (GitHub's: one hour).
    pub fn set_installation_token_lifetime(&self, lifetime: Duration) {
        self.lock().app.lifetime = lifetime;
    }

    /// How many installation tokens the double issued.
    pub fn installation_tokens_issued(&self) -> usize {
        self.lock().app.tokens.len()
    }
}

/// The token of an `Authorization: Bearer …` or `token …` header.
fn bearer(authorization: Option<&str>) -> Option<&str> {
    authorization.and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("token ")))
}

/// Whether `authorization` holds the double's fixed token or an unexpired installation token.
pub(crate) fn token_accepted(st: &State, authorization: Option<&str>) -> bool {
    let Some(token) = bearer(authorization) else { return false };
    token == st.token || installation_of(st, authorization).is_some()
}

/// The installation whose unexpired token `authorization` holds.
pub(crate) fn installation_of(st: &State, authorization: Option<&str>) -> Option<u64> {
    let token = bearer(authorization)?;
    let now = now_s();
    let issued = st.app.tokens.iter().any(|(t, expires)| t == token && *expires > now);
    issued.then(|| st.app.config.as_ref().map(|c| c.installation_id)).flatten()
}

/// `POST /app/installations/{installation_id}/access_tokens`.
pub(crate) fn access_token(st: &mut State, contract: &Contract, call: &Call<'_>) -> Reply {
    let Some(config) = &st.app.config else { return Reply::error(StatusCode::UNAUTHORIZED, UNDECODABLE) };
    if let Err(message) = verify_jwt(call.authorization, config, now_s()) {
        return Reply::error(StatusCode::UNAUTHORIZED, message);
    }
    if call.number(2) != Some(config.installation_id) {
        return Reply::not_found();
    }
    let token = format!("ghs_{}", random_hex(18));
    let expires = now_s() + st.app.lifetime.as_secs();
    st.app.tokens.push((token.clone(), expires));
    let mut v = contract.example(call.op, 201);
    set(&mut v, "/token", json!(token));
    set(&mut v, "/expires_at", json!(timestamp(expires)));
    set(
        &mut v,
        "/permissions",
        json!({"checks": "write", "contents": "read", "issues": "write", "members": "read", "metadata": "read", "pull_requests": "write", "statuses": "write"}),
    );
    set(&mut v, "/repository_selection", json!("all"));
    if let Some(o) = v.as_object_mut() {
        o.remove("repositories");
    }
    Reply::json(StatusCode::CREATED, v)
}

/// Checks an App JWT as GitHub does: RS256 over the App's key, `iss` the App's id (a number or
/// a string), `exp` in the future and at most ten minutes after `iat`, `iat` not ahead of the
/// clock. The error is GitHub's message.
fn verify_jwt(authorization: Option<&str>, app: &AppConfig, now: u64) -> Result<(), &'static str> {
    let jwt = authorization.and_then(|a| a.strip_prefix("Bearer ")).ok_or(UNDECODABLE)?;
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(UNDECODABLE);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| UNDECODABLE);
    let json = |part: &str| decode(part).and_then(|bytes| serde_json::from_slice::<Value>(&bytes).map_err(|_| UNDECODABLE));
    if json(header)?.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(UNDECODABLE);
    }
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &app.public_key)
        .verify(format!("{header}.{payload}").as_bytes(), &decode(signature)?)
        .map_err(|_| UNDECODABLE)?;
    let claims = json(payload)?;
    let issuer_ok = match claims.get("iss") {
        Some(Value::String(s)) => *s == app.app_id.to_string(),
        Some(Value::Number(n)) => n.as_u64() == Some(app.app_id),
        _ => false,
    };
    if !issuer_ok {
        return Err("'Issuer' claim ('iss') must be an Integer");
    }
    let (Some(iat), Some(exp)) = (claims.get("iat").and_then(Value::as_u64), claims.get("exp").and_then(Value::as_u64)) else {
        return Err(UNDECODABLE);
    };
    if exp <= now {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires");
    }
    if exp.saturating_sub(iat) > MAX_JWT_LIFETIME_S {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    if iat > now + CLOCK_DRIFT_S {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued");
    }
    Ok(())
}

/// One DER element at the start of `der`: its tag, its contents and what follows it.
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0, |acc, b| (acc << 8) | usize::from(*b)), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 `RSAPublicKey` inside an RSA `SubjectPublicKeyInfo`:
/// `SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { 0 unused bits, key } }`.
fn spki_rsa_key(der: &[u8]) -> Option<&[u8]> {
    let Some((0x30, spki, _)) = der_element(der) else { return None };
    let Some((0x30, algorithm, rest)) = der_element(spki) else { return None };
    let Some((0x06, oid, _)) = der_element(algorithm) else { return None };
    let Some((0x03, bits, _)) = der_element(rest) else { return None };
    match bits.split_first() {
        Some((0, key)) if oid == RSA_ENCRYPTION_OID => Some(key),
        _ => None,
    }
}
