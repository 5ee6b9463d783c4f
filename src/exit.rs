//! Turning a command's outcome into output on stderr and a process exit code.

use std::process::ExitCode;

/// Exit code for a usage or input error (bad Dockerfile, missing file).
pub const USER_ERROR: u8 = 1;

/// Prints the whole error chain (and a hint where one is known) and picks the exit code.
/// A broken pipe on stdout (`strata images | head`) is not an error: exit quietly.
pub fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            print_error(&err, USER_ERROR)
        }
    }
}

/// Prints the error chain on stderr and returns `code` as the exit code.
pub fn print_error(err: &anyhow::Error, code: u8) -> ExitCode {
    eprintln!("error: {err}");
    // Many errors already include their cause's text (`step: cause`, and a step's snippet
    // after it); repeating it as a `caused by` line only adds noise.
    let mut shown = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        shown = text;
    }
    ExitCode::from(code)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
