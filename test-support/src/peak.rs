//! Peak resident memory of the running process, for the controller benchmarks.

/// `VmHWM` from `/proc/self/status`, in KiB (0 where it cannot be read).
pub fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}
