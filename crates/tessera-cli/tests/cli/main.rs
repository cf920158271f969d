//! The `tessera` binary as operators and users run it, one module per command group's suite,
//! against a real Tessera server in process (tessera-harness's `server`: a real PostgreSQL, real
//! gRPC, a manual clock). Pick a suite with its module path, e.g.
//! `cargo test -p tessera-cli --test cli cli_session::`.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod common {
    pub use tessera_harness::server::*;

    use std::path::Path;
    use std::process::{Command, Output};

    /// Runs `tessera <args>` with the credentials file `creds` and no token in the environment.
    pub fn run(creds: &Path, args: &[&str], stdin: &str) -> Output {
        let mut command = Command::new(tessera_bin());
        command
            .args(args)
            .env("TESSERA_CREDENTIALS_FILE", creds)
            .env_remove("TESSERA_TOKEN")
            .env_remove("TESSERA_TOKEN_FILE")
            .env_remove("TESSERA_SERVER")
            .env_remove("TESSERA_DATABASE_URL");
        run_with_stdin(&mut command, stdin)
    }

    #[track_caller]
    pub fn ok(output: Output) -> String {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    #[track_caller]
    pub fn refused(output: Output) -> String {
        assert!(
            !output.status.success(),
            "succeeded: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

mod cli_first_hour;
mod cli_session;
mod operator;
