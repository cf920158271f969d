//! Reading secrets from a person at a terminal (hidden prompts), or from standard input in scripts.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{bail, Context as _};
use tessera_core::password::Password;

/// A new password: typed twice at a hidden prompt, or the first line of standard input.
pub fn read_password(from_stdin: bool, prompt: &str) -> anyhow::Result<Password> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(Password::new(password));
    }
    let first = rpassword::prompt_password(format!("{prompt}: "))?;
    let second = rpassword::prompt_password("Again: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(Password::new(first))
}

/// Reads a secret from stdin (first line) or, on a terminal, a hidden prompt.
pub fn read_secret(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password(format!("{prompt}: "))?)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
