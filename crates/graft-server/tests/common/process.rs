//! `graft serve` as a real process: for what only a whole process shows (several instances,
//! one killed; the global tracing subscriber and its exporter).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One `graft serve` process, killed when dropped.
pub struct Instance {
    pub child: Child,
    pub address: SocketAddr,
}

impl Instance {
    /// Starts `graft serve --config config` on an ephemeral port and waits for it to listen.
    pub fn start(config: &Path) -> Instance {
        Instance::start_with(config, &[])
    }

    /// [`Instance::start`], with `env` set for the process.
    pub fn start_with(config: &Path, env: &[(&str, &str)]) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_graft"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            // The listening line is logged at info.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .envs(env.iter().copied())
            .spawn()
            .expect("the graft binary starts");
        let stderr = child.stderr.take().expect("piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        // Reads graft's log to the end (so that it never blocks on a full pipe), and reports
        // the address of its listening line.
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("graft listening on http://").nth(1)
                    && let Some(address) = rest.split('/').next()
                    && let Ok(address) = address.parse::<SocketAddr>()
                {
                    let _ = sender.send(Ok(address));
                }
                log.push(line);
            }
            let _ = sender.send(Err(log.join("\n")));
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(address)) => Instance { child, address },
            Ok(Err(log)) => panic!("graft stopped before listening:\n{log}"),
            Err(_) => panic!("graft did not listen within 60 s"),
        }
    }

    /// Its GraphQL URL.
    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.address)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `examples/orgs/<relative>`, absolute.
pub fn example(relative: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "../../examples/orgs", relative]
        .iter()
        .collect();
    path.canonicalize()
        .expect("the orgs example")
        .display()
        .to_string()
}
