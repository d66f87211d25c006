//! `muster-collector`: the server that enrols agents and stores what they report.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("the collector is not built yet")
}
