//! RUN as a step (BuildKit's exec op): the command runs in the sandbox on an overlay of the
//! parent's layers, and what it changed is the layer.
//!
//! The definition digest pins the command, env, user, workdir and modes; the key adds what its
//! bind mounts show (`mounts.rs`): context files by content, a stage or image by its key. Cache,
//! tmpfs and secret mounts are never part of the key, as in BuildKit.

use strata_frontend::graph::ExecOp;

use super::mounts::{self, Prepared};
use super::{ExecContext, Op, OpContext};
use crate::error::{Error, Result};
use crate::sandbox::{Network, RunRequest, Security};

/// A RUN.
pub(super) struct RunOp<'g> {
    exec: &'g ExecOp,
    network: Network,
    security: Security,
    /// The mounts, resolved far enough to key the step by [`Op::cache_map`].
    mounts: Vec<Prepared<'g>>,
}

impl<'g> RunOp<'g> {
    /// The RUN of `exec`, its modes read once (the entitlement check has refused the build
    /// before anything ran if the graph asks for one not granted).
    pub(super) fn new(exec: &'g ExecOp) -> Result<Self> {
        let (network, security) = modes(exec)?;
        Ok(RunOp {
            exec,
            network,
            security,
            mounts: Vec::new(),
        })
    }
}

/// The network and security modes a RUN asks for; an unknown one is an error.
pub(crate) fn modes(exec: &ExecOp) -> Result<(Network, Security)> {
    let network = Network::parse(&exec.network).ok_or_else(|| Error::Unsupported {
        what: format!("unknown network mode `{}`", exec.network),
    })?;
    let security = Security::parse(&exec.security).ok_or_else(|| Error::Unsupported {
        what: format!("unknown security mode `{}`", exec.security),
    })?;
    Ok((network, security))
}

impl Op for RunOp<'_> {
    fn cache_map(&mut self, cx: &OpContext<'_>) -> Result<Vec<Vec<u8>>> {
        // Mounted stages and images are read for the key (bind content) and by the run.
        for state in cx.inputs {
            cx.snapshots.ensure(&state.layers)?;
        }
        // `vertex.inputs[k]` is `cx.inputs[k - 1]`: the parent is not among them.
        let input = |k: usize| {
            let state = cx.inputs.get(k.checked_sub(1)?)?;
            Some((state.key.bytes().to_vec(), cx.snapshots.view(&state.layers)))
        };
        let request = cx.request;
        let (prepared, parts) = mounts::prepare(
            self.exec,
            request.context,
            &request.named_contexts,
            &input,
            cx.store,
        )?;
        self.mounts = prepared;
        Ok(parts)
    }

    fn exec(&mut self, cx: &OpContext<'_>, exec: &ExecContext<'_>) -> Result<()> {
        let work = cx.store.snapshots().scratch("work")?;
        let materialized = mounts::materialize(
            self.exec,
            &self.mounts,
            &cx.request.secrets,
            &cx.store.cache_mounts_dir(),
            cx.scratch,
        )?;
        let mut env = self.exec.env.clone();
        env.extend(materialized.env.iter().cloned());
        let request = RunRequest {
            argv: &self.exec.argv,
            env: &env,
            cwd: &self.exec.cwd,
            user: &self.exec.user,
            network: self.network,
            security: self.security,
            lowers: exec.view.layers(),
            upper: exec.upper,
            work: work.path(),
            mounts: &materialized.mounts,
        };
        exec.executor.run(&request, exec.output)
    }
}
