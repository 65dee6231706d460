//! The Dockerfile and the scripts its stages run: hadolint and checkov on the Dockerfile, what
//! each stage does, the binary built the same way (`scripts/build-release`), and git's runtime
//! closure (`scripts/image-git-runtime`) run from a chroot, as the distroless image runs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tollgate_deploy_tests::{checkov_failures, justified_checks, root, run, tool};

fn dockerfile() -> String {
    std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile")
}

#[test]
fn dockerfile_passes_hadolint() {
    let r = run(Command::new(tool("TOLLGATE_HADOLINT")).args(["--failure-threshold", "info", "Dockerfile"]).current_dir(root()));
    assert_eq!(r.code, 0, "{}", r.both());
}

/// checkov's Dockerfile checks fail only what docs/install/kubernetes.md justifies (CKV_DOCKER_2: the
/// probes are the chart's, not a HEALTHCHECK).
#[test]
fn dockerfile_checkov_fails_only_the_justified_healthcheck() {
    let failed: BTreeSet<String> = checkov_failures(&["-f", "Dockerfile"], "dockerfile").into_iter().map(|(id, _)| id).collect();
    assert_eq!(failed, BTreeSet::from(["CKV_DOCKER_2".to_owned()]));
    let justified: BTreeSet<String> = justified_checks(&root().join("docs/install/kubernetes.md")).into_iter().collect();
    assert_eq!(failed, justified, "failed checkov checks vs. those docs/install/kubernetes.md justifies");
}

/// The two runtime images: distroless, non-root, no HEALTHCHECK, no shell form, OCI labels, and
/// binaries from scripts/build-release.
#[test]
fn dockerfile_stages_run_the_repository_scripts() {
    let text = dockerfile();
    // Stages by name, and what each one's instructions hold.
    let mut stages: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("FROM ") {
            let name = rest.split(" AS ").nth(1).unwrap_or("").trim().to_owned();
            stages.push((name, format!("{line}\n")));
        } else if let Some(last) = stages.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["build-base", "build-slim", "build-torch", "git", "slim", "torch"]);
    let stage = |n: &str| stages.iter().find(|(name, _)| name == n).map(|(_, t)| t.as_str()).expect("stage");
    assert!(stage("build-slim").contains("scripts/build-release /out"));
    assert!(stage("build-torch").contains("scripts/build-release --torch /out"));
    assert!(stage("git").contains("RUN image-git-runtime /rootfs"));
    assert!(!text.lines().any(|l| l.trim_start().starts_with("HEALTHCHECK")), "no HEALTHCHECK instruction");
    for runtime in ["slim", "torch"] {
        let t = stage(runtime);
        assert!(t.starts_with("FROM gcr.io/distroless/cc-debian12:nonroot AS"), "{runtime}");
        assert!(t.contains("USER 65532:65532"), "{runtime}");
        assert!(t.contains("ENTRYPOINT [\"/usr/local/bin/tollgate\"]"), "{runtime}: exec form, no shell");
        assert!(t.contains("COPY --from=git /rootfs/ /"), "{runtime}: git");
        assert!(!t.contains("RUN "), "{runtime}: a runtime stage runs nothing (there is no shell to run it)");
        for label in ["title", "description", "version", "revision", "licenses", "source", "documentation", "base.name"] {
            assert!(t.contains(&format!("org.opencontainers.image.{label}=")), "{runtime}: OCI label {label}");
        }
    }
    assert!(stage("torch").contains("LD_LIBRARY_PATH=/usr/lib/tollgate/torch/lib"));
    assert!(!stage("slim").contains("/usr/lib/tollgate"), "the slim image carries no libtorch");
}

/// scripts/build-release's output, built once per test process with the profile of the test
/// build itself (dev under `scripts/test`), so the binary is not compiled a second time; the
/// Dockerfile runs the same script with the release profile.
fn built() -> &'static (PathBuf, &'static str) {
    static OUT: OnceLock<(PathBuf, &'static str)> = OnceLock::new();
    OUT.get_or_init(|| {
        // The test binary runs in <target>/<profile folder>/deps: the script builds into the
        // same target folder with the same profile.
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("profile folder");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some("release") => "release",
            other => panic!("unexpected profile folder {other:?}"),
        };
        let target = profile_dir.parent().expect("target folder");
        let out = std::env::temp_dir().join(format!("tollgate-build-release-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let r =
            run(Command::new(root().join("scripts/build-release")).args(["--profile", profile]).arg(&out).env("CARGO_TARGET_DIR", target));
        assert_eq!(r.code, 0, "scripts/build-release: {}", r.both());
        (out, profile)
    })
}

#[test]
fn build_release_lays_out_the_slim_image() {
    let (out, profile) = built();
    let bin = out.join("usr/local/bin/tollgate");
    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(version.code, 0, "{}", version.both());
    assert_eq!(version.stdout.trim(), format!("tollgate {}", env!("CARGO_PKG_VERSION")));
    let build = std::fs::read_to_string(out.join("BUILD")).expect("BUILD");
    assert!(build.contains(&format!("profile: {profile}\nfeatures: none\n")), "{build}");
    // Stripped: no symbol table left.
    let syms = run(Command::new("readelf").args(["--syms"]).arg(&bin));
    assert!(!syms.stdout.contains(".symtab"), "not stripped");
    // What it links is in the distroless cc image (glibc, libgcc, libstdc++, OpenSSL) or in
    // git's runtime copied beside it (zlib): no libtorch, nothing else to install.
    let cc: BTreeSet<&str> = [
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "ld-linux-x86-64.so.2",
        "libssl.so.3",
        "libcrypto.so.3",
        // zlib is not in the cc image, but git links it, so scripts/image-git-runtime copies it
        // into both images (`git_runtime_runs_in_a_chroot` runs git from that closure).
        "libz.so.1",
    ]
    .into();
    let needed = build.lines().find_map(|l| l.strip_prefix("needed: ")).expect("needed line");
    for lib in needed.split_whitespace() {
        assert!(cc.contains(lib), "the binary needs `{lib}`, which the distroless cc image lacks");
    }
    assert!(!out.join("usr/lib/tollgate").exists());
}

/// The image's git: the Debian git the `git` stage collects runs from a root holding only what
/// scripts/image-git-runtime copied (and /dev/null, /dev/urandom): it starts, runs /bin/sh for credential
/// helpers, and clones, commits and pushes over file://.
#[test]
fn git_runtime_runs_in_a_chroot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    let r = run(Command::new(root().join("scripts/image-git-runtime")).arg(&rootfs));
    assert_eq!(r.code, 0, "{}", r.both());
    let bytes: u64 = std::fs::read_to_string(dir.path().join("rootfs.bytes")).expect("bytes").trim().parse().expect("number");
    assert!(bytes > 1_000_000 && bytes < 100_000_000, "git's runtime is {bytes} bytes");
    std::fs::create_dir_all(rootfs.join("dev")).expect("dev");
    std::fs::create_dir_all(rootfs.join("tmp")).expect("tmp");
    // The two devices a container runtime always provides and git uses.
    for (dev, minor) in [("null", "3"), ("urandom", "9")] {
        let mknod = run(Command::new("mknod").args(["-m", "666"]).arg(rootfs.join("dev").join(dev)).args(["c", "1", minor]));
        assert_eq!(mknod.code, 0, "mknod (the test runs as root, as CI does): {}", mknod.both());
    }
    let git = run(Command::new("sh").args(["-c", "command -v git"])).stdout.trim().to_owned();
    let in_root = |script: &str| {
        run(Command::new("chroot")
            .arg(&rootfs)
            .args(["/bin/sh", "-c", script])
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", Path::new(&git).parent().expect("dir").display()))
            .env("HOME", "/tmp"))
    };
    let r = in_root("git --version");
    assert_eq!(r.code, 0, "{}", r.both());
    assert!(r.stdout.starts_with("git version "), "{}", r.both());
    let r = in_root(
        "set -e; git init -q --bare /tmp/remote.git; git clone -q file:///tmp/remote.git /tmp/work 2>/dev/null; cd /tmp/work; \
         git -c user.name=t -c user.email=t@example.com commit -q --allow-empty -m first; \
         git -c credential.helper='!f() { echo password=x; }; f' push -q origin HEAD:refs/heads/main; \
         git --git-dir=/tmp/remote.git rev-parse --verify -q refs/heads/main",
    );
    assert_eq!(r.code, 0, "{}", r.both());
    assert_eq!(r.stdout.trim().len(), 40, "{}", r.both());
    // git-remote-https starts (its libcurl and TLS libraries load) and asks for a remote.
    let https = in_root("git remote-https 2>&1 || true");
    assert!(https.stdout.contains("usage: git remote-curl"), "git-remote-https: {}", https.both());
}
