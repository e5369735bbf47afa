//! Request paths for `StaticFiles`. The first byte picks the options (bit 0: dot-files
//! shown; bit 1: also serve the rest as a request target through a router); the rest is a
//! decoded path under the mount point.
//!
//! The names it yields are never empty, `.`, `..`, absolute, nor hold `/`, `\`, NUL or `:`,
//! and each joins as one normal component under the root, which the joined path never
//! leaves. Served through `Router::handle` over a real directory (made once, under the
//! system temporary directory, with a symlink out of the root), a request never gets the
//! file outside the root, and never a 500.
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchyard::__private::relative_path;
use switchyard::http::{self, StatusCode};
use switchyard::{Router, StaticFiles};

/// What the file next to the served root holds.
const SECRET: &[u8] = b"SECRET outside the root";

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let show_dot_files = options & 1 == 1;
    if let Ok(capture) = std::str::from_utf8(rest) {
        check_names(capture, show_dot_files);
    }
    if options & 2 == 2 {
        serve(rest, show_dot_files);
    }
});

fn check_names(capture: &str, show_dot_files: bool) {
    let Some(names) = relative_path(capture, show_dot_files) else {
        return;
    };
    assert_eq!(names.join("/"), capture);
    let root = Path::new("/srv/root");
    let mut path = root.to_path_buf();
    for name in &names {
        assert!(
            !name.is_empty() && *name != "." && *name != "..",
            "{capture:?}"
        );
        assert!(!name.contains(['/', '\\', '\0', ':']), "{capture:?}");
        assert!(show_dot_files || !name.starts_with('.'), "{capture:?}");
        let mut components = Path::new(name).components();
        assert!(
            matches!(
                (components.next(), components.next()),
                (Some(Component::Normal(_)), None)
            ),
            "{capture:?}"
        );
        path.push(name);
    }
    assert!(path.starts_with(root), "{capture:?}");
    assert_eq!(
        path.components().count(),
        root.components().count() + names.len(),
        "{capture:?}"
    );
}

/// The two routers (dot-files hidden, shown) over one directory.
fn routers() -> &'static [Router; 2] {
    static ROUTERS: OnceLock<[Router; 2]> = OnceLock::new();
    ROUTERS.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("switchyard-fuzz-static-{}", std::process::id()));
        let root = dir.join("public");
        let write = |rel: &str, contents: &[u8]| {
            let path: PathBuf = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("under the root")).expect("mkdir");
            std::fs::write(path, contents).expect("write");
        };
        write("index.html", b"index");
        write("a.txt", b"a");
        write(".hidden", b"hidden");
        write("sub/index.html", b"sub");
        std::fs::write(dir.join("secret.txt"), SECRET).expect("write the secret");
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("out"));
            let _ = std::os::unix::fs::symlink(&dir, root.join("up"));
        }
        let router =
            |show| Router::new().nest("/files", StaticFiles::new(&root).show_dot_files(show));
        [router(false), router(true)]
    })
}

fn serve(target: &[u8], show_dot_files: bool) {
    let mut uri = b"/files/".to_vec();
    uri.extend_from_slice(target);
    let Ok(request) = http::Request::get(uri.as_slice()).body(()) else {
        return;
    };
    let response = routers()[usize::from(show_dot_files)].handle(request);
    let status = response.status();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{target:?}");
    let body = response.into_body_bytes().expect("a file body reads");
    assert!(
        !body.windows(SECRET.len()).any(|window| window == SECRET),
        "{:?} escaped the root ({status})",
        String::from_utf8_lossy(target)
    );
}
