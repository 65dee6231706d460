//! Builtins whose arguments alone decide how much they allocate, checked before they run.
//!
//! The memory budget ([`crate::Limits`]) is enforced as values grow, but three builtins size one
//! allocation from a number in their arguments before any check can see it:
//! `numbers.range(1, 10000000000)` reserves 240 GB at once and `sprintf("%09999999999d", [1])`
//! pads to 10 GB, and a failed allocation aborts the process. (regorus's `sprintf` also panics on
//! a width written in non-ASCII digits.) Each is registered as an extension of the same name,
//! which regorus looks up before its builtins: the arguments are checked, and the builtin itself
//! then does the work.

use regorus::unstable::{BUILTINS, Expr, Ref, Span};
use regorus::{Engine, LimitError, Source, Value};

/// The widest `sprintf` field: far more than any message needs.
pub const MAX_SPRINTF_WIDTH: u64 = 65_536;

/// Registers the guarded builtins on `engine`.
pub(crate) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension("numbers.range".to_owned(), 2, Box::new(|args: Vec<Value>| guarded_range("numbers.range", &args)))?;
    engine.add_extension("numbers.range_step".to_owned(), 3, Box::new(|args: Vec<Value>| guarded_range("numbers.range_step", &args)))?;
    engine.add_extension("sprintf".to_owned(), 2, Box::new(|args: Vec<Value>| guarded_sprintf(&args)))?;
    Ok(())
}

/// `numbers.range` and `numbers.range_step`, refused when the result would take the heap past
/// the memory ceiling of the evaluations running now.
fn guarded_range(name: &'static str, args: &[Value]) -> anyhow::Result<Value> {
    let int = |v: &Value| v.as_number().ok().and_then(|n| n.as_i64());
    if let (Some(from), Some(to)) = (args.first().and_then(int), args.get(1).and_then(int)) {
        let step = match args.get(2) {
            // regorus divides by the step: zero would panic. OPA refuses a step that is not a
            // positive integer; with strict errors off, that is undefined.
            Some(s) => match int(s).filter(|s| *s > 0) {
                Some(s) => s,
                None => return Ok(Value::Undefined),
            },
            None => 1,
        };
        let elements =
            u64::try_from((i128::from(to) - i128::from(from)).unsigned_abs() / u128::from(step.unsigned_abs()) + 1).unwrap_or(u64::MAX);
        let bytes = elements.saturating_mul(std::mem::size_of::<Value>() as u64);
        let (in_use, limit) = crate::limits::ceiling();
        if in_use.saturating_add(bytes) > limit {
            return Err(anyhow::Error::new(LimitError::MemoryLimitExceeded { usage: in_use.saturating_add(bytes), limit }));
        }
    }
    builtin(name, args)
}

/// `sprintf`, refused when a field width is not plain ASCII digits or is wider than
/// [`MAX_SPRINTF_WIDTH`].
fn guarded_sprintf(args: &[Value]) -> anyhow::Result<Value> {
    if let Some(Ok(format)) = args.first().map(Value::as_string) {
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                continue;
            }
            if chars.peek() == Some(&'%') {
                chars.next();
                continue;
            }
            let mut width: u64 = 0;
            while let Some(&d) = chars.peek().filter(|d| d.is_numeric() || **d == '.') {
                chars.next();
                if d == '.' {
                    width = 0;
                    continue;
                }
                let Some(digit) = d.to_digit(10).filter(|_| d.is_ascii_digit()) else {
                    anyhow::bail!("sprintf: the width `{d}` in the format is not an ASCII digit");
                };
                width = width.saturating_mul(10).saturating_add(u64::from(digit));
                if width > MAX_SPRINTF_WIDTH {
                    anyhow::bail!("sprintf: a field width above {MAX_SPRINTF_WIDTH} is not allowed");
                }
            }
        }
    }
    builtin("sprintf", args)
}

/// Calls regorus's own builtin `name`. Builtins use their parameter expressions only to point at
/// the source in errors, so synthetic ones naming the builtin stand in for them.
fn builtin(name: &'static str, args: &[Value]) -> anyhow::Result<Value> {
    let Some((function, _)) = BUILTINS.get(name) else { anyhow::bail!("builtin `{name}` is missing") };
    let source = Source::from_contents(format!("<{name}>"), name.to_owned())?;
    let span = Span { source, line: 1, col: 1, start: 0, end: u32::try_from(name.len()).unwrap_or(0) };
    let params: Vec<Ref<Expr>> = args
        .iter()
        .enumerate()
        .map(|(i, _)| Ref::new(Expr::Var { span: span.clone(), value: Value::from(name), eidx: u32::try_from(i).unwrap_or(0) }))
        .collect();
    function(&span, &params, args, false)
}
