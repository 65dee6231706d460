use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use super::*;

/// A self-signed CA named `name`.
fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
}

/// A certificate for 127.0.0.1 that `ca` signed, and its key.
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
    fingerprint: String,
}

fn leaf(ca: &CertifiedIssuer<'_, KeyPair>) -> Leaf {
    leaf_with(ca, |_| {})
}

fn leaf_with(ca: &CertifiedIssuer<'_, KeyPair>, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    edit(&mut params);
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("sign");
    Leaf { cert: cert.pem(), key: key.serialize_pem(), der: cert.der().to_vec(), fingerprint: hex::encode(Sha256::digest(cert.der())) }
}

/// A certificate file and a key file in a directory of their own.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(pair: &Leaf) -> Files {
        let dir = tempfile::tempdir().expect("tmp");
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let files = Files { _dir: dir, cert, key };
        files.write(pair);
        files
    }

    /// Rewrites both files in place, as a plain copy does.
    fn write(&self, pair: &Leaf) {
        std::fs::write(&self.cert, &pair.cert).expect("write");
        std::fs::write(&self.key, &pair.key).expect("write");
    }

    fn reloader(&self) -> Reloader {
        Reloader::new(&self.cert, &self.key).expect("reloader")
    }
}

fn fingerprint(r: &Reloader) -> String {
    r.resolver().current().fingerprint().to_owned()
}

/// A moment when every file these tests write has long settled, so that checks trust their
/// metadata.
fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

#[test]
fn certificates_and_keys_are_checked_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = ca("a");
    let (a, b) = (leaf(&ca), leaf(&ca));
    let path = |name: &str| dir.path().join(name);
    for (name, text) in [("a.pem", &a.cert), ("a.key", &a.key), ("b.key", &b.key)] {
        std::fs::write(path(name), text).expect("write");
    }
    assert!(server_config(&path("a.pem"), &path("a.key")).is_ok());
    // Swapped files, a missing file, a key of another certificate.
    let err = server_config(&path("a.key"), &path("a.pem")).expect_err("swapped");
    assert!(err.to_string().contains("a.key"), "{err}");
    let err = server_config(&path("none.pem"), &path("a.key")).expect_err("missing");
    assert!(err.to_string().contains("none.pem"), "{err}");
    let err = server_config(&path("a.pem"), &path("b.key")).expect_err("mismatched");
    assert!(
        matches!(&err, TlsError::Pair { source: rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch), .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("the private key `{}` cannot be used with the certificate `{}`", path("b.key").display(), path("a.pem").display())
    );
}

#[test]
fn a_valid_rotation_is_swapped_in_and_an_unchanged_one_is_not() {
    let ca = ca("a");
    let (one, two) = (leaf(&ca), leaf(&ca));
    let files = Files::new(&one);
    let mut r = files.reloader();
    assert_eq!(fingerprint(&r), one.fingerprint);
    assert!(matches!(r.check(), Checked::Unchanged));

    files.write(&two);
    assert!(matches!(r.check(), Checked::Reloaded));
    assert_eq!(fingerprint(&r), two.fingerprint);
    assert_eq!(r.resolver().reloads(), Reloads { ok: 1, error: 0 });
    // The resolver hands handshakes the new chain and key.
    assert_eq!(r.resolver().current().certified_key().cert[0].as_ref(), two.der.as_slice());

    // The same pair written again (a re-sync, a touch) is no reload.
    files.write(&two);
    assert!(matches!(r.check(), Checked::Unchanged));
    assert_eq!(r.resolver().reloads(), Reloads { ok: 1, error: 0 });
}

#[test]
fn broken_pairs_are_refused_once_each_and_the_current_one_kept() {
    let ca = ca("a");
    let (one, other) = (leaf(&ca), leaf(&ca));
    let files = Files::new(&one);
    let mut r = files.reloader();
    let half = &other.cert[..other.cert.len() / 2];
    let junk_der = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    let junk_key = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
    // What the refusal says: the file and kind of a PEM error, or that the pair does not fit.
    let (cert_pem, key_pem, pair) = (Some("certificate"), Some("private key"), None);
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'static str>);
    let huge = "A".repeat(MAX_PEM_BYTES as usize + 1);
    let cases: [Case; 9] = [
        ("garbage certificate", Some("not a certificate\n"), None, cert_pem),
        ("a file too large to be a certificate", Some(huge.as_str()), None, cert_pem),
        ("empty certificate, mid-write", Some(""), None, cert_pem),
        ("half-written certificate", Some(half), Some(other.key.as_str()), cert_pem),
        ("empty key, mid-write", None, Some(""), key_pem),
        ("a key rustls cannot load", None, Some(junk_key), pair),
        ("a certificate block that is not X.509", Some(junk_der), None, pair),
        ("the new certificate with the old key", Some(other.cert.as_str()), None, pair),
        ("the old certificate with the new key", None, Some(other.key.as_str()), pair),
    ];
    for (i, (case, cert, key, expected)) in cases.iter().enumerate() {
        // From the pair in use (which is no change), to the broken one.
        files.write(&one);
        assert!(matches!(r.check(), Checked::Unchanged), "{case}");
        if let Some(cert) = cert {
            std::fs::write(&files.cert, cert).expect("write");
        }
        if let Some(key) = key {
            std::fs::write(&files.key, key).expect("write");
        }
        match r.check() {
            Checked::Refused(err) => match (expected, &err) {
                (Some(expected), TlsError::Pem { what, path, .. }) => {
                    assert_eq!(what, expected, "{case}");
                    let file = if *what == "certificate" { &files.cert } else { &files.key };
                    assert_eq!(path, &file.display().to_string(), "{case}");
                }
                (None, TlsError::Pair { .. }) => {}
                _ => panic!("{case}: {err:?}"),
            },
            other => panic!("{case}: {other:?}"),
        }
        let errors = i as u64 + 1;
        assert_eq!(r.resolver().reloads(), Reloads { ok: 0, error: errors }, "{case}");
        assert_eq!(fingerprint(&r), one.fingerprint, "{case}: the current certificate is kept");
        // Read again, the same broken pair is not counted again.
        assert!(matches!(r.check(), Checked::Unchanged), "{case}");
        assert_eq!(r.resolver().reloads().error, errors, "{case}");
    }

    // A missing file is refused too, and the pair that comes back is taken.
    std::fs::remove_file(&files.key).expect("rm");
    assert!(matches!(r.check(), Checked::Refused(TlsError::Pem { what: "private key", .. })));
    assert!(matches!(r.check_at(later()), Checked::Unchanged));
    files.write(&other);
    assert!(matches!(r.check(), Checked::Reloaded));
    assert_eq!(fingerprint(&r), other.fingerprint);
    assert_eq!(r.resolver().reloads(), Reloads { ok: 1, error: cases.len() as u64 + 1 });
}

/// The way the kubelet updates a Secret volume: the files are links through `..data`, a link to
/// a timestamped directory, and an update writes a new directory and renames a new `..data`
/// link over the old one.
#[test]
fn a_secret_volume_swap_is_seen_through_its_links() {
    let ca = ca("a");
    let (one, two) = (leaf(&ca), leaf(&ca));
    let dir = tempfile::tempdir().expect("tmp");
    let volume = dir.path();
    let publish = |version: &str, pair: &Leaf| {
        let data = volume.join(version);
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::write(data.join("tls.crt"), &pair.cert).expect("write");
        std::fs::write(data.join("tls.key"), &pair.key).expect("write");
        std::os::unix::fs::symlink(version, volume.join("..data_tmp")).expect("link");
        std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).expect("swap");
    };
    publish("..2026_01_01_00_00_00.1", &one);
    for name in ["tls.crt", "tls.key"] {
        std::os::unix::fs::symlink(format!("..data/{name}"), volume.join(name)).expect("link");
    }
    let mut r = Reloader::new(&volume.join("tls.crt"), &volume.join("tls.key")).expect("reloader");
    assert!(matches!(r.check_at(later()), Checked::Unchanged));
    assert!(r.seen.is_some(), "settled files are known by their metadata");

    publish("..2026_01_01_00_00_00.2", &two);
    std::fs::remove_dir_all(volume.join("..2026_01_01_00_00_00.1")).expect("rm old");
    assert!(matches!(r.check_at(later()), Checked::Reloaded));
    assert_eq!(fingerprint(&r), two.fingerprint);
    assert!(matches!(r.check_at(later()), Checked::Unchanged));

    // A new version with the same content is no reload.
    publish("..2026_01_01_00_00_00.3", &two);
    assert!(matches!(r.check_at(later()), Checked::Unchanged));
    assert_eq!(r.resolver().reloads(), Reloads { ok: 1, error: 0 });
}

/// `cp -p` and rsync keep a file's modification time; its change time still moves.
#[test]
fn a_rewrite_that_keeps_the_modification_time_is_seen() {
    let ca = ca("a");
    let (one, two) = (leaf(&ca), leaf(&ca));
    let files = Files::new(&one);
    let mut r = files.reloader();
    assert!(matches!(r.check_at(later()), Checked::Unchanged));
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).expect("mtime");
    let (cert_mtime, key_mtime) = (mtime(&files.cert), mtime(&files.key));
    files.write(&two);
    let keep = |p: &Path, t| std::fs::File::options().write(true).open(p).and_then(|f| f.set_modified(t)).expect("set mtime");
    keep(&files.cert, cert_mtime);
    keep(&files.key, key_mtime);
    assert!(matches!(r.check_at(later()), Checked::Reloaded));
    assert_eq!(fingerprint(&r), two.fingerprint);
}

#[test]
fn the_expiry_is_read_from_either_time_encoding() {
    let ca = ca("a");
    let at = |pair: &Leaf| not_after(&pair.der).map(|t| t.to_string());
    // RFC 5280: UTCTime until 2049, GeneralizedTime from 2050.
    let utc = leaf_with(&ca, |p| p.not_after = rcgen::date_time_ymd(2031, 5, 6));
    assert_eq!(at(&utc).as_deref(), Some("2031-05-06T00:00:00Z"));
    let generalized = leaf_with(&ca, |p| p.not_after = rcgen::date_time_ymd(2051, 12, 31));
    assert_eq!(at(&generalized).as_deref(), Some("2051-12-31T00:00:00Z"));
    assert_eq!(x509_time(0x17, b"991231235959Z").map(|t| t.to_string()).as_deref(), Some("1999-12-31T23:59:59Z"));
    assert_eq!(x509_time(0x17, b"490101000000Z").map(|t| t.to_string()).as_deref(), Some("2049-01-01T00:00:00Z"));
    for bad in [&b"4901010000Z"[..], b"491301000000Z", b"49010100000+Z", b"490101000000", b"\xff"] {
        assert_eq!(x509_time(0x17, bad), None, "{bad:?}");
    }
    // Loaded, the certificate says when it expires.
    let files = Files::new(&utc);
    assert_eq!(files.reloader().resolver().current().not_after().map(|t| t.to_string()).as_deref(), Some("2031-05-06T00:00:00Z"));

    // Whatever the bytes, the walk answers without panicking.
    for cut in 0..utc.der.len() {
        assert_eq!(not_after(&utc.der[..cut]), None, "cut at {cut}");
    }
    for i in 0..utc.der.len().min(256) {
        let mut der = utc.der.clone();
        der[i] ^= 0xff;
        let _ = not_after(&der);
    }
}
