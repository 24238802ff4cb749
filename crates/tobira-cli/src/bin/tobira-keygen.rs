//! `tobira-keygen`: key generation and key file management, with
//! OpenSSH `ssh-keygen`'s flags and output.
//!
//! ```text
//! tobira-keygen [-q] [-t ed25519|ecdsa|rsa] [-b bits] [-N passphrase]
//!               [-C comment] [-f output_keyfile]
//! tobira-keygen -l [-v] [-E sha256|md5] -f file
//! tobira-keygen -y [-P passphrase] -f private_keyfile
//! tobira-keygen -p [-P old] [-N new] -f keyfile
//! tobira-keygen -F host [-q] [-f known_hosts]
//! tobira-keygen -R host [-f known_hosts]
//! tobira-keygen -H [-f known_hosts]
//! ```
//!
//! Usage errors print the usage and exit 2; other errors print one line
//! `tobira-keygen: ...` and exit 1.

use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use ssh_key::PublicKey;
use tobira::keyfile::{self, FingerprintHash, KeyFileError, KeyType};

/// Command-line flags, named as ssh-keygen's.
#[derive(Parser, Debug)]
#[command(
    name = "tobira-keygen",
    about = "Generate and manage SSH keys (OpenSSH ssh-keygen compatible)",
    disable_version_flag = true,
    override_usage = "tobira-keygen [-q] [-t ed25519|ecdsa|rsa] [-b bits] [-N passphrase] [-C comment] [-f output_keyfile]\n       \
                      tobira-keygen -l [-v] [-E sha256|md5] -f file\n       \
                      tobira-keygen -y [-P passphrase] -f private_keyfile\n       \
                      tobira-keygen -p [-P old_passphrase] [-N new_passphrase] -f keyfile\n       \
                      tobira-keygen -F hostname [-q] [-f known_hosts_file]\n       \
                      tobira-keygen -R hostname [-f known_hosts_file]\n       \
                      tobira-keygen -H [-f known_hosts_file]",
    group(ArgGroup::new("mode").args(["list", "print_public", "change_passphrase", "find", "remove", "hash_hosts"]).multiple(false))
)]
struct Args {
    /// Type of key to create: ed25519 (default), ecdsa or rsa.
    #[arg(short = 't', value_name = "type")]
    key_type: Option<String>,
    /// Number of bits of the key to create (ecdsa: 256, 384, 521; rsa: 2048, 3072, 4096, 8192).
    #[arg(short = 'b', value_name = "bits")]
    bits: Option<usize>,
    /// New passphrase.
    #[arg(short = 'N', value_name = "new_passphrase", allow_hyphen_values = true)]
    new_passphrase: Option<String>,
    /// Old passphrase.
    #[arg(short = 'P', value_name = "passphrase", allow_hyphen_values = true)]
    passphrase: Option<String>,
    /// Comment of the new key.
    #[arg(short = 'C', value_name = "comment", allow_hyphen_values = true)]
    comment: Option<String>,
    /// Key file (or known_hosts file for -F, -R, -H).
    #[arg(short = 'f', value_name = "filename")]
    file: Option<PathBuf>,
    /// Quiet.
    #[arg(short = 'q')]
    quiet: bool,
    /// Verbose: with -l, also print the randomart picture.
    #[arg(short = 'v')]
    verbose: bool,
    /// Show the fingerprint of a key file, known_hosts or authorized_keys file.
    #[arg(short = 'l')]
    list: bool,
    /// Hash algorithm of fingerprints: sha256 (default), md5, sha512.
    #[arg(short = 'E', value_name = "fingerprint_hash", value_parser = parse_hash)]
    hash: Option<FingerprintHash>,
    /// Print the public key of a private key file.
    #[arg(short = 'y')]
    print_public: bool,
    /// Change the passphrase of a private key file.
    #[arg(short = 'p')]
    change_passphrase: bool,
    /// Find a host in a known_hosts file.
    #[arg(short = 'F', value_name = "hostname")]
    find: Option<String>,
    /// Remove a host from a known_hosts file.
    #[arg(short = 'R', value_name = "hostname")]
    remove: Option<String>,
    /// Hash the host names of a known_hosts file.
    #[arg(short = 'H')]
    hash_hosts: bool,
}

fn parse_hash(s: &str) -> Result<FingerprintHash, String> {
    s.parse()
}

/// A failure: the one-line message printed after `tobira-keygen: `.
struct Failure(String);

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure(s)
    }
}

/// Exit status 1 without a message (already printed, as ssh-keygen does for
/// "already exists" or a host not found by -F).
struct Quiet;

enum Outcome {
    Failed(Failure),
    Silent,
}

impl From<Failure> for Outcome {
    fn from(f: Failure) -> Self {
        Outcome::Failed(f)
    }
}

impl From<Quiet> for Outcome {
    fn from(_: Quiet) -> Self {
        Outcome::Silent
    }
}

impl From<String> for Outcome {
    fn from(s: String) -> Self {
        Outcome::Failed(Failure(s))
    }
}

type Res<T = ()> = Result<T, Outcome>;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.use_stderr() {
                // --help
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            eprint!("{text}");
            if !text.contains("Usage:") {
                use clap::CommandFactory;
                eprintln!("\n{}", Args::command().render_usage());
            }
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Outcome::Silent) => ExitCode::from(1),
        Err(Outcome::Failed(Failure(msg))) => {
            let _ = io::stdout().flush();
            eprintln!("tobira-keygen: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Res {
    if args.list {
        fingerprint(args)
    } else if args.print_public {
        print_public(args)
    } else if args.change_passphrase {
        change_passphrase(args)
    } else if let Some(host) = &args.find {
        find_host(args, host)
    } else if let Some(host) = &args.remove {
        remove_host(args, host)
    } else if args.hash_hosts {
        hash_hosts(args)
    } else {
        generate(args)
    }
}

/// Whether standard input is a terminal (prompts are allowed).
fn interactive() -> bool {
    io::stdin().is_terminal()
}

/// Prints `prompt` on stderr and reads a line from standard input with
/// echo off (the input is a terminal).
fn read_passphrase(prompt: &str) -> Result<String, Failure> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = io::stdin();
    eprint!("{prompt}");
    let _ = io::stderr().flush();
    let saved = tcgetattr(&stdin).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, saved);
    }
    match read {
        Ok(0) => Err(Failure("no passphrase given".into())),
        Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
        Err(e) => Err(Failure(format!("reading passphrase: {e}"))),
    }
}

/// Prints `prompt` on stdout and reads an answer line (echoed).
fn read_answer(prompt: &str) -> Option<String> {
    print!("{prompt}");
    let _ = io::stdout().flush();
    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
    }
}

fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "user".into())
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

fn ssh_dir() -> PathBuf {
    home_dir().join(".ssh")
}

/// Appends `.pub` to a path.
fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// The key file given with `-f`, or asked for (terminal) / required.
fn key_file(args: &Args, prompt: &str) -> Result<PathBuf, Failure> {
    if let Some(f) = &args.file {
        return Ok(f.clone());
    }
    let default = ssh_dir().join(KeyType::Ed25519.default_file_name());
    if interactive() {
        let answer = read_answer(&format!("{prompt} ({}): ", default.display()))
            .ok_or_else(|| Failure("no file name given".into()))?;
        if !answer.is_empty() {
            return Ok(PathBuf::from(answer));
        }
    }
    Ok(default)
}

fn key_error(path: &Path, e: KeyFileError) -> Failure {
    match e {
        KeyFileError::Io { .. } => Failure(e.to_string()),
        _ => Failure(format!("Load key \"{}\": {e}", path.display())),
    }
}

/// Loads a private key, prompting for its passphrase on a terminal when it
/// is encrypted and none was given.
fn load_with_prompt(path: &Path, given: Option<&str>, prompt: &str) -> Result<ssh_key::PrivateKey, Failure> {
    match keyfile::load_private(path, given) {
        Err(KeyFileError::PassphraseRequired) if interactive() => {
            let pass = read_passphrase(prompt)?;
            keyfile::load_private(path, Some(&pass)).map_err(|e| key_error(path, e))
        }
        r => r.map_err(|e| key_error(path, e)),
    }
}

/// Asks for a new passphrase twice; `None` when the two differ.
fn ask_new_passphrase(first: &str) -> Result<Option<String>, Failure> {
    let p1 = read_passphrase(first)?;
    let p2 = read_passphrase("Enter same passphrase again: ")?;
    Ok((p1 == p2).then_some(p1))
}

fn generate(args: &Args) -> Res {
    let kind: KeyType = match &args.key_type {
        Some(t) => t.parse().map_err(|e: KeyFileError| e.to_string())?,
        None => KeyType::Ed25519,
    };
    let comment = args
        .comment
        .clone()
        .unwrap_or_else(|| format!("{}@{}", user_name(), host_name()));
    keyfile::check_bits(kind, args.bits).map_err(|e| e.to_string())?;
    if !args.quiet {
        println!("Generating public/private {kind} key pair.");
    }
    let key = keyfile::generate(kind, args.bits, &comment).map_err(|e| e.to_string())?;

    let path = match &args.file {
        Some(f) => f.clone(),
        None => {
            let default = ssh_dir().join(kind.default_file_name());
            let answer = if interactive() {
                read_answer(&format!(
                    "Enter file in which to save the key ({}): ",
                    default.display()
                ))
                .ok_or(Quiet)?
            } else {
                String::new()
            };
            if answer.is_empty() {
                // Create ~/.ssh like ssh-keygen when saving there.
                let dir = ssh_dir();
                if !dir.exists() {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&dir)
                        .map_err(|e| format!("Could not create directory '{}': {}", dir.display(), io_text(&e)))?;
                    if !args.quiet {
                        println!("Created directory '{}'.", dir.display());
                    }
                }
                default
            } else {
                PathBuf::from(answer)
            }
        }
    };

    if fs::symlink_metadata(&path).is_ok() {
        println!("{} already exists.", path.display());
        if !interactive() {
            return Err(Quiet.into());
        }
        let yes = read_answer("Overwrite (y/n)? ").is_some_and(|a| a.starts_with('y') || a.starts_with('Y'));
        if !yes {
            return Err(Quiet.into());
        }
    }

    let passphrase = match &args.new_passphrase {
        Some(p) => p.clone(),
        None if interactive() => loop {
            match ask_new_passphrase("Enter passphrase (empty for no passphrase): ")? {
                Some(p) => break p,
                None => println!("Passphrases do not match.  Try again."),
            }
        },
        None => String::new(),
    };

    keyfile::save_private(&path, &key, Some(&passphrase))
        .map_err(|e| format!("Saving key \"{}\" failed: {}", path.display(), io_or(&e)))?;
    if !args.quiet {
        println!("Your identification has been saved in {}", path.display());
    }
    let pub_file = pub_path(&path);
    keyfile::save_public(&pub_file, key.public_key())
        .map_err(|e| format!("Unable to save public key to {}: {}", pub_file.display(), io_or(&e)))?;
    if !args.quiet {
        let hash = args.hash.unwrap_or_default();
        println!("Your public key has been saved in {}", pub_file.display());
        println!("The key fingerprint is:");
        println!("{} {}", keyfile::fingerprint(key.public_key(), hash), comment);
        println!("The key's randomart image is:");
        println!("{}", keyfile::randomart(key.public_key(), hash));
    }
    Ok(())
}

/// `io::Error`'s text without " (os error N)".
fn io_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The I/O cause of a key file error (the path is already in the message),
/// or the error itself.
fn io_or(e: &KeyFileError) -> String {
    match e {
        KeyFileError::Io { source, .. } => io_text(source),
        other => other.to_string(),
    }
}

fn print_key_line(key: &PublicKey, comment: Option<&str>, args: &Args) {
    let hash = args.hash.unwrap_or_default();
    let mut shown = key.clone();
    shown.set_comment(comment.unwrap_or(""));
    println!("{}", keyfile::fingerprint_line(&shown, hash));
    if args.verbose {
        println!("{}", keyfile::randomart(key, hash));
    }
}

/// `-l`: fingerprints, as ssh-keygen's `do_fingerprint`.
fn fingerprint(args: &Args) -> Res {
    let path = key_file(args, "Enter file in which the key is")?;
    let text = match fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return Err(format!("{}: {}", path.display(), io_text(&e)).into()),
    };
    let mut invalid = false;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if index == 0 && line.contains("PRIVATE KEY") {
            return fingerprint_private(&path, args);
        }
        match parse_key_line(line) {
            Some((key, comment)) => {
                print_key_line(&key, comment.as_deref(), args);
                invalid = false;
            }
            None => invalid = true,
        }
    }
    if invalid {
        return Err(format!("{} is not a public key file.", path.display()).into());
    }
    Ok(())
}

/// Fingerprint of a private key file: its `.pub` file when there is one,
/// else the public part of the private key (no passphrase needed).
fn fingerprint_private(path: &Path, args: &Args) -> Res {
    let key = match keyfile::load_public(&pub_path(path)) {
        Ok(k) => k,
        Err(_) => {
            keyfile::load_public_from_private(path).map_err(|_| format!("{} is not a key file.", path.display()))?
        }
    };
    let comment = (!key.comment().is_empty()).then(|| key.comment().to_string());
    print_key_line(&key, comment.as_deref(), args);
    Ok(())
}

/// Splits a known_hosts or authorized_keys line into its key and the
/// comment ssh-keygen `-l` shows: the trailing comment, or else the host
/// names / options field.
fn parse_key_line(line: &str) -> Option<(PublicKey, Option<String>)> {
    if let Some(found) = try_read_key(line) {
        return Some(found);
    }
    // Skip a leading host names or options field (quotes may hold blanks).
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    while i < bytes.len() && (quoted || (bytes[i] != b' ' && bytes[i] != b'\t')) {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if bytes[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if i >= bytes.len() {
        return None;
    }
    let field = &line[..i];
    let (key, comment) = try_read_key(line[i..].trim_start_matches([' ', '\t']))?;
    Some((key, comment.or_else(|| Some(field.to_string()))))
}

/// Reads `type base64 [comment]` at the start of `s`.
fn try_read_key(s: &str) -> Option<(PublicKey, Option<String>)> {
    let mut parts = s.splitn(3, [' ', '\t']);
    let kind = parts.next()?;
    let data = parts.next()?.trim();
    ssh_key::Algorithm::new(kind).ok()?;
    let key = PublicKey::from_openssh(&format!("{kind} {data}")).ok()?;
    let comment = parts
        .next()
        .map(|c| c.trim_matches([' ', '\t', '\r']))
        .filter(|c| !c.is_empty() && !c.starts_with('#'))
        .map(str::to_string);
    Some((key, comment))
}

/// `-y`: print the public key of a private key file.
fn print_public(args: &Args) -> Res {
    let path = key_file(args, "Enter file in which the key is")?;
    let key = load_with_prompt(&path, args.passphrase.as_deref(), "Enter passphrase: ")?;
    let line = keyfile::public_line(key.public_key()).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(())
}

/// `-p`: change the passphrase of a private key file.
fn change_passphrase(args: &Args) -> Res {
    let path = key_file(args, "Enter file in which the key is")?;
    if let Err(e) = fs::metadata(&path) {
        return Err(format!("{}: {}", path.display(), io_text(&e)).into());
    }
    let key = match keyfile::load_private(&path, None) {
        Err(KeyFileError::PassphraseRequired) => {
            let old = match &args.passphrase {
                Some(p) => p.clone(),
                None if interactive() => read_passphrase("Enter old passphrase: ")?,
                None => {
                    return Err(format!("Failed to load key {}: passphrase required (use -P)", path.display()).into())
                }
            };
            keyfile::load_private(&path, Some(&old))
                .map_err(|e| format!("Failed to load key {}: {}", path.display(), io_or(&e)))?
        }
        r => r.map_err(|e| format!("Failed to load key {}: {}", path.display(), io_or(&e)))?,
    };
    if !key.comment().is_empty() {
        println!("Key has comment '{}'", key.comment());
    }
    let new = match &args.new_passphrase {
        Some(p) => p.clone(),
        None if interactive() => match ask_new_passphrase("Enter new passphrase (empty for no passphrase): ")? {
            Some(p) => p,
            None => {
                println!("Pass phrases do not match.  Try again.");
                return Err(Quiet.into());
            }
        },
        None => return Err(String::from("no new passphrase given (use -N, or run on a terminal)").into()),
    };
    keyfile::save_private(&path, &key, Some(&new))
        .map_err(|e| format!("Saving key \"{}\" failed: {}", path.display(), io_or(&e)))?;
    println!("Your identification has been saved with the new passphrase.");
    Ok(())
}

/// The known_hosts file of -F, -R and -H.
fn known_hosts_file(args: &Args) -> PathBuf {
    args.file.clone().unwrap_or_else(|| ssh_dir().join("known_hosts"))
}

/// `-F host`: print the known_hosts lines of a host.
fn find_host(args: &Args, host: &str) -> Res {
    let path = known_hosts_file(args);
    let text = fs::read_to_string(&path).map_err(|e| format!("Cannot stat {}: {}", path.display(), io_text(&e)))?;
    let found = tobira::known_hosts::find_host(&text, host);
    if found.is_empty() {
        return Err(Quiet.into());
    }
    for (line_no, line) in found {
        if !args.quiet {
            let marker = if line.starts_with("@cert-authority") {
                "CA"
            } else if line.starts_with("@revoked") {
                "REVOKED"
            } else {
                ""
            };
            println!("# Host {host} found: line {line_no} {marker}");
        }
        println!("{line}");
    }
    Ok(())
}

/// `-R host`: remove a host's lines from a known_hosts file.
fn remove_host(args: &Args, host: &str) -> Res {
    let path = known_hosts_file(args);
    let text = fs::read_to_string(&path).map_err(|e| format!("Cannot stat {}: {}", path.display(), io_text(&e)))?;
    let found = tobira::known_hosts::find_host(&text, host);
    let removed =
        tobira::known_hosts::remove_host(&path, host).map_err(|e| format!("{}: {}", path.display(), io_text(&e)))?;
    if removed == 0 {
        eprintln!("Host {host} not found in {}", path.display());
        return Ok(());
    }
    for (line_no, line) in found {
        if !line.starts_with('@') {
            println!("# Host {host} found: line {line_no}");
        }
    }
    println!("{} updated.", path.display());
    println!("Original contents retained as {}.old", path.display());
    Ok(())
}

/// `-H`: hash the host names of a known_hosts file.
fn hash_hosts(args: &Args) -> Res {
    let path = known_hosts_file(args);
    if let Err(e) = fs::metadata(&path) {
        return Err(format!("Cannot stat {}: {}", path.display(), io_text(&e)).into());
    }
    let hashed = tobira::known_hosts::hash_file(&path).map_err(|e| format!("{}: {}", path.display(), io_text(&e)))?;
    println!("{} updated.", path.display());
    println!("Original contents retained as {}.old", path.display());
    if hashed > 0 {
        eprintln!("WARNING: {}.old contains unhashed entries", path.display());
        eprintln!("Delete this file to ensure privacy of hostnames");
    }
    Ok(())
}
