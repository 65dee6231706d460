//! TLS for the server: the certificate chain and key from PEM files (rustls, TLS 1.2 and 1.3,
//! HTTP/1.1); `server` wraps each connection.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or held nothing usable.
    #[error("failed to read {what} from `{path}`: {reason}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair (a key that does not match the certificate...).
    #[error("the certificate and key cannot be used together")]
    Config(#[source] rustls::Error),
}

/// A server config from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
///
/// [`TlsError`] naming the file and what was wrong.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem = |what, path: &Path, reason: String| TlsError::Pem { what, path: path.display().to_string(), reason };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem("certificate", cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem("certificate", cert, "no `BEGIN CERTIFICATE` block".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem("private key", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
        let (cert, pkey) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, key.cert.pem()).expect("write");
        std::fs::write(&pkey, key.signing_key.serialize_pem()).expect("write");
        (cert, pkey)
    }

    #[test]
    fn certificates_and_keys_are_checked_with_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let (cert, key) = pair(dir.path(), "a");
        assert!(server_config(&cert, &key).is_ok());
        // Swapped files, a missing file, a key of another certificate.
        let err = server_config(&key, &cert).expect_err("swapped");
        assert!(err.to_string().contains("a.key"), "{err}");
        let err = server_config(&dir.path().join("none.pem"), &key).expect_err("missing");
        assert!(err.to_string().contains("none.pem"), "{err}");
        let (_, other) = pair(dir.path(), "b");
        let err = server_config(&cert, &other).expect_err("mismatched");
        assert!(matches!(err, TlsError::Config(_)), "{err}");
    }
}
