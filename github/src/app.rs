//! GitHub App authentication: the App signs a short-lived JWT (RS256) with its private key, and
//! trades it for an installation token, which is what every API call then carries.
//!
//! GitHub's rules (docs.github.com, "Generating a JSON Web Token for a GitHub App"): `iss` is the
//! App id, `iat` is set 60 seconds in the past against clock drift, `exp` at most 10 minutes after
//! `iat`. Installation tokens live an hour; [`crate::Client`] caches one until five minutes before
//! it expires. The signature is made with `ring`, which rustls already links (no second RSA
//! implementation; see `docs/adr/0044-*.md`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

/// An App's private key, ready to sign. Its `Debug` shows nothing of the key.
pub struct AppKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(..)")
    }
}

impl AppKey {
    /// Reads an RSA private key in PEM: PKCS#1 (`BEGIN RSA PRIVATE KEY`, what GitHub hands out)
    /// or PKCS#8 (`BEGIN PRIVATE KEY`).
    ///
    /// # Errors
    ///
    /// A reason that names no part of the key: not PEM, not RSA, or a key ring refuses (too short).
    pub fn from_pem(pem: &str) -> Result<AppKey, String> {
        let pair = match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            Ok(_) => return Err("not an RSA key (GitHub App keys are RSA)".into()),
            Err(_) => return Err("no PEM private key found".into()),
        };
        pair.map(|pair| AppKey { pair }).map_err(|e| format!("the RSA key is not usable: {e}"))
    }

    /// The JWT that authenticates App `app_id` at `now` (seconds since the epoch): issued 60
    /// seconds before, valid for 9 minutes after.
    pub fn jwt(&self, app_id: u64, now: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{},"exp":{},"iss":"{app_id}"}}"#, now - 60, now + 540));
        let signing_input = format!("{header}.{claims}");
        let mut signature = vec![0; self.pair.public().modulus_len()];
        // Signing with a valid key into a buffer of the modulus' length cannot fail.
        if self.pair.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signing_input.as_bytes(), &mut signature).is_err() {
            signature.clear();
        }
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}
