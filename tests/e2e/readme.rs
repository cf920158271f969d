//! The main README as a user runs it: the grpcurl walkthrough executed word for word against a
//! `tessera dev` started as `scripts/dev.sh` does, and the configuration table in step with the
//! flags `--help` shows.

use std::{collections::BTreeSet, process::Command};

use tessera_harness::{binary, workspace_root, DevServer};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

/// The first ```sh block after `heading`.
fn sh_block_after(text: &str, heading: &str) -> String {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} not in README"));
    let rest = &text[from..];
    let start = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = rest[start..].find("\n```").expect("the block's end");
    rest[start..start + end].to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() -> anyhow::Result<()> {
    let dev = DevServer::start(&[])?;
    let script = sh_block_after(&readme(), "## Walkthrough with grpcurl");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(workspace_root())
        .env("TESSERA_ADDR", &dev.ready.grpc_addr)
        .env("TESSERA_DATA_DIR", dev.data_path())
        .env_remove("TESSERA_TOKEN")
        .env_remove("TESSERA_SERVER")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("INVALID_CREDENTIALS"), "{stderr}");
    assert!(stdout.contains("\"active\": true"), "{stdout}");
    assert!(stdout.contains("\"namespace\": \"deploy.\""), "{stdout}");
    assert!(stdout.contains("\"revokedCount\": \"1\""), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("{}"),
        "the revoked token must read inactive:\n{stdout}"
    );
    Ok(())
}

/// Long flags on the option lines of `tessera <command> --help`.
fn help_flags(command: &str) -> anyhow::Result<BTreeSet<String>> {
    let out = Command::new(binary("tessera")?)
        .args([command, "--help"])
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("-h, ").unwrap_or(line);
            let flag: String = line
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (flag != "help").then(|| format!("--{flag}"))
        })
        .collect())
}

#[test]
fn the_configuration_table_lists_exactly_the_flags_of_serve_and_dev() -> anyhow::Result<()> {
    let mut flags = help_flags("serve")?;
    flags.extend(help_flags("dev")?);
    let text = readme();
    let from = text
        .find("## Configuration")
        .expect("configuration section");
    let to = from + text[from..].find("\n## ").expect("next section");
    let table: BTreeSet<String> = text[from..to]
        .lines()
        .filter_map(|line| line.strip_prefix("| `--"))
        .map(|rest| {
            let flag: String = rest.chars().take_while(|c| *c != '`').collect();
            format!("--{flag}")
        })
        .collect();
    let undocumented: Vec<_> = flags.difference(&table).collect();
    let stale: Vec<_> = table.difference(&flags).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "README table out of step with --help: missing {undocumented:?}, not flags {stale:?}"
    );
    Ok(())
}

/// `scripts/dev.sh` builds the whole workspace once, showing cargo's progress: no `--quiet`, and no
/// per-package builds whose different feature sets rebuild dependencies the workspace build has.
#[test]
fn dev_sh_builds_the_workspace_once_with_progress() {
    let script = std::fs::read_to_string(workspace_root().join("scripts/dev.sh")).unwrap();
    let builds: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("cargo build"))
        .collect();
    assert_eq!(builds, ["cargo build --workspace --bins"], "{script}");
}

/// The banner's line-protocol example runs as printed, with nothing but bash and the tessera CLI
/// (no nc, no socat), against `tessera dev --edges`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_line_example_runs_as_printed() -> anyhow::Result<()> {
    let dev = DevServer::start(&[
        ("TESSERA_DEV_EDGES", "true"),
        ("TESSERA_DEV_HTTP_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_DEMO", "127.0.0.1:0"),
    ])?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let example = loop {
        let log = dev.log();
        if let Some(at) = log.find("    TOKEN=$(") {
            let lines: Vec<&str> = log[at..].lines().take(2).map(str::trim).collect();
            if lines.len() == 2 && lines[1].starts_with("bash -c") {
                break lines.join("\n");
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no line example in:\n{log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        !example.contains(" nc ") && !example.contains("socat"),
        "{example}"
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &example])
            .env_remove("TESSERA_TOKEN")
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim_end(),
        "OK\n1 OK\n2 ERROR auth_denied insufficient namespace scope"
    );
    Ok(())
}

/// The README's "Behind Envoy" block, word for word, against `tessera dev --edges` with Envoy in
/// front of the demo app (dev starts it when the checkout's `.tools/bin/envoy` is installed).
#[tokio::test]
async fn the_readme_envoy_block_runs_as_written() -> anyhow::Result<()> {
    let envoy = format!("127.0.0.1:{}", tessera_harness::closed_port());
    let dev = DevServer::start(&[
        ("TESSERA_DEV_EDGES", "1"),
        ("TESSERA_DEV_HTTP_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_DEMO", "127.0.0.1:0"),
        ("TESSERA_DEV_ENVOY", &envoy),
    ])?;
    // The ready file comes before the edges; Envoy comes last.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(&envoy).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "dev started no Envoy on {envoy} (is .tools/bin/envoy installed? scripts/install-tools.sh)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let script = sh_block_after(&readme(), "### Behind Envoy");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(workspace_root())
        .env("TESSERA_ENVOY", &envoy)
        .env("TESSERA_ADDR", &dev.ready.grpc_addr)
        .env("TESSERA_DATA_DIR", dev.data_path())
        .env_remove("TESSERA_TOKEN")
        .env_remove("TESSERA_SERVER")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the block failed:\n{stdout}\n{stderr}"
    );
    let statuses: Vec<&str> = stdout
        .lines()
        .filter(|line| line.len() == 3 && line.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(statuses, ["401", "200", "403", "401"], "{stdout}\n{stderr}");
    assert!(
        stdout.contains("\"x-tessera-username\": \"admin\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"x-tessera-namespace\": \"deploy.\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("\"authorization\""),
        "the bearer reached the app:\n{stdout}"
    );
    Ok(())
}
