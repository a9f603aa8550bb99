//! Giving up root. The portal talks to every subscriber, so it must not keep
//! privileges: started as root it opens its ports, then becomes `portal.user`
//! for good; without `portal.user` it refuses to start as root.

use nix::unistd::{Gid, Uid, User, geteuid, setgid, setgroups, setuid};

use crate::error::{Error, Result};

/// Drops to `user` if running as root; refuses root without one.
pub fn drop_root(user: Option<&str>) -> Result<()> {
    if !geteuid().is_root() {
        if let Some(user) = user {
            tracing::debug!(user, "not root; portal.user not needed");
        }
        return Ok(());
    }
    let name = user.ok_or(Error::RootWithoutUser)?;
    let fail = |reason: String| Error::Privileges {
        user: name.to_owned(),
        reason,
    };
    let account = User::from_name(name)
        .map_err(|e| fail(format!("looking it up failed: {e}")))?
        .ok_or_else(|| {
            fail("no such user (create it: useradd --system --no-create-home cordon-portal)".into())
        })?;
    if account.uid.is_root() {
        return Err(fail(
            "it is root itself; name an unprivileged account".into(),
        ));
    }
    // Groups first: after setuid we could no longer change them.
    setgroups(&[account.gid]).map_err(|e| fail(format!("setgroups: {e}")))?;
    setgid(account.gid).map_err(|e| fail(format!("setgid: {e}")))?;
    setuid(account.uid).map_err(|e| fail(format!("setuid: {e}")))?;
    // Prove it cannot come back.
    if setuid(Uid::from_raw(0)).is_ok() || setgid(Gid::from_raw(0)).is_ok() {
        return Err(fail("root could be regained after switching".into()));
    }
    tracing::info!(
        user = name,
        uid = account.uid.as_raw(),
        "switched to an unprivileged user"
    );
    Ok(())
}
