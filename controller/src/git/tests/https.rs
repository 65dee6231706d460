//! A Git smart-HTTP server over loopback TLS for the tests: a fresh CA and certificate from
//! `rcgen`, `rustls` on blocking sockets (one thread per connection), HTTP Basic authentication
//! against one user and token, and `git http-backend` as a CGI behind it, as a real Git host
//! would run it. One request per connection (`Connection: close`), which curl handles.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A running server; stops when dropped.
pub struct Server {
    /// `https://127.0.0.1:<port>`; repositories are `<base>/<name>.git`.
    pub base: String,
    /// The PEM file of the CA that signed the server's certificate.
    pub ca_file: PathBuf,
    /// Every request: `METHOD path-and-query status`, and whether an `Authorization` header came.
    pub log: Arc<Mutex<Vec<(String, bool)>>>,
    stop: Arc<AtomicBool>,
    port: u16,
    _certs: tempfile::TempDir,
}

impl Server {
    /// Serves the bare repositories under `root` to `user` with password `token` (pushes too).
    pub fn start(root: &Path, user: &str, token: &str) -> Server {
        let certs = tempfile::tempdir().expect("cert dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "tollgate test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key")).expect("ca cert");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("leaf params");
        leaf_params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let leaf = leaf_params.signed_by(&leaf_key, &*ca).expect("leaf cert");
        let ca_file = certs.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write ca");

        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        let config = Arc::new(config);

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}")));
        let (root, user, thread_stop, thread_log) = (root.to_owned(), user.to_owned(), stop.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (config, root, user, expected, log) =
                    (config.clone(), root.clone(), user.clone(), expected.clone(), thread_log.clone());
                std::thread::spawn(move || {
                    // A client that gives up mid-request (a refused certificate) is not an error
                    // of the server.
                    let _ = serve(conn, config, &root, &user, &expected, &log);
                });
            }
        });
        Server { base: format!("https://127.0.0.1:{port}"), ca_file, log, stop, port, _certs: certs }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    conn: TcpStream,
    config: Arc<rustls::ServerConfig>,
    root: &Path,
    user: &str,
    expected: &str,
    log: &Mutex<Vec<(String, bool)>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let tls = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut reader = BufReader::new(rustls::StreamOwned::new(tls, conn));

    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let authorization = headers.get("authorization");
    let authorized = authorization.is_some_and(|a| a == expected);
    if !authorized {
        log.lock().expect("log").push((format!("{method} {target} 401"), authorization.is_some()));
        let response = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"tollgate-test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        return finish(reader, response.as_bytes());
    }
    if headers.get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        reader.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        reader.get_mut().flush()?;
    }
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().map_err(std::io::Error::other)?, 0);
        reader.read_exact(&mut body)?;
    }

    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &method)
        .env("CONTENT_TYPE", headers.get("content-type").map_or("", String::as_str))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env_remove("GIT_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (header, var) in [("content-encoding", "HTTP_CONTENT_ENCODING"), ("git-protocol", "HTTP_GIT_PROTOCOL")] {
        if let Some(value) = headers.get(header) {
            cgi.env(var, value);
        }
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    // Feed the body on a thread while the response is read, so neither pipe can fill up.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut output = Vec::new();
    child.stdout.take().expect("stdout").read_to_end(&mut output)?;
    let _ = feeder.join();
    child.wait()?;

    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (String::from_utf8_lossy(&output[..i]).into_owned(), &output[i + n..]),
        None => (String::new(), &output[..]),
    };
    let mut status = "200 OK".to_owned();
    let mut response = Vec::new();
    let mut header_lines = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => status = value.trim().to_owned(),
            Some(_) => {
                header_lines.push_str(line.trim_end());
                header_lines.push_str("\r\n");
            }
            None => {}
        }
    }
    log.lock().expect("log").push((format!("{method} {target} {status}"), true));
    response.extend_from_slice(format!("HTTP/1.1 {status}\r\n{header_lines}Connection: close\r\n\r\n").as_bytes());
    response.extend_from_slice(body);
    finish(reader, &response)
}

fn finish(mut reader: BufReader<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>, response: &[u8]) -> std::io::Result<()> {
    let stream = reader.get_mut();
    stream.write_all(response)?;
    stream.conn.send_close_notify();
    stream.flush()?;
    Ok(())
}
