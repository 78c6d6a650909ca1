//! A real build farm on 127.0.0.1 for the remote execution tests: BuildGrid 0.4.x from PyPI
//! (in a venv under target/, made once from `requirements.txt`) with its SQL scheduler on
//! Debian's PostgreSQL, the test-only `worker.py` that runs each action in podman in the image
//! its `container-image` property names, and Debian's docker-registry for the push. Each server
//! runs under `guard.py`, which stops it when the test closes its stdin or dies; readiness is a
//! line the server prints, read as it comes (no sleeps).
#![allow(dead_code)]

pub mod image;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::support_container::{PATIENCE, containers_conf, free_port, output, runs, scratch, text};

const REQUIREMENTS: &str = include_str!("requirements.txt");
const GUARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support_remote/guard.py");
const WORKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support_remote/worker.py"
);
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The venv with BuildGrid: `target/tmp/buildgrid-venv-<hash of requirements.txt>`, made with
/// Debian's python3 the first time (pip reaches PyPI then, and never again).
pub fn venv() -> Result<PathBuf, String> {
    let hash = hex::encode(Sha256::digest(REQUIREMENTS.as_bytes()));
    let dir = scratch().join(format!("buildgrid-venv-{}", &hash[..12]));
    let done = dir.join("proxy-rpm-installed");
    if done.exists() {
        return Ok(dir);
    }
    if !runs("/usr/bin/python3", &["-m", "venv", "--help"]) {
        return Err("python3-venv is not installed (apt-get install python3-venv)".into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let out = output(
        Command::new("/usr/bin/python3")
            .args(["-m", "venv"])
            .arg(&dir),
    );
    if !out.status.success() {
        return Err(format!("python3 -m venv failed: {}", text(&out.stderr)));
    }
    let reqs = dir.join("requirements.txt");
    std::fs::write(&reqs, REQUIREMENTS).map_err(|e| e.to_string())?;
    let out = output(
        Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&reqs),
    );
    if !out.status.success() {
        return Err(format!(
            "pip install of BuildGrid failed (PyPI unreachable?): {}",
            text(&out.stderr)
        ));
    }
    std::fs::write(&done, "").map_err(|e| e.to_string())?;
    Ok(dir)
}

/// A server under `guard.py`: stopped when dropped. Its output goes to `log`.
pub struct Server {
    child: Child,
    pub log: PathBuf,
}

impl Server {
    /// Start `cmd` and return once it printed a line containing `ready`.
    pub fn start(
        name: &str,
        cmd: &[&str],
        env: &[(&str, &Path)],
        ready: &str,
        log: &Path,
    ) -> Result<Server, String> {
        let mut c = Command::new("/usr/bin/python3");
        c.arg(GUARD)
            .args(cmd)
            // Python servers write their readiness line at once, not when a buffer fills.
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().map_err(|e| format!("{name}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let mut file = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel();
        let ready = ready.to_string();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                if line.contains(&ready)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        let server = Server {
            child,
            log: log.to_path_buf(),
        };
        match rx.recv_timeout(PATIENCE) {
            Ok(()) => Ok(server),
            Err(_) => Err(format!(
                "{name} did not get ready: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// PostgreSQL, BuildGrid, the worker and the registry, all on 127.0.0.1.
pub struct Farm {
    // Dropped in order: the worker first, the database last.
    pub worker: Server,
    pub buildgrid: Server,
    pub registry: Server,
    pub postgres: Server,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub instance: &'static str,
    pub registry_host: String,
    /// The worker's record: one JSON object per action.
    pub record: PathBuf,
    /// podman's registries.conf with the local registry as insecure (plain HTTP).
    pub registries_conf: PathBuf,
    /// The bearer token (a JWT, HS256) every request to the farm must carry: the API key.
    pub token: String,
}

/// Why the farm cannot run here, or `Ok` with what it needs.
pub fn farm_ready() -> Result<PathBuf, String> {
    for (path, package) in [
        (format!("{PG_BIN}/postgres"), "postgresql-15"),
        ("/usr/bin/docker-registry".to_string(), "docker-registry"),
        ("/usr/bin/setpriv".to_string(), "util-linux"),
    ] {
        if !Path::new(&path).exists() {
            return Err(format!("{path} is missing (apt-get install {package})"));
        }
    }
    venv()
}

impl Farm {
    pub fn start() -> Result<Farm, String> {
        let venv = farm_ready()?;
        let dir = tempfile::tempdir_in(scratch()).map_err(|e| e.to_string())?;
        let root = dir.path().to_path_buf();
        let (postgres, pg_port) = start_postgres(&root)?;
        let db = format!("postgresql+psycopg2://bgd@127.0.0.1:{pg_port}/postgres");
        let bgd = venv.join("bin/bgd");
        let migrate = output(Command::new(&bgd).args(["migrate", "apply", &db]));
        if !migrate.status.success() {
            return Err(format!("bgd migrate: {}", text(&migrate.stderr)));
        }
        let (registry, registry_host) = start_registry(&root)?;
        let registries_conf = root.join("registries.conf");
        std::fs::write(
            &registries_conf,
            format!("[[registry]]\nlocation = \"{registry_host}\"\ninsecure = true\n"),
        )
        .unwrap();
        let (secret, token) = jwt(&venv, &root)?;
        let port = free_port();
        let config = root.join("buildgrid.yml");
        std::fs::create_dir_all(root.join("cas")).unwrap();
        std::fs::write(
            &config,
            buildgrid_config(port, &db, &root.join("cas"), &secret),
        )
        .unwrap();
        let buildgrid = Server::start(
            "BuildGrid",
            &[
                bgd.to_str().unwrap(),
                "server",
                "start",
                "-vv",
                config.to_str().unwrap(),
            ],
            &[],
            "Adding insecure connection",
            &root.join("buildgrid.log"),
        )?;
        let url = format!("grpc://127.0.0.1:{port}");
        let record = root.join("worker-record.jsonl");
        let scratch_dir = root.join("actions");
        std::fs::create_dir_all(&scratch_dir).unwrap();
        let python = venv.join("bin/python");
        let remote = format!("http://127.0.0.1:{port}");
        let worker = Server::start(
            "worker",
            &[
                python.to_str().unwrap(),
                WORKER,
                "--remote",
                &remote,
                "--instance",
                "main",
                "--record",
                record.to_str().unwrap(),
                "--scratch",
                scratch_dir.to_str().unwrap(),
                "--auth-token",
                root.join("token").to_str().unwrap(),
            ],
            &[
                ("CONTAINERS_CONF", &containers_conf()),
                ("CONTAINERS_REGISTRIES_CONF", &registries_conf),
            ],
            "worker connected",
            &root.join("worker.log"),
        )?;
        Ok(Farm {
            worker,
            buildgrid,
            registry,
            postgres,
            dir,
            url,
            instance: "main",
            registry_host,
            record,
            registries_conf,
            token,
        })
    }

    /// The worker's record, one JSON value per action.
    pub fn actions(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// What the servers said, for failure messages.
    pub fn logs(&self) -> String {
        [&self.buildgrid.log, &self.worker.log]
            .iter()
            .map(|p| {
                let t = std::fs::read_to_string(p).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(40).collect();
                format!(
                    "--- {}\n{}",
                    p.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A secret for BuildGrid's JWT check (a file) and a token signed with it (HS256, valid for a
/// day), made with the PyJWT BuildGrid itself uses; the token also goes to `ROOT/token`.
fn jwt(venv: &Path, root: &Path) -> Result<(PathBuf, String), String> {
    let secret = root.join("jwt-secret");
    let key: String = hex::encode(Sha256::digest(format!(
        "{:?}",
        std::time::SystemTime::now()
    )));
    std::fs::write(&secret, &key).map_err(|e| e.to_string())?;
    let script = "import sys, time, jwt\n\
                  key = open(sys.argv[1]).read()\n\
                  claims = {'sub': 'proxy-rpm-test', 'exp': int(time.time()) + 86400}\n\
                  print(jwt.encode(claims, key, algorithm='HS256'))\n";
    let out = output(
        Command::new(venv.join("bin/python"))
            .args(["-c", script])
            .arg(&secret),
    );
    if !out.status.success() {
        return Err(format!("making a JWT: {}", text(&out.stderr)));
    }
    let token = text(&out.stdout).trim().to_string();
    std::fs::write(root.join("token"), &token).map_err(|e| e.to_string())?;
    Ok((secret, token))
}

/// initdb and postgres run as the `postgres` user when we are root (they refuse root).
fn as_postgres(cmd: &[&str]) -> Vec<String> {
    let root = output(Command::new("id").arg("-u")).stdout == b"0\n";
    let mut words: Vec<String> = Vec::new();
    if root {
        words.extend(
            [
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ]
            .map(String::from),
        );
    }
    words.extend(cmd.iter().map(|s| s.to_string()));
    words
}

/// PostgreSQL on a free port of 127.0.0.1, and that port.
fn start_postgres(root: &Path) -> Result<(Server, u16), String> {
    let pg = root.join("pg");
    std::fs::create_dir_all(&pg).unwrap();
    let _ = Command::new("chown")
        .arg("postgres:postgres")
        .arg(&pg)
        .arg(root)
        .status();
    let data = pg.join("data");
    let initdb = as_postgres(&[
        &format!("{PG_BIN}/initdb"),
        "-D",
        data.to_str().unwrap(),
        "-U",
        "bgd",
        "--auth=trust",
    ]);
    let out = output(Command::new(&initdb[0]).args(&initdb[1..]));
    if !out.status.success() {
        return Err(format!("initdb: {}", text(&out.stderr)));
    }
    let port = free_port();
    let port_arg = port.to_string();
    let cmd = as_postgres(&[
        &format!("{PG_BIN}/postgres"),
        "-D",
        data.to_str().unwrap(),
        "-k",
        pg.to_str().unwrap(),
        "-p",
        &port_arg,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=200",
    ]);
    let words: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let server = Server::start(
        "PostgreSQL",
        &words,
        &[],
        "database system is ready to accept connections",
        &root.join("postgres.log"),
    )?;
    Ok((server, port))
}

fn start_registry(root: &Path) -> Result<(Server, String), String> {
    // The registry's storage outlives the run, so that a second run pushes nothing new.
    let storage = scratch().join("registry-storage");
    std::fs::create_dir_all(&storage).unwrap();
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let config = root.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {host}\n",
            storage.display()
        ),
    )
    .unwrap();
    let server = Server::start(
        "docker-registry",
        &[
            "/usr/bin/docker-registry",
            "serve",
            config.to_str().unwrap(),
        ],
        &[],
        "listening on",
        &root.join("registry.log"),
    )?;
    Ok((server, host))
}

/// BuildGrid 0.4.x's configuration (its `reference.yml` and `schema.yml`): one instance `main`
/// with CAS, action cache and execution (which brings the Bots service), a disk CAS, the SQL
/// scheduler on PostgreSQL, and `container-image` as a property jobs may carry without workers
/// having to declare it; every request must carry a JWT signed with `secret` (an API key, as
/// hosted farms ask for). A thread pool well above the default of 5 per core: each waiting
/// `Execute` and bot long-poll holds a thread.
fn buildgrid_config(port: u16, db: &str, cas: &Path, secret: &Path) -> String {
    format!(
        "server:\n  - !channel\n    address: \"127.0.0.1:{port}\"\n    insecure-mode: true\n\
         authorization:\n  method: jwt\n  secret: {secret}\n  algorithm: hs256\n\
         connections:\n  - !sql-connection &sql\n    connection-string: {db}\n    pool-size: 10\n    max-overflow: 20\n\
         storages:\n  - !disk-storage &cas\n    path: {cas}\n\
         caches:\n  - !lru-action-cache &ac\n    storage: *cas\n    max-cached-refs: 10000\n    allow-updates: true\n    cache-failed-actions: false\n\
         schedulers:\n  - !sql-scheduler &scheduler\n    sql: *sql\n    storage: *cas\n    action-cache: *ac\n\
         \x20   property-set: !dynamic-property-set\n      match-property-keys: [OSFamily]\n      wildcard-property-keys: [container-image]\n\
         instances:\n  - name: main\n    services:\n      - !action-cache\n        cache: *ac\n      - !execution\n        scheduler: *scheduler\n\
         \x20     - !cas\n        storage: *cas\n      - !bytestream\n        storage: *cas\n\
         thread-pool-size: 60\n",
        cas = cas.display(),
        secret = secret.display()
    )
}
