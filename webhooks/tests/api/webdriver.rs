//! A small W3C WebDriver client over HTTP, for the dashboard's browser tests: chromedriver
//! (Debian's `chromium-driver`) started on a loopback port, driving headless Chromium. Only the
//! commands the tests use; see docs/adr/0047-*.md for why not a crate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The key W3C WebDriver names elements by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// WebDriver's code for the Tab key.
pub const TAB: &str = "\u{E004}";

fn find(var: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    for n in names {
        for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
            let p = Path::new(dir).join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("no {} found: run scripts/chromium (Debian's chromium and chromium-driver) or set {var}", names[0]);
}

/// chromedriver, running until dropped.
pub struct Driver {
    child: Child,
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it is ready.
    pub async fn start() -> Driver {
        let driver = find("TOLLGATE_CHROMEDRIVER", &["chromedriver"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let d = Driver { child, base: format!("http://127.0.0.1:{port}"), http: Client::builder(TokioExecutor::new()).build_http() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = d.call("GET", "/status", None).await
                && v["value"]["ready"] == true
            {
                return d;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let res = self.http.request(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if status.is_success() { Ok(v) } else { Err(format!("{method} {path}: {status}: {}", v["value"])) }
    }

    /// A new headless Chromium session.
    pub async fn session(&self) -> Browser<'_> {
        let chromium = find("TOLLGATE_CHROMIUM", &["chromium", "chromium-browser", "chrome"]);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                         "--no-first-run", "--disable-extensions", "--lang=en-US"]
            }
        }}});
        let v = self.call("POST", "/session", Some(caps)).await.expect("new session");
        let id = v["value"]["sessionId"].as_str().expect("session id").to_owned();
        // Finding an element waits up to two seconds for it to appear.
        self.call("POST", &format!("/session/{id}/timeouts"), Some(json!({"implicit": 2000}))).await.expect("timeouts");
        Browser { driver: self, id }
    }
}

/// One browser session.
pub struct Browser<'a> {
    driver: &'a Driver,
    id: String,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser<'_> {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        self.driver.call(method, &path, body).await.unwrap_or_else(|e| panic!("{e}"))["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn title(&self) -> String {
        self.cmd("GET", "/title", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let path = format!("/session/{}/element", self.id);
        let v = self.driver.call("POST", &path, Some(json!({"using": "css selector", "value": css}))).await.ok()?;
        v["value"][ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        match self.try_find(css).await {
            Some(e) => e,
            None => panic!("no element `{css}` on {}:\n{}", self.url().await, self.source().await),
        }
    }

    /// The text a person sees in `e`.
    pub async fn text(&self, e: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", e.0), None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text(&e).await
    }

    pub async fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{}/attribute/{name}", e.0), None).await.as_str().map(str::to_owned)
    }

    pub async fn click(&self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(json!({}))).await;
    }

    /// Clicks `e`, which submits a form or follows a link, and waits until the page it was on
    /// is gone (the element is stale): chromedriver may answer a click before the navigation
    /// it starts has begun.
    pub async fn click_and_wait(&self, e: &Element) {
        self.click(e).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let path = format!("/session/{}/element/{}/name", self.id, e.0);
        while self.driver.call("GET", &path, None).await.is_ok() {
            assert!(Instant::now() < deadline, "the page did not change in 10 s after a click");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Types `text` into `e`.
    pub async fn type_into(&self, e: &Element, text: &str) {
        self.cmd("POST", &format!("/element/{}/value", e.0), Some(json!({"text": text}))).await;
    }

    /// The element that has the keyboard focus.
    pub async fn active(&self) -> Element {
        let v = self.cmd("GET", "/element/active", None).await;
        Element(v[ELEMENT].as_str().expect("an active element").to_owned())
    }

    /// Presses Tab once, as a person moving through the page with the keyboard.
    pub async fn tab(&self) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": TAB}, {"type": "keyUp", "value": TAB}
        ]}]});
        self.cmd("POST", "/actions", Some(actions)).await;
    }

    /// Deletes every cookie (signs the browser out without asking the server).
    pub async fn clear_cookies(&self) {
        self.cmd("DELETE", "/cookie", None).await;
    }

    /// The browser's cookies.
    pub async fn cookies(&self) -> Value {
        self.cmd("GET", "/cookie", None).await
    }

    /// Saves a PNG screenshot of the whole viewport as `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64")).expect("png");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(dir).expect("artefact dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot");
        path
    }

    pub async fn close(self) {
        self.cmd("DELETE", "", None).await;
    }
}
