//! Running an untrusted-input program in a confined child process.
//!
//! Every external program that reads a document (the PDF engines: the built-in
//! child, Poppler's `pdftotext`, MuPDF's `mutool`; later `pdftotext -layout` and
//! OCR) can crash, loop, allocate without bound or flood its output on hostile
//! input. None of that may reach the service, so each run is:
//!
//! * **its own process group**, killed as a whole: a program that forks (or a
//!   grandchild holding our pipes) cannot outlive a timeout;
//! * under **`RLIMIT_AS`** (address space) and **`RLIMIT_CPU`** (a backstop in
//!   case this process dies before its timer fires), with **no core dumps** and,
//!   on Linux, **`PR_SET_PDEATHSIG = SIGKILL`**, so it dies with its parent;
//! * stopped at a **wall-clock deadline**, when its stdout passes an **output
//!   cap**, or as soon as the caller sets an **abort** flag;
//! * fed and drained by **one thread per pipe**: a program that stops reading its
//!   input while its output fills up would otherwise deadlock with us. Each
//!   reader says when its pipe closed, so nobody sleeps past the moment the
//!   program is done (polling the exit status in growing sleeps used to add up to
//!   half of a short extraction's time).
//!
//! The API is small on purpose: build a [`Command`], pick an [`Input`], and call
//! [`run`] with a [`Confinement`]. What the program's exit status *means* is the
//! caller's business.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Enough of a program's stderr to explain a crash in a log line.
const STDERR_TAIL: usize = 4 * 1024;

/// The limits one run is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// `RLIMIT_AS` of the program.
    pub memory_bytes: u64,
    /// Wall-clock time; `RLIMIT_CPU` is set 2 s above it as a backstop.
    pub timeout: Duration,
    /// Bytes of stdout kept; past this the process group is killed and the run
    /// reported as `overflowed`.
    pub output_limit: u64,
}

/// What the program reads on its standard input.
#[derive(Debug)]
pub enum Input<'a> {
    /// Nothing (`/dev/null`).
    Null,
    /// These bytes through a pipe, written by a thread of ours.
    Bytes(&'a [u8]),
    /// An open file, for programs that must seek in their input (a PDF reader
    /// given `/dev/stdin`); see [`seekable_input`].
    File(File),
}

/// What a confined program left behind. `status` is `None` when it was killed
/// for flooding its output (then `overflowed` is set and `stdout` holds what
/// fitted).
#[derive(Debug)]
pub struct Finished {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    /// The last 4 KiB of stderr.
    pub stderr: String,
    pub overflowed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("the program could not be started: {0}")]
    Spawn(#[source] io::Error),
    #[error("talking to the program failed: {0}")]
    Io(#[source] io::Error),
    /// The deadline passed; the process group was killed.
    #[error("the program did not finish in time")]
    TimedOut,
    /// The abort flag was set; the process group was killed.
    #[error("the run was abandoned")]
    Aborted,
}

/// Runs `command` confined, killing it after `confinement.timeout`.
pub fn run(
    command: Command,
    input: Input<'_>,
    confinement: &Confinement,
) -> Result<Finished, ConfineError> {
    run_until(
        command,
        input,
        confinement,
        Instant::now() + confinement.timeout,
        &AtomicBool::new(false),
    )
}

/// Runs `command` confined: killed (with its whole process group) at
/// `deadline`, when its stdout passes `confinement.output_limit`, or once
/// `abort` is set. Several runs may share one deadline (a program and its
/// follow-up), while `RLIMIT_CPU` follows `confinement.timeout`.
pub fn run_until(
    mut command: Command,
    input: Input<'_>,
    confinement: &Confinement,
    deadline: Instant,
    abort: &AtomicBool,
) -> Result<Finished, ConfineError> {
    let (stdin_stdio, input) = match input {
        Input::Null => (Stdio::null(), None),
        Input::Bytes(bytes) => (Stdio::piped(), Some(bytes)),
        Input::File(file) => (Stdio::from(file), None),
    };
    command
        .stdin(stdin_stdio)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    limit(&mut command, confinement);
    let mut process = spawn_retrying_busy(&mut command)?;
    // The parent's copy of an `Input::File` went with `command`: dropped here,
    // so only the child holds it.
    drop(command);

    let output_limit = confinement.output_limit;
    let overflow = AtomicBool::new(false);
    let stdin = process.stdin.take();
    let stdout = process.stdout.take();
    let stderr = process.stderr.take();

    let (waited, stdout, stderr) = thread::scope(|scope| {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            scope.spawn(move || {
                // A child that dies early closes the pipe; its exit status
                // tells the story, not this write error.
                let _ = stdin.write_all(input);
            });
        }
        let overflow = &overflow;
        let (closed, pipes_closed) = mpsc::channel::<()>();
        let out_closed = closed.clone();
        let out_reader = scope.spawn(move || {
            let read = match stdout {
                Some(pipe) => read_capped(pipe, output_limit, overflow),
                None => Ok(Vec::new()),
            };
            let _ = out_closed.send(());
            read
        });
        let err_reader = scope.spawn(move || {
            let tail = match stderr {
                Some(pipe) => read_tail(pipe, STDERR_TAIL),
                None => Vec::new(),
            };
            let _ = closed.send(());
            tail
        });
        let mut open = 2;
        let mut stopped: Option<Waited> = None;
        while open > 0 {
            let now = Instant::now();
            let stop = if abort.load(Ordering::Relaxed) {
                Some(Waited::Aborted)
            } else if overflow.load(Ordering::Relaxed) {
                Some(Waited::Overflowed)
            } else if now >= deadline {
                // A child that answered in time but left something behind
                // on our pipes keeps its answer.
                match process.try_wait() {
                    Ok(Some(status)) => Some(Waited::Exited(status)),
                    _ => Some(Waited::TimedOut),
                }
            } else {
                None
            };
            if stopped.is_none()
                && let Some(stop) = stop
            {
                // The group still exists while one of its processes holds
                // our pipes, so its id cannot have been reused.
                kill_group(process.id());
                stopped = Some(stop);
            }
            // Short slices while waiting: an abort must be seen promptly.
            let slice = deadline
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            match pipes_closed.recv_timeout(slice) {
                Ok(()) => open -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let waited = match stopped {
            None => wait_until(&mut process, deadline, overflow, abort),
            Some(Waited::Exited(status)) => Ok(Waited::Exited(status)),
            Some(reason) => {
                kill(&mut process);
                Ok(reason)
            }
        };
        let stdout = out_reader.join();
        let stderr = err_reader.join().unwrap_or_default();
        (waited, stdout, stderr)
    });

    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let waited = waited.map_err(ConfineError::Io)?;
    let stdout = match stdout {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(ConfineError::Io(e)),
        Err(_) => {
            return Err(ConfineError::Io(io::Error::other("stdout reader panicked")));
        }
    };
    // Checked before the exit status: a flooding child may die of the closed
    // pipe before the wait loop sees the flag.
    if overflow.load(Ordering::Relaxed) {
        return Ok(Finished {
            status: None,
            stdout,
            stderr,
            overflowed: true,
        });
    }
    match waited {
        Waited::Exited(status) => Ok(Finished {
            status: Some(status),
            stdout,
            stderr,
            overflowed: false,
        }),
        Waited::TimedOut => Err(ConfineError::TimedOut),
        Waited::Aborted => Err(ConfineError::Aborted),
        Waited::Overflowed => Ok(Finished {
            status: None,
            stdout,
            stderr,
            overflowed: true,
        }),
    }
}

/// A file holding `bytes`, open at its start, for [`Input::File`]: programs
/// that seek in their input (MuPDF) cannot read a pipe. On Linux an anonymous
/// memory file (`memfd_create`): nothing touches the disk and nothing is left
/// behind. Elsewhere a temporary file, unlinked at once on Unix.
pub fn seekable_input(bytes: &[u8]) -> io::Result<File> {
    use std::io::{Seek, SeekFrom};

    let mut file = anonymous_file()?;
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

#[cfg(target_os = "linux")]
fn anonymous_file() -> io::Result<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create takes a NUL-terminated name and returns a fresh
    // descriptor that the returned File alone owns. Close-on-exec, so no
    // other child spawned meanwhile inherits it; the one it is meant for gets
    // it as its stdin through dup2, which clears the flag on the copy.
    unsafe {
        let fd = libc::memfd_create(c"quire-input".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(File::from_raw_fd(fd))
    }
}

#[cfg(not(target_os = "linux"))]
fn anonymous_file() -> io::Result<File> {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("quire-input-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    // Unix keeps an unlinked open file readable; elsewhere it stays behind.
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// `name` in the directories of `PATH`, if an executable is there.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

/// A regular file with an execute bit (on Unix).
pub fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// An exit status as a person reads it: `exit code 1`, or the signal and what
/// it usually means (`SIGXCPU: CPU time limit`).
pub fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                libc::SIGABRT => " (SIGABRT: aborted, e.g. out of memory or stack overflow)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV: e.g. stack overflow)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGXCPU => " (SIGXCPU: CPU time limit)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "unknown exit status".to_owned(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Waited {
    Exited(ExitStatus),
    TimedOut,
    Overflowed,
    Aborted,
}

fn wait_until(
    process: &mut Child,
    deadline: Instant,
    overflow: &AtomicBool,
    abort: &AtomicBool,
) -> io::Result<Waited> {
    let mut pause = Duration::from_micros(100);
    loop {
        match process.try_wait() {
            Ok(Some(status)) => return Ok(Waited::Exited(status)),
            Ok(None) => {}
            Err(e) => {
                kill(process);
                return Err(e);
            }
        }
        if overflow.load(Ordering::Relaxed) {
            kill(process);
            return Ok(Waited::Overflowed);
        }
        if abort.load(Ordering::Relaxed) {
            kill(process);
            return Ok(Waited::Aborted);
        }
        let now = Instant::now();
        if now >= deadline {
            kill(process);
            return Ok(Waited::TimedOut);
        }
        // Only reached once the pipes are closed, so the child is exiting:
        // short pauses.
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Kills the child's whole process group (it may have forked, and a
/// grandchild holding our pipes would keep the reader threads waiting), then
/// reaps it. Only called while the child is unreaped, so its pid still names
/// our group.
fn kill(process: &mut Child) {
    kill_group(process.id());
    let _ = process.kill();
    let _ = process.wait();
}

fn kill_group(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

fn read_capped(mut pipe: impl Read, limit: u64, overflow: &AtomicBool) -> io::Result<Vec<u8>> {
    let mut output = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(0) => return Ok(output),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if (output.len() + n) as u64 > limit {
            overflow.store(true, Ordering::Relaxed);
            return Ok(output);
        }
        output.extend_from_slice(&chunk[..n]);
    }
}

/// Keeps the last `keep` bytes: an abort message comes at the end.
fn read_tail(mut pipe: impl Read, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 2 * keep {
                    tail.drain(..tail.len() - keep);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

#[cfg(unix)]
fn limit(command: &mut Command, confinement: &Confinement) {
    use std::os::unix::process::CommandExt;

    // Own process group, so a timeout kills everything the child started.
    command.process_group(0);
    let memory = libc::rlim_t::try_from(confinement.memory_bytes).unwrap_or(libc::RLIM_INFINITY);
    let cpu_seconds = confinement.timeout.as_secs().saturating_add(2);
    let cpu = libc::rlim_t::try_from(cpu_seconds).unwrap_or(libc::RLIM_INFINITY);
    // SAFETY: the closure runs between fork and exec, so it only calls
    // async-signal-safe functions (getrlimit, setrlimit, prctl) and does not
    // allocate.
    unsafe {
        command.pre_exec(move || {
            lower_limit(libc::RLIMIT_AS, memory)?;
            lower_limit(libc::RLIMIT_CPU, cpu)?;
            lower_limit(libc::RLIMIT_CORE, 0)?;
            #[cfg(target_os = "linux")]
            {
                // Should this process die, the child must not outlive it.
                // (The signal fires when the spawning *thread* exits; that
                // thread waits for the child, so it never cuts one short.)
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            }
            Ok(())
        });
    }
}

/// Sets both soft and hard limit to `value`, or to the existing hard limit if
/// that is already lower (raising it would fail).
#[cfg(unix)]
fn lower_limit(resource: LimitResource, value: libc::rlim_t) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read only the struct passed in.
    unsafe {
        if libc::getrlimit(resource, &mut current) != 0 {
            return Err(io::Error::last_os_error());
        }
        let value = value.min(current.rlim_max);
        let wanted = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        if libc::setrlimit(resource, &wanted) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(all(unix, target_os = "linux", target_env = "gnu"))]
type LimitResource = libc::__rlimit_resource_t;
#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
type LimitResource = libc::c_int;

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn confinement() -> Confinement {
        Confinement {
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(5),
            output_limit: 1024,
        }
    }

    #[test]
    fn a_program_reads_its_input_and_its_output_comes_back() {
        let ran = run(Command::new("cat"), Input::Bytes(b"hello"), &confinement());
        let Ok(ran) = ran else { panic!("{ran:?}") };
        assert_eq!(ran.stdout, b"hello");
        assert!(ran.status.is_some_and(|s| s.success()));
    }

    #[test]
    fn a_seekable_input_is_readable_as_dev_stdin() {
        let Ok(file) = seekable_input(b"from a file") else {
            panic!("no anonymous file")
        };
        let mut command = Command::new("cat");
        command.arg("/dev/stdin");
        let ran = run(command, Input::File(file), &confinement());
        let Ok(ran) = ran else { panic!("{ran:?}") };
        assert_eq!(ran.stdout, b"from a file");
    }

    #[test]
    fn a_program_past_its_deadline_is_killed_with_its_children() {
        let mut command = Command::new("sh");
        // The grandchild holds stdout open; only a group kill ends it.
        command.args(["-c", "sleep 30 & sleep 30"]);
        let confinement = Confinement {
            timeout: Duration::from_millis(300),
            ..confinement()
        };
        let started = Instant::now();
        let ran = run(command, Input::Null, &confinement);
        assert!(matches!(ran, Err(ConfineError::TimedOut)), "{ran:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_past_the_cap_is_cut_and_flagged() {
        let mut command = Command::new("sh");
        command.args(["-c", "yes"]);
        let ran = run(command, Input::Null, &confinement());
        let Ok(ran) = ran else { panic!("{ran:?}") };
        assert!(ran.overflowed);
        assert!(ran.status.is_none());
        assert!(ran.stdout.len() <= 1024);
    }
}

/// `ETXTBSY` ("text file busy") means the program was being written, or another
/// thread's freshly forked child still held it open for writing when we exec'd it: a
/// program being installed or replaced, or a test writing a stand-in script while other
/// tests spawn. It clears in milliseconds, so a few short retries, not a failed entry.
fn spawn_retrying_busy(command: &mut Command) -> Result<Child, ConfineError> {
    let mut delay = Duration::from_millis(5);
    for _ in 0..5 {
        match command.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy => {
                thread::sleep(delay);
                delay *= 2;
            }
            other => return other.map_err(ConfineError::Spawn),
        }
    }
    command.spawn().map_err(ConfineError::Spawn)
}
