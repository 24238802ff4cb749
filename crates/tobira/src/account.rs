//! System accounts for the server: the passwd and group databases (through
//! NSS, with nix), the shadow database (`/etc/shadow`), account and password
//! ageing as sshd and pam_unix apply it, and password verification with
//! crypt(3).
//!
//! Hashes go through libxcrypt (see [`crate::crypt`]), so every method it
//! supports works: yescrypt (`$y$`, Debian's default), sha512-crypt (`$6$`),
//! sha256-crypt, bcrypt, and the legacy ones.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::unistd::{geteuid, getgrouplist, Gid, Group, User};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypt;

/// The shadow database read by [`shadow_entry`].
const SHADOW_PATH: &str = "/etc/shadow";

/// The setting [`dummy_verify`] hashes with: yescrypt with the parameters
/// Debian's passwd and chpasswd use (`j9T`), and a fixed salt.
const DUMMY_SETTING: &str = "$y$j9T$6vVHa3ifDj8BPBx1Kq6kX/$";

/// A user of the passwd database (`getpwnam(3)`).
#[derive(Debug, Clone)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
    /// Login shell (may be empty, meaning `/bin/sh`, as for sshd).
    pub shell: PathBuf,
    /// The GECOS field (full name and such), lossily converted to UTF-8.
    pub gecos: String,
}

impl From<User> for Account {
    fn from(u: User) -> Self {
        Account {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir,
            shell: u.shell,
            gecos: u.gecos.to_string_lossy().into_owned(),
        }
    }
}

/// Looks up a user by name in the passwd database (`getpwnam_r(3)`, so NSS
/// sources such as LDAP or sssd count). `None` if there is no such user, the
/// name holds a NUL byte, or the lookup fails.
pub fn lookup(name: &str) -> Option<Account> {
    if name.is_empty() {
        return None;
    }
    User::from_name(name).ok().flatten().map(Account::from)
}

/// Names of the groups `acct` belongs to: its primary group first, then the
/// supplementary groups from the group database (`getgrouplist(3)`), without
/// duplicates. Groups without a name in the group database are left out; if
/// the supplementary list cannot be read, only the primary group is given.
pub fn groups(acct: &Account) -> Vec<String> {
    let primary = Gid::from_raw(acct.gid);
    let mut gids = vec![primary];
    if let Ok(name) = CString::new(acct.name.as_str()) {
        if let Ok(list) = getgrouplist(&name, primary) {
            for gid in list {
                if !gids.contains(&gid) {
                    gids.push(gid);
                }
            }
        }
    }
    gids.into_iter()
        .filter_map(|gid| Group::from_gid(gid).ok().flatten())
        .map(|g| g.name)
        .collect()
}

/// The user the process runs as (its effective uid), from the passwd
/// database; `None` if that uid has no entry.
pub fn current_user() -> Option<Account> {
    User::from_uid(geteuid()).ok().flatten().map(Account::from)
}

/// One line of the shadow database (`shadow(5)`). Dates are in days since
/// 1970-01-01; numeric fields that are empty (or negative, as the `-1` some
/// tools write) are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    /// Login name.
    pub name: String,
    /// The password hash: a crypt(3) string, or `*`/`!...` (no password
    /// login, locked), or empty (no password).
    pub hash: String,
    /// Date of the last password change; `Some(0)` means the user must
    /// change the password at the next login, `None` disables password
    /// ageing.
    pub last_change: Option<i64>,
    /// Minimum password age in days.
    pub min: Option<i64>,
    /// Maximum password age in days, after which the password has expired.
    pub max: Option<i64>,
    /// Days of warning before the password expires.
    pub warn: Option<i64>,
    /// Days after the password has expired during which it is still
    /// accepted (to change it); after that the account is disabled.
    pub inactive: Option<i64>,
    /// Date the account expires.
    pub expire: Option<i64>,
}

/// Parses text in the `/etc/shadow` format: one entry per line,
/// `name:hash:last_change:min:max:warn:inactive:expire:reserved`. The old
/// two-field form `name:hash` is accepted too (no ageing); a missing
/// reserved field is tolerated. Malformed lines are skipped: a wrong number
/// of fields, an empty name, a numeric field that is not a number. NIS
/// compatibility lines (names starting with `+` or `-`) and blank lines are
/// skipped as well.
pub fn parse_shadow(text: &str) -> Vec<ShadowEntry> {
    text.lines().filter_map(parse_shadow_line).collect()
}

fn parse_shadow_line(line: &str) -> Option<ShadowEntry> {
    let fields: Vec<&str> = line.split(':').collect();
    let (name, hash) = match fields.as_slice() {
        [name, hash, ..] => (*name, *hash),
        _ => return None,
    };
    if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
        return None;
    }
    let mut entry = ShadowEntry {
        name: name.to_owned(),
        hash: hash.to_owned(),
        last_change: None,
        min: None,
        max: None,
        warn: None,
        inactive: None,
        expire: None,
    };
    match fields.len() {
        2 => {}
        8 | 9 => {
            entry.last_change = parse_day_field(fields[2])?;
            entry.min = parse_day_field(fields[3])?;
            entry.max = parse_day_field(fields[4])?;
            entry.warn = parse_day_field(fields[5])?;
            entry.inactive = parse_day_field(fields[6])?;
            entry.expire = parse_day_field(fields[7])?;
        }
        _ => return None,
    }
    Some(entry)
}

/// `Some(None)` for an empty (or negative) field, `Some(Some(n))` for a
/// number, `None` for anything else (a malformed line).
fn parse_day_field(field: &str) -> Option<Option<i64>> {
    if field.is_empty() {
        return Some(None);
    }
    if !field.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    let n: i64 = field.parse().ok()?;
    Some((n >= 0).then_some(n))
}

/// The entry for `name` in `/etc/shadow` (readable by root only). `None` if
/// the file cannot be read or has no well-formed entry for `name`. Reads the
/// file directly: shadow entries from other NSS sources are not seen.
pub fn shadow_entry(name: &str) -> Option<ShadowEntry> {
    shadow_entry_in(Path::new(SHADOW_PATH), name)
}

fn shadow_entry_in(path: &Path, name: &str) -> Option<ShadowEntry> {
    if name.is_empty() {
        return None;
    }
    let bytes = Zeroizing::new(std::fs::read(path).ok()?);
    let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
    parse_shadow(&text).into_iter().find(|e| e.name == name)
}

/// Today as days since 1970-01-01 (UTC), the unit of the shadow dates, for
/// [`account_state`].
pub fn today_days() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

/// Whether an account may log in, from its shadow entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountState {
    /// Usable.
    Ok,
    /// Locked (`usermod -L`, `passwd -l`): the hash starts with `!` (or is
    /// `*LK*`). As OpenSSH's `allowed_user()`, refuse every authentication
    /// method, public keys included. A hash of exactly `*` is *not* locked:
    /// it only rules out password login ([`password_login_possible`]), and
    /// keys still work.
    Locked,
    /// The account has expired (`expire` is today or earlier, as pam_unix
    /// and shadow's login count it), or its password expired longer than
    /// `inactive` days ago: refuse every authentication method.
    AccountExpired,
    /// The password must be changed: `last_change` is 0 (forced by root,
    /// `chage -d 0`) or `last_change + max` is before today. The password
    /// cannot be used to log in as is (sshd/PAM would demand a change, which
    /// is up to the caller to offer or refuse).
    PasswordExpired,
}

/// The state of the account with shadow entry `entry` on day `today_days`
/// (days since 1970-01-01, see [`today_days`]). Checked in this order:
/// locked, account expired, password inactive for too long (account
/// expired), password expired. Follows OpenSSH's `allowed_user()` and
/// pam_unix's ageing rules; a `last_change` in the future (clock skew)
/// disables password ageing, as in pam_unix.
pub fn account_state(entry: &ShadowEntry, today_days: i64) -> AccountState {
    if entry.hash.starts_with('!') || entry.hash == "*LK*" {
        return AccountState::Locked;
    }
    if entry.expire.is_some_and(|expire| today_days >= expire) {
        return AccountState::AccountExpired;
    }
    match entry.last_change {
        None => AccountState::Ok,
        Some(0) => AccountState::PasswordExpired,
        Some(last) if last > today_days => AccountState::Ok,
        Some(last) => {
            let age = today_days - last;
            match entry.max {
                Some(max) if age > max => {
                    if entry
                        .inactive
                        .is_some_and(|inactive| age > max.saturating_add(inactive))
                    {
                        AccountState::AccountExpired
                    } else {
                        AccountState::PasswordExpired
                    }
                }
                _ => AccountState::Ok,
            }
        }
    }
}

/// Whether the entry has a password one could log in with: `false` for `*`
/// (and anything else starting with `*`: no password login, keys only),
/// for locked hashes starting with `!`, and for an empty hash. An empty hash
/// means "no password"; a caller implementing `PermitEmptyPasswords yes`
/// must check for it itself (`entry.hash.is_empty() && password.is_empty()`)
/// before calling [`verify_password`], which refuses it.
pub fn password_login_possible(entry: &ShadowEntry) -> bool {
    !(entry.hash.is_empty() || entry.hash.starts_with('*') || entry.hash.starts_with('!'))
}

/// Verifies `password` against the shadow hash with crypt(3); constant-time
/// comparison of the crypt output (subtle). For unknown users, callers use
/// [`dummy_verify`]`(password)` which runs crypt with a fixed yescrypt
/// setting so timing matches.
///
/// Returns `false` when [`password_login_possible`] is false (after running
/// [`dummy_verify`], for the same timing), when crypt fails (unsupported
/// method, password with a NUL byte or too long), or on a mismatch. It does
/// not look at [`account_state`]; callers check that separately.
pub fn verify_password(entry: &ShadowEntry, password: &str) -> bool {
    if !password_login_possible(entry) {
        dummy_verify(password);
        return false;
    }
    match crypt::crypt(password, &entry.hash).map(Zeroizing::new) {
        Some(computed) => bool::from(computed.as_bytes().ct_eq(entry.hash.as_bytes())),
        None => false,
    }
}

/// Runs crypt(3) on `password` with a fixed yescrypt setting (Debian's
/// default parameters) and discards the result: the work a real
/// [`verify_password`] does, for unknown users and unusable hashes, so that
/// response times do not tell which accounts exist.
pub fn dummy_verify(password: &str) {
    let hash = crypt::crypt(password, DUMMY_SETTING).map(Zeroizing::new);
    std::hint::black_box(hash);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    // `openssl passwd -6 -salt saltsalt secret`
    const SHA512_SECRET: &str =
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
    // Python 3.11: `crypt.crypt("secret", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$")`
    const YESCRYPT_SECRET: &str = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";

    fn entry(hash: &str) -> ShadowEntry {
        ShadowEntry {
            name: "alice".into(),
            hash: hash.into(),
            last_change: Some(19_000),
            min: Some(0),
            max: Some(99_999),
            warn: Some(7),
            inactive: None,
            expire: None,
        }
    }

    #[test]
    fn parse_shadow_entries() {
        let text = "root:*:20228:0:99999:7:::\n\
                    alice:$y$j9T$abc$def:19000:1:90:14:30:20500:\n\
                    \n\
                    bob:!$6$x$y:0::::::\r\n\
                    old:oldhash\n\
                    eight:*:1:2:3:4:5:6\n\
                    neg:*:-1:-1:-1:-1:-1:-1:\n";
        let entries = parse_shadow(text);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["root", "alice", "bob", "old", "eight", "neg"]);
        assert_eq!(
            entries[0],
            ShadowEntry {
                name: "root".into(),
                hash: "*".into(),
                last_change: Some(20228),
                min: Some(0),
                max: Some(99999),
                warn: Some(7),
                inactive: None,
                expire: None,
            }
        );
        assert_eq!(
            entries[1],
            ShadowEntry {
                name: "alice".into(),
                hash: "$y$j9T$abc$def".into(),
                last_change: Some(19000),
                min: Some(1),
                max: Some(90),
                warn: Some(14),
                inactive: Some(30),
                expire: Some(20500),
            }
        );
        assert_eq!(entries[2].hash, "!$6$x$y");
        assert_eq!(entries[2].last_change, Some(0));
        assert_eq!((entries[2].min, entries[2].max, entries[2].expire), (None, None, None));
        assert_eq!(entries[3].hash, "oldhash");
        assert_eq!(entries[3].last_change, None);
        assert_eq!(entries[4].expire, Some(6));
        assert_eq!(entries[5].last_change, None);
        assert_eq!(entries[5].expire, None);
    }

    #[test]
    fn parse_shadow_skips_malformed_lines() {
        let text = "good:*:1::::::\n\
                    noseparator\n\
                    :emptyname:1::::::\n\
                    threefields:*:1\n\
                    toomany:*:1::::::::\n\
                    letters:*:abc::::::\n\
                    spaces:*: 1::::::\n\
                    plus:*:+1::::::\n\
                    overflow:*:99999999999999999999999::::::\n\
                    +nisuser::::::::\n\
                    -nisuser::::::::\n\
                    also_good::::::::\n";
        let entries = parse_shadow(text);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["good", "also_good"]);
        assert_eq!(entries[1].hash, "");
        assert!(parse_shadow("").is_empty());
        assert!(parse_shadow("\n\n:\n::\n").is_empty());
    }

    #[test]
    fn shadow_entry_from_file() {
        let dir = std::env::temp_dir().join(format!("tobira-shadow-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("shadow");
        std::fs::write(
            &path,
            format!("root:*:1::::::\nalice:{SHA512_SECRET}:19000:0:99999:7:::\n"),
        )
        .expect("write");
        let alice = shadow_entry_in(&path, "alice").expect("alice");
        assert_eq!(alice.hash, SHA512_SECRET);
        assert!(verify_password(&alice, "secret"));
        assert_eq!(shadow_entry_in(&path, "bob"), None);
        assert_eq!(shadow_entry_in(&path, ""), None);
        assert_eq!(shadow_entry_in(&dir.join("missing"), "alice"), None);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn account_states() {
        let today = 20_000;
        assert_eq!(account_state(&entry(SHA512_SECRET), today), AccountState::Ok);
        // "*" is not locked: no password, keys fine.
        assert_eq!(account_state(&entry("*"), today), AccountState::Ok);
        assert_eq!(account_state(&entry(""), today), AccountState::Ok);

        for locked in ["!", "!!", "!*", &format!("!{SHA512_SECRET}"), "*LK*"] {
            assert_eq!(account_state(&entry(locked), today), AccountState::Locked, "{locked}");
        }
        // Locked wins over expired.
        let mut e = entry("!");
        e.expire = Some(1);
        assert_eq!(account_state(&e, today), AccountState::Locked);

        // Account expiry: the expire day itself is expired.
        let mut e = entry(SHA512_SECRET);
        e.expire = Some(today + 1);
        assert_eq!(account_state(&e, today), AccountState::Ok);
        e.expire = Some(today);
        assert_eq!(account_state(&e, today), AccountState::AccountExpired);
        e.expire = Some(1);
        assert_eq!(account_state(&e, today), AccountState::AccountExpired);
        e.expire = Some(0);
        assert_eq!(account_state(&e, today), AccountState::AccountExpired);

        // Forced change.
        let mut e = entry(SHA512_SECRET);
        e.last_change = Some(0);
        assert_eq!(account_state(&e, today), AccountState::PasswordExpired);
        // Aged: last_change + max < today.
        e.last_change = Some(today - 90);
        e.max = Some(90);
        assert_eq!(account_state(&e, today), AccountState::Ok);
        e.last_change = Some(today - 91);
        assert_eq!(account_state(&e, today), AccountState::PasswordExpired);
        // Inactive period: still a password change, then disabled.
        e.inactive = Some(10);
        e.last_change = Some(today - 100);
        assert_eq!(account_state(&e, today), AccountState::PasswordExpired);
        e.last_change = Some(today - 101);
        assert_eq!(account_state(&e, today), AccountState::AccountExpired);
        // No max or no last change: no ageing; future last change: none either.
        e.max = None;
        assert_eq!(account_state(&e, today), AccountState::Ok);
        e.max = Some(1);
        e.last_change = None;
        assert_eq!(account_state(&e, today), AccountState::Ok);
        e.last_change = Some(today + 5);
        assert_eq!(account_state(&e, today), AccountState::Ok);
        // Huge values do not overflow.
        e.last_change = Some(1);
        e.max = Some(i64::MAX);
        e.inactive = Some(i64::MAX);
        assert_eq!(account_state(&e, today), AccountState::Ok);
        e.max = Some(0);
        assert_eq!(account_state(&e, today), AccountState::PasswordExpired);
    }

    #[test]
    fn password_login() {
        assert!(password_login_possible(&entry(SHA512_SECRET)));
        for hash in ["", "*", "*LK*", "!", "!!", &format!("!{SHA512_SECRET}")] {
            assert!(!password_login_possible(&entry(hash)), "{hash:?}");
        }
    }

    #[test]
    fn verify_passwords() {
        for hash in [SHA512_SECRET, YESCRYPT_SECRET] {
            let e = entry(hash);
            assert!(verify_password(&e, "secret"), "{hash}");
            assert!(!verify_password(&e, "Secret"), "{hash}");
            assert!(!verify_password(&e, ""), "{hash}");
            assert!(!verify_password(&e, "secret\0"), "{hash}");
            assert!(!verify_password(&e, &"secret".repeat(200)), "{hash}");
            // Locked with the right password.
            assert!(!verify_password(&entry(&format!("!{hash}")), "secret"), "{hash}");
        }
        assert!(!verify_password(&entry("*"), "secret"));
        assert!(!verify_password(&entry(""), ""));
        assert!(!verify_password(&entry("$9$unsupported$hash"), "secret"));
        dummy_verify("secret");
        dummy_verify("");
        assert!(crypt::crypt("x", DUMMY_SETTING).is_some_and(|h| h.starts_with(DUMMY_SETTING)));
    }

    #[test]
    fn lookup_and_current_user() {
        let me = current_user().expect("the running user has a passwd entry");
        assert_eq!(me.uid, geteuid().as_raw());
        let again = lookup(&me.name).expect("lookup of the current user");
        assert_eq!((again.uid, again.gid, &again.home), (me.uid, me.gid, &me.home));
        let gs = groups(&me);
        let primary = Group::from_gid(Gid::from_raw(me.gid)).ok().flatten().map(|g| g.name);
        if let Some(primary) = primary {
            assert_eq!(gs.first(), Some(&primary));
        }
        assert!(lookup("tobira-no-such-user-xyz").is_none());
        assert!(lookup("ro\0ot").is_none());
        assert!(lookup("").is_none());
    }

    /// Runs a command, failing the test with its output if it does not succeed.
    fn run(cmd: &str, args: &[&str], stdin: Option<&str>) {
        let mut child = Command::new(cmd)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{cmd} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Deletes the throw-away account even when the test fails.
    struct DeleteUser(String);

    impl Drop for DeleteUser {
        fn drop(&mut self) {
            let _ = Command::new("userdel").arg(&self.0).status();
        }
    }

    #[test]
    fn throwaway_system_account() {
        if !geteuid().is_root() {
            eprintln!("throwaway_system_account: not root, cannot create an account; not run");
            return;
        }
        let name = format!("tobira-acct-test-{}", std::process::id());
        run("useradd", &["-M", "-s", "/bin/false", &name], None);
        let _cleanup = DeleteUser(name.clone());

        let acct = lookup(&name).expect("lookup of the new account");
        assert_eq!(acct.name, name);
        assert_eq!(acct.shell, Path::new("/bin/false"));
        let gs = groups(&acct);
        assert!(!gs.is_empty(), "the new account has a primary group");
        if let Some(g) = Group::from_gid(Gid::from_raw(acct.gid)).ok().flatten() {
            assert_eq!(gs[0], g.name);
        }

        for (method, prefix) in [("YESCRYPT", "$y$"), ("SHA512", "$6$")] {
            let password = "correct horse battery staple";
            run("chpasswd", &["-c", method], Some(&format!("{name}:{password}\n")));
            let e = shadow_entry(&name).expect("shadow entry of the new account");
            assert_eq!(e.name, name);
            assert!(e.hash.starts_with(prefix), "{method}: {}", e.hash);
            assert!(verify_password(&e, password), "{method}");
            assert!(!verify_password(&e, "wrong"), "{method}");
            assert_eq!(account_state(&e, today_days()), AccountState::Ok, "{method}: {e:?}");
        }

        run("usermod", &["-L", &name], None);
        let e = shadow_entry(&name).expect("shadow entry");
        assert_eq!(account_state(&e, today_days()), AccountState::Locked);
        assert!(!verify_password(&e, "correct horse battery staple"));
        run("usermod", &["-U", &name], None);

        run("chage", &["-d", "0", &name], None);
        let e = shadow_entry(&name).expect("shadow entry");
        assert_eq!(e.last_change, Some(0));
        assert_eq!(account_state(&e, today_days()), AccountState::PasswordExpired);

        run("chage", &["-d", "-1", "-E", "1970-01-05", &name], None);
        let e = shadow_entry(&name).expect("shadow entry");
        assert_eq!(e.expire, Some(4));
        assert_eq!(account_state(&e, today_days()), AccountState::AccountExpired);
    }
}
