//! What one policy evaluation may spend: time and memory. Recursion is refused before a bundle
//! is used (`recursion`), so together nothing a policy does can take the process down.
//!
//! - **Time**: regorus's execution timer, checked as the interpreter walks expressions, calls
//!   and loops; each rule evaluation (one rule against one document) has the whole budget.
//! - **Memory**: regorus's allocator-backed ceiling. Built with `allocator-memory-limits`,
//!   regorus declares mimalloc (its counting fork, `regorus-mimalloc`) the global allocator of
//!   every binary that links it, which is every binary that can evaluate a policy (ADR 0043);
//!   while any evaluation runs, the ceiling is the heap in use when the first of them began plus
//!   the budget, and the interpreter and the builtins that build large values (`numbers.range`,
//!   `concat`, `array.concat`, `object.union`, ...) stop with an error past it. The ceiling is the
//!   process's, so concurrent evaluations share one budget, and memory the process allocates
//!   elsewhere in the meantime counts against it too; it is a floor-to-ceiling guard against a
//!   runaway policy, not an accounting of what each one used.

use std::sync::Mutex;
use std::time::Duration;

use regorus::LimitError;

/// What one evaluation may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time for one rule against one document.
    pub timeout: Duration,
    /// Heap growth allowed while evaluations run.
    pub memory: u64,
}

impl Limits {
    /// The most `timeout` may be set to: a policy that needs longer is a bug.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
    /// The fewest bytes `memory` may be set to: less fails ordinary policies.
    pub const MIN_MEMORY: u64 = 16 << 20;
}

impl Default for Limits {
    /// Two seconds and 1 GiB: the default library takes well under a millisecond per document.
    fn default() -> Limits {
        Limits { timeout: Duration::from_secs(2), memory: 1 << 30 }
    }
}

/// Which limit an evaluation ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Time(Duration),
    Memory(u64),
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Time(limit) => write!(f, "its time budget of {}", human_duration(*limit)),
            Exceeded::Memory(limit) => write!(f, "its memory budget of {}", human_bytes(*limit)),
        }
    }
}

/// The limit an evaluation error reports, if it is one.
pub(crate) fn exceeded(err: &anyhow::Error, limits: &Limits) -> Option<Exceeded> {
    match err.downcast_ref::<LimitError>() {
        Some(LimitError::TimeLimitExceeded { .. }) => Some(Exceeded::Time(limits.timeout)),
        Some(LimitError::MemoryLimitExceeded { .. }) => Some(Exceeded::Memory(limits.memory)),
        _ => {
            // Raised inside a builtin or an extension, the limit reaches us as the text of a
            // source-located error (regorus formats it into a new one).
            let text = err.to_string();
            if text.contains("execution exceeded time limit") {
                Some(Exceeded::Time(limits.timeout))
            } else if text.contains("execution exceeded memory limit") {
                Some(Exceeded::Memory(limits.memory))
            } else {
                None
            }
        }
    }
}

/// How many evaluators are alive: the memory ceiling is set when the first is made and lifted
/// when the last is gone.
static ACTIVE: Mutex<usize> = Mutex::new(0);

/// Holds the memory ceiling while an evaluation may run.
#[derive(Debug)]
pub(crate) struct Budget(());

impl Budget {
    pub(crate) fn enter(limits: &Limits) -> Budget {
        let mut active = ACTIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *active == 0 {
            let (in_use, _) = ceiling();
            regorus::set_global_memory_limit(Some(in_use.saturating_add(limits.memory)));
        }
        *active += 1;
        Budget(())
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        let mut active = ACTIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *active = active.saturating_sub(1);
        if *active == 0 {
            regorus::set_global_memory_limit(None);
        }
    }
}

/// The heap in use now and the ceiling evaluations run under (the default budget above what is
/// in use when no evaluation holds one).
pub(crate) fn ceiling() -> (u64, u64) {
    regorus::flush_thread_memory_counters();
    let in_use = regorus_mimalloc::mimalloc::global_allocation_stats_snapshot().allocated;
    (in_use, regorus::global_memory_limit().unwrap_or_else(|| in_use.saturating_add(Limits::default().memory)))
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}
