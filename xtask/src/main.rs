//! Project tasks: `cargo xtask codegen` regenerates files derived from the sources.
fn main() -> anyhow::Result<()> {
    Ok(())
}
