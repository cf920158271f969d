//! `tessera totp enroll|remove`: an account's TOTP second factor, over gRPC.

use serde_json::json;
use tessera_proto::v1 as pb;

use crate::remote::{explain, user_json, Remote};

/// `tessera totp enroll`.
pub async fn totp_enroll(
    remote: &Remote,
    username: &str,
    code: Option<String>,
) -> anyhow::Result<()> {
    let begun = remote
        .admin()
        .begin_totp_enrollment(remote.request(pb::BeginTotpEnrollmentRequest {
            username: username.into(),
        })?)
        .await
        .map_err(explain)?
        .into_inner();
    // The URI goes to stderr with the QR code when a code will be prompted for, so stdout stays
    // clean for --json; both are shown once.
    eprintln!(
        "Add this to the authenticator app of {username} (shown once):\n  {}\n",
        begun.otpauth_uri
    );
    if let Ok(qr) = qrcode::QrCode::new(begun.otpauth_uri.as_bytes()) {
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
        .admin()
        .confirm_totp_enrollment(remote.request(pb::ConfirmTotpEnrollmentRequest {
            username: username.into(),
            secret: begun.secret.clone(),
            code,
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .user
        .unwrap_or_default();
    remote.print(
        json!({"username": user.username, "totp_enabled": user.totp_enabled, "otpauth_uri": begun.otpauth_uri}),
        || format!("TOTP enrolled for {}\n", user.username),
    );
    Ok(())
}

/// `tessera totp remove`.
pub async fn totp_remove(remote: &Remote, username: &str) -> anyhow::Result<()> {
    let user = remote
        .admin()
        .remove_totp(remote.request(pb::RemoveTotpRequest {
            username: username.into(),
        })?)
        .await
        .map_err(explain)?
        .into_inner()
        .user
        .unwrap_or_default();
    remote.print(user_json(&user), || {
        format!("TOTP removed from {}\n", user.username)
    });
    Ok(())
}
