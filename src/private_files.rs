//! Folders and files only the server's own user may read: the data folder
//! (SQLite database with token and secret hashes), created `0700` when
//! missing, and the self-signed TLS key's folder and key, created `0700` and
//! `0600`, checked again at every start, and never written through a
//! symbolic link someone else planted (the signing keys' folder and files
//! likewise). An existing data folder is left as it is: a volume mounted
//! with a group for the container (Kubernetes' `fsGroup`) must keep working.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why a private folder or file cannot be trusted or made.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error("cannot create or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is a symbolic link; refusing to use it for a private file")]
    SymbolicLink { path: PathBuf },
    #[error(
        "{path} is readable or writable by other users (mode {mode:o}); run `chmod {expected:o} {path}`"
    )]
    TooOpen {
        path: PathBuf,
        mode: u32,
        expected: u32,
    },
}

impl PrivateFileError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Creates `dir` (and missing parents) with mode `0700`, or checks that the
/// existing one is a real folder (not a symbolic link). An existing folder
/// that other users may enter (a release before this one made it with the
/// umask's `0755`) is narrowed to `0700`, with a warning: nothing private is
/// lost by that, and refusing would break the upgrade.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PrivateFileError> {
    match fs::symlink_metadata(dir) {
        Ok(_) => match check(dir, 0o700) {
            Err(PrivateFileError::TooOpen { mode, .. }) => {
                tracing::warn!(path = %dir.display(), mode = format!("{mode:o}"), "narrowing a private folder to 0700");
                narrow(dir)?;
                check(dir, 0o700)
            }
            other => other,
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(dir).map_err(PrivateFileError::io(dir))?;
            check(dir, 0o700)
        }
        Err(error) => Err(PrivateFileError::io(dir)(error)),
    }
}

/// Creates `dir` and any missing parents with mode `0700` (an existing
/// folder is left as it is).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn narrow(dir: &Path) -> Result<(), PrivateFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(PrivateFileError::io(dir))?;
    }
    Ok(())
}

/// Checks that `path` is not a symbolic link and that no other user has
/// any permission on it (`expected` is the mode to suggest).
pub fn check(path: &Path, expected: u32) -> Result<(), PrivateFileError> {
    let metadata = fs::symlink_metadata(path).map_err(PrivateFileError::io(path))?;
    if metadata.file_type().is_symlink() {
        return Err(PrivateFileError::SymbolicLink {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(PrivateFileError::TooOpen {
                path: path.to_owned(),
                mode,
                expected,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = expected;
    Ok(())
}

/// Writes a new file readable by its owner only (`0600`). A file, or a
/// symbolic link, already at `path` is removed first (the link itself, not
/// what it points at), and the new file is created exclusively, so nothing
/// planted there can redirect the write.
pub fn write_new_private(path: &Path, contents: &[u8]) -> Result<(), PrivateFileError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(PrivateFileError::io(path)(error)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(PrivateFileError::io(path))
}

/// Replaces `path` with a private file holding `contents`, atomically: the
/// new contents are written beside it (`<name>.new`, as
/// [`write_new_private`] writes) and renamed over it, so a reader or a crash
/// sees the old file or the new one, never half of either.
pub fn replace_private(path: &Path, contents: &[u8]) -> Result<(), PrivateFileError> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".new");
    let staged = PathBuf::from(staged);
    write_new_private(&staged, contents)?;
    fs::rename(&staged, path).map_err(PrivateFileError::io(path))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777)
    }

    #[test]
    fn a_new_folder_is_owner_only_an_open_one_is_narrowed_and_a_link_refused() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = root.path().join("data").join("tls");
        ensure_private_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        ensure_private_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&dir), 0o700);
        let link = root.path().join("elsewhere");
        std::os::unix::fs::symlink(&dir, &link).unwrap_or_else(|e| panic!("{e}"));
        let refused = ensure_private_dir(&link).map_err(|e| e.to_string());
        assert!(
            matches!(&refused, Err(message) if message.contains(&link.display().to_string())),
            "{refused:?}"
        );
    }

    #[test]
    fn a_private_file_is_never_written_through_a_symbolic_link() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = root.path().join("victim");
        fs::write(&target, "untouched").unwrap_or_else(|e| panic!("{e}"));
        let link = root.path().join("key");
        std::os::unix::fs::symlink(&target, &link).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            check(&link, 0o600),
            Err(PrivateFileError::SymbolicLink { .. })
        ));
        write_new_private(&link, b"secret").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fs::read_to_string(&target).unwrap_or_default(), "untouched");
        assert_eq!(fs::read_to_string(&link).unwrap_or_default(), "secret");
        assert_eq!(mode(&link), 0o600);
        check(&link, 0o600).unwrap_or_else(|e| panic!("{e}"));
    }
}
