//! The server's certificate rotated under load (issue #14): a Secret volume updated as the kubelet
//! does, once to a certificate of another CA and once to a broken pair, while one client keeps a
//! connection alive and another opens a new connection for every request.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::{Digest as _, Sha256};
use tollgate_webhooks::tls::{Reloader, Reloads};

use super::*;

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
}

/// A certificate for 127.0.0.1 signed by `ca`: PEM certificate, PEM key, SHA-256 of the DER.
fn leaf(ca: &CertifiedIssuer<'_, KeyPair>) -> (String, String, String) {
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params").signed_by(&key, ca).expect("sign");
    (cert.pem(), key.serialize_pem(), hex::encode(Sha256::digest(cert.der())))
}

/// A Secret volume as the kubelet writes it: `tls.crt` and `tls.key` are links through `..data`,
/// itself a link to the current version's directory, and an update renames a new `..data` link
/// over the old one.
struct Volume<'a> {
    dir: &'a Path,
    version: u32,
}

impl Volume<'_> {
    fn publish(&mut self, cert: &str, key: &str) {
        self.version += 1;
        let data = format!("..2026_01_01_00_00_00.{}", self.version);
        std::fs::create_dir(self.dir.join(&data)).expect("mkdir");
        std::fs::write(self.dir.join(&data).join("tls.crt"), cert).expect("write");
        std::fs::write(self.dir.join(&data).join("tls.key"), key).expect("write");
        std::os::unix::fs::symlink(&data, self.dir.join("..data_tmp")).expect("link");
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).expect("swap");
        if self.version == 1 {
            for name in ["tls.crt", "tls.key"] {
                std::os::unix::fs::symlink(format!("..data/{name}"), self.dir.join(name)).expect("link");
            }
        } else {
            std::fs::remove_dir_all(self.dir.join(format!("..2026_01_01_00_00_00.{}", self.version - 1))).expect("rm");
        }
    }
}

/// A request sender on a new TLS connection, and the fingerprint of the certificate the server
/// presented on it.
async fn connect(
    tls: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
) -> Result<(hyper::client::conn::http1::SendRequest<Empty<Bytes>>, String), String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let stream = tls.connect(ServerName::from(addr.ip()), tcp).await.map_err(|e| format!("handshake: {e}"))?;
    let leaf = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).ok_or("no certificate")?;
    let fingerprint = hex::encode(Sha256::digest(leaf));
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("http handshake: {e}"))?;
    tokio::spawn(conn);
    Ok((sender, fingerprint))
}

/// `GET path` on `sender`'s connection: the status and the body.
async fn get(sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>, path: &str) -> Result<(u16, String), String> {
    sender.ready().await.map_err(|e| format!("connection: {e}"))?;
    let request = hyper::Request::get(path).header("host", "127.0.0.1").body(Empty::new()).expect("request");
    let response = sender.send_request(request).await.map_err(|e| format!("{path}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| format!("{path} body: {e}"))?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Clients that call `/healthz` until stopped: one on a single kept-alive connection, one on a new
/// connection each time. What they saw, in order.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    kept_alive: AtomicU64,
    /// The certificate each new connection was shown, in order.
    fresh: Mutex<Vec<String>>,
    failures: Mutex<Vec<String>>,
}

impl Load {
    fn fresh(&self) -> Vec<String> {
        self.fresh.lock().expect("lock").clone()
    }

    fn shown(&self, fingerprint: &str) -> usize {
        self.fresh.lock().expect("lock").iter().filter(|f| *f == fingerprint).count()
    }

    fn failed(&self, what: String) {
        self.failures.lock().expect("lock").push(what);
    }
}

/// Waits, at most 20 s, until `done`; on timeout, says what the clients saw and the reloads.
async fn wait_until(what: &str, load: &Load, certs: &tollgate_webhooks::tls::CertResolver, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            let (fresh, failures) = (load.fresh(), load.failures.lock().expect("lock").clone());
            panic!(
                "timed out waiting for {what}: {:?}; {} new connections, the last on {:?}; {} requests kept alive; failures {:?}",
                certs.reloads(),
                fresh.len(),
                fresh.last(),
                load.kept_alive.load(Ordering::Relaxed),
                failures,
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_without_a_failed_request_and_a_broken_one_is_not() {
    let (first_ca, second_ca) = (ca("first CA"), ca("second CA"));
    let ((cert_1, key_1, one), (cert_2, key_2, two)) = (leaf(&first_ca), leaf(&second_ca));
    let secret = tempfile::tempdir().expect("tmp");
    let mut volume = Volume { dir: secret.path(), version: 0 };
    volume.publish(&cert_1, &key_1);

    let reloader = Reloader::new(&secret.path().join("tls.crt"), &secret.path().join("tls.key")).expect("reloader");
    let certs = Arc::clone(reloader.resolver());
    let config = certs.server_config().expect("config");
    let App { tmp: _tmp, state, .. } = App::build(None, None, Metrics::new().with_tls(Arc::clone(&certs))).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = tokio::spawn(tollgate_webhooks::serve(
        listener,
        tollgate_webhooks::router(state),
        Some(config),
        until_stopped(stopped.clone()),
        Duration::from_secs(5),
        tollgate_webhooks::Limits::default(),
    ));
    let reloading = tokio::spawn(reloader.run(Duration::from_millis(100), until_stopped(stopped)));

    // The clients trust both CAs: which certificate they were shown is what they record.
    let mut roots = rustls::RootCertStore::empty();
    for ca in [&first_ca, &second_ca] {
        roots.add(CertificateDer::from(ca.der().to_vec())).expect("root");
    }
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A resumed session is not shown a certificate (the client reports the one of the session it
    // resumes): every new connection makes a full handshake.
    client.resumption = rustls::client::Resumption::disabled();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client));
    let load = Arc::new(Load::default());
    let (mut sender, kept_shown) = connect(&tls, addr).await.expect("connect");
    let kept_alive = tokio::spawn({
        let load = Arc::clone(&load);
        async move {
            while !load.stop.load(Ordering::Relaxed) {
                match get(&mut sender, "/healthz").await {
                    Ok((200, _)) => load.kept_alive.fetch_add(1, Ordering::Relaxed),
                    Ok((status, body)) => return load.failed(format!("kept alive: {status} {body}")),
                    Err(e) => return load.failed(format!("kept alive: {e}")),
                };
            }
        }
    });
    let fresh = tokio::spawn({
        let (load, tls) = (Arc::clone(&load), tls.clone());
        async move {
            while !load.stop.load(Ordering::Relaxed) {
                let answer = match connect(&tls, addr).await {
                    Ok((mut sender, shown)) => get(&mut sender, "/healthz").await.map(|a| (a, shown)),
                    Err(e) => Err(e),
                };
                match answer {
                    Ok(((200, _), shown)) => load.fresh.lock().expect("lock").push(shown),
                    Ok(((status, body), _)) => load.failed(format!("new connection: {status} {body}")),
                    Err(e) => load.failed(format!("new connection: {e}")),
                }
            }
        }
    });
    wait_until("requests with the first certificate", &load, &certs, || {
        load.shown(&one) >= 3 && load.kept_alive.load(Ordering::Relaxed) >= 3
    })
    .await;

    // A valid pair of the second CA: new connections get it.
    volume.publish(&cert_2, &key_2);
    wait_until("new connections with the second certificate", &load, &certs, || load.shown(&two) >= 3).await;
    assert_eq!(certs.reloads(), Reloads { ok: 1, error: 0 });
    let kept_before = load.kept_alive.load(Ordering::Relaxed);

    // A broken pair (the certificate cut short, as by a writer that never finished): refused,
    // counted once, and the second certificate is still what new connections get.
    volume.publish(&cert_2[..cert_2.len() / 2], &key_2);
    wait_until("the broken pair refused", &load, &certs, || certs.reloads().error == 1).await;
    let seen = load.fresh().len();
    wait_until("more new connections", &load, &certs, || load.fresh().len() >= seen + 5).await;
    wait_until("more requests on the kept-alive connection", &load, &certs, || load.kept_alive.load(Ordering::Relaxed) >= kept_before + 5)
        .await;

    load.stop.store(true, Ordering::Relaxed);
    kept_alive.await.expect("kept-alive client");
    fresh.await.expect("new-connection client");
    assert_eq!(*load.failures.lock().expect("lock"), Vec::<String>::new(), "no request failed");
    assert_eq!(kept_shown, one, "the kept-alive connection shook hands before any rotation");
    // New connections were shown the first certificate, then the second, and nothing else.
    let shown = load.fresh();
    let switch = shown.iter().position(|f| *f == two).expect("the second certificate");
    assert!(shown[..switch].iter().all(|f| *f == one) && shown[switch..].iter().all(|f| *f == two), "{shown:?}");
    assert!(shown.len() - switch >= 8, "new connections after the broken write got the second certificate: {shown:?}");
    assert_eq!(certs.reloads(), Reloads { ok: 1, error: 1 });

    let (mut sender, shown) = connect(&tls, addr).await.expect("connect");
    assert_eq!(shown, two);
    let (status, metrics) = get(&mut sender, "/metrics").await.expect("metrics");
    assert_eq!(status, 200);
    for line in
        [r#"tollgate_tls_certificate_reloads_total{outcome="ok"} 1"#, r#"tollgate_tls_certificate_reloads_total{outcome="error"} 1"#]
    {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    assert!(metrics.lines().any(|l| l.starts_with("tollgate_tls_certificate_expiration_timestamp_seconds ")), "{metrics}");
    drop(sender);

    stop.send(true).expect("stop");
    reloading.await.expect("reloader");
    server.await.expect("server task").expect("server");
}
