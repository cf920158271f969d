//! What `tessera dev` prints once ready. Every command in it runs as printed, copied into a
//! shell: the CLI and grpcurl by full path (neither is on PATH after `scripts/dev.sh`), and the
//! line-protocol example through bash's own `/dev/tcp`, so it needs no `nc` or `socat`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use super::edges::Edges;

/// Paths and addresses the banner's commands use.
pub struct Banner {
    addr: SocketAddr,
    exe: String,
    exe_dir: String,
    /// grpcurl by full path, when the checkout's .tools/bin or PATH has it.
    grpcurl: Option<String>,
    totp_key: PathBuf,
}

impl Banner {
    /// For a server on `addr` with its files in `data_dir`.
    pub fn new(addr: SocketAddr, data_dir: &Path) -> Banner {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tessera"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        Banner::with_exe(addr, data_dir, &exe, &path)
    }

    fn with_exe(addr: SocketAddr, data_dir: &Path, exe: &Path, path: &std::ffi::OsStr) -> Banner {
        // target/debug/tessera → the checkout, whose .tools/bin holds grpcurl
        // (scripts/install-tools.sh).
        let in_checkout = exe
            .ancestors()
            .nth(3)
            .map(|root| root.join(".tools/bin/grpcurl"));
        let on_path: Vec<PathBuf> = std::env::split_paths(path)
            .map(|dir| dir.join("grpcurl"))
            .collect();
        let grpcurl = in_checkout
            .into_iter()
            .chain(on_path)
            .find(|path| path.is_file())
            .map(|path| path.display().to_string());
        Banner {
            addr,
            exe: exe.display().to_string(),
            exe_dir: exe
                .parent()
                .map(|dir| dir.display().to_string())
                .unwrap_or_default(),
            grpcurl,
            totp_key: data_dir.join("totp.key"),
        }
    }

    /// The server's part: addresses, credentials and commands to try.
    pub fn server(
        &self,
        database_url: &str,
        admin_username: &str,
        admin_password: &str,
        session: &str,
        service: &str,
    ) -> String {
        let Banner {
            addr,
            exe,
            exe_dir,
            grpcurl,
            totp_key,
        } = self;
        let server = format!("http://{addr}");
        // Without grpcurl, the same Introspect through the CLI, and how to get grpcurl.
        let try_introspect = match grpcurl {
            Some(grpcurl) => format!(
                "\n  {grpcurl} -plaintext {addr} list\
                 \n  {grpcurl} -plaintext -H 'authorization: Bearer {service}' -d '{{\"token\": \"{session}\"}}' {addr} tessera.v1.AuthService/Introspect"
            ),
            None => format!(
                "\n  {exe} token introspect --server {server} --token {service} {session}\
                 \n  (grpcurl is not installed; for the README's grpcurl walkthrough, scripts/install-tools.sh --walkthrough installs grpcurl and jq alone)"
            ),
        };
        format!(
            "\nTessera dev is running (pid {pid}). Stop it with Ctrl-C.\
             \n\n  gRPC            {addr}   (plaintext; reflection on)\
             \n  PostgreSQL      {database_url}\
             \n  admin login     {admin_username} / {admin_password}\
             \n  admin session   {session}\
             \n  service token   {service}   (introspect only)\
             \n\nEach command below runs as printed. The tessera CLI is not on PATH; to type just\
             \n`tessera`:  export PATH=\"{exe_dir}:$PATH\"\
             \n\nTry it:{try_introspect}\
             \n  {exe} login --server {server} --username {admin_username}\
             \n  {exe} user list --server {server}\
             \n\nAdd a user:  TESSERA_DATABASE_URL='{database_url}' TESSERA_TOTP_KEY=$(cat {totp_key}) {exe} user add --username alice --totp\n",
            pid = std::process::id(),
            totp_key = totp_key.display(),
        )
    }

    /// The edges' part.
    pub fn edges(&self, edges: &Edges, admin_token: &str) -> String {
        let (line_host, line_port) = edges.line.rsplit_once(':').unwrap_or(("127.0.0.1", "7070"));
        format!(
            "\nEdges (logs in {logs}):\
             \n  HTTP edge   http://{http}/login   sign in as the admin above; a demo app sits behind it\
             \n              forward-auth: http://{http}/auth/verify   public: http://{http}/api/v1/public/ping\
             {envoy}\
             \n  line edge   {line}   in front of the demo job scheduler at {demo}; try it:\
             \n    TOKEN=$({exe} token issue --server http://{addr} --token {admin_token} --namespace deploy. | awk '$1 == \"token\" && NF == 2 {{print $2}}')\
             \n    bash -c 'exec 3<>/dev/tcp/{line_host}/{line_port}; printf \"AUTH %s\\n1 SET deploy.daily 2030-03-30 02:00:00\\n2 GET backup.x\\n\" \"$1\" >&3; head -n 3 <&3' _ \"$TOKEN\"\n",
            envoy = match &edges.envoy {
                Some(envoy) => format!(
                    "\n  Envoy       http://{envoy}/   ext_authz asks the HTTP edge, in front of the same demo app; try:\
                     \n    curl -i http://{envoy}/whoami\
                     \n    curl -H 'authorization: Bearer {admin_token}' http://{envoy}/whoami"
                ),
                None => String::new(),
            },
            logs = edges.logs.display(),
            http = edges.http,
            line = edges.line,
            demo = edges.demo,
            exe = self.exe,
            addr = self.addr,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_use_full_paths() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("target/debug/tessera");
        let banner = Banner::with_exe(
            "127.0.0.1:50051".parse().unwrap(),
            dir.path(),
            &exe,
            "".as_ref(),
        );
        let text = banner.server("postgres://x", "admin", "pw", "tsr_ses_x", "tsr_svc_y");
        assert!(text.contains(&format!(
            "{} login --server http://127.0.0.1:50051",
            exe.display()
        )));
        assert!(!text.contains("\n  tessera "), "{text}");
        // No grpcurl in the checkout (nor, here, on PATH): the CLI's Introspect instead, and
        // how to install grpcurl.
        assert!(
            text.contains(
                "token introspect --server http://127.0.0.1:50051 --token tsr_svc_y tsr_ses_x"
            ),
            "{text}"
        );
        assert!(text.contains("install-tools.sh --walkthrough"), "{text}");
        assert!(!text.contains("grpcurl -plaintext"), "{text}");
        std::fs::create_dir_all(dir.path().join(".tools/bin")).unwrap();
        std::fs::write(dir.path().join(".tools/bin/grpcurl"), "").unwrap();
        let banner = Banner::with_exe(
            "127.0.0.1:50051".parse().unwrap(),
            dir.path(),
            &exe,
            "".as_ref(),
        );
        let text = banner.server("postgres://x", "admin", "pw", "tsr_ses_x", "tsr_svc_y");
        assert!(text.contains(&format!(
            "{}/.tools/bin/grpcurl -plaintext",
            dir.path().display()
        )));
    }
}
