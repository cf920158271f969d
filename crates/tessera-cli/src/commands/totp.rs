//! `tessera totp enroll|remove`: an account's TOTP second factor, over gRPC.

use clap::Subcommand;
use serde_json::json;

use crate::{
    cli::RemoteArgs,
    remote::{explain, user_json, Remote},
};

// The group's command line: its clap definition lives beside its body.

/// `tessera totp …`.
#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Enroll TOTP for an account: prints the otpauth:// URI and a QR code, then asks for a first
    /// code from the authenticator to confirm (or takes it from --code).
    Enroll {
        /// The account.
        username: String,
        /// The confirming code, instead of a prompt.
        #[arg(long)]
        code: Option<String>,
    },
    /// Remove an account's TOTP.
    Remove {
        /// The account.
        username: String,
    },
}

/// `tessera totp …`.
pub async fn run(command: TotpCommand, remote: &RemoteArgs) -> anyhow::Result<()> {
    let connected = remote.connect().await?;
    match command {
        TotpCommand::Enroll { username, code } => totp_enroll(&connected, &username, code).await,
        TotpCommand::Remove { username } => totp_remove(&connected, &username).await,
    }
}

/// `tessera totp enroll`.
async fn totp_enroll(remote: &Remote, username: &str, code: Option<String>) -> anyhow::Result<()> {
    let begun = remote
        .client
        .begin_totp_enrollment(username)
        .await
        .map_err(explain)?;
    let uri = begun.otpauth_uri.expose();
    // The URI goes to stderr with the QR code when a code will be prompted for, so stdout stays
    // clean for --json; both are shown once.
    eprintln!("Add this to the authenticator app of {username} (shown once):\n  {uri}\n");
    if let Ok(qr) = qrcode::QrCode::new(uri.as_bytes()) {
        eprintln!(
            "{}",
            qr.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        );
    }
    let code = match code {
        Some(code) => code,
        None => {
            eprint!("Enter the 6-digit code it shows to confirm: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_owned()
        }
    };
    let user = remote
        .client
        .confirm_totp_enrollment(username, &begun.secret, &code)
        .await
        .map_err(explain)?;
    remote.print(
        json!({"username": user.username, "totp_enabled": user.totp_enabled, "otpauth_uri": uri}),
        || format!("TOTP enrolled for {}\n", user.username),
    );
    Ok(())
}

/// `tessera totp remove`.
async fn totp_remove(remote: &Remote, username: &str) -> anyhow::Result<()> {
    let user = remote.client.remove_totp(username).await.map_err(explain)?;
    remote.print(user_json(&user), || {
        format!("TOTP removed from {}\n", user.username)
    });
    Ok(())
}
