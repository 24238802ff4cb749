//! `tobira -G`: the resolved client configuration printed as `ssh -G`
//! prints it, one lowercase `keyword value` per line (`ssh(1)`, `-G`).
//! Programs probe for an OpenSSH-compatible client this way (git runs
//! `ssh -G host` to learn whether it may pass `-p` and `-o`), and users
//! read it to see which settings a `Host` or `Match` section gave.

use std::fmt::Write;
use std::path::Path;

use super::client::{
    AddressFamily, ClientConfig, ForwardAgent, ForwardEndpoint, IdentityAgent, RequestTty, StrictHostKeyChecking,
    UpdateHostKeys,
};

fn yes_no(v: bool) -> &'static str {
    if v {
        "yes"
    } else {
        "no"
    }
}

/// A forward's end as ssh prints it: `port`, `[host]:port` or a path.
fn endpoint(e: &ForwardEndpoint) -> String {
    match e {
        ForwardEndpoint::Tcp { host: Some(h), port } => format!("[{h}]:{port}"),
        ForwardEndpoint::Tcp { host: None, port } => port.to_string(),
        ForwardEndpoint::Unix(p) => p.display().to_string(),
    }
}

/// The escape character as ssh prints it (vis(3): `\^A` for a control
/// character, `\^?` for DEL, `\040` for a space, octal above ASCII).
fn escape_char(c: Option<u8>) -> String {
    match c {
        None => "none".into(),
        Some(127) => "\\^?".into(),
        Some(c) if c < 32 => format!("\\^{}", char::from(c + 64)),
        Some(b' ') => "\\040".into(),
        Some(b'\\') => "\\\\".into(),
        Some(c) if c.is_ascii() => char::from(c).to_string(),
        Some(c) => format!("\\{c:03o}"),
    }
}

fn paths(p: &[impl AsRef<Path>]) -> String {
    if p.is_empty() {
        return "none".into();
    }
    p.iter()
        .map(|p| p.as_ref().display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl ClientConfig {
    /// The configuration as `ssh -G` prints it: every setting tobira
    /// implements, after the command line and the files, one per line
    /// (`IdentityFile` and the forwards once per value).
    pub fn to_ssh_g(&self) -> String {
        let mut o = String::new();
        let mut line = |k: &str, v: &str| {
            let _ = writeln!(o, "{k} {v}");
        };
        line("host", &self.host);
        line("user", &self.user);
        line("hostname", &self.host_name);
        line("port", &self.port.to_string());
        line("batchmode", yes_no(self.batch_mode));
        line("checkhostip", yes_no(self.check_host_ip));
        line("clearallforwardings", yes_no(self.clear_all_forwardings));
        line("compression", yes_no(self.compression));
        line("exitonforwardfailure", yes_no(self.exit_on_forward_failure));
        line("hashknownhosts", yes_no(self.hash_known_hosts));
        line("identitiesonly", yes_no(self.identities_only));
        line(
            "kbdinteractiveauthentication",
            yes_no(self.kbd_interactive_authentication),
        );
        line("passwordauthentication", yes_no(self.password_authentication));
        line(
            "pubkeyauthentication",
            if self.pubkey_authentication { "true" } else { "false" },
        );
        line("connectionattempts", &self.connection_attempts.to_string());
        line(
            "addressfamily",
            match self.address_family {
                AddressFamily::Any => "any",
                AddressFamily::Inet => "inet",
                AddressFamily::Inet6 => "inet6",
            },
        );
        if let Some(b) = &self.bind_address {
            line("bindaddress", b);
        }
        line("numberofpasswordprompts", &self.number_of_password_prompts.to_string());
        line("serveralivecountmax", &self.server_alive_count_max.to_string());
        line("serveraliveinterval", &self.server_alive_interval.as_secs().to_string());
        line(
            "connecttimeout",
            &self.connect_timeout.map_or("none".into(), |t| t.as_secs().to_string()),
        );
        line("loglevel", &self.log_level.to_string().to_uppercase());
        line("escapechar", &escape_char(self.escape_char));
        line(
            "requesttty",
            match self.request_tty {
                RequestTty::Auto => "auto",
                RequestTty::No => "false",
                RequestTty::Yes => "true",
                RequestTty::Force => "force",
            },
        );
        line(
            "stricthostkeychecking",
            match self.strict_host_key_checking {
                StrictHostKeyChecking::Yes => "true",
                StrictHostKeyChecking::AcceptNew => "accept-new",
                StrictHostKeyChecking::No => "false",
                StrictHostKeyChecking::Ask => "ask",
            },
        );
        line(
            "updatehostkeys",
            match self.update_host_keys {
                UpdateHostKeys::Yes => "true",
                UpdateHostKeys::No => "false",
                UpdateHostKeys::Ask => "ask",
            },
        );
        line(
            "forwardagent",
            &match &self.forward_agent {
                ForwardAgent::No => "no".into(),
                ForwardAgent::Yes => "yes".into(),
                ForwardAgent::Socket(s) => s.clone(),
            },
        );
        match &self.identity_agent {
            IdentityAgent::Default => {}
            IdentityAgent::None => line("identityagent", "none"),
            IdentityAgent::Env(v) => line("identityagent", &format!("${v}")),
            IdentityAgent::Socket(p) => line("identityagent", &p.display().to_string()),
        }
        line("ciphers", &self.ciphers.join(","));
        line("macs", &self.macs.join(","));
        line("kexalgorithms", &self.kex_algorithms.join(","));
        line("hostkeyalgorithms", &self.host_key_algorithms.join(","));
        line("pubkeyacceptedalgorithms", &self.pubkey_accepted_algorithms.join(","));
        line("preferredauthentications", &self.preferred_authentications.join(","));
        line("userknownhostsfile", &paths(&self.user_known_hosts_file));
        line("globalknownhostsfile", &paths(&self.global_known_hosts_file));
        line(
            "rekeylimit",
            &format!(
                "{} {}",
                self.rekey_limit.bytes.map_or(0, |b| b),
                self.rekey_limit.interval.map_or(0, |t| t.as_secs())
            ),
        );
        for f in &self.identity_file {
            line("identityfile", &f.display().to_string());
        }
        for (kw, list) in [
            ("localforward", &self.local_forward),
            ("remoteforward", &self.remote_forward),
        ] {
            for f in list {
                match &f.connect {
                    Some(to) => line(kw, &format!("{} {}", endpoint(&f.listen), endpoint(to))),
                    None => line(kw, &endpoint(&f.listen)),
                }
            }
        }
        for f in &self.dynamic_forward {
            line("dynamicforward", &endpoint(&f.listen));
        }
        if let Some(j) = &self.proxy_jump {
            line("proxyjump", j);
        }
        if let Some(c) = &self.proxy_command {
            line("proxycommand", c);
        }
        for p in &self.send_env {
            line("sendenv", p);
        }
        for (k, v) in &self.set_env {
            line("setenv", &format!("{k}={v}"));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use crate::config::client::resolve_client_config;

    /// Every setting of the file and the command line shows, with ssh's
    /// spelling of the values; the defaults fill the rest.
    #[test]
    fn settings_print_as_ssh_g_prints_them() {
        let dir = std::env::temp_dir().join(format!("tobira-dump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("cfg");
        std::fs::write(
            &cfg,
            "Host db\n  HostName db.internal\n  User alice\n  Port 2202\n  LocalForward 8080 localhost:80\n  \
             DynamicForward 1080\n  EscapeChar ^A\n  StrictHostKeyChecking accept-new\n  IdentityFile ~/.ssh/db_key\n",
        )
        .unwrap();
        let c = resolve_client_config(
            "db",
            None,
            None,
            &["Ciphers=aes256-gcm@openssh.com".into(), "BatchMode=yes".into()],
            Some(&cfg),
            &dir,
            "local",
        )
        .unwrap();
        let text = c.to_ssh_g();
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "host db",
            "user alice",
            "hostname db.internal",
            "port 2202",
            "batchmode yes",
            "ciphers aes256-gcm@openssh.com",
            "escapechar \\^A",
            "stricthostkeychecking accept-new",
            "localforward 8080 [localhost]:80",
            "dynamicforward 1080",
            "compression no",
        ] {
            assert!(lines.contains(&want), "{want:?} missing from:\n{text}");
        }
        let key = dir.join(".ssh/db_key");
        assert!(
            lines.contains(&format!("identityfile {}", key.display()).as_str()),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
