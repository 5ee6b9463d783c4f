//! Prints the SPDX SBOM of a root filesystem directory: `cargo run -p strata-attest --example
//! sbom -- DIR [NAME]` (`SOURCE_DATE_EPOCH` sets the creation time). Files the scanner passed
//! over are listed on stderr.

use std::time::SystemTime;

use strata_attest::sbom::{self, spdx};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().ok_or("usage: sbom DIR [NAME]")?;
    let name = args.next().unwrap_or_else(|| root.clone());
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .map(|v| v.parse())
        .transpose()?;
    let scan = sbom::scan(root.as_ref())?;
    for skipped in &scan.skipped {
        eprintln!("skipped {}: {}", skipped.path, skipped.reason);
    }
    let created = strata_attest::time::creation_time(epoch, SystemTime::now());
    let document = spdx::document(&scan, &spdx::DocumentInfo::new(&name, created));
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}
