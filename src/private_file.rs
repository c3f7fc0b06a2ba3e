//! Files that hold secrets (VoipNow's `token_cache`): written so that no other local user
//! can read or redirect them at any moment, and read only when they are this user's own.
//!
//! Writing: the directory is checked (one writable by every user without the sticky bit
//! lets anyone replace the file: refused); the data goes to a new file under a random
//! name, created exclusively (`O_CREAT|O_EXCL`) without following links (`O_NOFOLLOW`),
//! mode 0600, synced, then renamed over the target (a link planted at the target is
//! replaced, never followed).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ring::rand::SecureRandom;

/// The directory a file at `path` lives in (`.` for a bare name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Refuses a directory any user may write to without the sticky bit (there another user
/// may rename or delete this user's files, and so swap in their own).
pub fn check_dir(path: &Path) -> io::Result<()> {
    let dir = parent(path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&dir)?;
        let mode = meta.permissions().mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is writable by every user and has no sticky bit: another user could \
                     replace a file there; choose a private directory",
                    dir.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `data` to `path` as a 0600 file of this user, atomically (see the module).
pub fn write(path: &Path, data: &[u8]) -> io::Result<()> {
    check_dir(path)?;
    let dir = parent(path);
    let mut random = [0u8; 12];
    ring::rand::SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| io::Error::other("the system's random source failed"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{hex}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    let mut f = options.open(&tmp)?;
    let written = (|| -> io::Result<()> {
        #[cfg(unix)]
        {
            // The mode asked at creation is narrowed by the umask only; set it exactly.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads `path` if it is a regular file of this user that no one else may read or write
/// (not a link); `None` otherwise, as for a missing file.
pub fn read(path: &Path) -> Option<String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    let mut f = options.open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me || meta.mode() & 0o077 != 0 {
            return None;
        }
    }
    let mut text = String::new();
    io::Read::read_to_string(&mut f, &mut text).ok()?;
    Some(text)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn dir(name: &str, mode: u32) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cc-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        d
    }

    #[test]
    fn writes_a_private_file_and_replaces_a_planted_link() {
        let d = dir("link", 0o1777);
        let victim = d.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let target = d.join("token.json");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write(&target, b"secret").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.uid(), unsafe { libc::geteuid() });
        assert_eq!(read(&target).as_deref(), Some("secret"));
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().collect();
        assert_eq!(left.len(), 2, "{left:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_a_shared_directory_without_sticky_bit() {
        let d = dir("open", 0o777);
        let e = write(&d.join("token.json"), b"secret").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("sticky"), "{e}");
        assert!(std::fs::read_dir(&d).unwrap().next().is_none());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn reads_only_own_private_regular_files() {
        let d = dir("read", 0o700);
        let open = d.join("open.json");
        std::fs::write(&open, "x").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read(&open), None);
        let link = d.join("link.json");
        let private = d.join("private.json");
        write(&private, b"y").unwrap();
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert_eq!(read(&link), None);
        assert_eq!(read(&private).as_deref(), Some("y"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
