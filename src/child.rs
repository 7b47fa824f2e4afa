//! Running the watched program: its environment and stderr pipe, the signals
//! gcviz passes on to it, and its exit status. Process I/O only.

use std::ffi::{OsStr, OsString};
#[cfg(test)]
use std::io::Write;
use std::io::{self, PipeReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::{Cause, Origin};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// The signals gcviz passes on to the program.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// How long after the program exits gcviz still waits for the end of its
/// stderr. Everything the program wrote is in the pipe by then; waiting
/// longer would only serve a grandchild that inherited the pipe.
pub const GRACE: Duration = Duration::from_millis(200);

/// The stderr pipe is grown to this (the default /proc/sys/fs/pipe-max-size,
/// the most an unprivileged program may ask for), so that a program writing
/// in bursts has room while gcviz naps. Also the capacity assumed when the
/// kernel will not say.
const PIPE_BYTES: usize = 1 << 20;

/// A read shorter than this means the program writes in dribs and drabs:
/// the Go runtime prints each trace record in dozens of small writes. Waking
/// for every one of them costs the machine more than the parsing does.
const SMALL_READ: usize = 4096;
/// How long the reader waits after a small read before reading again, to
/// take what arrived meanwhile in one go. Text still shows at once to the
/// eye; the pipe holds far more than a program writes in this time.
const NAP: Duration = Duration::from_millis(10);

/// The program while it runs.
pub struct Running {
    pub pid: u32,
    /// Just before the program was started: the zero of gcviz's timeline.
    pub started: Instant,
    /// The program's stderr; ends shortly after the program exits even if
    /// a grandchild keeps the pipe open.
    pub stderr: Stderr,
    pub alive: Alive,
    /// The exit status, once the program has exited and been reaped.
    pub exit: oneshot::Receiver<io::Result<ExitStatus>>,
}

/// The program's pid for as long as it is ours to signal and inspect.
/// Cleared, under the lock, before the program is reaped: after that the
/// kernel may give the pid to an unrelated process.
#[derive(Clone)]
pub struct Alive(Arc<Mutex<Option<u32>>>);

impl Alive {
    /// Runs `f` with the pid unless the program has already exited.
    pub fn with<R>(&self, f: impl FnOnce(u32) -> R) -> Option<R> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.map(f)
    }

    fn end(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Starts `program` with `GODEBUG` set to `godebug`, its stdin and stdout
/// inherited and its stderr piped to gcviz.
pub fn spawn(program: &[OsString], godebug: &OsStr) -> Result<Running> {
    let name = program
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spawn_error = |source| Error::Spawn {
        program: name.clone(),
        source,
    };
    // Registered before the program starts so that a signal arriving at
    // once is forwarded, not lost.
    let signals = SignalsInfo::<WithOrigin>::new(FORWARDED).map_err(spawn_error)?;
    let (wake_rx, wake_tx) = io::pipe().map_err(spawn_error)?;
    let mut command =
        Command::new(program.first().ok_or_else(|| {
            spawn_error(io::Error::new(io::ErrorKind::NotFound, "no program given"))
        })?);
    command
        .args(&program[1..])
        .env("GODEBUG", godebug)
        // gcviz's secret, not the program's.
        .env_remove("GCVIZ_TOKEN")
        .stderr(Stdio::piped());
    die_with_parent(&mut command);

    let alive = Alive(Arc::new(Mutex::new(None)));
    let exited = Arc::new(OnceLock::new());
    let (spawned_tx, spawned_rx) = std::sync::mpsc::channel();
    let (exit_tx, exit) = oneshot::channel();
    let started = Instant::now();
    {
        let alive = alive.clone();
        let exited = exited.clone();
        // The parent-death signal fires when the *thread* that started the
        // program ends, so the program is started by a thread that lives
        // exactly as long as the program does: the one that waits for it.
        thread::Builder::new()
            .name("gcviz-child".into())
            .spawn(move || {
                let mut child = match command.spawn() {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = spawned_tx.send(Err(e));
                        return;
                    }
                };
                *alive.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(child.id());
                let _ = spawned_tx.send(Ok((child.id(), child.stderr.take())));
                wait_until_exited(child.id());
                alive.end();
                let _ = exited.set(Instant::now());
                drop(wake_tx);
                let _ = exit_tx.send(child.wait());
            })
            .map_err(spawn_error)?;
    }
    let (pid, pipe) = spawned_rx
        .recv()
        .map_err(|_| spawn_error(io::Error::other("the starting thread stopped")))?
        .map_err(spawn_error)?;
    let pipe = pipe.ok_or_else(|| spawn_error(io::Error::other("stderr is not piped")))?;
    let pipe = PipeReader::from(std::os::fd::OwnedFd::from(pipe));
    let stderr = Stderr::new(pipe, wake_rx, exited).map_err(spawn_error)?;
    forward_signals(signals, alive.clone());
    Ok(Running {
        pid,
        started,
        stderr,
        alive,
        exit,
    })
}

/// Checks that `program` names a file gcviz could start, as the shell would
/// find it, so that a typo fails before any URL is printed. The error is
/// the one starting it would give (127 not found, 126 not runnable).
pub fn resolve(program: &[OsString]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(name) = program.first() else {
        return Ok(());
    };
    let spawn_error = |source| Error::Spawn {
        program: name.to_string_lossy().into_owned(),
        source,
    };
    let runnable = |p: &std::path::Path| -> io::Result<()> {
        let m = std::fs::metadata(p)?;
        if m.is_dir() || m.permissions().mode() & 0o111 == 0 {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        Ok(())
    };
    if name.as_encoded_bytes().contains(&b'/') {
        return runnable(name.as_ref()).map_err(spawn_error);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut found = Err(io::Error::from(io::ErrorKind::NotFound));
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            std::path::PathBuf::from(".")
        } else {
            dir
        };
        match runnable(&dir.join(name)) {
            Ok(()) => return Ok(()),
            // Like execvp: a file found but not runnable is remembered, and
            // the search goes on.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => found = Err(e),
            Err(_) => {}
        }
    }
    found.map_err(spawn_error)
}

/// Asks the kernel to kill the program if gcviz dies, so it is never left
/// running unseen (its stderr would have no reader anyway). SIGKILL rather
/// than SIGTERM: a program that ignores SIGTERM must not outlive gcviz.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed. It makes two raw system calls
    // (prctl, getppid) through rustix, and builds an io::Error from an errno;
    // none of that allocates, locks or touches the parent's state.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // gcviz may have died before prctl took effect: then nothing will
            // ever send the signal, so do not start at all.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::SRCH.raw_os_error(),
                ));
            }
            Ok(())
        });
    }
}

/// Blocks until the program has exited, leaving it unreaped (a zombie keeps
/// its pid, so signals sent meanwhile cannot reach another process).
fn wait_until_exited(pid: u32) {
    let Some(pid) = Pid::from_raw(pid as i32) else {
        return;
    };
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            // Exited, or cannot be waited for this way: reaping will tell.
            _ => return,
        }
    }
}

/// The Ctrl-C that makes gcviz kill the program.
const KILL_AT_INTERRUPT: u32 = 3;

/// What to do with a signal gcviz received while the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Forward(i32),
    /// The third interrupt: the program did not stop at two, the user means
    /// it. (Many programs take a second Ctrl-C as "quit now"; that one must
    /// reach them.)
    Kill,
    /// The program received it already.
    Nothing,
}

/// `delivered`: the signal came from the terminal to the whole foreground
/// process group, which includes the program; sending it again would make a
/// program that treats a second Ctrl-C as "quit now" do so at the first.
/// `interrupts` counts SIGINTs so far, this one included.
fn decide(signal: i32, delivered: bool, interrupts: u32) -> Action {
    match (signal, delivered) {
        (SIGINT, _) if interrupts >= KILL_AT_INTERRUPT => Action::Kill,
        (_, true) => Action::Nothing,
        (s, false) => Action::Forward(s),
    }
}

/// Passes signals on to the program while it runs; afterwards lets them
/// end gcviz as they would have without a handler (SIGINT is left to
/// whoever waits for Ctrl-C while the final picture is served).
fn forward_signals(mut signals: SignalsInfo<WithOrigin>, alive: Alive) {
    let spawned = thread::Builder::new()
        .name("gcviz-signals".into())
        .spawn(move || {
            let mut interrupts = 0;
            for Origin { signal, cause, .. } in signals.forever() {
                if signal == SIGINT {
                    interrupts += 1;
                }
                let forwarded = alive.with(|pid| {
                    let delivered = matches!(cause, Cause::Kernel) && same_group(pid);
                    let (sig, what) = match decide(signal, delivered, interrupts) {
                        Action::Forward(s) => (Signal::from_named_raw(s), "forward"),
                        Action::Kill => {
                            crate::say(&format!(
                                "Ctrl-C {interrupts} times: killing the program (SIGKILL)"
                            ));
                            (Some(Signal::KILL), "kill")
                        }
                        Action::Nothing => return,
                    };
                    if let (Some(sig), Some(p)) = (sig, Pid::from_raw(pid as i32))
                        && let Err(e) = rustix::process::kill_process(p, sig)
                    {
                        eprintln!("gcviz: cannot {what} signal {signal} to the program: {e}");
                    }
                });
                if forwarded.is_none() && signal != SIGINT {
                    crate::record::flush();
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("gcviz: signals will not reach the program: {e}");
    }
}

/// Whether the program is still in gcviz's process group (it may have made
/// its own), where the terminal's signals reach it directly.
fn same_group(pid: u32) -> bool {
    let group = Pid::from_raw(pid as i32).and_then(|p| rustix::process::getpgid(Some(p)).ok());
    group == Some(rustix::process::getpgrp())
}

/// The program's stderr. Ends at end of file, or once the program has
/// exited, [`GRACE`] has passed and nothing more is waiting in the pipe:
/// a grandchild that inherited the pipe must not keep gcviz waiting, and the
/// program's own last lines must not be lost.
pub struct Stderr {
    /// Non-blocking.
    pipe: PipeReader,
    /// Becomes readable (end of file) when the program exits.
    wake: PipeReader,
    exited: Arc<OnceLock<Instant>>,
    after_exit: Option<Budget>,
    /// The last read was small: wait a little before the next.
    nap: bool,
}

/// Bytes read since the exit was noticed. At that moment the pipe held at
/// most its capacity, and all the program's output; reading that much more
/// takes it all even if a grandchild keeps writing.
#[derive(Debug, Clone, Copy)]
struct Budget {
    read: usize,
    capacity: usize,
}

enum Ready {
    Pipe,
    Exited,
    TimedOut,
}

impl Stderr {
    /// `exited` is set, and `wake`'s writer dropped, when the program exits.
    fn new(pipe: PipeReader, wake: PipeReader, exited: Arc<OnceLock<Instant>>) -> io::Result<Self> {
        // Room for bursts: a failure only leaves the kernel's default size.
        let _ = rustix::pipe::fcntl_setpipe_size(&pipe, PIPE_BYTES);
        // Non-blocking: read what is there, and wait (for data or the exit)
        // only when nothing is.
        rustix::io::ioctl_fionbio(&pipe, true)?;
        Ok(Stderr {
            pipe,
            wake,
            exited,
            after_exit: None,
            nap: false,
        })
    }

    /// Waits until the pipe has something (or its end), the program exits,
    /// or `timeout` passes.
    fn wait(&self, timeout: Option<Duration>) -> io::Result<Ready> {
        let timeout = timeout
            .map(Timespec::try_from)
            .transpose()
            .map_err(|_| io::Error::other("timeout out of range"))?;
        loop {
            let mut fds = [
                PollFd::new(&self.pipe, PollFlags::IN),
                PollFd::new(&self.wake, PollFlags::IN),
            ];
            // After the exit the wake pipe stays readable: leave it out.
            let n = if self.after_exit.is_some() { 1 } else { 2 };
            match poll(&mut fds[..n], timeout.as_ref()) {
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) if !fds[0].revents().is_empty() => return Ok(Ready::Pipe),
                Ok(_) if n == 2 && !fds[1].revents().is_empty() => return Ok(Ready::Exited),
                Ok(_) => return Ok(Ready::TimedOut),
            }
        }
    }

    /// The time after which a quiet pipe counts as ended, once the program
    /// has exited.
    fn deadline(&mut self) -> Option<Instant> {
        let exited = *self.exited.get()?;
        if self.after_exit.is_none() {
            let capacity = rustix::pipe::fcntl_getpipe_size(&self.pipe).unwrap_or(PIPE_BYTES);
            self.after_exit = Some(Budget { read: 0, capacity });
        }
        Some(exited + GRACE)
    }
}

impl Read for Stderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.nap) {
            thread::sleep(NAP);
        }
        loop {
            let timeout = self
                .deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let (Some(Duration::ZERO), Some(b)) = (timeout, self.after_exit)
                && b.read >= b.capacity
            {
                return Ok(0);
            }
            match self.pipe.read(buf) {
                Ok(n) => {
                    match self.after_exit.as_mut() {
                        Some(b) => b.read += n,
                        None => self.nap = n < SMALL_READ.min(buf.len()),
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            match self.wait(timeout)? {
                Ready::Pipe | Ready::Exited => continue,
                Ready::TimedOut => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program's stderr as the reader sees it: the pipe's writer (held
    /// open, as by a grandchild, unless dropped) and the exit's setter.
    fn stderr() -> (Stderr, io::PipeWriter, impl FnOnce(Instant)) {
        let (pipe, writer) = io::pipe().unwrap();
        let (wake, wake_writer) = io::pipe().unwrap();
        let exited = Arc::new(OnceLock::new());
        let stderr = Stderr::new(pipe, wake, exited.clone()).unwrap();
        let exit = move |at| {
            exited.set(at).unwrap();
            drop(wake_writer);
        };
        (stderr, writer, exit)
    }

    fn read_all(r: &mut Stderr) -> Vec<u8> {
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        all
    }

    #[test]
    fn end_of_file_ends_it_before_any_exit() {
        let (mut r, mut w, _exit) = stderr();
        w.write_all(b"last words\n").unwrap();
        drop(w);
        assert_eq!(read_all(&mut r), b"last words\n");
    }

    #[test]
    fn what_is_still_in_the_pipe_long_after_the_exit_is_read() {
        let (mut r, mut w, exit) = stderr();
        let lines: Vec<u8> = (0..3000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        w.write_all(&lines).unwrap();
        // The reader learns of the exit only now, well past the grace.
        exit(Instant::now() - 10 * GRACE);
        assert_eq!(read_all(&mut r), lines);
        drop(w);
    }

    /// Reads to the end on another thread: a reader that never ends fails
    /// the test (after a generous wait) instead of hanging it.
    fn read_all_elsewhere(mut r: Stderr) -> std::sync::mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || tx.send(read_all(&mut r)));
        rx
    }

    const PATIENCE: Duration = Duration::from_secs(60);

    #[test]
    fn a_pipe_held_open_ends_after_the_exit() {
        let (r, w, exit) = stderr();
        let got = read_all_elsewhere(r);
        exit(Instant::now());
        let got = got.recv_timeout(PATIENCE).expect("the reader did not end");
        assert_eq!(got, b"");
        drop(w);
    }

    #[test]
    fn a_grandchild_writing_without_end_cannot_hold_the_reader() {
        let (r, mut w, exit) = stderr();
        let capacity = rustix::pipe::fcntl_getpipe_size(&w).unwrap();
        exit(Instant::now() - 10 * GRACE);
        let got = read_all_elsewhere(r);
        // Writes until the reader is gone.
        thread::spawn(move || while w.write_all(&[b'x'; 4096]).is_ok() {});
        let got = got.recv_timeout(PATIENCE).expect("the reader did not end");
        assert!(got.len() <= 2 * capacity, "read {}", got.len());
    }

    #[test]
    fn terminal_interrupt_is_not_sent_twice() {
        assert_eq!(decide(SIGINT, true, 1), Action::Nothing);
        assert_eq!(decide(SIGINT, false, 1), Action::Forward(SIGINT));
    }

    #[test]
    fn second_interrupt_reaches_the_program() {
        assert_eq!(decide(SIGINT, true, 2), Action::Nothing);
        assert_eq!(decide(SIGINT, false, 2), Action::Forward(SIGINT));
    }

    #[test]
    fn third_interrupt_kills_whatever_its_origin() {
        assert_eq!(decide(SIGINT, true, 3), Action::Kill);
        assert_eq!(decide(SIGINT, false, 4), Action::Kill);
    }

    #[test]
    fn other_signals_are_forwarded_unless_the_terminal_sent_them() {
        for s in [SIGTERM, SIGHUP, SIGQUIT] {
            assert_eq!(decide(s, false, 0), Action::Forward(s));
            assert_eq!(decide(s, true, 5), Action::Nothing);
        }
    }
}
