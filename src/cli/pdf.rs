//! The PDF converter of `audit export --technical-file`: headless Chromium (Debian's
//! `chromium`), found on `PATH` or named with `--pdf-converter`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_audit::bundle::technical::ToPdf;

/// The programs looked for on `PATH`, in order.
pub const CANDIDATES: [&str; 4] = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/// How long a conversion may take before it is stopped.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Headless Chromium at a path.
#[derive(Debug)]
pub struct Chromium(pub PathBuf);

impl Chromium {
    /// The converter `choice` names: `none` for none, a path, or (without a choice) the first
    /// of [`CANDIDATES`] on `PATH`.
    pub fn find(choice: Option<&Path>) -> Option<Chromium> {
        match choice {
            Some(p) if p.as_os_str() == "none" => None,
            Some(p) => Some(Chromium(p.to_owned())),
            None => {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path).flat_map(|dir| CANDIDATES.iter().map(move |c| dir.join(c))).find(|p| p.is_file()).map(Chromium)
            }
        }
    }
}

impl ToPdf for Chromium {
    fn convert(&self, html: &Path, pdf: &Path) -> std::io::Result<()> {
        let html = std::path::absolute(html)?;
        let pdf = std::path::absolute(pdf)?;
        // A profile of its own, so that a running browser's lock does not get in the way.
        let profile = tempfile::tempdir()?;
        let mut child = Command::new(&self.0)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(format!("file://{}", html.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("`{}` ran past {}s", self.0.display(), TIMEOUT.as_secs()),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let made = std::fs::read(&pdf).map(|b| b.starts_with(b"%PDF-")).unwrap_or(false);
        if !status.success() || !made {
            let _ = std::fs::remove_file(&pdf);
            return Err(std::io::Error::other(format!("`{}` exited with {status} and wrote no PDF", self.0.display())));
        }
        Ok(())
    }
}
