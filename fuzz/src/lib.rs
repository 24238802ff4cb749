//! Shared code of the tobira fuzz targets: the two-way byte codec of the
//! structured inputs, the scripts of the state targets and the in-memory
//! client/server session that runs them.

pub mod codec;
pub mod script;
pub mod session;
pub mod seeds;

/// A per-process scratch directory `$TMPDIR/tobira-fuzz-<name>-<pid>`,
/// created empty; directories of the same name left by processes that are
/// gone are removed first.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let tmp = std::env::temp_dir();
    let prefix = format!("tobira-fuzz-{name}-");
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let file_name = e.file_name();
            let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = tmp.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}
