//! `tessera login`, `logout`, `unlock`, `lock` and `status`: the CLI's own session, kept like
//! `vault login` or `gh auth login` do, in a credentials file readable only by its owner
//! (0600 in a 0700 directory), one entry per server. Remote commands act with the stored session
//! (or its elevated token while one lasts) when no token is given explicitly.

use clap::Args;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::bail;
use serde_json::json;
use tessera_client::{Login, Reason, RevokeTarget, Secret, Unlock};
use time::OffsetDateTime;

use crate::{
    cli::RemoteArgs,
    credentials::{now, StoredElevation, StoredSession, StoredTls},
    remote::{explain, Remote},
};

// The group's command line: its clap definition lives beside its body.

/// Flags of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The account (asked for when omitted).
    #[arg(long, short = 'u', env = "TESSERA_USERNAME")]
    pub username: Option<String>,
    /// Read the password (and then a TOTP code, if the account asks for one) from standard input,
    /// one per line, instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Flags of `unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// How long the elevation lasts, e.g. 5m (default and maximum: the server's cap).
    #[arg(long)]
    pub ttl: Option<String>,
    /// Read the password (and then a TOTP code) from standard input, one per line.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Reads one secret: a hidden prompt on a terminal, else the next line of stdin.
fn ask(prompt: &str, from_stdin: bool, hidden: bool) -> anyhow::Result<String> {
    if !from_stdin && std::io::stdin().is_terminal() {
        if hidden {
            return Ok(rpassword::prompt_password(format!("{prompt}: "))?);
        }
        eprint!("{prompt}: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("no {} given", prompt.to_lowercase());
    }
    Ok(line)
}

fn time_text(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

/// A time as Unix seconds, 0 when the server gave none (the credentials file's form).
fn unix_seconds(at: Option<OffsetDateTime>) -> i64 {
    at.map(OffsetDateTime::unix_timestamp).unwrap_or_default()
}

/// `tessera login`.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let target = args.remote.target()?;
    let address = target.address.clone();
    let mut credentials = args.remote.credentials()?;
    let username = match &args.username {
        Some(name) => name.trim().to_owned(),
        None => ask("Username", args.password_stdin, false)?,
    };
    let password = ask(
        &format!("Password for {username}"),
        args.password_stdin,
        true,
    )?;
    let remote = Remote::connect(&target, None, args.remote.json).await?;
    let password = Secret::new(password);
    let answer = match remote
        .client
        .login(Login::new(&username, password.clone()))
        .await
    {
        Ok(answer) => answer,
        Err(error) if error.reason() == Reason::MfaRequired => {
            let code = ask("TOTP code", args.password_stdin, false)?;
            remote
                .client
                .login(Login::new(&username, password).totp(code))
                .await
                .map_err(explain)?
        }
        Err(error) => return Err(explain(error)),
    };
    let user = answer.user;
    let session = StoredSession {
        username: user.username.clone(),
        role: user.role.clone(),
        token: answer.token.expose().to_owned(),
        token_id: answer.token_id,
        expires_at: unix_seconds(answer.expires_at),
        elevated: None,
        // Absolute, so later commands from another directory find the same files.
        tls: StoredTls {
            ca: target.ca.as_deref().map(std::path::absolute).transpose()?,
            tls_server_name: target.tls_server_name.clone(),
            cert: target
                .cert
                .as_deref()
                .map(std::path::absolute)
                .transpose()?,
            key: target.key.as_deref().map(std::path::absolute).transpose()?,
        },
    };
    let expires = time_text(session.expires_at);
    credentials.servers.insert(address.to_string(), session);
    credentials.save()?;
    if args.remote.json {
        println!(
            "{}",
            json!({"server": address.to_string(), "username": user.username, "role": user.role,
                   "expires_at": expires, "credentials_file": credentials.file()})
        );
    } else {
        println!(
            "logged in to {address} as {} ({}) until {expires}; session kept in {}",
            user.username,
            user.role,
            credentials.file().display()
        );
    }
    Ok(())
}

/// `tessera logout`.
pub async fn logout(args: RemoteArgs) -> anyhow::Result<()> {
    let target = args.target()?;
    let address = target.address.clone();
    let mut credentials = args.credentials()?;
    let Some(session) = credentials.servers.remove(&address.to_string()) else {
        bail!("not logged in to {address}");
    };
    // Revoking the session revokes everything derived from it (the elevated token too). A
    // session the server already ended is simply forgotten.
    let remote = Remote::connect(&target, Some(session.token.clone()), args.json).await?;
    let revoked = remote
        .client
        .revoke(
            RevokeTarget::Token(Secret::new(session.token.clone())),
            "tessera logout",
        )
        .await;
    credentials.save()?;
    match revoked {
        Ok(_) => println!("logged out of {address}; session revoked"),
        Err(error) if error.reason() == Reason::AuthFailed => {
            println!("logged out of {address} (the session had already ended)")
        }
        Err(error) => return Err(explain(error)),
    }
    Ok(())
}

/// `tessera unlock`.
pub async fn unlock(args: UnlockArgs) -> anyhow::Result<()> {
    let target = args.remote.target()?;
    let address = target.address.clone();
    let mut credentials = args.remote.credentials()?;
    let Some(session) = credentials.session(&address).cloned() else {
        bail!("not logged in to {address}; run `tessera login --server {address}` first");
    };
    if let Some(ttl) = &args.ttl {
        check_unlock_ttl(ttl)?;
    }
    let password = ask(
        "Your password (or the break-glass root password)",
        args.password_stdin,
        true,
    )?;
    let remote = Remote::connect(&target, Some(session.token.clone()), args.remote.json).await?;
    let mut request = Unlock::new(Secret::new(password));
    if let Some(ttl) = &args.ttl {
        request = request.ttl(ttl.as_str());
    }
    let answer = match remote.client.unlock(request.clone()).await {
        Ok(answer) => answer,
        Err(error) if error.reason() == Reason::MfaRequired => {
            let code = ask("TOTP code", args.password_stdin, false)?;
            remote
                .client
                .unlock(request.totp(code))
                .await
                .map_err(explain)?
        }
        Err(error) => return Err(explain(error)),
    };
    let elevated = StoredElevation {
        token: answer.token.expose().to_owned(),
        token_id: answer.token_id,
        expires_at: unix_seconds(answer.expires_at),
    };
    let until = time_text(elevated.expires_at);
    if let Some(stored) = credentials.servers.get_mut(&address.to_string()) {
        stored.elevated = Some(elevated);
    }
    credentials.save()?;
    println!("elevated on {address} until {until}; `tessera lock` ends it sooner");
    Ok(())
}

/// The longest elevation any server grants (its `--unlock-ttl-cap` is 15m by default and never
/// above this): a longer `--ttl` is refused before the password is asked for.
const UNLOCK_TTL_LIMIT: std::time::Duration = std::time::Duration::from_secs(3600);

fn check_unlock_ttl(ttl: &str) -> anyhow::Result<()> {
    let parsed = tessera_rules::ttl::parse_ttl(ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
    if parsed.unsigned_abs() > UNLOCK_TTL_LIMIT {
        bail!("--ttl: an elevation lasts at most 1h (the server's --unlock-ttl-cap, 15m by default, never more); got {ttl}");
    }
    Ok(())
}

/// `tessera lock`.
pub async fn lock(args: RemoteArgs) -> anyhow::Result<()> {
    let target = args.target()?;
    let address = target.address.clone();
    let mut credentials = args.credentials()?;
    let Some(stored) = credentials.servers.get_mut(&address.to_string()) else {
        bail!("not logged in to {address}");
    };
    let Some(elevated) = stored.elevated.take() else {
        println!("not elevated on {address}");
        return Ok(());
    };
    let session = stored.token.clone();
    let remote = Remote::connect(&target, Some(session), args.json).await?;
    let revoked = remote
        .client
        .revoke(RevokeTarget::TokenId(elevated.token_id), "tessera lock")
        .await;
    credentials.save()?;
    match revoked {
        Ok(_) => println!("locked: the elevated token on {address} is revoked"),
        Err(error) if error.reason() == Reason::AuthFailed => {
            println!("locked (the session had already ended)")
        }
        Err(error) => return Err(explain(error)),
    }
    Ok(())
}

/// `tessera status` / `whoami`: what the file says, confirmed by the server.
pub async fn status(args: RemoteArgs) -> anyhow::Result<()> {
    // It reports the stored session; a token given explicitly would be silently ignored.
    if args.explicit_token()?.is_some() {
        bail!("status reports the session `tessera login` stored, not a given token (--token, TESSERA_TOKEN, --token-file); to ask about a token, use `tessera token introspect`, or unset it");
    }
    let target = args.target()?;
    let address = target.address.clone();
    let credentials = args.credentials()?;
    let Some(session) = credentials.session(&address).cloned() else {
        bail!(
            "not logged in to {address}; run `tessera login --server {address}` (sessions are kept in {})",
            credentials.file().display()
        );
    };
    let remote = Remote::connect(&target, Some(session.token.clone()), args.json).await?;
    let tokens = remote
        .client
        .list_tokens("", false)
        .await
        .map_err(explain)?;
    let elevated = session
        .elevated
        .as_ref()
        .filter(|e| e.expires_at > now() && tokens.iter().any(|t| t.token_id == e.token_id));
    let elevated_until = elevated.map(|e| time_text(e.expires_at));
    if args.json {
        println!(
            "{}",
            json!({"server": address.to_string(), "username": session.username, "role": session.role,
                   "session_expires_at": time_text(session.expires_at), "elevated_until": elevated_until,
                   "credentials_file": credentials.file()})
        );
    } else {
        println!(
            "server          {address}\nuser            {}\nrole            {}\nsession until   {}\nelevated until  {}\ncredentials     {}",
            session.username,
            session.role,
            time_text(session.expires_at),
            elevated_until.unwrap_or_else(|| "not elevated (`tessera unlock`)".into()),
            credentials.file().display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_elevation_longer_than_any_server_grants_is_refused_up_front() {
        assert!(check_unlock_ttl("15m").is_ok());
        assert!(check_unlock_ttl("1h").is_ok());
        let err = check_unlock_ttl("2h").unwrap_err().to_string();
        assert!(
            err.starts_with("--ttl:") && err.contains("at most 1h"),
            "{err}"
        );
        assert!(check_unlock_ttl("soon").is_err());
    }
}
