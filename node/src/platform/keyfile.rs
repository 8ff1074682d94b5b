//! Keys a process keeps in its data directory (`dev`'s signing keys, media URL key and
//! platform key): made once, readable by their owner only.

use std::path::Path;

/// The text of `dir/name`, made with `make` on first use (mode 0600, synced before it is
/// read back). An existing file is made owner-only again if its mode was opened up.
pub fn load_or_create(
    dir: &Path,
    name: &str,
    make: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let path = dir.join(name);
    if path.exists() {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    } else {
        std::fs::create_dir_all(dir)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(make().as_bytes())?;
        file.sync_all()?;
    }
    Ok(std::fs::read_to_string(&path)?)
}
