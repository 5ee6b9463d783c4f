//! Writing an exporter's stream to a file or to stdout.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::Context as _;

use super::spec::Dest;

/// Writes `what` (for messages: `the tarball`) to `dest` through `write`. A file is written
/// beside its final name and renamed into place, so a failed export leaves no partial file;
/// stdout is refused when it is a terminal.
pub fn write_to(
    dest: &Dest,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match dest {
        Dest::Stdout => {
            if std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to write {what} to a terminal: give dest=FILE or redirect stdout"
                );
            }
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write(&mut out)?;
            out.flush().context("writing to stdout")
        }
        Dest::File(path) => {
            if path.is_dir() {
                anyhow::bail!("destination file `{}` is a directory", path.display());
            }
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in `{}`", dir.display()))?;
            {
                let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
                write(&mut out)?;
                out.flush()
                    .with_context(|| format!("writing `{}`", path.display()))?;
            }
            tmp.persist(path)
                .with_context(|| format!("writing `{}`", path.display()))?;
            Ok(())
        }
    }
}

/// How progress names a destination.
pub fn describe(dest: &Dest) -> String {
    match dest {
        Dest::Stdout => "stdout".into(),
        Dest::File(path) => format!("`{}`", path.display()),
    }
}
