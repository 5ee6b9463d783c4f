//! `--isolation`: settled once per command, before anything else starts (the user namespace
//! of rootless mode can only be entered by a process with a single thread), and the one place
//! that turns the settled mode into a sandbox.

use std::path::PathBuf;

use strata_builder::sandbox::{
    self, rootless, ChrootExecutor, Environment, Executor, Isolation, NativeSandbox,
};

use crate::Global;

/// `--isolation`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Requested {
    /// The best mode this environment allows: namespaces as root, rootless for other users,
    /// chroot as root where namespaces are refused (an unprivileged container).
    Auto,
    /// Root's sandbox: mount, pid, uts, ipc and network namespaces over an overlay.
    Namespaces,
    /// A user namespace mapping root to this user and the user's subordinate ids.
    Rootless,
    /// chroot into a working root filesystem, for containers without privileges.
    Chroot,
}

impl Requested {
    /// The mode asked for; `None` for auto.
    pub fn mode(self) -> Option<Isolation> {
        match self {
            Requested::Auto => None,
            Requested::Namespaces => Some(Isolation::Namespaces),
            Requested::Rootless => Some(Isolation::Rootless),
            Requested::Chroot => Some(Isolation::Chroot),
        }
    }
}

/// What a command needs from the isolation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// It runs RUN steps or containers: a mode must be had, and is announced.
    Sandbox,
    /// It reads or writes the store: in rootless mode that happens inside the user namespace
    /// (snapshots hold files of the subordinate ids); elsewhere nothing changes.
    Store,
    /// Neither.
    Nothing,
}

/// Chooses the mode for a command, says so on stderr when it is not root's default, and in
/// rootless mode moves this process into its user namespace. The store's default location is
/// fixed first: inside the namespace strata is root, but its store stays the user's.
pub fn settle(global: &mut Global, needs: Needs) -> anyhow::Result<()> {
    if needs == Needs::Nothing {
        return Ok(());
    }
    if global.root.is_none() {
        global.root = Some(crate::store::default_root());
    }
    let requested = global.isolation.mode();
    // A user other than root goes rootless or nowhere, and entering the user namespace tries
    // everything a probe would: probe only to explain a failure (it costs a fork).
    let unprobed = Environment::read();
    let root = unprobed.ids.0 == 0;
    if root && needs == Needs::Store && requested.is_none() {
        // Root's store commands run as they are: which sandbox root gets is for RUN steps.
        return Ok(());
    }
    let rootless = !root && matches!(requested, None | Some(Isolation::Rootless));
    let environment = if rootless {
        unprobed
    } else {
        Environment::probe(None)?
    };
    let chosen = match sandbox::choose(requested, &environment) {
        Ok(chosen) => chosen,
        Err(e) => return unavailable(e.into(), needs, requested),
    };
    if needs == Needs::Sandbox && chosen.announced() {
        eprintln!("isolation: {} ({})", chosen.isolation, chosen.why);
        for warning in &chosen.warnings {
            eprintln!("warning: {warning}");
        }
    }
    if let Some(maps) = &chosen.maps {
        if let Err(error) = rootless::enter(maps) {
            // A namespace made but not mapped (newuidmap failed) leaves this process no ids to
            // create files as: nothing goes on, and the helper's own words say why.
            if strata_oci::in_user_namespace_now() {
                return Err(anyhow::Error::from(error)
                    .context("entering the rootless user namespace half-way"));
            }
            // Nothing changed: the probe says why, with the fix (else the error itself), and
            // a listing goes on as this user.
            let explained = Environment::probe(None)
                .ok()
                .and_then(|probed| sandbox::choose(requested, &probed).err());
            let error = match explained {
                Some(why) => anyhow::Error::from(why),
                None => anyhow::Error::from(error).context("entering the rootless user namespace"),
            };
            return unavailable(error, needs, requested);
        }
    }
    global.isolation_chosen = Some(chosen.isolation);
    Ok(())
}

/// No mode can be had: an error for commands that run containers or asked for a mode; the
/// others (listing images, pulling) go on as this user, without a namespace.
fn unavailable(
    error: anyhow::Error,
    needs: Needs,
    requested: Option<Isolation>,
) -> anyhow::Result<()> {
    if needs == Needs::Store && requested.is_none() {
        return Ok(());
    }
    Err(error.context("choosing how to isolate RUN steps (see `strata info`)"))
}

/// The sandbox for containers (`strata run`) in the settled mode, keeping its per-run files
/// under `scratch`. Containers need the namespaces sandbox (rootless runs it as root of the
/// user namespace `settle` entered); chroot isolation runs build steps only.
pub fn sandbox<'w>(global: &Global, scratch: PathBuf) -> anyhow::Result<NativeSandbox<'w>> {
    match global.isolation_chosen.unwrap_or(Isolation::Namespaces) {
        Isolation::Namespaces | Isolation::Rootless => Ok(NativeSandbox::new(scratch)),
        Isolation::Chroot => anyhow::bail!(
            "`strata run` needs the namespaces or rootless sandbox; chroot isolation (chosen \
             here: see `strata info`) runs build steps only"
        ),
    }
}

/// The executor for a build's RUN steps in the settled mode, keeping per-step files under
/// `scratch` and passing the sandbox's warnings to `warn`.
pub fn executor<'w>(
    global: &Global,
    scratch: PathBuf,
    warn: impl Fn(&str) + Send + Sync + 'w,
) -> Box<dyn Executor + 'w> {
    match global.isolation_chosen.unwrap_or(Isolation::Namespaces) {
        Isolation::Namespaces | Isolation::Rootless => {
            Box::new(NativeSandbox::new(scratch).on_warning(warn))
        }
        Isolation::Chroot => Box::new(ChrootExecutor::new(scratch).on_warning(warn)),
    }
}
