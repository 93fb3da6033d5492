//! `quire serve` as a child process, for what only the real binary shows: the terminal,
//! the log output, signals.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `quire serve` whose stdout and stderr are captured.
pub struct ServeProcess {
    child: Child,
    pub base_url: String,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl ServeProcess {
    /// Starts `quire serve` on a free port with `data_dir` (SQLite inside it) and these
    /// extra environment variables, and returns once `/api/v1/health` answers.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> ServeProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quire"));
        cmd.arg("serve");
        Self::spawn(cmd, data_dir, env)
    }

    /// Like [`ServeProcess::start`], with stdout on a pseudo-terminal (util-linux
    /// `script`), as when an operator starts it by hand.
    pub fn start_on_terminal(data_dir: &Path, env: &[(&str, &str)]) -> ServeProcess {
        let mut cmd = Command::new("script");
        // -q: no "Script started" lines; -f: flush at once; -e: its exit status is the
        // command's; -c: the command; /dev/null: no typescript file.
        cmd.args([
            "-qfec",
            &format!("exec '{}' serve", env!("CARGO_BIN_EXE_quire")),
            "/dev/null",
        ]);
        Self::spawn(cmd, data_dir, env)
    }

    fn spawn(mut cmd: Command, data_dir: &Path, env: &[(&str, &str)]) -> ServeProcess {
        cmd
            // No .env of the developer's: run where there is none.
            .current_dir(data_dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("QUIRE_DATA_DIR", data_dir)
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("quire serve starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = channel::<String>();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let mut readers = Vec::new();
        for stream in [
            Box::new(stdout) as Box<dyn Read + Send>,
            Box::new(stderr) as Box<dyn Read + Send>,
        ] {
            let output = output.clone();
            let tx = lines_tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            }));
        }
        let address = wait_for_banner(&lines_rx, &output);
        let base_url = format!("http://{address}");
        wait_until_healthy(&base_url);
        ServeProcess {
            child,
            base_url,
            output,
            readers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything written to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Sends SIGTERM, as a service manager stopping the service would.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `limit` for the process to exit; panics when it does not.
    pub fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "quire serve did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status and the whole output.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.terminate();
        let status = self.wait_for_exit(Duration::from_secs(10));
        // The pipes close with the process; the readers then finish.
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        (status, self.output())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads lines until the "listening on http://ADDR" banner; bounded by a deadline.
fn wait_for_banner(lines: &Receiver<String>, output: &Arc<Mutex<String>>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("is listening on http://").nth(1) {
                    return rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                }
            }
            Err(_) => panic!(
                "quire serve printed no listening banner; output:\n{}",
                output.lock().unwrap()
            ),
        }
    }
}

/// Polls `/api/v1/health` until it answers 200, for at most 10 s.
fn wait_until_healthy(base_url: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = format!("{base_url}/api/v1/health");
    loop {
        if let Ok(response) = blocking_get(&url)
            && response.starts_with("HTTP/1.1 200")
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered 200");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A minimal blocking GET over a raw socket (the test runtime may not be available).
fn blocking_get(url: &str) -> std::io::Result<String> {
    use std::io::Write;
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}
