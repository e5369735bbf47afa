//! Where a request path leads under the root: the names of the path (normal names only),
//! then the file system (confined to the root: canonicalized when a symlink is on the way;
//! directory or file).

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::StaticFiles;
use super::content_type::content_type;

impl StaticFiles {
    /// `path` if it may be served: canonical and under `root` (canonical itself), unless
    /// symlinks are followed.
    pub(super) fn confine(&self, root: &Path, path: PathBuf) -> Result<PathBuf, Target> {
        if self.follow_external_symlinks {
            return Ok(path);
        }
        match names_below(root, &path) {
            Below::Plain => return Ok(path),
            Below::Missing => return Err(Target::Missing),
            Below::Other => {}
        }
        match path.canonicalize() {
            Ok(canonical) if canonical.starts_with(root) => Ok(canonical),
            Ok(_) => Err(Target::Refused),
            Err(_) => Err(Target::Missing),
        }
    }

    /// What the checked `names` lead to under `root`. The `Content-Type` comes from the
    /// name asked for (or the index file's), not from where a symlink leads.
    pub(super) fn resolve(&self, root: &Path, names: &[&str], trailing_slash: bool) -> Target {
        let requested: PathBuf = names
            .iter()
            .fold(root.to_path_buf(), |path, name| path.join(name));
        let content_type = content_type(&requested);
        let path = match self.confine(root, requested) {
            Ok(path) => path,
            Err(target) => return target,
        };
        // Following symlinks: a FIFO or a device is never opened (opening a FIFO blocks).
        let Ok(metadata) = fs::metadata(&path) else {
            return Target::Missing;
        };
        if metadata.is_dir() {
            let Some(index) = &self.index_file else {
                return Target::Missing;
            };
            if !trailing_slash {
                return Target::Directory;
            }
            let content_type_of_index = super::content_type::content_type(Path::new(index));
            let index = match self.confine(root, path.join(index)) {
                Ok(index) => index,
                Err(target) => return target,
            };
            return match fs::metadata(&index) {
                Ok(metadata) if metadata.is_file() => Target::File {
                    path: index,
                    content_type: content_type_of_index,
                },
                _ => Target::Missing,
            };
        }
        // A file asked for as a directory (`/app.js/`) is not there.
        match metadata.is_file() && !trailing_slash {
            true => Target::File { path, content_type },
            false => Target::Missing,
        }
    }
}

/// What a checked request path leads to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// A regular file to serve (canonical, unless symlinks are followed), and its type.
    File {
        path: PathBuf,
        content_type: &'static str,
    },
    /// A directory asked for without its trailing slash: 308 to the slash form.
    Directory,
    /// Nothing to serve: the fallback file, or 404.
    Missing,
    /// A symlink out of the root: 404, never the fallback.
    Refused,
}

/// The names of the decoded `capture` (a trailing slash already removed), or `None` when
/// any of them is not a normal file name; see [`StaticFiles`].
pub(crate) fn relative_path(capture: &str, show_dot_files: bool) -> Option<Vec<&str>> {
    capture
        .split('/')
        .map(|name| is_normal_name(name, show_dot_files).then_some(name))
        .collect()
}

/// Whether `name` names an entry of a directory and nothing else on any platform: not
/// empty, `.` or `..`, no separator (`\` on Windows), no NUL, no `:` (a drive prefix such
/// as `c:`, or an NTFS stream), and not a dot-file unless they are shown.
fn is_normal_name(name: &str, show_dot_files: bool) -> bool {
    if name.is_empty() || name == "." || name == ".." {
        return false;
    }
    if name.starts_with('.') && !show_dot_files {
        return false;
    }
    if name.contains(['\\', '\0', ':']) {
        return false;
    }
    if cfg!(windows) && is_windows_device_or_alias(name) {
        return false;
    }
    // What the platform's path parser makes of it: exactly one normal component.
    let mut components = Path::new(name).components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    )
}

/// Whether Windows would open something else than the file `name`: a device, whatever the
/// directory and extension (`NUL`, `com1.txt`, `CONOUT$`), or the name without its
/// trailing dots and spaces (`secret.txt.` opens `secret.txt`).
fn is_windows_device_or_alias(name: &str) -> bool {
    if name.ends_with(['.', ' ']) {
        return true;
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) {
        return true;
    }
    let port = upper
        .strip_prefix("COM")
        .or_else(|| upper.strip_prefix("LPT"));
    matches!(
        port,
        Some("0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³")
    )
}

/// What lies between a canonical `root` and `path` (see [`names_below`]).
#[derive(Debug, PartialEq, Eq)]
enum Below {
    /// Normal names, none a symlink: `path` is canonical as it is.
    Plain,
    /// A name is not there.
    Missing,
    /// A symlink, or a name that is not a normal one: canonicalize to know.
    Other,
}

/// One `lstat` per name below the root, where canonicalizing reads every component's link
/// from `/` on (most requested paths hold no symlink).
fn names_below(root: &Path, path: &Path) -> Below {
    let Ok(below) = path.strip_prefix(root) else {
        return Below::Other;
    };
    let mut at = root.to_path_buf();
    for name in below.components() {
        if !matches!(name, Component::Normal(_)) {
            return Below::Other;
        }
        at.push(name);
        match fs::symlink_metadata(&at) {
            Ok(metadata) if !metadata.file_type().is_symlink() => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Below::Missing,
            _ => return Below::Other,
        }
    }
    Below::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_below_the_root_are_plain_missing_or_for_canonicalize() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/file.txt"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("link")).unwrap();
        let below = |rel: &str| names_below(&root, &root.join(rel));
        assert_eq!(below("sub/file.txt"), Below::Plain);
        assert_eq!(below("sub/nope.txt"), Below::Missing);
        assert_eq!(below("link/file.txt"), Below::Other);
        // An index file configured as `../x` never counts as under the root unchecked.
        assert_eq!(below("sub/../../x"), Below::Other);
        assert_eq!(names_below(&root, Path::new("/elsewhere")), Below::Other);
    }

    #[test]
    fn normal_names_are_accepted() {
        assert_eq!(
            relative_path("css/site.css", false),
            Some(vec!["css", "site.css"])
        );
        assert_eq!(
            relative_path("a b/ü.txt", false),
            Some(vec!["a b", "ü.txt"])
        );
        assert_eq!(relative_path("x..y", false), Some(vec!["x..y"]));
        assert_eq!(relative_path("..x", true), Some(vec!["..x"]));
    }

    #[test]
    fn parent_and_current_directory_names_are_refused() {
        for capture in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "a/..",
            ".",
            "./a",
            "a/./b",
        ] {
            assert_eq!(relative_path(capture, false), None, "{capture:?}");
            assert_eq!(
                relative_path(capture, true),
                None,
                "{capture:?} with dot-files"
            );
        }
    }

    #[test]
    fn empty_names_from_double_or_leading_slashes_are_refused() {
        for capture in ["", "/etc/passwd", "a//b", "a/", "//"] {
            assert_eq!(relative_path(capture, false), None, "{capture:?}");
        }
    }

    #[test]
    fn backslashes_nul_and_drive_prefixes_are_refused() {
        for capture in [
            "..\\secret",
            "a\\b",
            "\\\\server\\share",
            "a\0.txt",
            "\0",
            "c:",
            "c:/windows",
            "C:\\Windows",
            "file.txt:stream",
        ] {
            assert_eq!(relative_path(capture, true), None, "{capture:?}");
        }
    }

    #[test]
    fn dot_files_are_refused_unless_shown() {
        for capture in [".env", ".git/config", "a/.hidden/b", ".well-known/x"] {
            assert_eq!(relative_path(capture, false), None, "{capture:?}");
            assert!(relative_path(capture, true).is_some(), "{capture:?}");
        }
    }

    #[test]
    fn windows_devices_and_trailing_dots_are_recognised() {
        for name in [
            "NUL",
            "nul.txt",
            "Con",
            "aux.tar.gz",
            "COM1",
            "lpt9.log",
            "com¹",
            "CONOUT$",
            "prn .txt",
            "secret.txt.",
            "index.html ",
        ] {
            assert!(is_windows_device_or_alias(name), "{name:?}");
        }
        for name in [
            "null",
            "console.log",
            "com10",
            "lpt",
            "index.html",
            "comma.css",
        ] {
            assert!(!is_windows_device_or_alias(name), "{name:?}");
        }
    }
}
