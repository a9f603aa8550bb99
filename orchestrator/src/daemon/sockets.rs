//! Binding the Unix sockets with the configured owner and mode.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::net::{UnixListener, UnixStream};

/// Binds `path`, replacing a stale socket file but never a live one (another
/// cordond answering there), then sets its mode and group.
pub async fn bind(
    path: &Path,
    mode: u32,
    group: Option<&str>,
    user: Option<&str>,
) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another process (a second cordond?) is listening on {}; stop it first",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    let gid = match group {
        Some(g) => match nix::unistd::Group::from_name(g) {
            Ok(Some(grp)) => Some(grp.gid),
            _ => {
                tracing::warn!(socket = %path.display(), group = g, "group not found; the socket keeps root's group (create the group, or fix control.group)");
                None
            }
        },
        None => None,
    };
    let uid = match user {
        Some(u) => nix::unistd::User::from_name(u)
            .ok()
            .flatten()
            .map(|u| u.uid),
        None => None,
    };
    if gid.is_some() || uid.is_some() {
        nix::unistd::chown(path, uid, gid).map_err(std::io::Error::from)?;
    }
    Ok(listener)
}

/// The name of the user on the other end of a control connection: that is
/// who the audit trail says did it.
pub fn peer_name(stream: &UnixStream) -> String {
    match stream.peer_cred() {
        Ok(cred) => {
            let uid = cred.uid();
            match nix::unistd::User::from_uid(uid.into()) {
                Ok(Some(u)) => u.name,
                _ => format!("uid:{uid}"),
            }
        }
        Err(_) => "unknown".into(),
    }
}
