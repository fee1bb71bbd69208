//! Secrets the CLI reads (a console password, a Stripe secret key, webhook signing
//! secrets) never come from command-line arguments, which end up in shell history and in
//! `ps`. They come from an environment variable, from standard input (`--…-stdin`, one per
//! line, for scripts), or from a prompt that does not echo (`rpassword`) when a person is
//! at a terminal.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context as _};

/// Where the CLI reads secrets from, in order.
pub struct SecretInput {
    /// Read lines from standard input.
    from_stdin: bool,
    lines: Option<std::io::StdinLock<'static>>,
}

impl SecretInput {
    pub fn new(from_stdin: bool) -> SecretInput {
        SecretInput {
            from_stdin,
            lines: None,
        }
    }

    /// The next line of standard input, without its line ending.
    fn stdin_line(&mut self) -> anyhow::Result<Option<String>> {
        let lines = self.lines.get_or_insert_with(|| std::io::stdin().lock());
        let mut line = String::new();
        let n = lines.read_line(&mut line).context("cannot read standard input")?;
        Ok((n > 0).then(|| line.trim_end_matches(['\r', '\n']).to_owned()))
    }

    /// A secret: the environment variable `env` if set, else a line of standard input if
    /// asked to read it, else a prompt at a terminal. `what` names it in prompts and errors;
    /// `optional` secrets may be left empty (`None`).
    pub fn read(
        &mut self,
        env: &str,
        what: &str,
        flag: &str,
        optional: bool,
    ) -> anyhow::Result<Option<String>> {
        if let Ok(v) = std::env::var(env) {
            return Ok(Some(v.trim().to_owned()).filter(|v| !v.is_empty()));
        }
        let value = if self.from_stdin {
            self.stdin_line()?.unwrap_or_default()
        } else if std::io::stdin().is_terminal() {
            let hint = if optional { " (Enter to skip)" } else { "" };
            rpassword::prompt_password(format!("{what}{hint}: "))
                .with_context(|| format!("cannot read the {what} from the terminal"))?
        } else {
            if optional {
                return Ok(None);
            }
            bail!("the {what} is needed: type it at a prompt (run this in a terminal), pipe it with {flag}, or set {env}");
        };
        let value = value.trim().to_owned();
        if value.is_empty() && !optional {
            bail!("the {what} is empty");
        }
        Ok(Some(value).filter(|v| !v.is_empty()))
    }

    /// A new password, asked twice at a terminal.
    pub fn new_password(&mut self, env: &str, flag: &str) -> anyhow::Result<String> {
        let first = self.read(env, "password", flag, false)?.unwrap_or_default();
        if std::env::var(env).is_err() && !self.from_stdin {
            let again = rpassword::prompt_password("the same password again: ")
                .context("cannot read the password from the terminal")?;
            if again.trim() != first {
                bail!("the two passwords differ; nothing was changed");
            }
        }
        Ok(first)
    }
}
