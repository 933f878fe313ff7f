//! Starting the release `graft` binary on a dataset.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::dataset::Target;
use crate::{Database, Settings};

/// The schema every benchmark instance serves.
pub(crate) const ORGS_SCHEMA: &str = "examples/orgs/schema.graphql";

/// A running graft process, killed on drop.
pub(crate) struct Graft {
    child: Child,
    /// Its `/graphql` URL.
    pub(crate) url: String,
}

impl Graft {
    /// Writes a config for `target` and starts graft on a free port.
    pub(crate) async fn start(
        settings: &Settings,
        database: Database,
        target: &Target,
    ) -> anyhow::Result<Graft> {
        Graft::start_with(settings, database.name(), target, "", "").await
    }

    /// Starts graft on `target` with the orgs schema, `server` added to its `[server]` section
    /// and `rest` (`[[remote]]` sections) appended; `name` names the config file.
    pub(crate) async fn start_with(
        settings: &Settings,
        name: &str,
        target: &Target,
        server: &str,
        rest: &str,
    ) -> anyhow::Result<Graft> {
        let schema = std::path::absolute(ORGS_SCHEMA)?;
        Graft::start_with_schema(settings, name, target, &schema, server, rest).await
    }

    /// Starts another build of graft (`settings.graft`) on `target`, for the baseline run: on
    /// the orgs schema without `@mutations`, which builds from before mutations do not know
    /// (the reads it times do not use them).
    pub(crate) async fn start_baseline(
        settings: &Settings,
        target: &Target,
    ) -> anyhow::Result<Graft> {
        let text = std::fs::read_to_string(ORGS_SCHEMA)?.replace(" @mutations", "");
        let schema = std::path::absolute(settings.out.join("baseline-schema.graphql"))?;
        std::fs::write(&schema, text)?;
        Graft::start_with_schema(settings, "baseline", target, &schema, "", "").await
    }

    async fn start_with_schema(
        settings: &Settings,
        name: &str,
        target: &Target,
        schema: &std::path::Path,
        server: &str,
        rest: &str,
    ) -> anyhow::Result<Graft> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = settings.out.join(format!("graft-{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nmax_representations = 10000\n{server}\n\n[schema]\npath = {schema:?}\n\n\
                 [database]\nurl = {url:?}\nmax_connections = {pool}\n\n{rest}",
                url = target.url,
                pool = settings.concurrency,
            ),
        )?;
        // `GRAFT_BENCH_CPUS=1` runs graft on those CPUs only (through `taskset`), so that a load
        // generator pinned elsewhere does not take graft's CPU.
        let mut command = match std::env::var("GRAFT_BENCH_CPUS") {
            Ok(cpus) => {
                let mut command = Command::new("taskset");
                command.args(["-c", &cpus]).arg(&settings.graft);
                command
            }
            Err(_) => Command::new(&settings.graft),
        };
        let child = command
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", settings.graft.display()))?;
        let graft = Graft {
            child,
            url: format!("http://127.0.0.1:{port}/graphql"),
        };
        let health = format!("http://127.0.0.1:{port}/health");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(graft);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("graft did not answer {health} within 30 s")
    }
}

impl Graft {
    /// The process id, to read its memory from `/proc`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Graft {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
